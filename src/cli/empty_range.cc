#include "cli/empty_range.h"

#include <algorithm>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "common/error.h"
#include "grouping/indexer.h"
#include "grouping/subband_name.h"
#include "grouping/utc_time.h"

namespace contimg::cli {

std::string empty_range_warning(const std::filesystem::path& input_dir, std::int64_t first,
                                std::int64_t last) {
  // The directory, not the (shared) index: the user asked about this one.
  const auto files = grouping::scan_directory(input_dir, false);
  std::vector<std::int64_t> epochs;
  for (const auto& f : files) {
    if (const auto parsed = grouping::parse_subband_name(f.filename().string())) {
      epochs.push_back(parsed.name->epoch);
    }
  }
  if (epochs.empty()) {
    throw InputError(fmt::format("{}: no subband files (*_sbNN.hdf5{}): nothing to process",
                                 input_dir.string(),
                                 files.empty() ? "" : fmt::format("; {} with unparsable names", files.size())));
  }
  std::sort(epochs.begin(), epochs.end());
  std::optional<std::int64_t> before, after;
  for (auto e : epochs) {
    if (e < first) before = e;
    if (e > last && !after) after = e;
  }
  auto iso = [](const std::optional<std::int64_t>& e) {
    return e ? grouping::epoch_to_iso(*e) : std::string("none");
  };
  return fmt::format(
      "no groups in [{}, {}]: {} holds {} subband files from {} to {} (nearest before START: {}, "
      "after END: {})",
      grouping::epoch_to_iso(first), grouping::epoch_to_iso(last), input_dir.string(), epochs.size(),
      grouping::epoch_to_iso(epochs.front()), grouping::epoch_to_iso(epochs.back()), iso(before), iso(after));
}

}  // namespace contimg::cli
