#pragma once
// Which groups of a time range are ready to process, shared by `convert` and
// `run`: the groups of the index, each with its usable subband files and a
// decision (process, skip as incomplete, fail for invalid input) with the
// reason a user reads.
//
// A batch run is scoped to its input directory (docs/grouping.md, "Scope"):
// the index is global (a group's membership is decided once, over every
// indexed file), but a run takes only the groups that have files in its
// directory and, for each, only those files, so a copy or a namesake in
// another directory never enters its products.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "grouping/settings.h"
#include "io/uvh5/cache_profile.h"
#include "state/state_db.h"

namespace contimg::grouping {

struct SelectedGroup {
  enum class Decision { kProcess, kSkipIncomplete, kFailInvalid };
  state::GroupRecord group;  // as stored (its membership is the whole index's)
  std::vector<std::pair<int, std::string>> subband_files;  // (subband, absolute path)
  // The subbands of subband_files, and those of 0..expected-1 not among them.
  std::vector<int> present, missing;
  Decision decision = Decision::kProcess;
  std::string reason;  // why skipped or failed
  // What a user should read even when the group is processed: files excluded
  // because their pointing disagrees (each one's reason).
  std::vector<std::string> notes;
  // The missing subbands, each with why: "invalid: <the file's error>" or
  // "no file". Converted with --allow-incomplete, they become flagged SPWs;
  // the summaries say so.
  std::vector<std::pair<int, std::string>> missing_reasons;
};

// Indexes `input_dir` (new or changed files only; files recorded under it
// that no longer exist are dropped and their groups regrouped) and logs a
// one-line summary.
void index_directory(state::StateDb& db, const std::filesystem::path& input_dir,
                     const GroupingSettings& settings, const uvh5::CacheProfiles& profiles,
                     const std::function<void()>& check_interrupt);

// The groups starting in [first, last] (epoch seconds), in time order.
//
// Scope: with a non-empty `scope_dir`, only the groups that have indexed files
// directly in `scope_dir` (at any depth when `recursive`), and for each group
// only those files: the newest present file of each subband within the scope
// (by the grouping rule). An empty `scope_dir` means the whole index. A group
// with no indexed file in scope (e.g. a converted group whose files were all
// deleted) is not returned.
//
// Before choosing, every file recorded for the range is checked on disk: a
// vanished one is dropped from the index (an event on its group) and its
// group regrouped, so a present duplicate takes its subband; an in-scope file
// whose size or mtime changed is peeked again.
//
// A group short of subbands is skipped unless `allow_incomplete` and it has at
// least settings.min_subbands; a missing subband whose file (in scope) exists
// but is invalid fails the group with that file's error (bad input, not an
// incomplete group).
std::vector<SelectedGroup> select_groups(state::StateDb& db, std::int64_t first, std::int64_t last,
                                         const GroupingSettings& settings, bool allow_incomplete,
                                         const std::filesystem::path& scope_dir = {},
                                         bool recursive = false);

// The reasons the rule gives for the files of a stored group it excludes
// (pointing disagrees), for `contimg groups`. Empty when none.
std::vector<std::string> excluded_reasons(state::StateDb& db, const std::string& group_id,
                                          const GroupingSettings& settings);

}  // namespace contimg::grouping
