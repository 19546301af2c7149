#pragma once
// When VLA calibrators transit the meridian inside the primary beam of a
// DSA-110 pointing declination, and which indexed groups contain the transit
// (SPEC §5; `contimg calibrators`, `contimg simulate --calibrator NAME`).
#include <optional>
#include <string>
#include <vector>

#include "astro/astrometry.h"
#include "catalog/vla_calibrators.h"

namespace contimg::state {
class StateDb;
}

namespace contimg::catalog {

// Centre of the DSA-110 band (1.28-1.53 GHz, SPEC §2).
inline constexpr double kBandCentreHz = 1.405e9;

// The UTC Julian date, within `tolerance_s`, when the observed (topocentric)
// hour angle of `icrs` is 0, nearest to `jd_guess` (Newton iteration on
// Observatory::observed_hadec with the sidereal rate as derivative).
double transit_jd_utc(const astro::Observatory& obs, const astro::SkyDirection& icrs,
                      double jd_guess, double tolerance_s = 1e-3);

// Every transit of `icrs` in [jd_start, jd_end), in time order (a UTC day
// holds one, or two when the first falls in its first ~4 minutes).
std::vector<double> transits_between(const astro::Observatory& obs, const astro::SkyDirection& icrs,
                                     double jd_start, double jd_end);

struct TransitQuery {
  double day_start_jd_utc = 0;  // 0h UTC of the day
  double dec_rad = 0;           // pointing declination (HA = 0)
  double radius_rad = 0;        // <= 0: the half-power radius at kBandCentreHz
  double min_flux_20cm_jy = 0;  // calibrators with a 20 cm flux below this are skipped
};

struct CalibratorTransit {
  const VlaCalibrator* calibrator = nullptr;  // into the catalogue
  double transit_jd_utc = 0;
  double separation_rad = 0;  // from the pointing centre at transit
  double pb_power = 0;        // sky::airy_power(separation, kBandCentreHz)
  double flux_1400_jy = 0;    // calibrator_source(...).flux_at(1.4 GHz)
};

// Radius used when TransitQuery::radius_rad <= 0: half the Airy FWHM at the band centre.
double default_transit_radius_rad();

// Calibrators of `catalogue` within the radius of the pointing at their
// transit(s) on that UTC day, in transit order.
std::vector<CalibratorTransit> calibrator_transits(const astro::Observatory& obs,
                                                   const VlaCalibratorCatalog& catalogue,
                                                   const TransitQuery& q);

// The indexed group whose data span [time_first_mjd, time_last_mjd] (widened
// by half an integration each side) contains `jd_utc`, if any.
std::optional<std::string> group_containing(state::StateDb& db, double jd_utc,
                                            double half_integration_s = 6.5);

// Start time (UTC ISO, whole seconds) of a group of `ntimes` integrations of
// `integration_s` whose middle is at `jd_transit` (the simulator's times are
// start + (i + 0.5) integration_s).
std::string group_start_for_transit(double jd_transit, int ntimes, double integration_s);

}  // namespace contimg::catalog
