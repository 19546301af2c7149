// The downstream flux-scale check (issue 16): calibrated / catalogue flux of
// the day's calibrator transits.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "calibration/flux_scale.h"

namespace contimg::calibration {
namespace {

// One baseline, one channel, one pol: DATA = g1 conj(g2) x 1.1 x model.
TEST(FluxScale, TransitMeasurementAppliesTheSolutionAndComparesWithTheModel) {
  CalSolution s;
  auto& bp = s.bandpass;
  bp.nant = 2;
  bp.npol = 1;
  bp.freqs = {{1.4e9}};
  bp.gain = {{std::complex<float>(2, 0), std::complex<float>(0, 1)}};
  bp.flag = {{0, 0}};
  bp.snr = {{100, 100}};
  auto& g = s.gains;
  g.nant = 2;
  g.npol = 1;
  g.time = {10};
  g.field = {0};
  g.gain = {1, 1};
  g.flag = {0, 0};
  g.snr = {100, 100};
  VisBlock b;
  b.spw = 0;
  b.nrows = 1;
  b.nchan = 1;
  b.npol = 1;
  b.ant1 = {0};
  b.ant2 = {1};
  b.field = {0};
  b.time = {10};
  b.uvw = {1, 2, 3};
  const std::complex<float> m(3, 1);
  b.data = {std::complex<float>(2, 0) * std::conj(std::complex<float>(0, 1)) * 1.1f * m};
  b.flag = {0};
  b.weight = {1};
  TransitFluxMeasurement t(s);
  t.add(b, std::span(&m, 1));
  EXPECT_NEAR(t.ratio(), 1.1, 1e-6);
}

TEST(FluxScale, ReportNamesTransitsBeyondTheTolerance) {
  const auto ok = flux_scale_report(
      {{"g1", "J0834+5534", "g1_J0834+5534", 1.004, "passed"}, {"g2", "3C286", "g2_3C286", 0.996, "passed"}}, 0.02);
  EXPECT_TRUE(ok.ok);
  EXPECT_NEAR(ok.median_ratio, 1.0, 1e-12);
  EXPECT_NE(ok.summary.find("2 calibrator transit(s)"), std::string::npos) << ok.summary;
  const auto bad =
      flux_scale_report({{"g1", "J0834+5534", "s1", 1.0, "passed"}, {"g2", "J1035+5628", "s2", 0.003, "failed"}}, 0.02);
  EXPECT_FALSE(bad.ok);
  EXPECT_NEAR(bad.worst_ratio, 0.003, 1e-12);
  EXPECT_NE(bad.summary.find("J1035+5628 in g2 (0.003)"), std::string::npos) << bad.summary;
  EXPECT_EQ(to_json(bad)["transits"].size(), 2u);
  EXPECT_TRUE(flux_scale_report({}, 0.02).ok);
}

}  // namespace
}  // namespace contimg::calibration
