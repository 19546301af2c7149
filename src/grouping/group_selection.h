#pragma once
// Which groups of a time range are ready to process, shared by `convert` and
// `run`: the groups of the index, each with its usable subband files and a
// decision (process, skip as incomplete, fail for invalid input) with the
// reason a user reads.
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
  state::GroupRecord group;
  std::vector<std::pair<int, std::string>> subband_files;  // (subband, absolute path)
  Decision decision = Decision::kProcess;
  std::string reason;  // why skipped or failed
  // The subbands an incomplete group lacks, each with why: "invalid: <the
  // file's error>" or "no file". Converted with --allow-incomplete, they become
  // flagged SPWs; the summaries say so.
  std::vector<std::pair<int, std::string>> missing;
};

// Indexes `input_dir` (new or changed files only) and logs a one-line summary.
void index_directory(state::StateDb& db, const std::filesystem::path& input_dir,
                     const GroupingSettings& settings, const uvh5::CacheProfiles& profiles,
                     const std::function<void()>& check_interrupt);

// The groups starting in [first, last] (epoch seconds), in time order. A group
// short of subbands is skipped unless `allow_incomplete` and it has at least
// settings.min_subbands; a missing subband whose file exists but is invalid
// fails the group with that file's error (bad input, not an incomplete group).
std::vector<SelectedGroup> select_groups(state::StateDb& db, std::int64_t first, std::int64_t last,
                                         const GroupingSettings& settings, bool allow_incomplete);

}  // namespace contimg::grouping
