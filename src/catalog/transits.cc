#include "catalog/transits.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "astro/time.h"
#include "catalog/calibrator_models.h"
#include "sky/primary_beam.h"
#include "state/state_db.h"

namespace contimg::catalog {
namespace {

constexpr double kTwoPi = 2 * std::numbers::pi;
// Sidereal revolutions per UT1 day (IERS: 1.00273781191135448).
constexpr double kSiderealPerDay = 1.00273781191135448;
constexpr double kSiderealDay = 1.0 / kSiderealPerDay;  // days

}  // namespace

double transit_jd_utc(const astro::Observatory& obs, const astro::SkyDirection& icrs,
                      double jd_guess, double tolerance_s) {
  double t = jd_guess;
  // HA grows at 2 pi per sidereal day; aberration and precession change it by
  // far less, so a few Newton steps converge to microseconds.
  for (int i = 0; i < 8; ++i) {
    const double ha = obs.observed_hadec(icrs, t).ra_rad;  // (-pi, pi]
    const double dt = -ha / (kTwoPi * kSiderealPerDay);
    t += dt;
    if (std::abs(dt) * astro::kSecondsPerDay < tolerance_s) break;
  }
  return t;
}

std::vector<double> transits_between(const astro::Observatory& obs, const astro::SkyDirection& icrs,
                                     double jd_start, double jd_end) {
  std::vector<double> out;
  // First transit at or after jd_start: HA(jd_start) in (-pi, pi] -> time until HA = 0 mod 2 pi.
  const double ha0 = obs.observed_hadec(icrs, jd_start).ra_rad;
  double wait = -ha0 / kTwoPi;  // sidereal days
  if (wait < 0) wait += 1.0;
  double guess = jd_start + wait * kSiderealDay;
  while (guess < jd_end + 0.01) {
    const double t = transit_jd_utc(obs, icrs, guess);
    if (t >= jd_start && t < jd_end) out.push_back(t);
    guess = t + kSiderealDay;
  }
  return out;
}

double default_transit_radius_rad() { return 0.5 * sky::airy_fwhm_rad(kBandCentreHz); }

std::vector<CalibratorTransit> calibrator_transits(const astro::Observatory& obs,
                                                   const VlaCalibratorCatalog& catalogue,
                                                   const TransitQuery& q) {
  const double radius = q.radius_rad > 0 ? q.radius_rad : default_transit_radius_rad();
  const double day_end = q.day_start_jd_utc + 1.0;
  std::vector<CalibratorTransit> out;
  // At transit the separation from the pointing is, to < 0.2 deg of
  // precession/nutation/aberration, the declination difference: select by
  // declination with that margin, then measure exactly.
  const double margin = 0.25 * std::numbers::pi / 180.0;
  for (const VlaCalibrator& c : catalogue.calibrators()) {
    if (std::abs(c.dec_rad - q.dec_rad) > radius + margin) continue;
    if (!c.flux_20cm_jy || *c.flux_20cm_jy < q.min_flux_20cm_jy) continue;
    const astro::SkyDirection dir{c.ra_rad, c.dec_rad};
    for (double t : transits_between(obs, dir, q.day_start_jd_utc, day_end)) {
      const auto pointing = obs.meridian_icrs(t, q.dec_rad);
      const double sep = sky::angular_distance(c.ra_rad, c.dec_rad, pointing.ra_rad, pointing.dec_rad);
      if (sep > radius) continue;
      out.push_back({&c, t, sep, sky::airy_power(sep, kBandCentreHz),
                     calibrator_source(c).flux_at(kVla20cmFreqHz)});
    }
  }
  std::sort(out.begin(), out.end(), [](const CalibratorTransit& a, const CalibratorTransit& b) {
    return a.transit_jd_utc < b.transit_jd_utc;
  });
  return out;
}

std::optional<std::string> group_containing(state::StateDb& db, double jd_utc,
                                            double half_integration_s) {
  const double unix_s = (jd_utc - 2440587.5) * astro::kSecondsPerDay;
  const double mjd = jd_utc - astro::kMjdOffset;
  const double pad = half_integration_s / astro::kSecondsPerDay;
  // Groups start at most one group length (~5 min, SPEC §2) before any of their data.
  const auto t = static_cast<std::int64_t>(std::floor(unix_s));
  for (const auto& g : db.groups_in_range(t - 3600, t + 60)) {
    if (!g.time_first_mjd || !g.time_last_mjd) continue;
    if (mjd >= *g.time_first_mjd - pad && mjd <= *g.time_last_mjd + pad) return g.group_id;
  }
  return std::nullopt;
}

std::string group_start_for_transit(double jd_transit, int ntimes, double integration_s) {
  const double start = jd_transit - 0.5 * ntimes * integration_s / astro::kSecondsPerDay;
  // Whole seconds: the start is the group id (a file-name timestamp).
  const double rounded =
      std::round((start - 2440587.5) * astro::kSecondsPerDay) / astro::kSecondsPerDay + 2440587.5;
  return astro::jd_utc_to_iso(rounded, 0);
}

}  // namespace contimg::catalog
