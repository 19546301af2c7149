#pragma once
// Indexing: the files of a directory into the state database (a header peek
// of each new or changed file), then the groups around them by the one rule
// (grouping.h). Idempotent: a file whose (path, size, mtime) is already
// recorded is not opened, and writing what is stored writes nothing, so a
// rerun over an unchanged directory leaves the database untouched.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "io/uvh5/cache_profile.h"
#include "state/state_db.h"

namespace contimg {
class Progress;
}

namespace contimg::grouping {

struct IndexOptions {
  double tolerance_s = 60.0;
  int expected_subbands = 16;
  double pointing_tolerance_deg = 1.0;
  uvh5::CacheProfiles profiles;
  // Called before each file; throws Cancelled to stop (batches already
  // committed stay: the next run resumes).
  std::function<void()> check_interrupt;
  Progress* progress = nullptr;  // advanced once per file
};

struct InvalidFile {
  std::string path;
  std::string error;
  bool is_new = false;  // found in this run (else recorded earlier, unchanged)
};

struct IndexSummary {
  // scanned = indexed + invalid + unchanged.
  std::size_t scanned = 0;
  std::size_t indexed = 0;    // peeked in this run and valid (new or changed)
  std::size_t invalid = 0;    // peeked (or name-checked) in this run and invalid
  std::size_t unchanged = 0;  // same path, size and mtime as recorded: not opened
  std::size_t invalid_total = 0;  // scanned files now invalid (this run's and earlier ones)
  std::vector<InvalidFile> invalid_files;  // all invalid_total of them
  // Groups covering the scanned files (and their neighbours in the index).
  std::size_t groups = 0;
  std::size_t groups_complete = 0;
  std::size_t groups_written = 0;  // created or changed in the database
  std::size_t groups_removed = 0;  // stale groups deleted (their files regrouped)
  std::size_t duplicates = 0;      // files superseded by a newer one of their subband
  std::size_t excluded = 0;        // files left out of their group: pointing disagrees
  std::size_t removed = 0;         // recorded files that no longer exist, dropped from the index
  double seconds = 0;
};

// Candidate subband files under `dir` (`*_sb*.hdf5`, not hidden), absolute,
// sorted. Odd names among them are recorded as invalid by index_files.
// Throws IoError when `dir` cannot be read.
std::vector<std::filesystem::path> scan_directory(const std::filesystem::path& dir,
                                                  bool recursive);

// Records `files` (absolute paths) and regroups the time span they cover.
IndexSummary index_files(state::StateDb& db, std::span<const std::filesystem::path> files,
                         const IndexOptions& options);

// How a recorded file compares with the file system now.
enum class OnDisk {
  kUnchanged,   // same size and mtime
  kChanged,     // size or mtime differ: its header must be peeked again
  kVanished,    // no such file (moved or deleted)
  kUnreadable,  // stat failed otherwise (permissions, I/O): left as recorded
};
OnDisk check_on_disk(const state::FileRecord& f);

// Drops every recorded file under `dir` (any depth) that no longer exists,
// with an event on the group it belonged to, and regroups what they
// belonged to. Adds to summary.removed and the group counters.
void forget_vanished(state::StateDb& db, const std::filesystem::path& dir,
                     const IndexOptions& options, IndexSummary& summary);

// Drops these recorded files from the index (each with an event naming the
// file, on its group) and regroups the time span they covered.
void forget_files(state::StateDb& db, std::span<const state::FileRecord> gone,
                  const IndexOptions& options, IndexSummary& summary);

// Recomputes the groups of every indexed file whose filename time lies in
// [first, last], widened to the nearest gaps longer than the tolerance (the
// rule's groups never straddle such a gap, so the span's groups are exactly
// those of the whole index). Writes only what differs. Adds to `summary`'s
// group counters.
void regroup(state::StateDb& db, std::int64_t first, std::int64_t last, double tolerance_s,
             int expected_subbands, IndexSummary& summary,
             double pointing_tolerance_deg = 1.0);

}  // namespace contimg::grouping
