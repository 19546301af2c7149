#pragma once
// The one contimg schema (SPEC §9) as an ordered list of versioned migrations.
// A database records every migration applied in `schema_version`; opening an
// older database applies the missing ones in one transaction (all or none);
// a database newer than this program knows is refused. docs/state.md lists
// the tables, the ones planned, and the rules for adding a migration.
#include <span>
#include <string_view>
#include <vector>

#include "state/database.h"

namespace contimg::state {

struct Migration {
  int version;                   // 1, 2, 3, ... without gaps
  std::string_view description;  // recorded in schema_version
  std::string_view sql;          // one script, run inside the migration's transaction
  // PostgreSQL's script when SQLite's cannot serve (a table rebuild that
  // relies on SQLite's DROP TABLE semantics); empty: `sql` through
  // Database::translate_ddl. Both end in the same schema.
  std::string_view postgres_sql = {};
};

// The contimg schema, oldest first. Append only: a released migration never
// changes (a database that has it applied would not see the change).
const std::vector<Migration>& migrations();

// The version this program writes (the last migration's).
int latest_schema_version();

// The database's version: 0 for an empty database. Throws ConfigError for a
// database that has tables but no schema_version (not a contimg database).
int schema_version(Database& db);

// Brings `db` to the last version of `list`, applying the missing migrations
// in one IMMEDIATE transaction (so two processes opening a fresh database at
// once cannot both apply them; on PostgreSQL the writer's advisory lock and
// transactional DDL give the same all-or-none). Returns the version reached. Throws
// ConfigError when the database is newer than `list` or foreign, and the
// SQLite error (IoError/InputError) of a failing script, naming its version;
// the database is then left as it was.
int migrate(Database& db, std::span<const Migration> list);
inline int migrate(Database& db) { return migrate(db, migrations()); }

}  // namespace contimg::state
