#include "grouping/group_selection.h"

#include <cmath>

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
    const bool too_few = !g.complete && (!allow_incomplete || g.n_subbands < settings.min_subbands);
    if (too_few) {
      std::string invalid;
      const auto tol = static_cast<std::int64_t>(std::ceil(settings.tolerance_s));
      for (const auto& f : db.files_in_range(g.first_file_epoch - tol, g.first_file_epoch + tol)) {
        if (f.state == state::FileState::kInvalid && f.subband && !(g.subband_mask >> *f.subband & 1u)) {
          invalid += (invalid.empty() ? "" : "; ") + f.error;
        }
      }
      if (!invalid.empty()) {
        s.decision = SelectedGroup::Decision::kFailInvalid;
        s.reason = "invalid input: " + invalid;
      } else {
        s.decision = SelectedGroup::Decision::kSkipIncomplete;
        const auto missing = missing_subbands(g.subband_mask, settings.expected_subbands);
        s.reason = fmt::format("incomplete: {}/{} subbands, missing {}{}", g.n_subbands,
                               settings.expected_subbands, format_subbands(missing),
                               allow_incomplete ? fmt::format(" (minimum {})", settings.min_subbands)
                                                : " (use --allow-incomplete)");
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace contimg::grouping
