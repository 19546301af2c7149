#include "grouping/grouping.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "common/error.h"
#include "grouping/utc_time.h"

namespace contimg::grouping {

std::vector<Group> group_files(std::span<const GroupInput> files, double tolerance_s,
                               int expected_subbands, double pointing_tolerance_deg) {
  if (!(tolerance_s >= 0) || !std::isfinite(tolerance_s)) {
    throw ConfigError(fmt::format("grouping.tolerance_s must be >= 0 seconds, got {}", tolerance_s));
  }
  if (expected_subbands < 1 || expected_subbands > kMaxSubbands) {
    throw ConfigError(fmt::format("grouping.expected_subbands must be 1..{}, got {}", kMaxSubbands,
                                  expected_subbands));
  }
  if (!(pointing_tolerance_deg > 0 && pointing_tolerance_deg <= 180)) {
    throw ConfigError(fmt::format("grouping.pointing_tolerance_deg must be in (0, 180] degrees, got {}",
                                  pointing_tolerance_deg));
  }
  constexpr double kDeg = std::numbers::pi / 180;
  const double pointing_tol_rad = pointing_tolerance_deg * kDeg;
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
    // The reference pointing: the Dec that most of the window's files share
    // within the tolerance (ties: the lowest subband code, then time order),
    // so one stray file cannot pull the group to its pointing.
    std::optional<std::size_t> ref;
    std::size_t ref_count = 0;
    for (std::size_t k = i; k < end; ++k) {
      const auto& fk = files[order[k]];
      if (!fk.pointing_dec_rad) continue;
      std::size_t count = 0;
      for (std::size_t m = i; m < end; ++m) {
        const auto& dm = files[order[m]].pointing_dec_rad;
        if (dm && std::abs(*dm - *fk.pointing_dec_rad) <= pointing_tol_rad) ++count;
      }
      if (!ref || count > ref_count ||
          (count == ref_count && fk.name.subband < files[*ref].name.subband)) {
        ref = order[k];
        ref_count = count;
      }
    }
    if (ref) g.pointing_dec_rad = files[*ref].pointing_dec_rad;
    auto excluded_reason = [&](const GroupInput& f) -> std::optional<std::string> {
      if (!ref || !f.pointing_dec_rad) return std::nullopt;
      const double off = std::abs(*f.pointing_dec_rad - *g.pointing_dec_rad);
      if (off <= pointing_tol_rad) return std::nullopt;
      return fmt::format(
          "sb{:02d} {} excluded: pointing Dec {:+.4f} deg differs from the group's {:+.4f} deg by "
          "{:.4f} deg (> grouping.pointing_tolerance_deg {})",
          f.name.subband, f.path, *f.pointing_dec_rad / kDeg, *g.pointing_dec_rad / kDeg, off / kDeg,
          pointing_tolerance_deg);
    };

    g.first_epoch = anchor;
    g.last_epoch = files[order[end - 1]].name.epoch;
    std::array<std::optional<std::size_t>, kMaxSubbands> kept{};
    std::array<std::vector<std::size_t>, kMaxSubbands> all{};
    for (std::size_t k = i; k < end; ++k) {
      const std::size_t f = order[k];
      const int sb = files[f].name.subband;
      if (auto why = excluded_reason(files[f])) {
        g.excluded.push_back({f, sb, std::move(*why)});
        continue;
      }
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
