#include "grouping/group_selection.h"

#include <cmath>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "grouping/grouping.h"
#include "grouping/indexer.h"

namespace contimg::grouping {

void index_directory(state::StateDb& db, const std::filesystem::path& input_dir,
                     const GroupingSettings& settings, const uvh5::CacheProfiles& profiles,
                     const std::function<void()>& check_interrupt) {
  IndexOptions io;
  io.tolerance_s = settings.tolerance_s;
  io.expected_subbands = settings.expected_subbands;
  io.profiles = profiles;
  io.check_interrupt = check_interrupt;
  const auto files = scan_directory(std::filesystem::absolute(input_dir), false);
  const auto idx = index_files(db, files, io);
  spdlog::info("indexed {}: {} files ({} new or changed, {} invalid)", input_dir.string(),
               idx.scanned, idx.indexed, idx.invalid_total);
}

std::vector<SelectedGroup> select_groups(state::StateDb& db, std::int64_t first, std::int64_t last,
                                         const GroupingSettings& settings, bool allow_incomplete) {
  std::vector<SelectedGroup> out;
  for (const auto& g : db.groups_in_range(first, last)) {
    SelectedGroup s;
    s.group = g;
    for (const auto& f : db.files_of_group(g.group_id)) {
      if (!f.superseded && f.state == state::FileState::kIndexed && f.subband) {
        s.subband_files.emplace_back(*f.subband, f.path);
      }
    }
    std::string invalid;
    if (!g.complete) {
      // A missing subband whose file exists but is invalid is named with its error.
      std::map<int, std::string> invalid_by_subband;
      const auto tol = static_cast<std::int64_t>(std::ceil(settings.tolerance_s));
      for (const auto& f : db.files_in_range(g.first_file_epoch - tol, g.first_file_epoch + tol)) {
        if (f.state == state::FileState::kInvalid && f.subband && !(g.subband_mask >> *f.subband & 1u)) {
          invalid += (invalid.empty() ? "" : "; ") + f.error;
          auto& e = invalid_by_subband[*f.subband];
          e += (e.empty() ? "" : "; ") + f.error;
        }
      }
      for (int k : missing_subbands(g.subband_mask, settings.expected_subbands)) {
        auto it = invalid_by_subband.find(k);
        s.missing.emplace_back(k, it == invalid_by_subband.end() ? "no file" : "invalid: " + it->second);
      }
    }
    const bool too_few = !g.complete && (!allow_incomplete || g.n_subbands < settings.min_subbands);
    if (too_few) {
      if (!invalid.empty()) {
        s.decision = SelectedGroup::Decision::kFailInvalid;
        s.reason = "invalid input: " + invalid;
      } else {
        s.decision = SelectedGroup::Decision::kSkipIncomplete;
        const auto missing = missing_subbands(g.subband_mask, settings.expected_subbands);
        // Suggest --allow-incomplete only where it would convert the group.
        std::string hint;
        if (g.n_subbands < settings.min_subbands) {
          hint = fmt::format("; fewer than the minimum of {} (grouping.min_subbands){}",
                             settings.min_subbands,
                             allow_incomplete ? "" : ", so --allow-incomplete would not convert it either");
        } else {
          hint = " (use --allow-incomplete)";
        }
        s.reason = fmt::format("incomplete: {}/{} subbands, missing {}{}", g.n_subbands,
                               settings.expected_subbands, format_subbands(missing), hint);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace contimg::grouping
