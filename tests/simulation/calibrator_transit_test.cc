#include "simulation/calibrator_transit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "astro/site_data.h"
#include "astro/time.h"
#include "catalog/calibrator_models.h"
#include "common/build_info.h"
#include "common/error.h"

namespace contimg::simulation {
namespace {

// The known sources of 3C286's field: J1326+3154 (4.8 Jy, 1.7 deg away) is
// in the calibration's field model, so a simulated 3C286 field without it
// was calibrated against a source the data lacked (docs/imaging.md 3a).
TEST(CalibratorTransit, FieldCalibratorsAreTheListsOtherSourcesNearTheCalibrator) {
  const auto list = catalog::load_vla_calibrators(catalog::vla_calibrator_path(build::kDataDir));
  const auto cal = *catalog::find_calibrator(list, "3C286");
  const auto field = field_calibrators(list, cal);
  bool found = false;
  for (const auto& s : field) {
    EXPECT_NE(s.name, "J1331+3030");  // not the calibrator itself
    const double d = std::acos(std::sin(s.dec_rad) * std::sin(cal.dec_rad) +
                               std::cos(s.dec_rad) * std::cos(cal.dec_rad) * std::cos(s.ra_rad - cal.ra_rad));
    EXPECT_LE(d * 180 / std::numbers::pi, 3.5) << s.name;
    if (s.name == "J1326+3154") {
      found = true;
      EXPECT_NEAR(s.flux_at(1.4e9), 4.8, 0.1);
    }
  }
  EXPECT_TRUE(found) << field.size() << " sources";
  // The same catalogue query the calibration's field model uses, less the calibrator.
  const auto all = catalog::calibrator_sources_within(list, cal.ra_rad, cal.dec_rad,
                                                      catalog::kFieldRadiusDeg * std::numbers::pi / 180);
  EXPECT_EQ(all.size(), field.size() + 1);
  EXPECT_TRUE(catalog::calibrator_sources_within(list, cal.ra_rad, cal.dec_rad, 0.5 * std::numbers::pi / 180)
                  .size() == 1);  // nothing but 3C286 within 0.5 deg
}

// An entry listed twice (the VLA list holds some positions twice) is one source.
TEST(CalibratorTransit, ASourceListedTwiceIsOneSource) {
  const auto list = catalog::load_vla_calibrators(catalog::vla_calibrator_path(build::kDataDir));
  auto cal = *catalog::find_calibrator(list, "3C286");
  std::vector<catalog::VlaCalibrator> twice = {cal, cal};
  twice[1].ra_rad += 1e-6;  // 0.2": the same source
  EXPECT_EQ(catalog::calibrator_sources_within(twice, cal.ra_rad, cal.dec_rad, 1e-3).size(), 1u);
}

TEST(CalibratorTransit, TransitsAtMidGroupOnTheGivenDay) {
  const auto site = astro::load_site_data(build::kDataDir);
  const auto list = catalog::load_vla_calibrators(catalog::vla_calibrator_path(build::kDataDir));
  const auto cal = *catalog::find_calibrator(list, "3C286");
  SimulationSpec spec;
  spec.ntimes = 24;
  const double t = put_calibrator_at_transit(spec, cal, site.observatory, "2025-03-10");
  ASSERT_FALSE(spec.sky.sources.empty());
  const auto& s = spec.sky.sources.front();
  EXPECT_EQ(s.name, "J1331+3030");
  EXPECT_EQ(s.log_poly.size(), 4u);
  EXPECT_DOUBLE_EQ(spec.pointing_dec_deg, cal.dec_rad * 180 / std::numbers::pi);
  EXPECT_EQ(spec.start_utc.substr(0, 10), "2025-03-10");
  EXPECT_EQ(spec.start_utc.size(), 19u);  // whole seconds
  // The simulator's integration centres are start + (i + 0.5) dt: mid-group is
  // start + 12 dt, within half a second (rounding) of the transit.
  const double start = astro::iso_to_jd_utc(spec.start_utc);
  const double mid = start + 12 * spec.integration_s / 86400.0;
  EXPECT_LT(std::abs(mid - t) * 86400.0, 0.51);
  // At that instant the observed hour angle is 0.
  EXPECT_LT(std::abs(site.observatory.observed_hadec({cal.ra_rad, cal.dec_rad}, t).ra_rad), 1e-6);
  EXPECT_THROW(put_calibrator_at_transit(spec, cal, site.observatory, "2025-3-10"), ConfigError);
}

}  // namespace
}  // namespace contimg::simulation
