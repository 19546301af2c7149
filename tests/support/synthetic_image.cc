#include "support/synthetic_image.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numbers>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sky/primary_beam.h"

namespace contimg::testing {
namespace {
constexpr double kDeg = std::numbers::pi / 180;
}

SyntheticImage make_synthetic_image(const SyntheticOptions& o) {
  SyntheticImage img;
  auto& s = img.spec;
  s.nx = s.ny = o.n;
  s.ra0_deg = o.ra0_deg;
  s.dec0_deg = o.dec0_deg;
  s.cell_deg = o.cell_arcsec / 3600;
  s.freq_hz = o.freq_hz;
  s.bandwidth_hz = 187.5e6;
  s.beam = fits::Beam{o.beam_major_arcsec / 3600, o.beam_minor_arcsec / 3600, o.beam_pa_deg};
  s.date_obs = o.date_obs;
  img.noise_jy = o.noise_jy;
  // Render through a header-built WCS, as a reader would see the file.
  std::string hdr;
  auto card = [&](const std::string& k, const std::string& v) {
    std::string c = k;
    c.resize(8, ' ');
    c += "= " + v;
    c.resize(80, ' ');
    hdr += c;
  };
  card("NAXIS", "2");
  card("NAXIS1", std::to_string(o.n));
  card("NAXIS2", std::to_string(o.n));
  card("CTYPE1", "'RA---SIN'");
  card("CTYPE2", "'DEC--SIN'");
  card("CRPIX1", std::to_string(o.n / 2 + 1));
  card("CRPIX2", std::to_string(o.n / 2 + 1));
  card("CRVAL1", std::to_string(o.ra0_deg));
  card("CRVAL2", std::to_string(o.dec0_deg));
  card("CDELT1", std::to_string(-s.cell_deg));
  card("CDELT2", std::to_string(s.cell_deg));
  fits::CelestialWcs wcs(hdr, 11, "synthetic");

  std::mt19937 rng(o.seed);
  std::uniform_real_distribution<double> jitter(-0.3, 0.3);
  std::normal_distribution<double> gauss(0, 1);
  const int ns = static_cast<int>(o.snrs.size());
  const int side = static_cast<int>(std::ceil(std::sqrt(ns)));
  const double spacing = 0.6 * o.n / side;  // inside the PB-cut circle
  const double fwhm = std::sqrt(8 * std::log(2.0));
  const double sa = o.beam_major_arcsec / o.cell_arcsec / fwhm, sb = o.beam_minor_arcsec / o.cell_arcsec / fwhm;
  const double th = o.beam_pa_deg * kDeg;  // north-up, east-left: pixel theta = PA
  img.pixels.assign(static_cast<std::size_t>(o.n) * o.n, 0.f);
  for (int k = 0; k < ns; ++k) {
    const double x = o.n / 2.0 + ((k % side) - (side - 1) / 2.0 + jitter(rng)) * spacing;
    const double y = o.n / 2.0 + ((k / side) - (side - 1) / 2.0 + jitter(rng)) * spacing;
    double ra, dec;
    wcs.pixel_to_world(x, y, ra, dec);
    sky::Source src;
    src.name = fmt::format("S{}", k);
    src.ra_rad = ra * kDeg;
    src.dec_rad = dec * kDeg;
    src.flux_jy = o.snrs[k] * o.noise_jy;
    src.ref_freq_hz = o.freq_hz;
    if (std::find(o.hidden.begin(), o.hidden.end(), k) == o.hidden.end()) img.truth.sources.push_back(src);
    // Rendered where the (possibly shifted) source lies.
    double xr = x, yr = y;
    if (o.shift_ra_arcsec != 0) {
      wcs.world_to_pixel(ra + o.shift_ra_arcsec / 3600 / std::cos(dec * kDeg), dec, xr, yr);
    }
    const double amp = src.flux_jy * o.flux_scale *
                       (k < static_cast<int>(o.render_factors.size()) ? o.render_factors[k] : 1.0);
    const int r = static_cast<int>(6 * sa) + 2;
    for (int py = std::max(0, int(yr) - r); py <= std::min(o.n - 1, int(yr) + r); ++py) {
      for (int px = std::max(0, int(xr) - r); px <= std::min(o.n - 1, int(xr) + r); ++px) {
        const double dx = px - xr, dy = py - yr;
        const double a = -dx * std::sin(th) + dy * std::cos(th), b = dx * std::cos(th) + dy * std::sin(th);
        img.pixels[static_cast<std::size_t>(py) * o.n + px] +=
            static_cast<float>(amp * std::exp(-0.5 * (a * a / (sa * sa) + b * b / (sb * sb))));
      }
    }
  }
  std::mt19937 noise_rng(o.noise_seed);
  std::mt19937& nrng = o.noise_seed ? noise_rng : rng;
  for (int py = 0; py < o.n; ++py) {
    for (int px = 0; px < o.n; ++px) {
      double ra, dec;
      wcs.pixel_to_world(px, py, ra, dec);
      const double theta = sky::angular_distance(o.ra0_deg * kDeg, o.dec0_deg * kDeg, ra * kDeg, dec * kDeg);
      const double pb = sky::airy_power(theta, o.freq_hz);
      auto& v = img.pixels[static_cast<std::size_t>(py) * o.n + px];
      // Cut at a fixed radius too, so the footprint is a circle inside the image.
      if (pb < o.pb_cut || std::hypot(px - o.n / 2.0, py - o.n / 2.0) > 0.48 * o.n) {
        v = NAN;
      } else {
        v += static_cast<float>(o.noise_jy / pb * gauss(nrng));
      }
    }
  }
  return img;
}

std::filesystem::path write_synthetic(const SyntheticImage& img, const std::filesystem::path& dir,
                                      const std::string& stem) {
  std::filesystem::create_directories(dir);
  const auto path = dir / (stem + ".pbcor.fits");
  fits::write_image(path, img.pixels, img.spec);
  std::ofstream(dir / (stem + ".truth.json")) << nlohmann::json{{"sky", sky::to_json(img.truth)}}.dump(1);
  return path;
}

}  // namespace contimg::testing

namespace contimg::testing {
namespace {

}  // namespace

std::vector<float> model_pb(const fits::ImageSpec& s) {
  const auto wcs = fits::wcs_of(s);
  std::vector<float> pb(static_cast<std::size_t>(s.nx) * s.ny, NAN);
  for (int y = 0; y < s.ny; ++y) {
    for (int x = 0; x < s.nx; ++x) {
      double ra, dec;
      if (!wcs.pixel_to_world(x, y, ra, dec)) continue;
      const double theta =
          sky::angular_distance(s.ra0_deg * kDeg, s.dec0_deg * kDeg, ra * kDeg, dec * kDeg);
      pb[static_cast<std::size_t>(y) * s.nx + x] =
          static_cast<float>(sky::airy_power(theta, s.freq_hz));
    }
  }
  return pb;
}

std::vector<float> render_pbcor(const fits::ImageSpec& s, const std::vector<PlacedSource>& sources,
                                double noise_jy, double pb_cut, unsigned seed) {
  const auto wcs = fits::wcs_of(s);
  const std::size_t n = static_cast<std::size_t>(s.nx) * s.ny;
  std::vector<float> img(n, 0.f);
  const double fwhm = std::sqrt(8 * std::log(2.0));
  const double cell = s.cell_deg * 3600;
  const double sa = s.beam->major_deg * 3600 / cell / fwhm,
               sb = s.beam->minor_deg * 3600 / cell / fwhm;
  const double th = s.beam->pa_deg * kDeg;
  for (const auto& src : sources) {
    double xr, yr;
    if (!wcs.world_to_pixel(src.ra_deg, src.dec_deg, xr, yr)) continue;
    const int r = static_cast<int>(6 * sa) + 2;
    for (int py = std::max(0, int(yr) - r); py <= std::min(s.ny - 1, int(yr) + r); ++py) {
      for (int px = std::max(0, int(xr) - r); px <= std::min(s.nx - 1, int(xr) + r); ++px) {
        const double dx = px - xr, dy = py - yr;
        const double a = -dx * std::sin(th) + dy * std::cos(th),
                     b = dx * std::cos(th) + dy * std::sin(th);
        img[static_cast<std::size_t>(py) * s.nx + px] += static_cast<float>(
            src.flux_jy * std::exp(-0.5 * (a * a / (sa * sa) + b * b / (sb * sb))));
      }
    }
  }
  // Beam-correlated noise: white noise smoothed separably by a circular
  // Gaussian (σ = the minor axis' σ), scaled back to unit rms (1/√Σk²).
  std::mt19937 rng(seed);
  std::normal_distribution<double> gauss(0, 1);
  std::vector<double> white(n), tmp(n, 0), smooth(n, 0);
  for (auto& v : white) v = gauss(rng);
  const int kr = static_cast<int>(std::ceil(4 * sb));
  std::vector<double> k(2 * kr + 1);
  double k2 = 0;
  for (int i = -kr; i <= kr; ++i) k[i + kr] = std::exp(-0.5 * i * i / (sb * sb));
  for (double v : k) k2 += v * v;
  for (int y = 0; y < s.ny; ++y) {
    for (int x = 0; x < s.nx; ++x) {
      double a = 0;
      for (int i = -kr; i <= kr; ++i) {
        const int xx = (x + i + s.nx) % s.nx;
        a += k[i + kr] * white[static_cast<std::size_t>(y) * s.nx + xx];
      }
      tmp[static_cast<std::size_t>(y) * s.nx + x] = a;
    }
  }
  for (int y = 0; y < s.ny; ++y) {
    for (int x = 0; x < s.nx; ++x) {
      double a = 0;
      for (int i = -kr; i <= kr; ++i) {
        const int yy = (y + i + s.ny) % s.ny;
        a += k[i + kr] * tmp[static_cast<std::size_t>(yy) * s.nx + x];
      }
      smooth[static_cast<std::size_t>(y) * s.nx + x] = a / k2;  // (√Σk²)² for both passes
    }
  }
  const auto pb = model_pb(s);
  for (std::size_t i = 0; i < n; ++i) {
    if (!(pb[i] >= pb_cut)) {
      img[i] = NAN;
    } else {
      img[i] += static_cast<float>(noise_jy / pb[i] * smooth[i]);
    }
  }
  return img;
}

}  // namespace contimg::testing
