#include "state/state_db.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "config/config.h"
#include "state/clock.h"
#include "state/schema.h"

namespace contimg::state {
namespace fs = std::filesystem;
namespace {

std::optional<std::string> non_empty(std::string_view s) {
  if (s.empty()) return std::nullopt;
  return std::string(s);
}

const fs::path& prepare_path(const fs::path& path, const StateDb::Options& options) {
  if (path.empty()) throw ConfigError("state db: empty path (paths.state_db)");
  if (is_postgres_url(path.string())) return path;  // a server: nothing to create here
  if (!fs::exists(path)) {
    if (!options.create) {
      throw ConfigError(fmt::format(
          "no state database at {} (paths.state_db): run `contimg index DIR` first", path.string()));
    }
    if (path.has_parent_path()) {
      std::error_code ec;
      fs::create_directories(path.parent_path(), ec);
      if (ec) {
        throw IoError(fmt::format("state db {}: cannot create directory {}: {}", path.string(),
                                  path.parent_path().string(), ec.message()));
      }
    }
  }
  return path;
}

Database::Options db_options(const StateDb::Options& o) {
  Database::Options d;
  d.create = o.create;
  d.busy_timeout_ms = o.busy_timeout_ms;
  return d;
}

constexpr const char* kFileColumns =
    "path, name_time, name_epoch, subband, size_bytes, mtime_ns, state, error, time_first_mjd, "
    "time_last_mjd, pointing_dec_rad, nfreqs, ntimes, nblts, freq_min_hz, freq_max_hz, "
    "group_id, superseded, indexed_at";

FileRecord read_file(const Statement& st) {
  FileRecord f;
  f.path = st.get_text(0);
  f.name_time = st.get_opt_text(1);
  f.name_epoch = st.get_opt_int(2);
  if (auto sb = st.get_opt_int(3)) f.subband = static_cast<int>(*sb);
  f.size_bytes = st.get_int(4);
  f.mtime_ns = st.get_int(5);
  f.state = parse_file_state(st.get_text(6));
  f.error = st.get_text(7);
  f.time_first_mjd = st.get_opt_double(8);
  f.time_last_mjd = st.get_opt_double(9);
  f.pointing_dec_rad = st.get_opt_double(10);
  f.nfreqs = st.get_opt_int(11);
  f.ntimes = st.get_opt_int(12);
  f.nblts = st.get_opt_int(13);
  f.freq_min_hz = st.get_opt_double(14);
  f.freq_max_hz = st.get_opt_double(15);
  f.group_id = st.get_opt_text(16);
  f.superseded = st.get_int(17) != 0;
  f.indexed_at = st.get_text(18);
  return f;
}

constexpr const char* kGroupColumns =
    "group_id, start_epoch, start_mjd, first_file_epoch, last_file_epoch, n_subbands, "
    "subband_mask, complete, n_duplicates, pointing_dec_rad, time_first_mjd, time_last_mjd, "
    "state, reason, ms_path, attempts, created_at, updated_at, state_changed_at";

GroupRecord read_group(const Statement& st) {
  GroupRecord g;
  g.group_id = st.get_text(0);
  g.start_epoch = st.get_int(1);
  g.start_mjd = st.get_double(2);
  g.first_file_epoch = st.get_int(3);
  g.last_file_epoch = st.get_int(4);
  g.n_subbands = static_cast<int>(st.get_int(5));
  g.subband_mask = static_cast<std::uint32_t>(st.get_int(6));
  g.complete = st.get_int(7) != 0;
  g.n_duplicates = static_cast<int>(st.get_int(8));
  g.pointing_dec_rad = st.get_opt_double(9);
  g.time_first_mjd = st.get_opt_double(10);
  g.time_last_mjd = st.get_opt_double(11);
  g.state = parse_group_state(st.get_text(12));
  g.reason = st.get_text(13);
  g.ms_path = st.get_opt_text(14);
  g.attempts = static_cast<int>(st.get_int(15));
  g.created_at = st.get_text(16);
  g.updated_at = st.get_text(17);
  g.state_changed_at = st.get_opt_text(18);
  return g;
}

EventLevel parse_level(std::string_view s) {
  if (s == "debug") return EventLevel::kDebug;
  if (s == "info") return EventLevel::kInfo;
  if (s == "warn") return EventLevel::kWarn;
  return EventLevel::kError;
}

}  // namespace

const char* to_string(FileState s) { return s == FileState::kIndexed ? "indexed" : "invalid"; }

const char* to_string(GroupState s) {
  switch (s) {
    case GroupState::kPending: return "pending";
    case GroupState::kConverting: return "converting";
    case GroupState::kConverted: return "converted";
    case GroupState::kProcessing: return "processing";
    case GroupState::kProcessed: return "processed";
    case GroupState::kFailed: return "failed";
    case GroupState::kSkipped: return "skipped";
  }
  return "?";
}

const char* to_string(EventLevel l) {
  switch (l) {
    case EventLevel::kDebug: return "debug";
    case EventLevel::kInfo: return "info";
    case EventLevel::kWarn: return "warn";
    case EventLevel::kError: return "error";
  }
  return "?";
}

FileState parse_file_state(std::string_view s) {
  if (s == "indexed") return FileState::kIndexed;
  if (s == "invalid") return FileState::kInvalid;
  throw IoError(fmt::format("state db: unknown file state \"{}\"", s));
}

GroupState parse_group_state(std::string_view s) {
  for (auto g : {GroupState::kPending, GroupState::kConverting, GroupState::kConverted,
                 GroupState::kProcessing, GroupState::kProcessed, GroupState::kFailed,
                 GroupState::kSkipped}) {
    if (s == to_string(g)) return g;
  }
  throw ConfigError(fmt::format(
      "unknown group state \"{}\" (pending, converting, converted, processing, processed, "
      "failed or skipped)",
      s));
}

bool FileRecord::same_content(const FileRecord& o) const {
  return path == o.path && name_time == o.name_time && name_epoch == o.name_epoch &&
         subband == o.subband && size_bytes == o.size_bytes && mtime_ns == o.mtime_ns &&
         state == o.state && error == o.error && time_first_mjd == o.time_first_mjd &&
         time_last_mjd == o.time_last_mjd && pointing_dec_rad == o.pointing_dec_rad &&
         nfreqs == o.nfreqs && ntimes == o.ntimes && nblts == o.nblts &&
         freq_min_hz == o.freq_min_hz && freq_max_hz == o.freq_max_hz;
}

bool GroupRecord::same_membership(const GroupRecord& o) const {
  return group_id == o.group_id && start_epoch == o.start_epoch && start_mjd == o.start_mjd &&
         first_file_epoch == o.first_file_epoch && last_file_epoch == o.last_file_epoch &&
         n_subbands == o.n_subbands && subband_mask == o.subband_mask && complete == o.complete &&
         n_duplicates == o.n_duplicates && pointing_dec_rad == o.pointing_dec_rad &&
         time_first_mjd == o.time_first_mjd && time_last_mjd == o.time_last_mjd;
}

std::vector<int> GroupRecord::present() const {
  std::vector<int> out;
  for (int k = 0; k < 16; ++k) {
    if (subband_mask & (1u << k)) out.push_back(k);
  }
  return out;
}

// ---------------------------------------------------------------- StateDb

StateDb::StateDb(const fs::path& path, const Options& options)
    : db_(prepare_path(path, options), db_options(options)) {
  migrate(db_);
}

fs::path StateDb::resolve_path(const config::Config& config) {
  // --db puts a URL into paths.state_db as well: either names the database.
  if (const auto url = config.get_string("state.db_url"); !url.empty()) {
    if (!is_postgres_url(url)) {
      throw ConfigError(fmt::format(
          "state.db_url = \"{}\": expected a postgresql:// URL (or empty for SQLite)",
          redact_url(url)));
    }
    // A command line's --db (a file or a URL) beats the configured URL.
    if (config.entry("paths.state_db").source == config::Source::kFlag) {
      return config.get_path("paths.state_db");
    }
    return url;
  }
  const fs::path p = config.get_path("paths.state_db");
  if (!p.empty()) return p;
  return config.get_path("paths.stage_dir") / "state" / "contimg.sqlite3";
}

int StateDb::schema_version() { return state::schema_version(db_); }

// ---- files

bool StateDb::upsert_file(const FileRecord& f) {
  if ((f.state == FileState::kInvalid) == f.error.empty()) {
    throw InputError(fmt::format("state db {}: file {}: an invalid file needs an error, a valid "
                                 "one none",
                                 path().string(), f.path));
  }
  static const std::string sql = R"sql(
INSERT INTO files (path, name_time, name_epoch, subband, size_bytes, mtime_ns, state, error,
                   time_first_mjd, time_last_mjd, pointing_dec_rad, nfreqs, ntimes, nblts,
                   freq_min_hz, freq_max_hz, indexed_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
ON CONFLICT (path) DO UPDATE SET
  name_time = excluded.name_time, name_epoch = excluded.name_epoch, subband = excluded.subband,
  size_bytes = excluded.size_bytes, mtime_ns = excluded.mtime_ns, state = excluded.state,
  error = excluded.error, time_first_mjd = excluded.time_first_mjd,
  time_last_mjd = excluded.time_last_mjd, pointing_dec_rad = excluded.pointing_dec_rad,
  nfreqs = excluded.nfreqs, ntimes = excluded.ntimes, nblts = excluded.nblts,
  freq_min_hz = excluded.freq_min_hz, freq_max_hz = excluded.freq_max_hz,
  indexed_at = excluded.indexed_at
WHERE files.name_time IS DISTINCT FROM excluded.name_time OR files.name_epoch IS DISTINCT FROM excluded.name_epoch
   OR files.subband IS DISTINCT FROM excluded.subband OR files.size_bytes IS DISTINCT FROM excluded.size_bytes
   OR files.mtime_ns IS DISTINCT FROM excluded.mtime_ns OR files.state IS DISTINCT FROM excluded.state
   OR files.error IS DISTINCT FROM excluded.error OR files.time_first_mjd IS DISTINCT FROM excluded.time_first_mjd
   OR files.time_last_mjd IS DISTINCT FROM excluded.time_last_mjd
   OR files.pointing_dec_rad IS DISTINCT FROM excluded.pointing_dec_rad
   OR files.nfreqs IS DISTINCT FROM excluded.nfreqs OR files.ntimes IS DISTINCT FROM excluded.ntimes
   OR files.nblts IS DISTINCT FROM excluded.nblts OR files.freq_min_hz IS DISTINCT FROM excluded.freq_min_hz
   OR files.freq_max_hz IS DISTINCT FROM excluded.freq_max_hz
)sql";
  auto& st = db_.cached(sql);
  st.bind(1, f.path)
      .bind(2, f.name_time)
      .bind(3, f.name_epoch)
      .bind(4, f.subband)
      .bind(5, f.size_bytes)
      .bind(6, f.mtime_ns)
      .bind(7, to_string(f.state))
      .bind(8, non_empty(f.error))
      .bind(9, f.time_first_mjd)
      .bind(10, f.time_last_mjd)
      .bind(11, f.pointing_dec_rad)
      .bind(12, f.nfreqs)
      .bind(13, f.ntimes)
      .bind(14, f.nblts)
      .bind(15, f.freq_min_hz)
      .bind(16, f.freq_max_hz)
      .bind(17, now_iso());
  return st.run() > 0;
}

std::optional<FileRecord> StateDb::file(const std::string& p) {
  auto& st = db_.cached(fmt::format("SELECT {} FROM files WHERE path = ?1", kFileColumns));
  st.bind(1, p);
  std::optional<FileRecord> out;
  if (st.step()) out = read_file(st);
  st.reset();
  return out;
}

std::vector<FileRecord> StateDb::files_in_range(std::int64_t first, std::int64_t last) {
  auto& st = db_.cached(fmt::format(
      "SELECT {} FROM files WHERE name_epoch BETWEEN ?1 AND ?2 "
      "ORDER BY name_epoch, subband, path",
      kFileColumns));
  st.bind(1, first).bind(2, last);
  std::vector<FileRecord> out;
  while (st.step()) out.push_back(read_file(st));
  return out;
}

std::vector<FileRecord> StateDb::files_of_group(const std::string& group_id) {
  auto& st = db_.cached(fmt::format(
      "SELECT {} FROM files WHERE group_id = ?1 ORDER BY superseded, subband, path", kFileColumns));
  st.bind(1, group_id);
  std::vector<FileRecord> out;
  while (st.step()) out.push_back(read_file(st));
  return out;
}

bool StateDb::assign_file(const std::string& p, const std::optional<std::string>& group_id,
                          bool superseded) {
  auto& st = db_.cached(
      "UPDATE files SET group_id = ?2, superseded = ?3 "
      "WHERE path = ?1 AND (group_id IS DISTINCT FROM ?2 OR superseded IS DISTINCT FROM ?3)");
  st.bind(1, p).bind(2, group_id).bind(3, superseded);
  return st.run() > 0;
}

std::optional<std::int64_t> StateDb::indexed_epoch_before(std::int64_t epoch) {
  auto& st = db_.cached(
      "SELECT MAX(name_epoch) FROM files WHERE state = 'indexed' AND name_epoch < ?1");
  st.bind(1, epoch);
  st.step();
  auto out = st.get_opt_int(0);
  st.reset();
  return out;
}

std::optional<std::int64_t> StateDb::indexed_epoch_after(std::int64_t epoch) {
  auto& st = db_.cached(
      "SELECT MIN(name_epoch) FROM files WHERE state = 'indexed' AND name_epoch > ?1");
  st.bind(1, epoch);
  st.step();
  auto out = st.get_opt_int(0);
  st.reset();
  return out;
}

std::int64_t StateDb::count_files(std::optional<FileState> state) {
  auto& st = db_.cached("SELECT COUNT(*) FROM files WHERE CAST(?1 AS TEXT) IS NULL OR state = ?1");
  if (state) st.bind(1, to_string(*state));
  st.step();
  const auto n = st.get_int(0);
  st.reset();
  return n;
}

std::vector<FileRecord> StateDb::files_under(const fs::path& dir) {
  // A range over the unique path index: every "<dir>/..." sorts in
  // ["<dir>/", "<dir>0") since '0' follows '/' (binary collation). LIKE would
  // treat '_' and '%' in directory names as wildcards.
  std::string prefix = dir.string();
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  if (prefix != "/") prefix += '/';
  std::string end = prefix;
  end.back() = '0';
  auto& st = db_.cached(fmt::format(
      "SELECT {} FROM files WHERE path >= ?1 AND path < ?2 ORDER BY path", kFileColumns));
  st.bind(1, prefix).bind(2, end);
  std::vector<FileRecord> out;
  while (st.step()) out.push_back(read_file(st));
  return out;
}

bool StateDb::delete_file(const std::string& p) {
  auto& st = db_.cached("DELETE FROM files WHERE path = ?1");
  st.bind(1, p);
  return st.run() > 0;
}

// ---- groups

bool StateDb::upsert_group(const GroupRecord& g) {
  static const std::string sql = R"sql(
INSERT INTO groups (group_id, start_epoch, start_mjd, first_file_epoch, last_file_epoch,
                    n_subbands, subband_mask, complete, n_duplicates, pointing_dec_rad,
                    time_first_mjd, time_last_mjd, created_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
ON CONFLICT (group_id) DO UPDATE SET
  start_epoch = excluded.start_epoch, start_mjd = excluded.start_mjd,
  first_file_epoch = excluded.first_file_epoch, last_file_epoch = excluded.last_file_epoch,
  n_subbands = excluded.n_subbands, subband_mask = excluded.subband_mask,
  complete = excluded.complete, n_duplicates = excluded.n_duplicates,
  pointing_dec_rad = excluded.pointing_dec_rad, time_first_mjd = excluded.time_first_mjd,
  time_last_mjd = excluded.time_last_mjd, updated_at = excluded.updated_at
WHERE groups.start_epoch IS DISTINCT FROM excluded.start_epoch OR groups.start_mjd IS DISTINCT FROM excluded.start_mjd
   OR groups.first_file_epoch IS DISTINCT FROM excluded.first_file_epoch
   OR groups.last_file_epoch IS DISTINCT FROM excluded.last_file_epoch
   OR groups.n_subbands IS DISTINCT FROM excluded.n_subbands
   OR groups.subband_mask IS DISTINCT FROM excluded.subband_mask OR groups.complete IS DISTINCT FROM excluded.complete
   OR groups.n_duplicates IS DISTINCT FROM excluded.n_duplicates
   OR groups.pointing_dec_rad IS DISTINCT FROM excluded.pointing_dec_rad
   OR groups.time_first_mjd IS DISTINCT FROM excluded.time_first_mjd
   OR groups.time_last_mjd IS DISTINCT FROM excluded.time_last_mjd
)sql";
  auto& st = db_.cached(sql);
  st.bind(1, g.group_id)
      .bind(2, g.start_epoch)
      .bind(3, g.start_mjd)
      .bind(4, g.first_file_epoch)
      .bind(5, g.last_file_epoch)
      .bind(6, g.n_subbands)
      .bind(7, static_cast<std::int64_t>(g.subband_mask))
      .bind(8, g.complete)
      .bind(9, g.n_duplicates)
      .bind(10, g.pointing_dec_rad)
      .bind(11, g.time_first_mjd)
      .bind(12, g.time_last_mjd)
      .bind(13, now_iso());
  return st.run() > 0;
}

std::optional<GroupRecord> StateDb::group(const std::string& group_id) {
  auto& st = db_.cached(fmt::format("SELECT {} FROM groups WHERE group_id = ?1", kGroupColumns));
  st.bind(1, group_id);
  std::optional<GroupRecord> out;
  if (st.step()) out = read_group(st);
  st.reset();
  return out;
}

std::vector<GroupRecord> StateDb::groups_in_range(std::int64_t first, std::int64_t last) {
  auto& st = db_.cached(fmt::format(
      "SELECT {} FROM groups WHERE start_epoch BETWEEN ?1 AND ?2 ORDER BY start_epoch",
      kGroupColumns));
  st.bind(1, first).bind(2, last);
  std::vector<GroupRecord> out;
  while (st.step()) out.push_back(read_group(st));
  return out;
}

void StateDb::set_group_state(const std::string& group_id, GroupState state,
                              std::string_view reason, const std::optional<std::string>& ms_path) {
  Transaction tx(db_);
  const auto before = group(group_id);
  if (!before) {
    throw InputError(fmt::format("state db {}: no group {}", path().string(), group_id));
  }
  const bool keeps_reason = state == GroupState::kFailed || state == GroupState::kSkipped;
  const auto new_reason = keeps_reason ? non_empty(reason) : std::nullopt;
  const bool starts = state == GroupState::kConverting || state == GroupState::kProcessing;
  // Nothing changes: no write, no event (reruns leave the history as it was).
  if (before->state == state && before->reason.empty() == !new_reason.has_value() &&
      (!new_reason || before->reason == *new_reason) && (!ms_path || before->ms_path == ms_path)) {
    tx.commit();
    return;
  }
  const std::string now = now_iso();
  auto& st = db_.cached(
      "UPDATE groups SET state = ?2, reason = ?3, ms_path = COALESCE(?4, ms_path), "
      "attempts = attempts + ?5, state_changed_at = ?6, updated_at = ?6 WHERE group_id = ?1");
  st.bind(1, group_id)
      .bind(2, to_string(state))
      .bind(3, new_reason)
      .bind(4, ms_path)
      .bind(5, starts && before->state != state ? 1 : 0)
      .bind(6, now);
  st.run();
  std::string message = fmt::format("state {} -> {}", to_string(before->state), to_string(state));
  if (!reason.empty()) message += fmt::format(": {}", reason);
  if (ms_path) message += fmt::format(" (ms {})", *ms_path);
  const auto level = state == GroupState::kFailed    ? EventLevel::kError
                     : state == GroupState::kSkipped ? EventLevel::kWarn
                                                     : EventLevel::kInfo;
  record_event(group_id, "state", level, message);
  tx.commit();
}

bool StateDb::delete_group(const std::string& group_id) {
  auto& st = db_.cached("DELETE FROM groups WHERE group_id = ?1");
  st.bind(1, group_id);
  return st.run() > 0;
}

// ---- events

void StateDb::record_event(const std::optional<std::string>& group_id, std::string_view stage,
                           EventLevel level, std::string_view message) {
  auto& st = db_.cached(
      "INSERT INTO events (time, group_id, stage, level, message) VALUES (?1, ?2, ?3, ?4, ?5)");
  st.bind(1, now_iso())
      .bind(2, group_id)
      .bind(3, stage)
      .bind(4, to_string(level))
      .bind(5, message)
      .run();
}

std::vector<EventRecord> StateDb::events(const std::optional<std::string>& group_id, int limit) {
  auto& st = db_.cached(
      "SELECT id, time, group_id, stage, level, message FROM events "
      "WHERE CAST(?1 AS TEXT) IS NULL OR group_id = ?1 ORDER BY id DESC LIMIT ?2");
  st.bind(1, group_id).bind(2, limit);
  std::vector<EventRecord> out;
  while (st.step()) {
    EventRecord e;
    e.id = st.get_int(0);
    e.time = st.get_text(1);
    e.group_id = st.get_opt_text(2);
    e.stage = st.get_text(3);
    e.level = parse_level(st.get_text(4));
    e.message = st.get_text(5);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace contimg::state
