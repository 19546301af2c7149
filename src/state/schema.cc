#include "state/schema.h"

#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "state/clock.h"

namespace contimg::state {
namespace {

// Version 1: what indexing and grouping need (SPEC §3, §9). Times of day are
// ISO-8601 UTC text ("2025-01-01T06:00:00", fixed width, so text order is time
// order) next to integer Unix seconds for range queries; data times are MJD
// (UTC); angles radians; sizes bytes; mtimes integer nanoseconds.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE groups (
  group_id          TEXT PRIMARY KEY,     -- sb00's filename timestamp, else the earliest member's
  start_epoch       INTEGER NOT NULL,     -- group_id as Unix seconds (UTC)
  start_mjd         REAL NOT NULL,        -- group_id as MJD (UTC)
  first_file_epoch  INTEGER NOT NULL,     -- earliest member filename time (the window's anchor)
  last_file_epoch   INTEGER NOT NULL,     -- latest member filename time
  n_subbands        INTEGER NOT NULL CHECK (n_subbands BETWEEN 0 AND 16),
  subband_mask      INTEGER NOT NULL CHECK (subband_mask BETWEEN 0 AND 65535),  -- bit k: sbk present
  complete          INTEGER NOT NULL CHECK (complete IN (0, 1)),
  n_duplicates      INTEGER NOT NULL DEFAULT 0,  -- files superseded by a newer one of their subband
  pointing_dec_rad  REAL,
  time_first_mjd    REAL,                 -- data time range over the members
  time_last_mjd     REAL,
  state             TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'converting', 'converted', 'failed', 'skipped')),
  reason            TEXT,                 -- why failed or skipped
  ms_path           TEXT,
  attempts          INTEGER NOT NULL DEFAULT 0,  -- conversions started
  created_at        TEXT NOT NULL,
  updated_at        TEXT NOT NULL,        -- membership or state last changed
  state_changed_at  TEXT
);
CREATE INDEX groups_by_start ON groups (start_epoch);
CREATE INDEX groups_by_state ON groups (state, start_epoch);

CREATE TABLE files (
  id                INTEGER PRIMARY KEY,
  path              TEXT NOT NULL UNIQUE, -- absolute
  name_time         TEXT,                 -- filename timestamp; NULL when the name does not parse
  name_epoch        INTEGER,              -- the same as Unix seconds
  subband           INTEGER CHECK (subband BETWEEN 0 AND 15),
  group_id          TEXT REFERENCES groups (group_id) ON DELETE SET NULL,
  superseded        INTEGER NOT NULL DEFAULT 0 CHECK (superseded IN (0, 1)),  -- a newer duplicate is used
  size_bytes        INTEGER NOT NULL,
  mtime_ns          INTEGER NOT NULL,
  state             TEXT NOT NULL CHECK (state IN ('indexed', 'invalid')),
  error             TEXT,                 -- why invalid
  time_first_mjd    REAL,
  time_last_mjd     REAL,
  pointing_dec_rad  REAL,
  nfreqs            INTEGER,
  ntimes            INTEGER,
  nblts             INTEGER,
  freq_min_hz       REAL,
  freq_max_hz       REAL,
  indexed_at        TEXT NOT NULL,
  CHECK ((state = 'invalid') = (error IS NOT NULL)),
  CHECK (state = 'invalid' OR (name_epoch IS NOT NULL AND subband IS NOT NULL))
);
CREATE INDEX files_by_time ON files (name_epoch);
CREATE INDEX files_by_group ON files (group_id);

CREATE TABLE events (
  id        INTEGER PRIMARY KEY,
  time      TEXT NOT NULL,                -- ISO-8601 UTC with milliseconds and Z
  group_id  TEXT,                         -- no foreign key: history outlives regrouping
  stage     TEXT NOT NULL,                -- index, group, convert, ...
  level     TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
  message   TEXT NOT NULL
);
CREATE INDEX events_by_group ON events (group_id, id);
CREATE INDEX events_by_time ON events (time);
)sql";

// Imaging (SPEC §6): one row per group image, replaced when the group is
// imaged again (idempotent). Angles in degrees / arcsec as named; seconds of
// wall time per step.
constexpr std::string_view kImages = R"sql(
CREATE TABLE images (
  group_id          TEXT PRIMARY KEY,
  ms_path           TEXT NOT NULL,
  data_column       TEXT NOT NULL,        -- the input column imaged (DATA or CORRECTED_DATA)
  image_path        TEXT NOT NULL,
  pbcor_path        TEXT NOT NULL,
  centre_ra_deg     REAL NOT NULL,        -- common phase centre (ICRS)
  centre_dec_deg    REAL NOT NULL,
  freq_hz           REAL,                 -- MFS reference frequency (CRVAL3)
  cell_arcsec       REAL NOT NULL,
  size_px           INTEGER NOT NULL,
  rms_jy            REAL NOT NULL,        -- MAD x 1.4826 over source-free pixels
  peak_jy           REAL NOT NULL,
  dynamic_range     REAL NOT NULL,
  bmaj_arcsec       REAL,
  bmin_arcsec       REAL,
  bpa_deg           REAL,
  seconds_rephase   REAL,
  seconds_wsclean   REAL,
  seconds_total     REAL,
  contimg_version   TEXT NOT NULL,
  imaged_at         TEXT NOT NULL
);
)sql";

void check_list(std::span<const Migration> list) {
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (list[i].version != static_cast<int>(i) + 1) {
      throw Error(fmt::format("schema migrations out of order: entry {} has version {}", i + 1,
                              list[i].version));
    }
  }
}

bool has_table(Database& db, std::string_view name) {
  auto st = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  st.bind(1, name);
  return st.step();
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {1, "files, groups, events (indexing and grouping)", kV1},
      {2, "images (imaging QA)", kImages},
  };
  return list;
}

int latest_schema_version() { return static_cast<int>(migrations().size()); }

int schema_version(Database& db) {
  if (!has_table(db, "schema_version")) {
    auto st = db.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name LIMIT 1");
    if (st.step()) {
      throw ConfigError(fmt::format(
          "state db {}: not a contimg state database (it has table \"{}\" but no "
          "schema_version); point paths.state_db elsewhere",
          db.path().string(), st.get_text(0)));
    }
    return 0;
  }
  auto st = db.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_version");
  st.step();
  return static_cast<int>(st.get_int(0));
}

int migrate(Database& db, std::span<const Migration> list) {
  check_list(list);
  const int latest = static_cast<int>(list.size());
  auto refuse_newer = [&](int found) {
    throw ConfigError(fmt::format(
        "state db {}: schema version {} is newer than this contimg knows ({}): use a newer "
        "contimg or another paths.state_db",
        db.path().string(), found, latest));
  };
  // Cheap check without the write lock: the usual case is "up to date".
  const int seen = schema_version(db);
  if (seen > latest) refuse_newer(seen);
  if (seen == latest) return seen;

  Transaction tx(db);
  db.exec(
      "CREATE TABLE IF NOT EXISTS schema_version ("
      " version INTEGER PRIMARY KEY,"
      " description TEXT NOT NULL,"
      " applied_at TEXT NOT NULL)");
  const int current = schema_version(db);  // again, under the lock
  if (current > latest) refuse_newer(current);
  for (const auto& m : list) {
    if (m.version <= current) continue;
    try {
      db.exec(m.sql);
    } catch (const Error& e) {
      throw IoError(fmt::format("state db {}: migration {} ({}) failed: {}", db.path().string(),
                                m.version, m.description, e.what()));
    }
    db.cached("INSERT INTO schema_version (version, description, applied_at) VALUES (?1, ?2, ?3)")
        .bind(1, m.version)
        .bind(2, m.description)
        .bind(3, now_iso())
        .run();
  }
  {
    auto fk = db.prepare("PRAGMA foreign_key_check");
    if (fk.step()) {
      throw IoError(fmt::format("state db {}: migration to version {} left a row of {} with a "
                                "dangling foreign key",
                                db.path().string(), latest, fk.get_text(0)));
    }
  }
  tx.commit();
  if (current > 0) {
    spdlog::info("state db {}: migrated schema from version {} to {}", db.path().string(), current,
                 latest);
  } else {
    spdlog::debug("state db {}: created schema version {}", db.path().string(), latest);
  }
  return latest;
}

}  // namespace contimg::state
