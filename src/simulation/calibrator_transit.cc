#include "simulation/calibrator_transit.h"

#include <numbers>

#include <fmt/format.h>

#include "astro/time.h"
#include "catalog/calibrator_models.h"
#include "catalog/transits.h"
#include "common/error.h"
#include "sky/primary_beam.h"

namespace contimg::simulation {

double put_calibrator_at_transit(SimulationSpec& spec, const catalog::VlaCalibrator& calibrator,
                                 const astro::Observatory& observatory, const std::string& date) {
  if (date.size() != 10) throw ConfigError(fmt::format("--date must be YYYY-MM-DD, got \"{}\"", date));
  const double day0 = astro::iso_to_jd_utc(date + "T00:00:00");
  const astro::SkyDirection dir{calibrator.ra_rad, calibrator.dec_rad};
  const auto transits = catalog::transits_between(observatory, dir, day0, day0 + 1.0);
  if (transits.empty()) {
    throw InputError(fmt::format("calibrator {}: no transit found on {}", calibrator.name, date));
  }
  spec.sky.sources.insert(spec.sky.sources.begin(), catalog::calibrator_source(calibrator));
  spec.pointing_dec_deg = calibrator.dec_rad * 180.0 / std::numbers::pi;
  spec.start_utc = catalog::group_start_for_transit(transits.front(), spec.ntimes, spec.integration_s);
  return transits.front();
}

std::vector<sky::Source> field_calibrators(std::span<const catalog::VlaCalibrator> list,
                                           const catalog::VlaCalibrator& calibrator) {
  constexpr double kSameSourceRad = 30.0 / 3600 * std::numbers::pi / 180;
  auto out = catalog::calibrator_sources_within(list, calibrator.ra_rad, calibrator.dec_rad,
                                                catalog::kFieldRadiusDeg * std::numbers::pi / 180);
  std::erase_if(out, [&](const sky::Source& s) {
    return sky::angular_distance(calibrator.ra_rad, calibrator.dec_rad, s.ra_rad, s.dec_rad) <= kSameSourceRad;
  });
  return out;
}

}  // namespace contimg::simulation
