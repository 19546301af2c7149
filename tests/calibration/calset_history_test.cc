// Consistency with history and the choice of the set applied (issue 16).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "calibration/calset_history.h"
#include "calibration/qa.h"
#include "common/error.h"

namespace contimg::calibration {
namespace {

CalsetSummary summary(const std::string& id, double t, double amp, int nant = 10, int nspw = 4) {
  CalsetSummary s;
  s.id = id;
  s.mid_time_s = t;
  s.antenna_amp.assign(static_cast<std::size_t>(nant), amp);
  s.spw_shape.assign(static_cast<std::size_t>(nspw), 1.0);
  s.phase_rms_deg = 1.0;
  return s;
}

// A bandpass of amplitude `amp` everywhere and gains whose phase wanders by `phase_deg`.
CalSolution solution(double amp, double phase_deg) {
  CalSolution s;
  auto& bp = s.bandpass;
  bp.nant = 3;
  bp.npol = 2;
  bp.time = 1000;
  bp.freqs = {{1.0, 2.0}, {3.0, 4.0}};
  for (int spw = 0; spw < 2; ++spw) {
    bp.gain.push_back(std::vector<std::complex<float>>(
        12, std::polar(static_cast<float>(amp * (spw + 1)), 0.3f)));
    bp.flag.push_back(std::vector<std::uint8_t>(12, 0));
    bp.snr.push_back(std::vector<float>(12, 50));
  }
  bp.flag[0][bp.index(0, 2, 0, 0)] = 1;
  bp.gain[0][bp.index(0, 2, 0, 0)] = 100;  // flagged: ignored
  auto& g = s.gains;
  g.nant = 3;
  g.npol = 2;
  g.time = {0, 10, 20, 30};
  for (std::size_t t = 0; t < 4; ++t) {
    for (int k = 0; k < 6; ++k) {
      const double ph = (t % 2 ? 1 : -1) * phase_deg * M_PI / 180;
      g.gain.push_back(std::polar(1.0f, static_cast<float>(ph)));
      g.flag.push_back(0);
      g.snr.push_back(50);
    }
  }
  return s;
}

TEST(CalsetHistory, SummaryHoldsAmplitudesShapeAndPhaseRms) {
  const auto s = summarize(solution(2.0, 4.0), "x");
  EXPECT_EQ(s.id, "x");
  EXPECT_EQ(s.mid_time_s, 1000);
  ASSERT_EQ(s.antenna_amp.size(), 3u);
  EXPECT_NEAR(s.antenna_amp[0], 3.0, 1e-6);  // median of 2 (SPW 0) and 4 (SPW 1): 3
  EXPECT_NEAR(s.antenna_amp[2], 4.0, 1e-6);  // one SPW-0 value flagged: 3 of 2, 4 of 4 -> median 4
  ASSERT_EQ(s.spw_shape.size(), 2u);
  EXPECT_NEAR(s.spw_shape[1] / s.spw_shape[0], 2.0, 1e-6);
  EXPECT_NEAR(s.phase_rms_deg, 4.0, 1e-3);
  const auto back = calset_summary_from_json(to_json(s));
  EXPECT_EQ(back.antenna_amp, s.antenna_amp);
  EXPECT_EQ(back.phase_rms_deg, s.phase_rms_deg);
  EXPECT_THROW(calset_summary_from_json(nlohmann::json{{"id", "x"}}), InputError);
}

TEST(CalsetHistory, ModelFluxThirtyPercentWrongFailsOnTheScaleJump) {
  // A model 30% too bright: |B| comes out 1/sqrt(1.3) = 0.877 of the usual.
  const std::vector<CalsetSummary> prev{summary("a", 100, 1.0), summary("b", 200, 1.02),
                                        summary("c", 300, 0.99)};
  const auto r = compare_with_history(summary("now", 400, 1.0 / std::sqrt(1.3)), prev, {});
  EXPECT_EQ(r.sets_compared, 3);
  EXPECT_NEAR(r.scale_ratio, 0.877, 0.001);
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_NE(r.failures[0].find("0.877"), std::string::npos) << r.failures[0];
  // The same set a day later than a consistent history: no finding.
  const auto ok = compare_with_history(summary("now", 400, 1.01), prev, {});
  EXPECT_TRUE(ok.failures.empty());
  EXPECT_TRUE(ok.warnings.empty());
  // 7% warns, does not fail.
  const auto w = compare_with_history(summary("now", 400, 1.07), prev, {});
  EXPECT_TRUE(w.failures.empty());
  EXPECT_EQ(w.warnings.size(), 1u);
}

TEST(CalsetHistory, AntennaShapeAndPhaseJumps) {
  const std::vector<CalsetSummary> prev{summary("a", 100, 1.0)};
  auto now = summary("now", 200, 1.0);
  now.antenna_amp[4] = 1.5;
  now.spw_shape[2] = 1.3;
  now.phase_rms_deg = 20;
  const auto r = compare_with_history(now, prev, {});
  EXPECT_EQ(r.jumping_antennas, std::vector<int>{4});
  EXPECT_EQ(r.worst_shape_spw, 2);
  EXPECT_NEAR(r.worst_shape_jump, 0.3, 1e-12);
  EXPECT_EQ(r.failures.size(), 1u);  // shape beyond 20%
  EXPECT_EQ(r.warnings.size(), 2u);  // antenna, phase rms
}

TEST(CalsetHistory, OnlyEarlierSetsOfTheSameShapeAndAtMostMaxSets) {
  std::vector<CalsetSummary> prev{summary("later", 500, 2.0), summary("other-array", 100, 2.0, 12),
                                  summary("old", 10, 2.0)};
  for (int i = 0; i < 6; ++i) prev.push_back(summary("recent" + std::to_string(i), 200 + i, 1.0));
  const auto r = compare_with_history(summary("now", 400, 1.0), prev, {});
  EXPECT_EQ(r.sets_compared, 5);  // the 5 most recent; "old" (2.0) left out
  EXPECT_NEAR(r.scale_ratio, 1.0, 1e-12);
  EXPECT_EQ(compare_with_history(summary("now", 400, 1.0), {}, {}).sets_compared, 0);
}

TEST(CalsetHistory, SummariesComeFromPassedSetsQaJson) {
  const auto good = nlohmann::json{{"summary", to_json(summary("a", 100, 1.0))}}.dump();
  const auto other = nlohmann::json{{"summary", to_json(summary("b", 200, 2.0))}}.dump();
  const auto h = history_from_qa_json({{"passed", good},
                                       {"failed", other},       // never history
                                       {"passed", "{}"},        // solved before summaries
                                       {"passed", "not json"},  // damaged
                                       {"passed", R"({"summary": {"id": 1}})"}});  // damaged
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].id, "a");
}

TEST(CalsetHistory, PlaneCoordinatesAreProjectedPerpendicularToThePointing) {
  // Three antennas at longitude 0 on the equator: 100 m east, 100 m north (along z).
  const double r = 6.371e6;
  const std::vector<std::array<double, 3>> itrf{{r, 0, 0}, {r, 100, 0}, {r, 0, 100}};
  const auto uv = antenna_plane_uv(itrf, 0.0);  // pointing at the zenith (dec 0 on the equator)
  ASSERT_EQ(uv.size(), 3u);
  EXPECT_NEAR(uv[1][0] - uv[0][0], 100, 1e-6);  // east -> u
  EXPECT_NEAR(uv[1][1] - uv[0][1], 0, 1e-6);
  EXPECT_NEAR(uv[2][1] - uv[0][1], 100, 1e-6);  // north -> v
  EXPECT_NEAR(uv[2][0] - uv[0][0], 0, 1e-6);
}

CalsetCandidate cand(std::string id, double mid, std::string status, std::string grade) {
  return {std::move(id), mid, mid - 43200, mid + 43200, std::move(status), std::move(grade)};
}

TEST(ChooseCalset, QualityFirstThenTimeWithinTheNearWindow) {
  const double h = 3600;
  const std::vector<CalsetCandidate> c{
      cand("near-B", 1e6 + 0.5 * h, "passed", "B"), cand("farther-A", 1e6 - 2 * h, "passed", "A"),
      cand("nearest-failed", 1e6, "failed", "F"), cand("far-A", 1e6 + 8 * h, "passed", "A")};
  // Within 6 h: A beats B though B is nearer; the failed set never counts.
  EXPECT_EQ(c[*choose_calset(c, 1e6, 6 * h)].id, "farther-A");
  // With a 1 h window only near-B is near: time before grade beyond it.
  EXPECT_EQ(c[*choose_calset(c, 1e6, 1 * h)].id, "near-B");
  // Outside every window: none.
  EXPECT_FALSE(choose_calset(c, 1e6 + 30 * h, 6 * h).has_value());
  // Same grade: the nearest; same distance: the id.
  const std::vector<CalsetCandidate> tie{cand("b", 1e6 + h, "passed", "A"),
                                         cand("a", 1e6 - h, "passed", "A")};
  EXPECT_EQ(tie[*choose_calset(tie, 1e6, 6 * h)].id, "a");
}

}  // namespace
}  // namespace contimg::calibration
