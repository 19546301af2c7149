#include "catalog/calibrator_models.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "common/error.h"
#include "sky/primary_beam.h"

namespace contimg::catalog {
namespace {

struct PerleyButler {
  std::string_view name3c;
  std::string_view j2000;  // the VLA list's J2000 name of the entry
  std::array<double, 6> a;
  int n;
};

// Perley, R. A. & Butler, B. J. 2017, ApJS 230, 7, "An Accurate Flux Density
// Scale from 50 MHz to 50 GHz", Table 6 (coefficients for frequencies in GHz;
// valid 50 MHz - 50 GHz for these four). CASA's setjy standard
// "Perley-Butler 2017" uses the same numbers.
constexpr std::array<PerleyButler, 4> kStandards{{
    {"3C48", "J0137+3309", {1.3253, -0.7553, -0.1914, 0.0498, 0, 0}, 4},
    {"3C138", "J0521+1638", {1.0088, -0.4981, -0.155, -0.010, 0.022, 0}, 5},
    {"3C147", "J0542+4951", {1.4516, -0.6961, -0.201, 0.064, -0.046, 0.029}, 6},
    {"3C286", "J1331+3030", {1.2481, -0.4507, -0.1798, 0.0357, 0, 0}, 4},
}};

// Nominal centre frequencies of the VLA bands the list uses for its fluxes.
std::optional<double> band_freq_hz(char letter) {
  switch (letter) {
    case 'P': return 0.33e9;
    case 'L': return kVla20cmFreqHz;
    case 'C': return 4.86e9;
    case 'X': return 8.46e9;
    case 'U': return 14.94e9;
    case 'K': return 22.46e9;
    case 'Q': return 43.34e9;
    default: return std::nullopt;
  }
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::optional<std::vector<double>> perley_butler_2017(std::string_view name) {
  for (const auto& s : kStandards) {
    if (iequal(name, s.name3c) || iequal(name, s.j2000)) {
      return std::vector<double>(s.a.begin(), s.a.begin() + s.n);
    }
  }
  return std::nullopt;
}

double spectral_index(const VlaCalibrator& c) {
  if (!c.flux_20cm_jy || *c.flux_20cm_jy <= 0) return kDefaultSpectralIndex;
  // The band nearest to 20 cm in log frequency with a positive flux: the
  // local slope matters over 1.28-1.53 GHz, and far bands add curvature.
  double best_dist = std::numeric_limits<double>::infinity(), alpha = kDefaultSpectralIndex;
  for (const VlaBand& b : c.bands) {
    const auto f = band_freq_hz(b.letter);
    if (b.letter == 'L' || !f || !b.flux_jy || *b.flux_jy <= 0) continue;
    const double dist = std::abs(std::log(*f / kVla20cmFreqHz));
    if (dist < best_dist) {
      best_dist = dist;
      alpha = std::log(*b.flux_jy / *c.flux_20cm_jy) / std::log(*f / kVla20cmFreqHz);
    }
  }
  // Fluxes of different bands come from different epochs of variable sources.
  return std::clamp(alpha, -1.5, 1.0);
}

sky::Source calibrator_source(const VlaCalibrator& c) {
  sky::Source s;
  s.name = c.name;
  s.ra_rad = c.ra_rad;
  s.dec_rad = c.dec_rad;
  s.ref_freq_hz = kVla20cmFreqHz;
  auto poly = perley_butler_2017(c.name);
  if (!poly && !c.alt_name.empty()) poly = perley_butler_2017(c.alt_name);
  if (poly) {
    s.log_poly = *poly;
    s.flux_jy = s.flux_at(kVla20cmFreqHz);
    // Informative: the local slope d log S / d log nu at 1.4 GHz.
    const double x = std::log10(kVla20cmFreqHz / 1e9);
    double slope = 0, xi = 1;
    for (std::size_t i = 1; i < poly->size(); ++i) {
      slope += static_cast<double>(i) * (*poly)[i] * xi;
      xi *= x;
    }
    s.spectral_index = slope;
    return s;
  }
  if (!c.flux_20cm_jy) {
    throw InputError(fmt::format("calibrator {} ({}): the VLA list gives no 20 cm flux", c.name,
                                 c.alt_name.empty() ? c.iau_name : c.alt_name));
  }
  s.flux_jy = *c.flux_20cm_jy;
  s.spectral_index = spectral_index(c);
  return s;
}

std::vector<sky::Source> calibrator_sources_within(std::span<const VlaCalibrator> list, double ra_rad,
                                                   double dec_rad, double radius_rad) {
  constexpr double kSameSourceRad = 30.0 / 3600 * M_PI / 180;
  std::vector<sky::Source> out;
  for (const auto& c : list) {
    if (!c.flux_20cm_jy) continue;
    if (sky::angular_distance(ra_rad, dec_rad, c.ra_rad, c.dec_rad) > radius_rad) continue;
    bool seen = false;
    for (const auto& s : out) {
      seen = seen || sky::angular_distance(s.ra_rad, s.dec_rad, c.ra_rad, c.dec_rad) <= kSameSourceRad;
    }
    if (!seen) out.push_back(calibrator_source(c));
  }
  return out;
}

}  // namespace contimg::catalog
