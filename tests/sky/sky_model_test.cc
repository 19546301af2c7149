#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sky/sky_model.h"

namespace contimg::sky {
namespace {

TEST(SkyModel, PowerLawSpectrum) {
  Source s;
  s.flux_jy = 2.0;
  s.ref_freq_hz = 1.4e9;
  s.spectral_index = -0.7;
  EXPECT_DOUBLE_EQ(s.flux_at(1.4e9), 2.0);
  EXPECT_NEAR(s.flux_at(2.8e9), 2.0 * std::pow(2.0, -0.7), 1e-12);
}

TEST(SkyModel, PerleyButlerPolynomialGives3C286At1400MHz) {
  Source s;
  s.log_poly = {1.2481, -0.4507, -0.1798, 0.0357};  // 3C286, Perley & Butler 2017 Table 6
  // ~15 Jy at 1.4 GHz (the VLA's 3C286 value), falling with frequency.
  EXPECT_NEAR(s.flux_at(1.4e9), 15.08, 0.02);
  EXPECT_GT(s.flux_at(1.31e9), s.flux_at(1.50e9));
  const Source back = source_from_json(to_json(s));
  EXPECT_EQ(back.log_poly, s.log_poly);
  EXPECT_DOUBLE_EQ(back.flux_at(1.4e9), s.flux_at(1.4e9));
}

TEST(SkyModel, JsonRoundTripOfAPowerLawSourceHasNoPolynomial) {
  Source s;
  s.name = "A";
  s.ra_rad = 1.0;
  s.dec_rad = 0.5;
  s.flux_jy = 3.0;
  const auto j = to_json(s);
  EXPECT_FALSE(j.contains("log_poly"));
  const Source back = source_from_json(j);
  EXPECT_NEAR(back.ra_rad, 1.0, 1e-12);
  EXPECT_NEAR(back.flux_at(1.4e9), 3.0, 1e-12);
}

}  // namespace
}  // namespace contimg::sky
