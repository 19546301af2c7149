#pragma once
// The repository over the contimg state database (SPEC §9): files seen,
// groups and their life cycle, events. One StateDb per thread (it owns one
// SQLite connection). Writes are idempotent: writing what is already stored
// changes nothing (no row, no timestamp), so reruns leave the database as it
// was. Several calls can share one transaction(); each call is otherwise its
// own transaction.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/sqlite.h"

namespace contimg::config {
class Config;
}

namespace contimg::state {

enum class FileState { kIndexed, kInvalid };
// converting/converted: the convert stage alone (`contimg convert`); processing/
// processed: the whole chain (`contimg run`); failed names the stage that failed.
enum class GroupState { kPending, kConverting, kConverted, kProcessing, kProcessed, kFailed, kSkipped };
enum class EventLevel { kDebug, kInfo, kWarn, kError };

const char* to_string(FileState s);
const char* to_string(GroupState s);
const char* to_string(EventLevel l);
FileState parse_file_state(std::string_view s);    // throws IoError for an unknown value
GroupState parse_group_state(std::string_view s);  // throws ConfigError for an unknown value

struct FileRecord {
  std::string path;  // absolute
  // From the file name; empty when the name does not parse (then invalid).
  std::optional<std::string> name_time;
  std::optional<std::int64_t> name_epoch;
  std::optional<int> subband;
  std::int64_t size_bytes = 0;
  std::int64_t mtime_ns = 0;
  FileState state = FileState::kIndexed;
  std::string error;  // non-empty exactly when invalid
  // From the header peek (absent for invalid files).
  std::optional<double> time_first_mjd, time_last_mjd, pointing_dec_rad, freq_min_hz, freq_max_hz;
  std::optional<std::int64_t> nfreqs, ntimes, nblts;
  // Written by grouping (assign_file), not by upsert_file.
  std::optional<std::string> group_id;
  bool superseded = false;
  std::string indexed_at;  // set by the database

  bool same_content(const FileRecord& o) const;  // every field upsert_file writes
};

struct GroupRecord {
  std::string group_id;
  std::int64_t start_epoch = 0;
  double start_mjd = 0;
  std::int64_t first_file_epoch = 0, last_file_epoch = 0;
  int n_subbands = 0;
  std::uint32_t subband_mask = 0;
  bool complete = false;
  int n_duplicates = 0;
  std::optional<double> pointing_dec_rad, time_first_mjd, time_last_mjd;
  // Life cycle: written by set_group_state, never by upsert_group.
  GroupState state = GroupState::kPending;
  std::string reason;
  std::optional<std::string> ms_path;
  int attempts = 0;
  std::string created_at, updated_at;
  std::optional<std::string> state_changed_at;

  bool same_membership(const GroupRecord& o) const;  // every field upsert_group writes
  std::vector<int> present() const;                   // from subband_mask
};

struct EventRecord {
  std::int64_t id = 0;
  std::string time;
  std::optional<std::string> group_id;
  std::string stage;
  EventLevel level = EventLevel::kInfo;
  std::string message;
};

class StateDb {
 public:
  struct Options {
    bool create = true;  // false: a missing file is a ConfigError naming it
    int busy_timeout_ms = 30000;
  };

  // Opens the database (creating it and its directory when allowed) and
  // migrates it to the current schema (see schema.h).
  explicit StateDb(const std::filesystem::path& path) : StateDb(path, Options{}) {}
  StateDb(const std::filesystem::path& path, const Options& options);

  // `path` may be a postgresql:// URL: the same repository on PostgreSQL.
  // state.db_url when set (a --db URL first), else paths.state_db, or
  // <paths.stage_dir>/state/contimg.sqlite3 when empty.
  static std::filesystem::path resolve_path(const config::Config& config);

  Database& database() { return db_; }
  // For messages (a PostgreSQL URL without its password).
  const std::filesystem::path& path() const { return db_.path(); }
  // To open another connection to the same database (password included).
  const std::filesystem::path& target() const { return db_.target(); }
  bool is_postgres() const { return db_.is_postgres(); }
  int schema_version();

  // An IMMEDIATE transaction for a batch of calls.
  Transaction transaction() { return Transaction(db_); }

  // ---- files
  // Inserts or updates by path every field but group_id/superseded. Returns
  // false (and writes nothing, indexed_at included) when nothing changed.
  bool upsert_file(const FileRecord& f);
  std::optional<FileRecord> file(const std::string& path);
  // Files (both states) whose filename time lies in [first, last] (Unix s),
  // by time, subband, path.
  std::vector<FileRecord> files_in_range(std::int64_t first, std::int64_t last);
  // The files of a group: used ones by subband, then superseded ones.
  std::vector<FileRecord> files_of_group(const std::string& group_id);
  // Sets a file's group and superseded flag; false when already so.
  bool assign_file(const std::string& path, const std::optional<std::string>& group_id,
                   bool superseded);
  // Filename time of the nearest indexed (valid) file strictly before/after.
  std::optional<std::int64_t> indexed_epoch_before(std::int64_t epoch);
  std::optional<std::int64_t> indexed_epoch_after(std::int64_t epoch);
  std::int64_t count_files(std::optional<FileState> state = std::nullopt);
  // Files (both states) recorded under `dir` at any depth, by path. `dir` is
  // compared as text with the stored absolute paths: pass it absolute and
  // lexically normal, as scan_directory records them.
  std::vector<FileRecord> files_under(const std::filesystem::path& dir);
  // Removes a file from the index (a vanished file); false when not recorded.
  bool delete_file(const std::string& path);

  // ---- groups
  // Inserts a pending group or updates its membership fields; the life-cycle
  // fields are left alone. Returns false when nothing changed.
  bool upsert_group(const GroupRecord& g);
  std::optional<GroupRecord> group(const std::string& group_id);
  // Groups whose id time lies in [first, last] (Unix s), in time order.
  std::vector<GroupRecord> groups_in_range(std::int64_t first, std::int64_t last);
  // Moves a group through its life cycle: entering `converting` or
  // `processing` counts an attempt; `reason` is kept for failed/skipped
  // (cleared otherwise); ms_path is set when given. Records an event when
  // something changed (a repeated state writes nothing). Throws InputError for
  // an unknown id.
  void set_group_state(const std::string& group_id, GroupState state, std::string_view reason = {},
                       const std::optional<std::string>& ms_path = std::nullopt);
  bool delete_group(const std::string& group_id);

  // ---- events
  void record_event(const std::optional<std::string>& group_id, std::string_view stage,
                    EventLevel level, std::string_view message);
  // Newest first; all groups when group_id is empty.
  std::vector<EventRecord> events(const std::optional<std::string>& group_id = std::nullopt,
                                  int limit = 100);

 private:
  Database db_;
};

}  // namespace contimg::state
