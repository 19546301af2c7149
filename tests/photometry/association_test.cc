#include "photometry/association.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace contimg::photometry {
namespace {

SkyPosition at(double ra, double dec, double err = 1) {
  return {ra, dec, err, err};
}
constexpr double kAs = 1.0 / 3600;

TEST(Association, DeRuiterRadiusMatchesTheFormula) {
  const auto a = at(150, 60, 2), b = at(150 + 3 * kAs / std::cos(60 * M_PI / 180), 60 + 4 * kAs, 2);
  // dRA cos(dec) = 3", dDec = 4", sigma^2 = 2 * (2^2 + 1^2) per axis with a 1" systematic.
  EXPECT_NEAR(deruiter_radius(a, b, 1), std::sqrt(9.0 / 10 + 16.0 / 10),
              1e-4);  // cos of the mean Dec
  EXPECT_NEAR(distance_arcsec(a, b), 5, 1e-3);
}

TEST(Association, NearestWithinTheLimitOneToOnePerImage) {
  const std::vector<SkyPosition> cat = {at(10, 20), at(10 + 20 * kAs, 20), at(11, 20)};
  // Measurements: one on source 0 (2" off), one between 0 and 1 but nearer 0, one far from all.
  const std::vector<SkyPosition> meas = {at(10, 20 + 2 * kAs), at(10 + 6 * kAs, 20), at(12, 20)};
  AssociationOptions o;
  o.method = AssociationOptions::Method::kFixed;
  o.radius_arcsec = 15;
  const auto r = associate(meas, cat, 30, o);
  EXPECT_EQ(r[0].source, 0);
  EXPECT_NEAR(r[0].distance_arcsec, 2, 1e-6);
  // Its nearest (source 0, 6") is taken by the better pair: it gets source 1 (14") and is
  // ambiguous.
  EXPECT_EQ(r[1].source, 1);
  EXPECT_TRUE(r[1].ambiguous);
  EXPECT_EQ(r[1].n_candidates, 2);
  EXPECT_EQ(r[2].source, -1);
  EXPECT_EQ(r[2].n_candidates, 0);
  EXPECT_FALSE(r[0].ambiguous);
}

TEST(Association, DeRuiterRejectsWhatTheFixedRadiusAccepts) {
  const std::vector<SkyPosition> cat = {at(10, 20, 0.5)};
  const std::vector<SkyPosition> meas = {at(10, 20 + 9 * kAs, 0.5)};
  AssociationOptions fixed;
  fixed.method = AssociationOptions::Method::kFixed;
  EXPECT_EQ(associate(meas, cat, 30, fixed)[0].source, 0);
  AssociationOptions dr;  // r = 9 / sqrt(2 (0.25 + 1)) = 5.7 > 5.68
  EXPECT_EQ(associate(meas, cat, 30, dr)[0].source, -1);
  dr.deruiter_radius = 6;
  const auto r = associate(meas, cat, 30, dr);
  EXPECT_EQ(r[0].source, 0);
  EXPECT_NEAR(r[0].deruiter, 9 / std::sqrt(2.5), 1e-6);
  // Outside beamwidth_limit x BMAJ / 2 = 1.5 x 10 / 2 = 7.5": no candidate at all.
  EXPECT_EQ(associate(meas, cat, 10, dr)[0].n_candidates, 0);
  EXPECT_THROW(AssociationOptions::parse_method("nearest"), ConfigError);
}

TEST(Association, RaWrapsAtZero) {
  const std::vector<SkyPosition> cat = {at(359.9995, 0)};
  AssociationOptions o;
  o.method = AssociationOptions::Method::kFixed;
  EXPECT_EQ(associate({at(0.0005, 0)}, cat, 30, o)[0].source, 0);
}

}  // namespace
}  // namespace contimg::photometry
