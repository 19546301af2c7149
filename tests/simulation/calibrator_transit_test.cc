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
