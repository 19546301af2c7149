// Which calibrator transits are solved (issue 16): the calibrator's apparent
// flux must dominate the catalogue sources in the beam; flux standards always.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <cmath>

#include "catalog/calibrator_policy.h"
#include "sky/primary_beam.h"

namespace contimg::catalog {
namespace {

constexpr double kDeg = M_PI / 180;

sky::Source src(const std::string& name, double ra_deg, double dec_deg, double jy) {
  sky::Source s;
  s.name = name;
  s.ra_rad = ra_deg * kDeg;
  s.dec_rad = dec_deg * kDeg;
  s.flux_jy = jy;
  s.ref_freq_hz = 1.4e9;
  return s;
}

TEST(CalibratorPolicy, AFaintCalibratorInABrightFieldIsNotSolvedAndItsFieldIsTheModel) {
  // The science field: J1035+5628 (1.85 Jy) among 0.3-3 Jy sources.
  const auto cal = src("J1035+5628", 158.78, 56.48, 1.85);
  std::vector<sky::Source> cat{
      src("J1035+5628-nvss", 158.7801, 56.4801, 1.8)};  // the same source, 0.4" off
  for (int i = 0; i < 6; ++i)
    cat.push_back(
        src(fmt::format("S{}", i), 158.78 + 0.8 * std::cos(i), 56.48 + 0.6 * std::sin(i), 2.5));
  cat.push_back(src("far", 200.0, 56.48, 100));  // 23 deg away: a far sidelobe, < 0.02 Jy apparent
                                                 // // well outside the beam: ~0 apparent
  const auto p = decide_transit(cal, false, cal.ra_rad, cal.dec_rad, cat, {});
  EXPECT_FALSE(p.solve);
  EXPECT_NEAR(p.calibrator_apparent_jy, 1.85, 1e-3);
  EXPECT_LT(p.fraction, 0.3);
  EXPECT_NE(p.reason.find("not solved"), std::string::npos) << p.reason;
  ASSERT_EQ(p.field_model.size(), 6u);  // the duplicate and the far source are not in it
  for (const auto& s : p.field_model) EXPECT_EQ(s.name[0], 'S');
}

TEST(CalibratorPolicy, ADominantCalibratorIsSolvedWithItsFieldSources) {
  const auto cal = src("J0834+5534", 128.73, 55.57, 8.2);
  const std::vector<sky::Source> cat{src("F1", 129.5, 55.9, 0.4), src("F2", 128.2, 55.2, 0.02)};
  const auto p = decide_transit(cal, false, cal.ra_rad, cal.dec_rad, cat, {});
  EXPECT_TRUE(p.solve);
  EXPECT_GT(p.fraction, 0.9);
  ASSERT_EQ(p.field_model.size(), 1u);  // F2 is below the 0.05 Jy apparent limit
  EXPECT_EQ(p.field_model[0].name, "F1");
  const double expect =
      0.4 * sky::airy_power(
                sky::angular_distance(cal.ra_rad, cal.dec_rad, 129.5 * kDeg, 55.9 * kDeg), 1.4e9);
  EXPECT_NEAR(p.field_apparent_jy,
              8.2 + expect +
                  0.02 * sky::airy_power(sky::angular_distance(cal.ra_rad, cal.dec_rad,
                                                               128.2 * kDeg, 55.2 * kDeg),
                                         1.4e9),
              1e-9);
}

TEST(CalibratorPolicy, FluxStandardsAreAlwaysSolvedAndTheThresholdIsAKey) {
  const auto cal = src("3C286", 202.78, 30.51, 14.9);
  const std::vector<sky::Source> cat{src("B1", 203.0, 30.8, 40), src("B2", 202.5, 30.2, 40)};
  EXPECT_TRUE(decide_transit(cal, true, cal.ra_rad, cal.dec_rad, cat, {}).solve);
  EXPECT_FALSE(decide_transit(cal, false, cal.ra_rad, cal.dec_rad, cat, {}).solve);
  TransitPolicyOptions lax;
  lax.min_fraction = 0.1;
  EXPECT_TRUE(decide_transit(cal, false, cal.ra_rad, cal.dec_rad, cat, lax).solve);
  // The calibrator off the pointing centre: attenuated by the beam.
  const auto off = decide_transit(cal, false, cal.ra_rad, cal.dec_rad + 1.0 * kDeg, {}, {});
  EXPECT_NEAR(off.calibrator_apparent_jy, cal.flux_at(1.4e9) * sky::airy_power(1.0 * kDeg, 1.4e9),
              1e-9);
  EXPECT_TRUE(off.solve);  // alone in the beam: 100%
}

}  // namespace
}  // namespace contimg::catalog
