#pragma once
// Wall-clock stamps written into the state database.
#include <string>

namespace contimg::state {

// Now as ISO-8601 UTC with milliseconds: "2025-01-01T06:00:00.123Z".
std::string now_iso();

}  // namespace contimg::state
