#include "flagging/flag_algorithms.h"

#include <aoflagger.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::flagging {

std::size_t clip_invalid(std::span<const Visibility> vis, std::span<std::uint8_t> flags) {
  if (vis.size() != flags.size()) {
    throw std::invalid_argument(fmt::format("clip_invalid: {} visibilities but {} flags", vis.size(),
                                            flags.size()));
  }
  std::size_t n = 0;
  for (std::size_t i = 0; i < vis.size(); ++i) {
    const Visibility v = vis[i];
    const bool bad = !std::isfinite(v.real()) || !std::isfinite(v.imag()) ||
                     (v.real() == 0.0f && v.imag() == 0.0f);
    if (bad && !flags[i]) {
      flags[i] = 1;
      ++n;
    }
  }
  return n;
}

struct RfiDetector::Impl {
  aoflagger::AOFlagger flagger;
  aoflagger::Strategy strategy;
};

RfiDetector::RfiDetector(const std::filesystem::path& strategy) : impl_(std::make_unique<Impl>()) {
  // AOFlagger reports a missing file only as a Lua error: check first.
  std::ifstream probe(strategy);
  if (!probe) throw InputError(fmt::format("flagging strategy {}: cannot be read", strategy.string()));
  try {
    impl_->strategy = impl_->flagger.LoadStrategyFile(strategy.string());
  } catch (const std::exception& e) {
    throw InputError(fmt::format("flagging strategy {}: {}", strategy.string(), e.what()));
  }
}

RfiDetector::~RfiDetector() = default;
RfiDetector::RfiDetector(RfiDetector&&) noexcept = default;
RfiDetector& RfiDetector::operator=(RfiDetector&&) noexcept = default;

void RfiDetector::detect(std::span<const Visibility> vis, std::span<std::uint8_t> flags,
                         const PlaneShape& shape) {
  if (vis.size() != shape.size() || flags.size() != shape.size()) {
    throw std::invalid_argument("RfiDetector::detect: buffer sizes do not match the plane shape");
  }
  if (shape.npol != 1 && shape.npol != 2 && shape.npol != 4) {
    throw InputError(fmt::format("flagging: {} correlations; AOFlagger takes 1, 2 or 4", shape.npol));
  }
  const std::size_t nt = shape.ntimes, nc = shape.nchan;
  aoflagger::ImageSet images = impl_->flagger.MakeImageSet(nt, nc, 2 * shape.npol);
  aoflagger::FlagMask existing = impl_->flagger.MakeFlagMask(nt, nc, false);
  const std::size_t stride = images.HorizontalStride();
  const std::size_t fstride = existing.HorizontalStride();
  bool* ex = existing.Buffer();
  for (std::size_t p = 0; p < shape.npol; ++p) {
    float* re = images.ImageBuffer(2 * p);
    float* im = images.ImageBuffer(2 * p + 1);
    for (std::size_t c = 0; c < nc; ++c) {
      for (std::size_t t = 0; t < nt; ++t) {
        const std::size_t i = shape.index(p, c, t);
        const bool f = flags[i] != 0;
        re[c * stride + t] = f ? 0.0f : vis[i].real();
        im[c * stride + t] = f ? 0.0f : vis[i].imag();
        // One mask for all correlations: a sample flagged in any is excluded.
        if (f) ex[c * fstride + t] = true;
      }
    }
  }
  const aoflagger::FlagMask result = impl_->strategy.Run(images, existing);
  const bool* out = result.Buffer();
  const std::size_t ostride = result.HorizontalStride();
  for (std::size_t c = 0; c < nc; ++c) {
    for (std::size_t t = 0; t < nt; ++t) {
      if (!out[c * ostride + t]) continue;
      // Non-zero values are the caller's (e.g. "no such sample" markers): keep them.
      for (std::size_t p = 0; p < shape.npol; ++p) {
        auto& f = flags[shape.index(p, c, t)];
        if (!f) f = 1;
      }
    }
  }
}

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  if (v.size() % 2) return *mid;
  return 0.5 * (*mid + *std::max_element(v.begin(), mid));
}

}  // namespace

std::vector<DeadAntenna> find_dead_antennas(std::span<const AntennaActivity> antennas,
                                            const DeadAntennaCriteria& criteria) {
  std::vector<double> autos, crosses;
  for (const auto& a : antennas) {
    if (!a.present) continue;
    if (a.auto_mean) autos.push_back(*a.auto_mean);
    const std::uint64_t good = a.cross_samples - a.cross_flagged;
    if (good > 0) crosses.push_back(a.cross_amp_sum / static_cast<double>(good));
  }
  const double auto_median = median(autos), cross_median = median(crosses);
  std::vector<DeadAntenna> out;
  for (std::size_t i = 0; i < antennas.size(); ++i) {
    const auto& a = antennas[i];
    if (!a.present) continue;
    std::string reason;
    const double frac = a.cross_samples ? static_cast<double>(a.cross_flagged) /
                                              static_cast<double>(a.cross_samples)
                                        : 1.0;
    const std::uint64_t good = a.cross_samples - a.cross_flagged;
    const double cross_mean = good ? a.cross_amp_sum / static_cast<double>(good) : 0.0;
    if (frac > criteria.dead_fraction) {
      reason = fmt::format("{:.1f}% of its cross-correlations flagged (> {:.0f}%)", 100 * frac,
                           100 * criteria.dead_fraction);
    } else if (a.auto_mean && auto_median > 0 && *a.auto_mean < criteria.auto_ratio * auto_median) {
      reason = fmt::format("autocorrelation {:.3g} < {} x array median {:.3g}", *a.auto_mean,
                           criteria.auto_ratio, auto_median);
    } else if (cross_median > 0 && cross_mean < criteria.zero_ratio * cross_median) {
      reason = fmt::format("cross-correlation amplitude {:.3g} ~ 0 (array median {:.3g})", cross_mean,
                           cross_median);
    }
    if (!reason.empty()) out.push_back({static_cast<int>(i), reason});
  }
  return out;
}

}  // namespace contimg::flagging
