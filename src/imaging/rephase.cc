#include "imaging/rephase.h"

#include <cmath>

#include <fmt/format.h>

#include "common/constants.h"
#include "common/error.h"

namespace contimg::imaging {
namespace {}

void rephase_visibilities(std::span<std::complex<float>> data, std::size_t ncorr,
                          std::span<const double> freq_hz, std::span<const double> w_old_m,
                          std::span<const double> w_new_m) {
  const std::size_t nrows = w_old_m.size(), nchan = freq_hz.size();
  if (w_new_m.size() != nrows || data.size() != nrows * nchan * ncorr) {
    throw InputError(
        fmt::format("rephase: {} visibilities for {} rows x {} channels x {} correlations "
                    "({} new W values)",
                    data.size(), nrows, nchan, ncorr, w_new_m.size()));
  }
  // Evenly spaced channels (every DSA-110 SPW): the rotation advances by one
  // double-precision step per channel, exact at the first channel (rounding
  // grows by ~1e-16 per channel, < 1e-13 rad over a band); otherwise each
  // channel's phase is computed directly. One sincos per row instead of one
  // per channel: the re-phase's largest cost.
  const double d0 = nchan >= 2 ? freq_hz[1] - freq_hz[0] : 0.0;
  bool even = nchan >= 2;
  for (std::size_t c = 2; even && c < nchan; ++c)
    even = std::abs((freq_hz[c] - freq_hz[c - 1]) - d0) <= 1e-9 * std::abs(d0);
  for (std::size_t r = 0; r < nrows; ++r) {
    const double turns_per_hz = (w_old_m[r] - w_new_m[r]) / kSpeedOfLight;
    if (turns_per_hz == 0.0) continue;
    std::complex<float>* row = data.data() + r * nchan * ncorr;
    std::complex<double> rot = std::polar(1.0, 2.0 * M_PI * turns_per_hz * freq_hz[0]);
    const std::complex<double> step =
        even ? std::polar(1.0, 2.0 * M_PI * turns_per_hz * d0) : std::complex<double>(1.0, 0.0);
    for (std::size_t c = 0; c < nchan; ++c) {
      if (c > 0) {
        rot = even ? rot * step : std::polar(1.0, 2.0 * M_PI * turns_per_hz * freq_hz[c]);
      }
      for (std::size_t p = 0; p < ncorr; ++p) {
        std::complex<float>& v = row[c * ncorr + p];
        v = std::complex<float>(std::complex<double>(v) * rot);
      }
    }
  }
}

void UvwCalculator::compute(const astro::SkyDirection& centre, double jd_utc,
                            std::span<const int> ant1, std::span<const int> ant2,
                            std::span<double> uvw_out) const {
  if (ant1.size() != ant2.size() || uvw_out.size() != 3 * ant1.size()) {
    throw InputError(fmt::format("uvw: {} ANTENNA1, {} ANTENNA2 and {} UVW values", ant1.size(),
                                 ant2.size(), uvw_out.size()));
  }
  const auto frame = observatory_.uvw_frame(centre, jd_utc);
  const auto n = static_cast<int>(antennas_.size());
  for (std::size_t r = 0; r < ant1.size(); ++r) {
    if (ant1[r] < 0 || ant1[r] >= n || ant2[r] < 0 || ant2[r] >= n) {
      throw InputError(
          fmt::format("uvw: antenna pair ({}, {}) outside the {} antennas", ant1[r], ant2[r], n));
    }
    const auto& p1 = antennas_[static_cast<std::size_t>(ant1[r])];
    const auto& p2 = antennas_[static_cast<std::size_t>(ant2[r])];
    const auto uvw = observatory_.uvw(frame, {p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]});
    for (int k = 0; k < 3; ++k)
      uvw_out[3 * r + static_cast<std::size_t>(k)] = uvw[static_cast<std::size_t>(k)];
  }
}

double pointing_dec(const astro::Observatory& observatory, const astro::SkyDirection& field_icrs,
                    double field_jd_utc) {
  return observatory.observed_hadec(field_icrs, field_jd_utc).dec_rad;
}

}  // namespace contimg::imaging
