#include "photometry/forced.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace contimg::photometry {
namespace {

struct Truth {
  double x, y, flux;
};

// An image of beam-shaped point sources on noise of rms `sigma`: white, or
// correlated with the beam's shape (white noise smoothed by a circular Gaussian
// of sigma s/sqrt(2), whose autocorrelation is then the beam, rescaled to `sigma`).
std::vector<float> render(int n, const KernelBeam& beam, const std::vector<Truth>& src,
                          double sigma, std::mt19937& rng, bool correlated) {
  std::normal_distribution<double> g(0, 1);
  std::vector<double> noise(static_cast<std::size_t>(n) * n);
  for (auto& v : noise) v = g(rng);
  if (correlated) {
    const double s = beam.sigma_major / std::sqrt(2.0);
    const int r = static_cast<int>(std::ceil(4 * s));
    std::vector<double> k(2 * r + 1);
    double norm2 = 0;
    for (int i = -r; i <= r; ++i) k[i + r] = std::exp(-0.5 * i * i / (s * s));
    for (double a : k)
      for (double b : k) norm2 += a * a * b * b;
    std::vector<double> tmp(noise.size(), 0.0), out(noise.size(), 0.0);
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        for (int i = -r; i <= r; ++i) tmp[y * n + x] += k[i + r] * noise[y * n + (x + i + n) % n];
    for (int y = 0; y < n; ++y)
      for (int x = 0; x < n; ++x)
        for (int i = -r; i <= r; ++i) out[y * n + x] += k[i + r] * tmp[((y + i + n) % n) * n + x];
    for (std::size_t i = 0; i < out.size(); ++i) noise[i] = out[i] / std::sqrt(norm2);
  }
  std::vector<float> img(noise.size());
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      double v = sigma * noise[y * n + x];
      for (const auto& t : src) v += t.flux * beam.value(x - t.x, y - t.y);
      img[y * n + x] = static_cast<float>(v);
    }
  }
  return img;
}

std::vector<ForcedPosition> positions_of(const std::vector<Truth>& src) {
  std::vector<ForcedPosition> p;
  for (const auto& t : src) p.push_back({t.x, t.y});
  return p;
}

// A grid of isolated sources (well over the cluster distance apart) at sub-pixel positions.
std::vector<Truth> grid(int n, double spacing, std::mt19937& rng, double flux) {
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  std::vector<Truth> s;
  for (double y = spacing; y < n - spacing; y += spacing)
    for (double x = spacing; x < n - spacing; x += spacing)
      s.push_back({x + u(rng), y + u(rng), flux});
  return s;
}

const KernelBeam kElliptical{2.5, 1.6, 0.5};
const KernelBeam kRound{2.2, 2.2, 0};

TEST(ForcedPhotometry, IsolatedFluxesWithinErrorsAndErrorsMatchScatterWhiteNoise) {
  std::mt19937 rng(11);
  const int n = 200;
  const double sigma = 1e-3;
  std::vector<double> pulls;
  double err_sum = 0;
  for (int real = 0; real < 20; ++real) {
    auto src = grid(n, 25, rng, 0.02);
    for (std::size_t i = 0; i < src.size(); ++i)
      src[i].flux = 0.005 + 0.003 * i;  // 5 to >100 sigma
    const auto img = render(n, kElliptical, src, sigma, rng, false);
    const std::vector<float> rms(img.size(), static_cast<float>(sigma));
    ForcedOptions o;
    o.correlation = NoiseCorrelation::kWhite;
    const auto sol =
        forced_photometry(img.data(), rms.data(), n, n, kElliptical, positions_of(src), o);
    ASSERT_EQ(sol.results.size(), src.size());
    EXPECT_TRUE(sol.clusters.empty());
    for (std::size_t i = 0; i < src.size(); ++i) {
      ASSERT_TRUE(sol.results[i].ok);
      pulls.push_back((sol.results[i].flux - src[i].flux) / sol.results[i].error);
      err_sum += sol.results[i].error;
    }
  }
  double mean = 0, var = 0;
  for (double p : pulls) mean += p;
  mean /= pulls.size();
  for (double p : pulls) var += (p - mean) * (p - mean);
  const double sd = std::sqrt(var / (pulls.size() - 1));
  // ~980 pulls: the mean within 0.1, the scatter of the pulls 1 within 8 %.
  EXPECT_NEAR(mean, 0, 0.1);
  EXPECT_NEAR(sd, 1, 0.08);
  // White noise: sigma / sqrt(sum K^2) ~ sigma / sqrt(pi sa sb) (the box holds 99 % of it).
  EXPECT_NEAR(err_sum / pulls.size(), sigma / std::sqrt(M_PI * 2.5 * 1.6), 0.03 * sigma);
}

TEST(ForcedPhotometry, BeamCorrelatedNoiseErrorsMatchScatter) {
  std::mt19937 rng(5);
  const int n = 160;
  const double sigma = 1e-3;
  std::vector<double> pull_beam, pull_white;
  double err_sum = 0;
  for (int real = 0; real < 25; ++real) {
    const auto src = grid(n, 20, rng, 0.03);
    const auto img = render(n, kRound, src, sigma, rng, true);
    const std::vector<float> rms(img.size(), static_cast<float>(sigma));
    ForcedOptions o;
    const auto beam = forced_photometry(img.data(), rms.data(), n, n, kRound, positions_of(src), o);
    o.correlation = NoiseCorrelation::kWhite;
    const auto white =
        forced_photometry(img.data(), rms.data(), n, n, kRound, positions_of(src), o);
    for (std::size_t i = 0; i < src.size(); ++i) {
      pull_beam.push_back((beam.results[i].flux - src[i].flux) / beam.results[i].error);
      pull_white.push_back((white.results[i].flux - src[i].flux) / white.results[i].error);
      err_sum += beam.results[i].error;
    }
  }
  auto sd = [](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double x : v) m += x;
    m /= v.size();
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / (v.size() - 1));
  };
  EXPECT_NEAR(sd(pull_beam), 1, 0.1);
  // The white-noise formula would understate these errors by ~sqrt(4/3 pi sa sb) ~ 4.5.
  EXPECT_GT(sd(pull_white), 3);
  // Isolated source on flat correlated noise: sqrt(4/3) sigma (a box-truncation short of it).
  EXPECT_NEAR(err_sum / pull_beam.size(), std::sqrt(4.0 / 3) * sigma, 0.05 * sigma);
}

TEST(ForcedPhotometry, BlendedPairSolvedJointlyWithCovariance) {
  std::mt19937 rng(3);
  const int n = 64;
  const double sigma = 1e-3;
  const double sep = 0.8 * kElliptical.fwhm_major();
  std::vector<double> pa, pb;
  int biased_alone = 0;
  double cov_ab = 0;
  for (int real = 0; real < 300; ++real) {
    const std::vector<Truth> src = {{30, 30, 0.010}, {30 + sep * 0.6, 30 + sep * 0.8, 0.020}};
    const auto img = render(n, kElliptical, src, sigma, rng, false);
    const std::vector<float> rms(img.size(), static_cast<float>(sigma));
    ForcedOptions o;
    o.correlation = NoiseCorrelation::kWhite;
    const auto sol =
        forced_photometry(img.data(), rms.data(), n, n, kElliptical, positions_of(src), o);
    ASSERT_EQ(sol.clusters.size(), 1u);
    ASSERT_EQ(sol.clusters[0].members.size(), 2u);
    EXPECT_EQ(sol.results[0].cluster, 0);
    cov_ab = sol.clusters[0].covariance[1];
    EXPECT_DOUBLE_EQ(sol.clusters[0].covariance[0], sol.results[0].error * sol.results[0].error);
    pa.push_back((sol.results[0].flux - 0.010) / sol.results[0].error);
    pb.push_back((sol.results[1].flux - 0.020) / sol.results[1].error);
    o.cluster_beams = 0;  // each alone: the neighbour's wing leaks into the fainter one
    const auto alone =
        forced_photometry(img.data(), rms.data(), n, n, kElliptical, positions_of(src), o);
    if (alone.results[0].flux - 0.010 > 3 * alone.results[0].error) ++biased_alone;
  }
  auto mean_sd = [](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double x : v) m += x;
    m /= v.size();
    for (double x : v) s += (x - m) * (x - m);
    return std::pair{m, std::sqrt(s / (v.size() - 1))};
  };
  const auto [ma, sa] = mean_sd(pa);
  const auto [mb, sb] = mean_sd(pb);
  EXPECT_NEAR(ma, 0, 0.2);
  EXPECT_NEAR(mb, 0, 0.2);
  EXPECT_NEAR(sa, 1, 0.12);
  EXPECT_NEAR(sb, 1, 0.12);
  EXPECT_LT(cov_ab, 0);          // overlapping kernels anti-correlate the amplitudes
  EXPECT_GT(biased_alone, 250);  // solved separately, the faint one is > 3 sigma too bright
}

TEST(ForcedPhotometry, OffImageAndBlankPositionsAreNotMeasured) {
  const int n = 40;
  std::vector<float> img(n * n, 0.f), rms(n * n, 1e-3f);
  for (int x = 0; x < n; ++x) img[20 * n + x] = NAN;  // a blank row
  const auto sol =
      forced_photometry(img.data(), rms.data(), n, n, kRound, {{-5, 10}, {10, 20}, {10, 10}}, {});
  EXPECT_FALSE(sol.results[0].ok);
  EXPECT_FALSE(sol.results[1].ok);
  EXPECT_TRUE(sol.results[2].ok);
  EXPECT_NEAR(sol.results[2].flux, 0, 1e-12);
  EXPECT_THROW(forced_photometry(img.data(), rms.data(), n, n, KernelBeam{0, 1, 0}, {{1, 1}}, {}),
               std::exception);
}

}  // namespace
}  // namespace contimg::photometry
