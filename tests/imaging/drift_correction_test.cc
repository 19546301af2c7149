// The drift correction on plain buffers (imaging/drift_correction.h,
// docs/imaging.md §3a): visibilities of a source drifting through the beam
// become those of a constant source of the model flux.
#include "imaging/drift_correction.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <random>
#include <vector>

#include "calibration/predict.h"
#include "common/error.h"
#include "imaging/primary_beam_image.h"
#include "sky/primary_beam.h"

namespace contimg::imaging {
namespace {

constexpr double kC = 299792458.0;
constexpr double kDeg = M_PI / 180.0;

// A drift scan: 24 integrations whose meridian moves 1.2875° of RA (one
// group) through the centre; two SPWs of 12 channels, the second one with a
// gap before it (the phase rotation restarts there).
struct Scene {
  astro::SkyDirection centre{162.8 * kDeg, 54.7 * kDeg};
  std::vector<astro::SkyDirection> pointings;
  std::vector<double> freqs, spw_centres;
  Scene() {
    for (int k = 0; k < 24; ++k) {
      const double dra = (-0.64375 + 1.2875 * (k + 0.5) / 24) * kDeg / std::cos(centre.dec_rad);
      pointings.push_back({centre.ra_rad + dra, centre.dec_rad});
    }
    for (int c = 0; c < 12; ++c) freqs.push_back(1.311e9 + c * 0.977e6);
    for (int c = 0; c < 12; ++c) freqs.push_back(1.450e9 + c * 0.977e6);
    spw_centres = {0.5 * (freqs[0] + freqs[11]), 0.5 * (freqs[12] + freqs[23])};
  }
};

// exp(+2πi ν/c (u l + v m + w (n − 1))), computed directly.
std::complex<double> fringe(const double* uvw, const calibration::Lmn& d, double f) {
  const double ph = 2 * M_PI * f / kC * (uvw[0] * d.l + uvw[1] * d.m + uvw[2] * (d.n - 1));
  return {std::cos(ph), std::sin(ph)};
}

// The model a CLEAN of all integrations finds for point sources (direction,
// true flux): truth × the effective beam, flat.
std::vector<DriftComponent> clean_model(
    const Scene& sc, const std::vector<std::pair<astro::SkyDirection, double>>& truth) {
  std::vector<DriftComponent> model;
  for (const auto& [dir, flux] : truth) {
    model.push_back({dir.ra_rad,
                     dir.dec_rad,
                     flux * effective_beam(dir.ra_rad, dir.dec_rad, sc.pointings, sc.spw_centres),
                     {}});
  }
  return model;
}

// `nrow` rows of random baselines up to 2.6 km (|w| < 150 m), spread evenly
// over the 24 integrations.
struct Rows {
  std::vector<double> uvw;
  std::vector<std::size_t> integration;
};
Rows random_rows(std::size_t nrow, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> ub(-2600, 2600), uw(-150, 150);
  Rows rows{std::vector<double>(3 * nrow), std::vector<std::size_t>(nrow)};
  for (std::size_t r = 0; r < nrow; ++r) {
    rows.uvw[3 * r] = ub(rng);
    rows.uvw[3 * r + 1] = ub(rng);
    rows.uvw[3 * r + 2] = uw(rng);
    rows.integration[r] = (r * 24) / nrow;
  }
  return rows;
}

TEST(DriftCorrection, DriftingSourcesBecomeConstantAtTheirModelFlux) {
  const Scene sc;
  // Two sources off the meridian (where the beam changes most), one near it.
  const std::vector<std::pair<astro::SkyDirection, double>> truth = {
      {{sc.centre.ra_rad - 0.9 * kDeg / std::cos(sc.centre.dec_rad),
        sc.centre.dec_rad + 0.25 * kDeg},
       1.9},
      {{sc.centre.ra_rad + 0.8 * kDeg / std::cos(sc.centre.dec_rad),
        sc.centre.dec_rad - 0.35 * kDeg},
       1.7},
      {{sc.centre.ra_rad, sc.centre.dec_rad + 0.1 * kDeg}, 15.0}};
  std::vector<DriftComponent> model = clean_model(sc, truth);
  const DriftCorrection corr(model, sc.centre, sc.pointings, sc.freqs, sc.spw_centres);
  ASSERT_EQ(corr.components(), 3u);

  // 300 rows of random baselines up to 2.6 km, spread over the integrations;
  // 4 correlations (XX XY YX YY): the parallel hands hold the sky.
  const std::size_t nrow = 300, nchan = 12, ncorr = 4;
  auto [uvw, integ] = random_rows(nrow, 3);
  integ[7] = 23;  // a block of lanes spanning two integrations
  const std::vector<std::size_t> hands = {0, 3};
  for (std::size_t spw = 0; spw < 2; ++spw) {
    std::vector<std::complex<float>> data(nrow * nchan * ncorr), expected(nrow * nchan * ncorr);
    for (std::size_t r = 0; r < nrow; ++r) {
      const auto& p = sc.pointings[integ[r]];
      for (std::size_t c = 0; c < nchan; ++c) {
        const double f = sc.freqs[spw * nchan + c];
        std::complex<double> observed = 0, constant = 0;
        for (std::size_t s = 0; s < truth.size(); ++s) {
          const auto& [dir, flux] = truth[s];
          const auto lmn = calibration::direction_cosines({sc.centre.ra_rad, sc.centre.dec_rad},
                                                          {dir.ra_rad, dir.dec_rad});
          const double a = sky::airy_power(
              sky::angular_distance(dir.ra_rad, dir.dec_rad, p.ra_rad, p.dec_rad), f);
          observed += flux * a * fringe(&uvw[3 * r], lmn, f);
          constant += model[s].flux_jy * fringe(&uvw[3 * r], lmn, f);
        }
        for (std::size_t q = 0; q < ncorr; ++q) {
          const bool hand = q == 0 || q == 3;
          const std::complex<float> other(0.25f, -0.5f);  // cross hands: untouched
          data[(r * nchan + c) * ncorr + q] = hand ? std::complex<float>(observed) : other;
          expected[(r * nchan + c) * ncorr + q] = hand ? std::complex<float>(constant) : other;
        }
      }
    }
    // Before: the data differ from a constant source by up to ~10 % of it.
    double before = 0;
    for (std::size_t i = 0; i < data.size(); ++i)
      before = std::max(before, double(std::abs(data[i] - expected[i])));
    EXPECT_GT(before, 0.3);
    corr.subtract(data.data(), nrow, nchan, spw * nchan, ncorr, hands, uvw.data(), integ.data());
    double worst = 0;
    for (std::size_t i = 0; i < data.size(); ++i)
      worst = std::max(worst, double(std::abs(data[i] - expected[i])));
    EXPECT_LT(worst, 2e-4) << "SPW " << spw << ": worst |data - constant| " << worst
                           << " Jy (before " << before << " Jy)";
  }
}

TEST(DriftCorrection, ASpectrumIsFlattenedToTheModelFlux) {
  // A source with α = −0.7 off the meridian, its apparent spectrum (true
  // flux × the beam averaged over the integrations, at each frequency) given
  // at the two SPW centres, as WSClean's two joined channels give it.
  const Scene sc;
  const astro::SkyDirection dir{sc.centre.ra_rad - 0.9 * kDeg / std::cos(sc.centre.dec_rad),
                                sc.centre.dec_rad + 0.25 * kDeg};
  const double f0 = 1.4e9, alpha = -0.7, s0 = 1.9;
  auto true_flux = [&](double f) { return s0 * std::pow(f / f0, alpha); };
  auto mean_beam = [&](double f) {
    double sum = 0;
    for (const auto& p : sc.pointings)
      sum +=
          sky::airy_power(sky::angular_distance(dir.ra_rad, dir.dec_rad, p.ra_rad, p.dec_rad), f);
    return sum / static_cast<double>(sc.pointings.size());
  };
  DriftComponent c{dir.ra_rad, dir.dec_rad, 0, {}};
  for (double f : sc.spw_centres) c.spectrum.emplace_back(f, true_flux(f) * mean_beam(f));
  c.flux_jy = 0.5 * (c.spectrum[0].second + c.spectrum[1].second);  // the MFS model
  DriftComponent flat = c;
  flat.spectrum.clear();
  const DriftCorrection with(std::vector<DriftComponent>{c}, sc.centre, sc.pointings, sc.freqs,
                             sc.spw_centres);
  const DriftCorrection without(std::vector<DriftComponent>{flat}, sc.centre, sc.pointings,
                                sc.freqs, sc.spw_centres);
  const auto lmn = calibration::direction_cosines({sc.centre.ra_rad, sc.centre.dec_rad},
                                                  {dir.ra_rad, dir.dec_rad});
  const std::size_t nchan = sc.freqs.size();
  const std::vector<double> uvw = {1234.5, -876.5, 40.0};
  const std::vector<std::size_t> hands = {0};
  double worst_with = 0, worst_without = 0;
  for (std::size_t k = 0; k < sc.pointings.size(); ++k) {
    std::vector<std::complex<float>> a(nchan), b(nchan), constant(nchan);
    const auto& p = sc.pointings[k];
    for (std::size_t ch = 0; ch < nchan; ++ch) {
      const double f = sc.freqs[ch];
      const double beam =
          sky::airy_power(sky::angular_distance(dir.ra_rad, dir.dec_rad, p.ra_rad, p.dec_rad), f);
      a[ch] = b[ch] = std::complex<float>(true_flux(f) * beam * fringe(uvw.data(), lmn, f));
      constant[ch] = std::complex<float>(c.flux_jy * fringe(uvw.data(), lmn, f));
    }
    with.subtract(a.data(), 1, nchan, 0, 1, hands, uvw.data(), &k);
    without.subtract(b.data(), 1, nchan, 0, 1, hands, uvw.data(), &k);
    for (std::size_t ch = 0; ch < nchan; ++ch) {
      worst_with = std::max(worst_with, double(std::abs(a[ch] - constant[ch])));
      worst_without = std::max(worst_without, double(std::abs(b[ch] - constant[ch])));
    }
  }
  // Linear interpolation between the two points leaves the spectrum's
  // curvature: < 1 % of the source, where a flat model leaves its slope.
  EXPECT_LT(worst_with, 0.01 * c.flux_jy) << worst_with;
  EXPECT_GT(worst_without, 4 * worst_with) << worst_without << " vs " << worst_with;
}

TEST(DriftCorrection, ComponentsOfNegligibleDriftAreLeftOut) {
  const Scene sc;
  const double ra = sc.centre.ra_rad + 0.8 * kDeg / std::cos(sc.centre.dec_rad);
  const std::vector<DriftComponent> model = {{ra, sc.centre.dec_rad, 1.0, {}},
                                             {ra, sc.centre.dec_rad + 0.01 * kDeg, 0.001, {}},
                                             {ra, sc.centre.dec_rad, 0.0, {}}};
  const DriftCorrection all(model, sc.centre, sc.pointings, sc.freqs, sc.spw_centres);
  EXPECT_EQ(all.components(), 2u);  // the zero-flux one is never corrected
  EXPECT_EQ(all.left_out(), 0u);
  // The faint one's drift error is ~0.3 of its flux (the beam at 0.8° drifts
  // by tens of per cent): a budget of 1 mJy leaves it out, not the bright one.
  const DriftCorrection budget(model, sc.centre, sc.pointings, sc.freqs, sc.spw_centres, 1e-3);
  EXPECT_EQ(budget.components(), 1u);
  EXPECT_EQ(budget.kept(), std::vector<std::size_t>{0});
  EXPECT_EQ(budget.left_out(), 1u);
  EXPECT_GT(budget.left_out_error_jy(), 0.0);
  EXPECT_LE(budget.left_out_error_jy(), 1e-3);
}

TEST(DriftCorrection, WholeModelLeavesNothingOfTheModelledSources) {
  // The subtract-and-restore mode: the data of drifting sources, 192
  // channels of one band (6 segments of the phase rotation, each started
  // from the double-precision phasor), minus the whole model are zero to a
  // few parts in 1e5 of the brightest, 15 Jy.
  const Scene sc;
  std::vector<double> freqs;
  for (int c = 0; c < 192; ++c) freqs.push_back(1.311e9 + c * 0.977e6);
  const std::vector<std::pair<astro::SkyDirection, double>> truth = {
      {{sc.centre.ra_rad - 0.9 * kDeg / std::cos(sc.centre.dec_rad),
        sc.centre.dec_rad + 0.25 * kDeg},
       1.9},
      {{sc.centre.ra_rad, sc.centre.dec_rad + 0.1 * kDeg}, 15.0}};
  std::vector<DriftComponent> model = clean_model(sc, truth);
  model.insert(model.begin() + 1, DriftComponent{sc.centre.ra_rad, sc.centre.dec_rad, 0.0, {}});
  const DriftCorrection drift_only(model, sc.centre, sc.pointings, freqs, sc.spw_centres);
  for (auto& c : model) c.whole = true;
  // A budget that would leave out either source's drift: whole ones stay.
  const DriftCorrection whole(model, sc.centre, sc.pointings, freqs, sc.spw_centres, 100.0);
  ASSERT_EQ(whole.kept(), (std::vector<std::size_t>{0, 2}));  // the zero-flux one is never kept
  EXPECT_EQ(drift_only.kept(), whole.kept());

  const std::size_t nrow = 40, nchan = freqs.size(), ncorr = 2;
  const auto [uvw, integ] = random_rows(nrow, 5);
  std::vector<std::complex<float>> data(nrow * nchan * ncorr), a_copy;
  for (std::size_t r = 0; r < nrow; ++r) {
    const auto& p = sc.pointings[integ[r]];
    for (std::size_t c = 0; c < nchan; ++c) {
      std::complex<double> observed = 0;
      for (const auto& [dir, flux] : truth) {
        const auto lmn = calibration::direction_cosines({sc.centre.ra_rad, sc.centre.dec_rad},
                                                        {dir.ra_rad, dir.dec_rad});
        const double a = sky::airy_power(
            sky::angular_distance(dir.ra_rad, dir.dec_rad, p.ra_rad, p.dec_rad), freqs[c]);
        observed += flux * a * fringe(&uvw[3 * r], lmn, freqs[c]);
      }
      for (std::size_t q = 0; q < ncorr; ++q)
        data[(r * nchan + c) * ncorr + q] = std::complex<float>(observed);
    }
  }
  a_copy = data;
  const std::vector<std::size_t> hands = {0, 1};
  whole.subtract(data.data(), nrow, nchan, 0, ncorr, hands, uvw.data(), integ.data());
  drift_only.subtract(a_copy.data(), nrow, nchan, 0, ncorr, hands, uvw.data(), integ.data());
  double worst = 0, left_by_drift_only = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    worst = std::max(worst, double(std::abs(data[i])));
    left_by_drift_only = std::max(left_by_drift_only, double(std::abs(a_copy[i])));
  }
  EXPECT_LT(worst, 3e-4) << "worst |data - whole model| " << worst << " Jy";
  EXPECT_GT(left_by_drift_only, 10.0);  // the drift-only mode leaves the constant sources
}

TEST(DriftCorrection, RejectsRowsOutsideItsTables) {
  const Scene sc;
  const std::vector<DriftComponent> model = {
      {sc.centre.ra_rad, sc.centre.dec_rad + 0.5 * kDeg, 1.0, {}}};
  const DriftCorrection corr(model, sc.centre, sc.pointings, sc.freqs, sc.spw_centres);
  std::vector<std::complex<float>> data(12 * 2);
  const std::vector<double> uvw = {10, 20, 1};
  const std::vector<std::size_t> bad_integration = {24}, good = {0}, hands = {0, 1};
  EXPECT_THROW(corr.subtract(data.data(), 1, 12, 0, 2, hands, uvw.data(), bad_integration.data()),
               InputError);
  EXPECT_THROW(corr.subtract(data.data(), 1, 12, 13, 2, hands, uvw.data(), good.data()),
               InputError);
  const std::vector<std::size_t> bad_hand = {2};
  EXPECT_THROW(corr.subtract(data.data(), 1, 12, 0, 2, bad_hand, uvw.data(), good.data()),
               InputError);
  EXPECT_THROW(DriftCorrection(model, sc.centre, {}, sc.freqs, sc.spw_centres), InputError);
}

TEST(DriftCorrection, BrightestModelPixelsAreSortedAndCapped) {
  // 4 × 3 image, row-major, y = 0 first.
  const std::vector<float> px = {0, 0.5f, 0, -2, 0, 0, 0.05f, 0, 1, 0, 0, NAN};
  const auto all = brightest_model_pixels(px, 4, 0.0, 10);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].x, 3);
  EXPECT_EQ(all[0].y, 0);
  EXPECT_DOUBLE_EQ(all[0].flux_jy, -2);
  EXPECT_EQ(all[1].x, 0);
  EXPECT_EQ(all[1].y, 2);
  EXPECT_EQ(brightest_model_pixels(px, 4, 0.1, 10).size(), 3u);
  EXPECT_EQ(brightest_model_pixels(px, 4, 0.0, 2).size(), 2u);
  EXPECT_THROW(brightest_model_pixels(px, 5, 0.0, 10), InputError);
}

}  // namespace
}  // namespace contimg::imaging
