#include "sky/primary_beam.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace contimg::sky {
namespace {

constexpr double kC = 299792458.0;

TEST(AiryBeam, IsOneOnAxisHalfAtHalfWidthAndZeroAtFirstNull) {
  const double f = 1.4e9, lambda = kC / f;
  EXPECT_DOUBLE_EQ(airy_power(0.0, f), 1.0);
  const double fwhm = airy_fwhm_rad(f);
  EXPECT_NEAR(fwhm, 1.029 * lambda / 4.65, 1e-3 * fwhm);  // ~2.7 deg at 1.4 GHz
  EXPECT_NEAR(fwhm * 180 / M_PI, 2.72, 0.02);
  EXPECT_NEAR(airy_power(fwhm / 2, f), 0.5, 1e-6);
  EXPECT_NEAR(airy_power(-fwhm / 2, f), 0.5, 1e-6);
  const double first_null = std::asin(1.21967 * lambda / 4.65);
  EXPECT_LT(airy_power(first_null, f), 1e-8);
  // Narrower at higher frequency.
  EXPECT_LT(airy_power(0.02, 1.5e9), airy_power(0.02, 1.3e9));
}

// The beam's J1 (glibc's j1) is the standard library's cyl_bessel_j(1, x)
// over the main lobe and far sidelobes, to rounding.
TEST(AiryBeam, MatchesTheStandardLibrarysBesselFunction) {
  const double f = 1.4e9, dish = 4.65;
  double worst = 0;
  for (int i = 1; i <= 20000; ++i) {
    const double theta = i * 1e-5;  // to 11.5 deg: x up to ~14
    const double x = M_PI * dish * std::sin(theta) * f / kC;
    const double a = 2.0 * std::cyl_bessel_j(1.0, x) / x;
    worst = std::max(worst, std::abs(airy_power(theta, f, dish) - a * a));
  }
  EXPECT_LT(worst, 1e-14);
}

TEST(AngularDistance, MatchesKnownSeparations) {
  EXPECT_NEAR(angular_distance(0, 0, M_PI / 2, 0), M_PI / 2, 1e-15);
  EXPECT_NEAR(angular_distance(1.0, M_PI / 2, 2.0, M_PI / 2), 0.0, 1e-15);
  const double lat2 = 0.5 + 1e-9;  // the representable difference is what must come back
  EXPECT_NEAR(angular_distance(0.3, 0.5, 0.3, lat2), lat2 - 0.5, 1e-22);
  EXPECT_NEAR(angular_distance(0.0, 0.0, M_PI, 0.0), M_PI, 1e-15);
}

}  // namespace
}  // namespace contimg::sky
