// The transit policy for a calibrator MS (issue 16): the VLA list and the
// reference catalogue around the calibrator field decide whether it is solved.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "calibration/transit_policy.h"
#include "support/tiny_uvh5.h"

namespace contimg::calibration {
namespace {

constexpr double kDeg = M_PI / 180;

MsMeta meta_at(const std::string& field, double ra_deg, double dec_deg) {
  MsMeta m;
  m.path = "x.ms";
  m.field_names = {"meridian_icrs_t0", field + "_t1"};
  m.field_dir = {{ra_deg * kDeg - 0.001, dec_deg * kDeg}, {ra_deg * kDeg, dec_deg * kDeg}};
  return m;
}

config::Config load(std::vector<config::Override> extra = {}) {
  config::LoadOptions lo;
  lo.overrides = std::move(extra);
  return config::Config::load(lo);
}

TEST(TransitPolicy, J1035InABrightReferenceFieldIsNotSolved) {
  test::TempDir dir;
  // The issue's field: sources of 2.5 Jy within a degree of J1035+5628.
  nlohmann::json sources = nlohmann::json::array();
  for (int i = 0; i < 8; ++i) {
    sources.push_back({{"name", fmt::format("S{}", i)},
                       {"ra_deg", 158.78 + 0.8 * std::cos(i) / std::cos(56.48 * kDeg)},
                       {"dec_deg", 56.48 + 0.6 * std::sin(i)},
                       {"flux_jy", 2.5}});
  }
  const auto ref = dir.path() / "ref.json";
  std::ofstream(ref) << nlohmann::json{{"sources", sources}}.dump();
  const auto cfg = load();
  const auto meta = meta_at("J1035+5628", 158.779333, 56.479665);
  const auto with_ref = transit_policy_for(cfg, meta, "J1035+5628", ref);
  EXPECT_FALSE(with_ref.solve) << with_ref.reason;
  EXPECT_NEAR(with_ref.calibrator_apparent_jy, 1.85, 0.01);
  EXPECT_GE(with_ref.field_model.size(), 8u);
  // Without a reference catalogue only the VLA list is known: J1035+5628
  // dominates it and is solved (model QA then judges it); no field model.
  const auto no_ref = transit_policy_for(cfg, meta, "J1035+5628", {});
  EXPECT_TRUE(no_ref.solve) << no_ref.reason;
  EXPECT_TRUE(no_ref.field_model.empty());
  // "all" solves every transit.
  const auto all = load({{"calibration.transit_policy", "all", "test"}});
  EXPECT_TRUE(transit_policy_for(all, meta, "J1035+5628", ref).solve);
}

TEST(TransitPolicy, FluxStandardIsSolvedAndUnknownCalibratorIsLeftToTheSolve) {
  test::TempDir dir;
  const auto ref = dir.path() / "ref.json";
  std::ofstream(ref) << R"({"sources": [{"ra_deg": 202.9, "dec_deg": 30.9, "flux_jy": 60}]})";
  const auto cfg = load();
  const auto p = transit_policy_for(cfg, meta_at("3C286", 202.784533, 30.509155), "3C286", ref);
  EXPECT_TRUE(p.solve);
  EXPECT_TRUE(p.primary);
  EXPECT_LT(p.fraction, 0.5);
  // The reference source joins 3C286's model (with the VLA list's sources nearby).
  EXPECT_EQ(std::count_if(p.field_model.begin(), p.field_model.end(),
                          [](const sky::Source& s) { return s.flux_jy == 60; }),
            1);
  EXPECT_TRUE(transit_policy_for(cfg, meta_at("NOSUCH", 10, 10), "NOSUCH", {}).solve);
}

}  // namespace
}  // namespace contimg::calibration
