#include "photometry/lightcurve_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace contimg::photometry {
namespace {

// Direct (two-pass) evaluation of the formulas, independent of the running sums.
VariabilityMetrics direct(const std::vector<double>& s, const std::vector<double>& e) {
  VariabilityMetrics m;
  const double n = s.size();
  m.n = s.size();
  double sw = 0, sws = 0, mean = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    sw += 1 / (e[i] * e[i]), sws += s[i] / (e[i] * e[i]), mean += s[i];
  mean /= n;
  m.mean_flux = mean;
  m.xi = sws / sw;
  m.xi_err = 1 / std::sqrt(sw);
  double chi = 0, var = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    chi += (s[i] - m.xi) * (s[i] - m.xi) / (e[i] * e[i]);
    var += (s[i] - mean) * (s[i] - mean);
  }
  m.eta = chi / (n - 1);
  m.v = std::sqrt(var / (n - 1)) / mean;
  const auto hi = std::max_element(s.begin(), s.end()) - s.begin();
  const auto lo = std::min_element(s.begin(), s.end()) - s.begin();
  m.vs = (s[hi] - s[lo]) / std::hypot(e[hi], e[lo]);
  m.m = 2 * (s[hi] - s[lo]) / (s[hi] + s[lo]);
  return m;
}

TEST(LightcurveStats, IncrementalSumsEqualTheDirectFormulas) {
  std::mt19937 rng(2);
  std::normal_distribution<double> g(0, 1);
  std::vector<double> s, e;
  LightcurveAggregate a;
  for (int i = 0; i < 40; ++i) {
    e.push_back(0.001 * (1 + (i % 5)));
    s.push_back(0.5 + e.back() * g(rng) + (i == 17 ? 0.3 : 0));
    a.add(s.back(), e.back(), i);
  }
  const auto m = metrics(a), d = direct(s, e);
  EXPECT_EQ(m.n, 40);
  EXPECT_NEAR(m.xi, d.xi, 1e-12);
  EXPECT_NEAR(m.xi_err, d.xi_err, 1e-15);
  EXPECT_NEAR(m.eta, d.eta, 1e-7 * d.eta);
  EXPECT_NEAR(m.v, d.v, 1e-9);
  EXPECT_NEAR(m.vs, d.vs, 1e-9);
  EXPECT_NEAR(m.m, d.m, 1e-12);
  EXPECT_EQ(a.max_image, 17);
  // eta of a steady source with correct errors ~ 1; the flare makes it large.
  EXPECT_GT(m.eta, 100);
}

TEST(LightcurveStats, SteadySourceEtaNearOneAndVUsesNMinusOne) {
  std::mt19937 rng(9);
  std::normal_distribution<double> g(0, 1);
  LightcurveAggregate a;
  for (int i = 0; i < 5000; ++i) a.add(1.0 + 0.01 * g(rng), 0.01);
  const auto m = metrics(a);
  EXPECT_NEAR(m.eta, 1, 0.05);
  EXPECT_NEAR(m.v, 0.01, 0.0005);
  // Two measurements: V = |a - b| / sqrt(2) / mean (sample std), not / 2 (population).
  LightcurveAggregate two;
  two.add(1.0, 0.1);
  two.add(3.0, 0.1);
  const auto t = metrics(two);
  EXPECT_NEAR(t.v, std::sqrt(2.0) / 2, 1e-12);
  EXPECT_NEAR(t.eta, (1.0 / 0.01 + 1.0 / 0.01) / 1, 1e-9);  // sum w (S - xi)^2 / (N - 1), xi = 2
  EXPECT_NEAR(t.vs, 2 / std::sqrt(0.02), 1e-12);
  EXPECT_NEAR(t.m, 1.0, 1e-12);
}

TEST(LightcurveStats, DegenerateInputs) {
  LightcurveAggregate a;
  a.add(1.0, 0.0);  // no weight: ignored
  a.add(NAN, 0.1);
  EXPECT_EQ(a.n, 0);
  a.add(2.0, 0.5);
  const auto m = metrics(a);
  EXPECT_EQ(m.n, 1);
  EXPECT_DOUBLE_EQ(m.xi, 2.0);
  EXPECT_DOUBLE_EQ(m.xi_err, 0.5);
  EXPECT_EQ(m.eta, 0);
  EXPECT_EQ(m.v, 0);
  EXPECT_EQ(m.vs, 0);
}

TEST(LightcurveStats, CandidatesStandOutOfTheField) {
  std::mt19937 rng(4);
  std::normal_distribution<double> g(0, 1);
  std::vector<VariabilityMetrics> field;
  for (int k = 0; k < 60; ++k) {
    LightcurveAggregate a;
    const double flux = 0.01 * (1 + k), err = 0.001;
    for (int i = 0; i < 10; ++i)
      a.add(flux + err * g(rng) + (k == 7 && i == 4 ? 2 * flux : 0), err);
    field.push_back(metrics(a));
  }
  CandidateOptions o;
  const auto t = candidate_thresholds(field, o);
  EXPECT_EQ(t.n_field, 60);
  for (int k = 0; k < 60; ++k) {
    const auto why = candidate_reason(field[k], t, o);
    if (k == 7) {
      EXPECT_EQ(why, "eta+V,pair");
    } else {
      EXPECT_EQ(why, "") << "steady source " << k << " eta " << field[k].eta << " V " << field[k].v;
    }
  }
  VariabilityMetrics few = field[7];
  few.n = 2;
  EXPECT_EQ(candidate_reason(few, t, o), "");
}

}  // namespace
}  // namespace contimg::photometry
