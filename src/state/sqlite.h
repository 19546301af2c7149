#pragma once
// The state database's connection layer: see state/database.h (SQLite or
// PostgreSQL behind one API). Kept so the repositories' includes stay as they are.
#include "state/database.h"
