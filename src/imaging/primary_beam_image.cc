#include "imaging/primary_beam_image.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/error.h"
#include "common/parallel.h"
#include "sky/primary_beam.h"

namespace contimg::imaging {

double effective_beam(double ra_rad, double dec_rad, std::span<const astro::SkyDirection> pointings,
                      std::span<const double> freqs_hz) {
  if (pointings.empty() || freqs_hz.empty()) {
    throw InputError("primary beam: needs at least one pointing and one frequency");
  }
  if (std::isnan(ra_rad) || std::isnan(dec_rad)) return NAN;
  double sum = 0;
  for (const auto& p : pointings) {
    const double theta = sky::angular_distance(ra_rad, dec_rad, p.ra_rad, p.dec_rad);
    for (double f : freqs_hz) sum += sky::airy_power(theta, f);
  }
  return sum / static_cast<double>(pointings.size() * freqs_hz.size());
}

std::size_t coarse_points(std::size_t n, std::size_t step) { return n == 0 ? 0 : (n - 1) / step + 2; }

std::vector<float> upsample_grid(const std::vector<float>& coarse, std::size_t ncx, std::size_t ncy, std::size_t step,
                                 std::size_t nx, std::size_t ny) {
  if (step == 0 || coarse.size() != ncx * ncy || ncx < coarse_points(nx, step) || ncy < coarse_points(ny, step)) {
    throw InputError(fmt::format("upsample: a {} x {} grid (step {}, {} values) cannot cover {} x {} pixels", ncx,
                                 ncy, step, coarse.size(), nx, ny));
  }
  std::vector<float> out(nx * ny);
  for (std::size_t y = 0; y < ny; ++y) {
    const std::size_t cy = y / step;
    const double fy = static_cast<double>(y % step) / static_cast<double>(step);
    for (std::size_t x = 0; x < nx; ++x) {
      const std::size_t cx = x / step;
      const double fx = static_cast<double>(x % step) / static_cast<double>(step);
      const double v00 = coarse[cy * ncx + cx], v10 = coarse[cy * ncx + cx + 1];
      const double v01 = coarse[(cy + 1) * ncx + cx], v11 = coarse[(cy + 1) * ncx + cx + 1];
      out[y * nx + x] = static_cast<float>((1 - fy) * ((1 - fx) * v00 + fx * v10) + fy * ((1 - fx) * v01 + fx * v11));
    }
  }
  return out;
}

std::vector<float> effective_beam_on_grid(const fits::CelestialWcs& wcs, std::size_t nx,
                                          std::size_t ny,
                                          std::span<const astro::SkyDirection> pointings,
                                          std::span<const double> freqs_hz, int threads) {
  // The beam is smooth on degree scales: sampling every 16 pixels costs ~1/256
  // of the full grid, for < 1e-4 error (tested).
  constexpr double kDeg = M_PI / 180.0;
  const std::size_t ncx = coarse_points(nx, kBeamStep), ncy = coarse_points(ny, kBeamStep);
  // The sample positions first, on this thread (wcslib's structure may be
  // set up on first use); then the beam, row by row on `threads` (each row
  // its own slot: the same result whatever the count).
  std::vector<double> ra(ncx * ncy), dec(ncx * ncy);
  for (std::size_t y = 0; y < ncy; ++y) {
    for (std::size_t x = 0; x < ncx; ++x) {
      double r = 0, d = 0;
      if (!wcs.pixel_to_world(static_cast<double>(x * kBeamStep),
                              static_cast<double>(y * kBeamStep), r, d))
        r = d = NAN;
      ra[y * ncx + x] = r * kDeg;
      dec[y * ncx + x] = d * kDeg;
    }
  }
  std::vector<float> coarse(ncx * ncy);
  parallel_for(ncy, threads, [&](std::size_t y, std::size_t) {
    for (std::size_t k = y * ncx; k < (y + 1) * ncx; ++k)
      coarse[k] = static_cast<float>(effective_beam(ra[k], dec[k], pointings, freqs_hz));
  });
  return upsample_grid(coarse, ncx, ncy, kBeamStep, nx, ny);
}

std::vector<float> pb_correct(std::span<const float> image, std::span<const float> pb, double cutoff) {
  if (image.size() != pb.size()) {
    throw InputError(fmt::format("pb correction: {} image pixels, {} beam pixels", image.size(), pb.size()));
  }
  float peak = 0;
  for (float v : pb)
    if (std::isfinite(v)) peak = std::max(peak, v);
  const double floor = cutoff * peak;
  std::vector<float> out(image.size(), NAN);
  for (std::size_t i = 0; i < image.size(); ++i) {
    if (std::isfinite(image[i]) && std::isfinite(pb[i]) && pb[i] > 0 && pb[i] >= floor) out[i] = image[i] / pb[i];
  }
  return out;
}

}  // namespace contimg::imaging
