#include "grouping/grouping.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "common/error.h"
#include "grouping/utc_time.h"

namespace contimg::grouping {

std::vector<Group> group_files(std::span<const GroupInput> files, double tolerance_s,
                               int expected_subbands) {
  if (!(tolerance_s >= 0) || !std::isfinite(tolerance_s)) {
    throw ConfigError(fmt::format("grouping.tolerance_s must be >= 0 seconds, got {}", tolerance_s));
  }
  if (expected_subbands < 1 || expected_subbands > kMaxSubbands) {
    throw ConfigError(fmt::format("grouping.expected_subbands must be 1..{}, got {}", kMaxSubbands,
                                  expected_subbands));
  }
  // Time order; ties by code, then path, then input position: a total order,
  // so the result is independent of the input order.
  std::vector<std::size_t> order(files.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const auto& fa = files[a];
    const auto& fb = files[b];
    if (fa.name.epoch != fb.name.epoch) return fa.name.epoch < fb.name.epoch;
    if (fa.name.subband != fb.name.subband) return fa.name.subband < fb.name.subband;
    if (fa.path != fb.path) return fa.path < fb.path;
    return a < b;
  });
  // The newer of two files of one code: mtime, then filename time, then path.
  auto newer = [&](std::size_t a, std::size_t b) {
    const auto& fa = files[a];
    const auto& fb = files[b];
    if (fa.mtime_ns != fb.mtime_ns) return fa.mtime_ns > fb.mtime_ns;
    if (fa.name.epoch != fb.name.epoch) return fa.name.epoch > fb.name.epoch;
    if (fa.path != fb.path) return fa.path > fb.path;
    return a > b;
  };

  std::vector<Group> groups;
  std::size_t i = 0;
  while (i < order.size()) {
    const std::int64_t anchor = files[order[i]].name.epoch;
    std::size_t end = i;
    while (end < order.size() &&
           static_cast<double>(files[order[end]].name.epoch - anchor) <= tolerance_s) {
      ++end;
    }
    Group g;
    g.first_epoch = anchor;
    g.last_epoch = files[order[end - 1]].name.epoch;
    std::array<std::optional<std::size_t>, kMaxSubbands> kept{};
    std::array<std::vector<std::size_t>, kMaxSubbands> all{};
    for (std::size_t k = i; k < end; ++k) {
      const std::size_t f = order[k];
      const int sb = files[f].name.subband;
      all[static_cast<std::size_t>(sb)].push_back(f);
      auto& slot = kept[static_cast<std::size_t>(sb)];
      if (!slot || newer(f, *slot)) slot = f;
    }
    std::optional<std::int64_t> earliest;
    for (int sb = 0; sb < kMaxSubbands; ++sb) {
      const auto& slot = kept[static_cast<std::size_t>(sb)];
      if (!slot) continue;
      g.members.push_back(*slot);
      g.present.push_back(sb);
      g.subband_mask |= 1u << sb;
      const std::int64_t t = files[*slot].name.epoch;
      if (!earliest || t < *earliest) earliest = t;
      for (std::size_t f : all[static_cast<std::size_t>(sb)]) {
        if (f != *slot) g.duplicates.push_back({f, *slot, sb});
      }
    }
    for (int sb = 0; sb < expected_subbands; ++sb) {
      if (!kept[static_cast<std::size_t>(sb)]) g.missing.push_back(sb);
    }
    g.complete = g.missing.empty();
    g.id_epoch = kept[0] ? files[*kept[0]].name.epoch : *earliest;
    g.id = kept[0] ? files[*kept[0]].name.timestamp : epoch_to_iso(g.id_epoch);
    groups.push_back(std::move(g));
    i = end;
  }
  return groups;
}

std::vector<int> missing_subbands(std::uint32_t subband_mask, int expected_subbands) {
  std::vector<int> out;
  for (int k = 0; k < expected_subbands; ++k) {
    if (!(subband_mask >> k & 1u)) out.push_back(k);
  }
  return out;
}

std::string format_subbands(const std::vector<int>& codes) {
  std::string out;
  for (int c : codes) {
    if (!out.empty()) out += ',';
    out += fmt::format("sb{:02d}", c);
  }
  return out;
}

}  // namespace contimg::grouping
