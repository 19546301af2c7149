// Validation on its threads (issue 14 item 6): the background maps and the
// catalogue do not depend on the number of workers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "support/synthetic_image.h"
#include "validation/background.h"
#include "validation/source_finder.h"

namespace contimg::validation {
namespace {

// Bitwise equality, so NaN blanks compare equal and -0/+0 or the last ulp do not.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

testing::SyntheticImage field() {
  testing::SyntheticOptions o;
  o.n = 600;
  o.pb_cut = 0.5;  // a footprint with blank corners: empty boxes take the nearest node
  o.seed = 7;
  return testing::make_synthetic_image(o);
}

TEST(ValidationThreads, BackgroundMapsAreBitIdenticalForAnyThreadCount) {
  const auto img = field();
  BackgroundOptions o{80, 20, 3};
  const auto one = estimate_background(img.pixels.data(), img.spec.nx, img.spec.ny, o);
  std::size_t blank = 0;
  for (float v : one.rms) blank += std::isnan(v);
  ASSERT_GT(blank, 0u);  // the NaN path is exercised
  ASSERT_LT(blank, one.rms.size());
  for (int threads : {2, 5}) {
    o.threads = threads;
    const auto m = estimate_background(img.pixels.data(), img.spec.nx, img.spec.ny, o);
    EXPECT_TRUE(same_bits(one.background, m.background)) << threads << " threads";
    EXPECT_TRUE(same_bits(one.rms, m.rms)) << threads << " threads";
  }
}

TEST(ValidationThreads, CatalogueIsIdenticalAndInTheSameOrderForAnyThreadCount) {
  const auto img = field();
  const double fwhm_per_sigma = std::sqrt(8 * std::log(2.0));
  const PixelBeam beam{img.spec.beam->major_deg / img.spec.cell_deg / fwhm_per_sigma,
                       img.spec.beam->minor_deg / img.spec.cell_deg / fwhm_per_sigma, 0.5};
  const auto pb = testing::model_pb(img.spec);
  FinderOptions o;
  const auto one = find_components(img.pixels, img.spec.nx, img.spec.ny, beam, o, &pb);
  ASSERT_GT(one.islands.size(), 10u);  // enough islands to spread over the workers
  ASSERT_GT(one.components.size(), 10u);
  for (int threads : {2, 5}) {
    o.threads = threads;
    const auto c = find_components(img.pixels, img.spec.nx, img.spec.ny, beam, o, &pb);
    EXPECT_TRUE(same_bits(one.maps.background, c.maps.background)) << threads << " threads";
    EXPECT_TRUE(same_bits(one.maps.rms, c.maps.rms)) << threads << " threads";
    ASSERT_EQ(one.islands.size(), c.islands.size()) << threads << " threads";
    for (std::size_t k = 0; k < one.islands.size(); ++k)
      EXPECT_EQ(one.islands[k].pixels, c.islands[k].pixels);
    ASSERT_EQ(one.components.size(), c.components.size()) << threads << " threads";
    for (std::size_t k = 0; k < one.components.size(); ++k) {
      const auto &a = one.components[k], &b = c.components[k];
      SCOPED_TRACE(::testing::Message() << "component " << k << ", " << threads << " threads");
      EXPECT_EQ(a.island, b.island);
      EXPECT_EQ(a.fit_converged, b.fit_converged);
      for (auto [x, y] : {std::pair{a.g.amp, b.g.amp},
                          {a.g.x0, b.g.x0},
                          {a.g.y0, b.g.y0},
                          {a.g.sigma_major, b.g.sigma_major},
                          {a.g.sigma_minor, b.g.sigma_minor},
                          {a.g.theta, b.g.theta},
                          {a.local_rms, b.local_rms},
                          {a.err_amp, b.err_amp},
                          {a.err_major_axis_pos, b.err_major_axis_pos},
                          {a.err_theta, b.err_theta}}) {
        EXPECT_TRUE(same_bits(x, y)) << x << " vs " << y;
      }
    }
  }
}

}  // namespace
}  // namespace contimg::validation
