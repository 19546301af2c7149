#include "calibration/predict.h"

#include <cmath>

#include "common/constants.h"
#include "common/error.h"
#include "sky/primary_beam.h"

namespace contimg::calibration {
namespace {
}

Lmn direction_cosines(const Direction& c, const Direction& s) {
  const double dra = s.ra_rad - c.ra_rad;
  Lmn r;
  r.l = std::cos(s.dec_rad) * std::sin(dra);
  r.m = std::sin(s.dec_rad) * std::cos(c.dec_rad) - std::cos(s.dec_rad) * std::sin(c.dec_rad) * std::cos(dra);
  r.n = std::sin(s.dec_rad) * std::sin(c.dec_rad) + std::cos(s.dec_rad) * std::cos(c.dec_rad) * std::cos(dra);
  return r;
}

void add_point_sources(std::span<const sky::Source> sources, const Direction& centre,
                       std::span<const double> freqs_hz, std::span<const double> uvw,
                       std::size_t nrows, std::span<std::complex<float>> model) {
  const std::size_t nchan = freqs_hz.size();
  if (uvw.size() < nrows * 3 || model.size() < nrows * nchan) {
    throw InputError("add_point_sources: uvw or model buffer smaller than the rows given");
  }
  std::vector<double> amp(nchan), k(nchan);
  for (std::size_t c = 0; c < nchan; ++c) k[c] = 2 * M_PI * freqs_hz[c] / kSpeedOfLight;
  // Evenly spaced channels (every DSA-110 SPW): the phase is linear in the
  // channel, so one rotation per (row, source) and a complex multiply per
  // channel replace a sine and cosine per channel (~20x fewer
  // transcendentals). Rounding grows by ~1e-16 per channel: ~1e-14 at 48.
  bool even = nchan > 2;
  for (std::size_t c = 2; even && c < nchan; ++c) {
    even = std::abs((k[c] - k[c - 1]) - (k[1] - k[0])) <= 1e-9 * std::abs(k[1] - k[0]);
  }
  const double dk = nchan > 1 ? k[1] - k[0] : 0;
  for (const auto& src : sources) {
    const Direction sd{src.ra_rad, src.dec_rad};
    const auto lmn = direction_cosines(centre, sd);
    if (lmn.n <= 0) continue;  // behind the field's horizon of directions
    const double theta = sky::angular_distance(centre.ra_rad, centre.dec_rad, sd.ra_rad, sd.dec_rad);
    for (std::size_t c = 0; c < nchan; ++c) {
      amp[c] = src.flux_at(freqs_hz[c]) * sky::airy_power(theta, freqs_hz[c]);
    }
    for (std::size_t r = 0; r < nrows; ++r) {
      const double path = uvw[r * 3] * lmn.l + uvw[r * 3 + 1] * lmn.m + uvw[r * 3 + 2] * (lmn.n - 1);
      auto* out = &model[r * nchan];
      if (even) {
        std::complex<double> z = std::polar(1.0, k[0] * path);
        const std::complex<double> step = std::polar(1.0, dk * path);
        for (std::size_t c = 0; c < nchan; ++c) {
          out[c] += std::complex<float>(static_cast<float>(amp[c] * z.real()), static_cast<float>(amp[c] * z.imag()));
          z *= step;
        }
        continue;
      }
      for (std::size_t c = 0; c < nchan; ++c) {
        const double ph = k[c] * path;
        out[c] += std::complex<float>(static_cast<float>(amp[c] * std::cos(ph)),
                                      static_cast<float>(amp[c] * std::sin(ph)));
      }
    }
  }
}

}  // namespace contimg::calibration
