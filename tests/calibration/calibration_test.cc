// Calibration algorithms on plain buffers: StefCal, model prediction, the
// bandpass + gain solve on a synthetic SPW block, apply, QA, the registry.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>

#include "calibration/calset_history.h"
#include "calibration/apply.h"
#include "calibration/calibrate.h"
#include "calibration/predict.h"
#include "calibration/qa.h"
#include "calibration/solve_stage.h"
#include "calibration/stefcal.h"
#include "common/error.h"
#include "sky/primary_beam.h"
#include "state/calsets.h"
#include "state/state_db.h"
#include "support/tiny_uvh5.h"

namespace contimg::calibration {
namespace {

using cd = std::complex<double>;

std::vector<cd> random_gains(int nant, std::mt19937& rng) {
  std::normal_distribution<double> n(0, 1);
  std::vector<cd> g;
  for (int a = 0; a < nant; ++a) g.push_back(std::polar(1.0 + 0.1 * n(rng), 0.5 * n(rng)));
  return g;
}

struct Problem {
  std::vector<Baseline> bl;
  std::vector<BaselineSums> sums;
};

// nt samples per baseline of V = g_p conj(g_q) M + noise, M of unit-ish amplitude.
Problem make_problem(const std::vector<cd>& g, int nt, double noise, std::mt19937& rng,
                     const std::vector<int>& dead = {}) {
  const int nant = static_cast<int>(g.size());
  std::normal_distribution<double> n(0, 1);
  Problem pr;
  for (int p = 0; p < nant; ++p) {
    for (int q = p + 1; q < nant; ++q) {
      BaselineSums s;
      const bool is_dead = std::find(dead.begin(), dead.end(), p) != dead.end() ||
                           std::find(dead.begin(), dead.end(), q) != dead.end();
      for (int t = 0; t < nt && !is_dead; ++t) {
        const cd m = std::polar(0.5 + 0.1 * t, 0.3 * t + p - q);
        const cd v = g[static_cast<std::size_t>(p)] * std::conj(g[static_cast<std::size_t>(q)]) * m +
                     cd(noise * n(rng), noise * n(rng));
        s.add(v, m, 1.0);
      }
      pr.bl.push_back({p, q});
      pr.sums.push_back(s);
    }
  }
  return pr;
}

double phase_diff_deg(cd a, cd b) { return std::abs(std::arg(a * std::conj(b))) * 180 / M_PI; }

TEST(StefCal, RecoversGainsUpToTheReferencePhase) {
  std::mt19937 rng(3);
  const auto g = random_gains(16, rng);
  const auto pr = make_problem(g, 4, 0.0, rng);
  const std::vector<int> refs{5};
  const auto r = solve_gains(16, pr.bl, pr.sums, {}, refs);
  ASSERT_TRUE(r.converged);
  EXPECT_EQ(r.reference, 5);
  const cd rot = std::conj(g[5]) / std::abs(g[5]);
  for (int a = 0; a < 16; ++a) {
    EXPECT_NEAR(std::abs(r.gain[static_cast<std::size_t>(a)]), std::abs(g[static_cast<std::size_t>(a)]), 1e-6);
    EXPECT_LT(phase_diff_deg(r.gain[static_cast<std::size_t>(a)], g[static_cast<std::size_t>(a)] * rot), 1e-4);
    EXPECT_FALSE(r.flagged[static_cast<std::size_t>(a)]);
  }
  EXPECT_NEAR(std::arg(r.gain[5]), 0.0, 1e-12);
  EXPECT_GE(r.snr[0], 1e5);  // noiseless: capped SNR
}

TEST(StefCal, SnrFollowsTheNoise) {
  std::mt19937 rng(4);
  const auto g = random_gains(12, rng);
  const auto quiet = solve_gains(12, make_problem(g, 8, 0.01, rng).bl, make_problem(g, 8, 0.01, rng).sums, {}, {});
  const auto p2 = make_problem(g, 8, 0.1, rng);
  const auto noisy = solve_gains(12, p2.bl, p2.sums, {}, {});
  // Ten times the noise: about a tenth of the SNR.
  EXPECT_GT(quiet.snr[3] / noisy.snr[3], 6.0);
  EXPECT_LT(quiet.snr[3] / noisy.snr[3], 15.0);
  EXPECT_GT(noisy.snr[3], 5.0);
}

TEST(StefCal, FlagsAntennasWithoutDataAndSkipsFlaggedReference) {
  std::mt19937 rng(5);
  const auto g = random_gains(10, rng);
  const auto pr = make_problem(g, 3, 0.0, rng, {2});
  const std::vector<int> refs{2, 7};
  const auto r = solve_gains(10, pr.bl, pr.sums, {}, refs);
  EXPECT_TRUE(r.flagged[2]);
  EXPECT_EQ(r.snr[2], 0.0);
  EXPECT_EQ(r.gain[2], cd(1, 0));
  EXPECT_EQ(r.reference, 7);
  EXPECT_NEAR(std::arg(r.gain[7]), 0.0, 1e-12);
  EXPECT_NEAR(std::abs(r.gain[4]), std::abs(g[4]), 1e-6);
}

TEST(StefCal, RejectsMismatchedBuffers) {
  std::vector<Baseline> bl{{0, 1}};
  std::vector<BaselineSums> sums;
  EXPECT_THROW(solve_gains(2, bl, sums, {}, {}), InputError);
}

TEST(Predict, SourceAtThePhaseCentreIsFluxTimesBeam) {
  sky::Source s;
  s.ra_rad = 1.0;
  s.dec_rad = 0.5;
  s.flux_jy = 10;
  s.ref_freq_hz = 1.4e9;
  s.spectral_index = -0.7;
  const std::vector<double> freqs{1.3e9, 1.4e9};
  const std::vector<double> uvw{100, -50, 3};
  std::vector<std::complex<float>> m(2);
  add_point_sources(std::span(&s, 1), {1.0, 0.5}, freqs, uvw, 1, m);
  EXPECT_NEAR(m[0].real(), s.flux_at(1.3e9), 1e-5);
  EXPECT_NEAR(m[1].real(), 10.0, 1e-5);
  EXPECT_NEAR(m[1].imag(), 0.0, 1e-6);
}

TEST(Predict, OffsetSourceHasTheSimulatorsPhaseSignAndTheBeam) {
  sky::Source s;
  s.ra_rad = 1.0 + 0.01;
  s.dec_rad = 0.5;
  s.flux_jy = 2;
  const Direction c{1.0, 0.5};
  const auto lmn = direction_cosines(c, {s.ra_rad, s.dec_rad});
  EXPECT_NEAR(lmn.l, std::cos(0.5) * std::sin(0.01), 1e-12);
  const std::vector<double> freqs{1.4e9};
  const std::vector<double> uvw{30, 20, 10};
  std::vector<std::complex<float>> m(1);
  add_point_sources(std::span(&s, 1), c, freqs, uvw, 1, m);
  const double ph = 2 * M_PI * 1.4e9 / 299792458.0 * (30 * lmn.l + 20 * lmn.m + 10 * (lmn.n - 1));
  const double a = 2 * sky::airy_power(sky::angular_distance(1.0, 0.5, s.ra_rad, s.dec_rad), 1.4e9);
  EXPECT_LT(a, 2.0);
  EXPECT_NEAR(m[0].real(), a * std::cos(ph), 1e-5);
  EXPECT_NEAR(m[0].imag(), a * std::sin(ph), 1e-5);
}

TEST(Predict, EvenlySpacedChannelsByRotationEqualTheDirectPhases) {
  // 48 descending DSA-110 channels (the rotation path) against 48 with one
  // channel nudged (the per-channel sine/cosine path), far sources, long baselines.
  std::vector<sky::Source> srcs(3);
  for (std::size_t i = 0; i < srcs.size(); ++i) {
    srcs[i].ra_rad = 1.0 + 0.015 * static_cast<double>(i + 1);
    srcs[i].dec_rad = 0.5 - 0.01 * static_cast<double>(i);
    srcs[i].flux_jy = 1.0 + static_cast<double>(i);
  }
  std::vector<double> even, uneven;
  for (int c = 0; c < 48; ++c) even.push_back(1498643188.4765625 - c * 244140.625);
  uneven = even;
  uneven[47] += 1.0;  // 1 Hz: the phases differ by < 1e-5 rad, the path differs
  const std::vector<double> uvw{2500, -1300, 40, -700, 2200, -15};
  std::vector<std::complex<float>> a(2 * 48), b(2 * 48);
  add_point_sources(srcs, {1.0, 0.5}, even, uvw, 2, a);
  add_point_sources(srcs, {1.0, 0.5}, uneven, uvw, 2, b);
  for (std::size_t i = 0; i < a.size(); ++i) {
    // float output: ~1e-6 relative; the summed amplitude is ~6 Jy at most.
    EXPECT_NEAR(a[i].real(), b[i].real(), 2e-4) << i;
    EXPECT_NEAR(a[i].imag(), b[i].imag(), 2e-4) << i;
  }
}

// A synthetic 2-SPW "MS" in memory: 14 antennas, 3 integrations, 4 channels,
// XX/YY, one source at the field centre, known bandpass x gain.
struct Synthetic {
  MsMeta meta;
  std::vector<VisBlock> blocks;
  std::vector<cd> truth;  // [(ant * 2 + pol) * nchan_total + global chan]
  sky::Source src;
  int nant = 14, nt = 3, nchan = 4, npol = 2;

  cd g(int a, int p, int spw, int c) const {
    return truth[static_cast<std::size_t>((a * npol + p) * nchan * 2 + spw * nchan + c)];
  }

  explicit Synthetic(double noise = 0.0, unsigned seed = 7) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> n(0, 1);
    src.name = "CAL";
    src.ra_rad = 2.0;
    src.dec_rad = 0.6;
    src.flux_jy = 5;
    meta.path = "synthetic.ms";
    for (int a = 0; a < nant; ++a) {
      meta.antenna_names.push_back("ant" + std::to_string(a));
      meta.antenna_positions.push_back({20.0 * a, 7.0 * (a % 3), 0.0});  // a compact core
    }
    meta.antenna_positions[9] = {5000, 0, 0};  // an outrigger
    meta.npol = npol;
    meta.chan_freq = {{1.30e9, 1.31e9, 1.32e9, 1.33e9}, {1.40e9, 1.41e9, 1.42e9, 1.43e9}};
    for (int t = 0; t < nt; ++t) {
      meta.field_dir.push_back({2.0 + (t - 1) * 0.002, 0.6});
      meta.field_names.push_back("meridian_icrs_t" + std::to_string(t));
    }
    meta.interval = 10;
    meta.time_first = 5e9;
    meta.time_last = 5e9 + 10 * (nt - 1);
    for (int i = 0; i < nant * npol * nchan * 2; ++i) truth.push_back(std::polar(1.0 + 0.2 * n(rng), 1.0 * n(rng)));
    for (int spw = 0; spw < 2; ++spw) {
      VisBlock b;
      b.spw = spw;
      b.nchan = static_cast<std::size_t>(nchan);
      b.npol = static_cast<std::size_t>(npol);
      for (int t = 0; t < nt; ++t) {
        for (int p = 0; p < nant; ++p) {
          for (int q = p; q < nant; ++q) {
            b.ant1.push_back(p);
            b.ant2.push_back(q);
            b.field.push_back(t);
            b.time.push_back(meta.time_first + 10 * t);
            b.uvw.insert(b.uvw.end(), {10.0 * (q - p), 5.0 * (q - p) + t, 1.0 * t});
            ++b.nrows;
          }
        }
      }
      b.data.resize(b.nrows * b.nchan * b.npol);
      b.flag.assign(b.data.size(), 0);
      b.weight.assign(b.data.size(), 1.0f);
      const auto model = predict_block(meta, b, std::span(&src, 1));
      for (std::size_t r = 0; r < b.nrows; ++r) {
        for (int c = 0; c < nchan; ++c) {
          for (int p = 0; p < npol; ++p) {
            const cd m = model[r * b.nchan + static_cast<std::size_t>(c)];
            const cd v = b.ant1[r] == b.ant2[r] ? cd(100, 0)
                                                : g(b.ant1[r], p, spw, c) * std::conj(g(b.ant2[r], p, spw, c)) * m +
                                                      cd(noise * n(rng), noise * n(rng));
            b.data[(r * b.nchan + static_cast<std::size_t>(c)) * b.npol + static_cast<std::size_t>(p)] = std::complex<float>(v);
          }
        }
      }
      b.nrows = b.ant1.size();
      blocks.push_back(std::move(b));
    }
  }

  CalSolution solve(const CalibrateOptions& opt = {}) const {
    return calibrate(
        meta, [](int) { return true; }, [this](int spw) { return blocks[static_cast<std::size_t>(spw)]; },
        std::span(&src, 1), opt);
  }
};

TEST(Calibrate, BandpassTimesGainMatchesTruthAndSetsTheFluxScale) {
  const Synthetic s;
  const auto sol = s.solve();
  EXPECT_EQ(sol.refant, 9);  // the outrigger
  ASSERT_EQ(sol.gains.time.size(), 3u);
  for (int spw = 0; spw < 2; ++spw) {
    for (int a = 0; a < s.nant; ++a) {
      for (int p = 0; p < s.npol; ++p) {
        for (int c = 0; c < s.nchan; ++c) {
          const cd ref = s.g(9, p, spw, c);
          const cd want = s.g(a, p, spw, c) * std::conj(ref) / std::abs(ref);
          const auto i = sol.bandpass.index(spw, a, p, static_cast<std::size_t>(c));
          const cd got = cd(sol.bandpass.gain[static_cast<std::size_t>(spw)][i]) *
                         cd(sol.gains.gain[sol.gains.index(1, a, p)]);
          EXPECT_NEAR(std::abs(got) / std::abs(want), 1.0, 1e-4) << a << " " << p << " " << spw << " " << c;
          EXPECT_LT(phase_diff_deg(got, want), 0.01);
          EXPECT_FALSE(sol.bandpass.flag[static_cast<std::size_t>(spw)][i]);
        }
      }
    }
  }
}

TEST(Calibrate, ApplyingTheSolutionRecoversTheModel) {
  const Synthetic s;
  const auto sol = s.solve();
  for (int spw = 0; spw < 2; ++spw) {
    auto b = s.blocks[static_cast<std::size_t>(spw)];
    ApplyStats st;
    apply_solution(sol, b, st);
    ModelComparison cmp;
    const auto m = predict_block(s.meta, b, std::span(&s.src, 1));
    cmp.add(b, m);
    EXPECT_NEAR(cmp.ratio(), 1.0, 1e-4);
    EXPECT_LT(cmp.residual_rms(), 1e-3);
    EXPECT_EQ(st.flagged_by_solutions, 0u);
    // Idempotent: applying again to DATA gives the same corrected data.
    auto again = s.blocks[static_cast<std::size_t>(spw)];
    ApplyStats st2;
    apply_solution(sol, again, st2);
    EXPECT_EQ(again.data, b.data);
    EXPECT_EQ(again.flag, b.flag);
  }
}

TEST(Calibrate, SolvingSpwsInParallelGivesTheSameSolutionBitForBit) {
  const Synthetic s(0.5);  // noise, so that the order of additions would show
  const auto one = s.solve();
  for (int threads : {2, 3}) {
    CalibrateOptions opt;
    opt.threads = threads;
    const auto many = s.solve(opt);
    EXPECT_EQ(many.bandpass.gain, one.bandpass.gain) << threads;
    EXPECT_EQ(many.bandpass.flag, one.bandpass.flag) << threads;
    EXPECT_EQ(many.bandpass.snr, one.bandpass.snr) << threads;
    EXPECT_EQ(many.gains.gain, one.gains.gain) << threads;
    EXPECT_EQ(many.gains.time, one.gains.time) << threads;
    EXPECT_EQ(many.gains.field, one.gains.field) << threads;
    EXPECT_EQ(many.refant, one.refant) << threads;
    EXPECT_EQ(many.model_qa.signal_explained, one.model_qa.signal_explained) << threads;
    EXPECT_EQ(many.model_qa.reduced_chi2, one.model_qa.reduced_chi2) << threads;
  }
}

TEST(Calibrate, AFailingSpwReadStopsTheParallelSolve) {
  // The first SPW's read fails while another worker holds the second: the
  // error comes out and no worker waits for the failed SPW's sums.
  const Synthetic s;
  CalibrateOptions opt;
  opt.threads = 2;
  EXPECT_THROW(calibrate(
                   s.meta, [](int) { return true; },
                   [&](int spw) -> VisBlock {
                     if (spw == 0) throw IoError("synthetic.ms: read failed");
                     return s.blocks[static_cast<std::size_t>(spw)];
                   },
                   std::span(&s.src, 1), opt),
               IoError);
}

TEST(Calibrate, RequestedReferenceAndAllFlaggedData) {
  const Synthetic s;
  CalibrateOptions opt;
  opt.refant = "ant3";
  EXPECT_EQ(s.solve(opt).refant, 3);
  opt.refant = "nope";
  EXPECT_THROW(s.solve(opt), ConfigError);
  auto flagged = s;
  for (auto& b : flagged.blocks) std::fill(b.flag.begin(), b.flag.end(), 1);
  EXPECT_THROW(flagged.solve(), InputError);
}

TEST(Calibrate, NoisySolutionsBelowTheSnrThresholdAreFlaggedAndQaFails) {
  const Synthetic noisy(20.0);  // 5 Jy source, 20 Jy noise per sample
  const auto sol = noisy.solve();
  const auto qa = assess(sol, {});
  EXPECT_FALSE(qa.passed);
  EXPECT_EQ(qa.grade, "F");
  EXPECT_FALSE(qa.reasons.empty());
  const Synthetic clean;
  const auto ok = assess(clean.solve(), {});
  EXPECT_TRUE(ok.passed) << (ok.reasons.empty() ? "" : ok.reasons.front());
  EXPECT_EQ(ok.antennas_solved, 14);
  EXPECT_EQ(ok.bandpass_flagged_fraction, 0.0);
}

TEST(Qa, GatesOnFlaggedFractionAntennasAndSnr) {
  CalSolution s;
  auto& bp = s.bandpass;
  bp.nant = 12;
  bp.npol = 1;
  bp.freqs = {{1.0, 2.0, 3.0, 4.0}};
  bp.gain = {std::vector<std::complex<float>>(48, 1.0f)};
  bp.flag = {std::vector<std::uint8_t>(48, 0)};
  bp.snr = {std::vector<float>(48, 50.0f)};
  s.antenna_has_data.assign(12, 1);
  EXPECT_TRUE(assess(s, {}).passed);
  EXPECT_EQ(assess(s, {}).grade, "A");
  // 3 antennas fully flagged: 25% flagged (passes, at the limit), 9 solved (< 10: fails).
  for (int i = 0; i < 12; ++i) s.bandpass.flag[0][static_cast<std::size_t>(i)] = 1;
  auto r = assess(s, {});
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.antennas_solved, 9);
  ASSERT_EQ(r.reasons.size(), 1u);
  EXPECT_NE(r.reasons[0].find("antennas solved"), std::string::npos);
  // 13 of 48 flagged: > 25%.
  s.bandpass.flag[0][47] = 1;
  r = assess(s, {});
  EXPECT_NEAR(r.bandpass_flagged_fraction, 13.0 / 48, 1e-12);
  EXPECT_EQ(r.reasons.size(), 2u);
  std::fill(s.bandpass.flag[0].begin(), s.bandpass.flag[0].end(), 0);
  std::fill(s.bandpass.snr[0].begin(), s.bandpass.snr[0].end(), 3.0f);
  r = assess(s, {});
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reasons.at(0).find("median bandpass SNR"), std::string::npos);
}

TEST(Apply, GainsInterpolateInAmplitudeAndPhaseAndHoldOutside) {
  GainSolution g;
  g.nant = 1;
  g.npol = 1;
  g.time = {0, 10};
  g.gain = {std::polar(1.0f, 3.0f), std::polar(2.0f, -3.0f)};  // phase wraps through pi
  g.flag = {0, 0};
  cd v;
  std::uint8_t f = 0;
  interpolate_gains(g, 5, 0, std::span(&v, 1), std::span(&f, 1));
  EXPECT_NEAR(std::abs(v), 1.5, 1e-6);
  EXPECT_NEAR(std::abs(std::arg(v)), M_PI, 1e-5);
  interpolate_gains(g, 100, 0, std::span(&v, 1), std::span(&f, 1));
  EXPECT_NEAR(std::abs(v), 2.0, 1e-6);
  g.flag = {0, 1};
  interpolate_gains(g, 5, 0, std::span(&v, 1), std::span(&f, 1));
  EXPECT_NEAR(std::abs(v), 1.0, 1e-6);
  EXPECT_EQ(f, 0);
  g.flag = {1, 1};
  interpolate_gains(g, 5, 0, std::span(&v, 1), std::span(&f, 1));
  EXPECT_EQ(f, 1);
}

TEST(Apply, SolutionFlagsPropagateAndNeverUnflag) {
  const Synthetic s;
  auto sol = s.solve();
  sol.bandpass.flag[0][sol.bandpass.index(0, 4, 0, 2)] = 1;  // antenna 4, XX, channel 2 of SPW 0
  auto b = s.blocks[0];
  b.flag[1] = 1;  // an existing flag (row 0: an autocorrelation of antenna 0, channel 0, YY)
  ApplyStats st;
  apply_solution(sol, b, st);
  std::size_t flagged = 0;
  for (std::size_t r = 0; r < b.nrows; ++r) {
    const bool touches = b.ant1[r] == 4 || b.ant2[r] == 4;
    const auto i = (r * b.nchan + 2) * b.npol + 0;
    EXPECT_EQ(b.flag[i] != 0, touches) << r;
    flagged += touches ? 1 : 0;
  }
  EXPECT_EQ(st.flagged_by_solutions, flagged);
  EXPECT_EQ(b.flag[1], 1);
}

TEST(Calsets, NearestValidPassedSetIsChosen) {
  test::TempDir dir;
  state::StateDb db(dir.path() / "s.sqlite3");
  auto rec = [](std::string id, double mid, std::string status) {
    state::CalsetRecord r;
    r.id = std::move(id);
    r.group_id = r.id;
    r.ms_path = "/x.ms";
    r.calibrator = "3C286";
    r.bandpass_table = "/b";
    r.gain_table = "/g";
    r.mid_time_s = mid;
    r.valid_from_s = mid - 43200;
    r.valid_to_s = mid + 43200;
    r.status = std::move(status);
    r.grade = r.status == "passed" ? "A" : "F";
    return r;
  };
  state::upsert_calset(db, rec("a", 1000000, "passed"));
  state::upsert_calset(db, rec("b", 1030000, "passed"));
  state::upsert_calset(db, rec("c", 1020000, "failed"));
  EXPECT_EQ(choose_applicable(state::valid_calsets(db, 1019000), 1019000)->id, "b");  // c is nearer but failed
  EXPECT_EQ(choose_applicable(state::valid_calsets(db, 1005000), 1005000)->id, "a");
  EXPECT_FALSE(choose_applicable(state::valid_calsets(db, 1100000), 1100000).has_value());  // outside every window
  state::upsert_calset(db, rec("a", 1000000, "failed"));  // re-solve replaces
  EXPECT_EQ(state::list_calsets(db).size(), 3u);
  EXPECT_EQ(state::calset(db, "a")->status, "failed");
}

}  // namespace
}  // namespace contimg::calibration

namespace contimg::calibration {
namespace {

TEST(SolveStage, CalibratorNameComesFromTheRenamedField) {
  EXPECT_EQ(calibrator_from_fields({"meridian_icrs_t0", "3C286_t11", "meridian_icrs_t12"}).value_or(""), "3C286");
  EXPECT_EQ(calibrator_from_fields({"meridian_icrs_t0", "J0834+5534_t3"}).value_or(""), "J0834+5534");
  EXPECT_FALSE(calibrator_from_fields({"meridian_icrs_t0", "meridian_icrs_t1"}).has_value());
  EXPECT_FALSE(calibrator_from_fields({"NOSUFFIX"}).has_value());
}

}  // namespace
}  // namespace contimg::calibration
