#include "catalog/calibrator_policy.h"

#include <cmath>

#include <fmt/format.h>

#include "sky/primary_beam.h"

namespace contimg::catalog {
namespace {
constexpr double kFreqHz = 1.4e9;
constexpr double kArcsecPerRad = 180 * 3600 / M_PI;
}  // namespace

TransitPolicy decide_transit(const sky::Source& cal, bool primary, double ra0, double dec0,
                             const std::vector<sky::Source>& catalogue,
                             const TransitPolicyOptions& o) {
  TransitPolicy p;
  p.primary = primary;
  auto apparent = [&](const sky::Source& s) {
    return s.flux_at(kFreqHz) *
           sky::airy_power(sky::angular_distance(ra0, dec0, s.ra_rad, s.dec_rad), kFreqHz);
  };
  p.calibrator_apparent_jy = apparent(cal);
  p.field_apparent_jy = p.calibrator_apparent_jy;
  for (const auto& s : catalogue) {
    const double sep =
        sky::angular_distance(cal.ra_rad, cal.dec_rad, s.ra_rad, s.dec_rad) * kArcsecPerRad;
    if (sep <= o.same_source_arcsec)
      continue;  // the calibrator itself (VLA list or reference entry)
    const double a = apparent(s);
    p.field_apparent_jy += a;
    if (a >= o.field_model_min_jy) p.field_model.push_back(s);
  }
  p.fraction = p.field_apparent_jy > 0 ? p.calibrator_apparent_jy / p.field_apparent_jy : 0.0;
  const auto figures = fmt::format(
      "{} apparent {:.3f} Jy = {:.1f}% of the {:.3f} Jy of catalogue sources in the beam", cal.name,
      p.calibrator_apparent_jy, 100 * p.fraction, p.field_apparent_jy);
  if (primary && o.primaries_always) {
    p.solve = true;
    p.reason = "flux standard (always solved): " + figures;
  } else if (p.fraction >= o.min_fraction) {
    p.solve = true;
    p.reason =
        fmt::format("dominates the field: {} (minimum {:.0f}%)", figures, 100 * o.min_fraction);
  } else {
    p.reason =
        fmt::format("not solved: {} (minimum {:.0f}%); its sources belong in the field model",
                    figures, 100 * o.min_fraction);
  }
  return p;
}

}  // namespace contimg::catalog
