#include "mosaic/mosaic.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <vector>

#include "common/error.h"
#include "support/synthetic_image.h"

namespace contimg::mosaic {
namespace {

constexpr double kDeg = std::numbers::pi / 180;
constexpr double kArcsec = 1.0 / 3600;
const double kFwhm2ToSigma2 = 1 / (8 * std::log(2.0));

fits::Beam arcsec_beam(double maj, double min, double pa) {
  return {maj * kArcsec, min * kArcsec, pa};
}

TEST(MosaicBeam, CovarianceRoundTripAndDeconvolution) {
  for (const auto& b :
       {arcsec_beam(30, 20, 30), arcsec_beam(30, 20, -60), arcsec_beam(45, 12, 89)}) {
    const auto r = from_cov(to_cov(b));
    EXPECT_NEAR(r.major_deg, b.major_deg, 1e-12);
    EXPECT_NEAR(r.minor_deg, b.minor_deg, 1e-12);
    EXPECT_NEAR(r.pa_deg, b.pa_deg, 1e-9);
  }
  // Convolving 30"x20" PA 30 by 25"x10" PA -50 and deconvolving gives the kernel back.
  const auto from = arcsec_beam(30, 20, 30), kernel = arcsec_beam(25, 10, -50);
  const auto a = to_cov(from), k = to_cov(kernel);
  const auto to = from_cov({a.ee + k.ee, a.en + k.en, a.nn + k.nn});
  const auto got = deconvolve(to, from, "test");
  EXPECT_NEAR(got.major_deg / kArcsec, 25, 1e-6);
  EXPECT_NEAR(got.minor_deg / kArcsec, 10, 1e-6);
  EXPECT_NEAR(got.pa_deg, -50, 1e-6);
  // Same beam: a zero kernel. Smaller target: impossible.
  EXPECT_EQ(deconvolve(from, from, "test").major_deg, 0);
  EXPECT_THROW(deconvolve(arcsec_beam(30, 20, 0), arcsec_beam(30, 20, 90), "img.fits"), InputError);
  EXPECT_THROW(deconvolve(arcsec_beam(25, 25, 0), from, "img.fits"), InputError);
}

TEST(MosaicBeam, CommonBeamIsTheSmallestContainingEveryBeam) {
  const std::vector<fits::Beam> same = {arcsec_beam(30, 20, 30), arcsec_beam(30, 20, 30)};
  const auto s = common_beam(same);
  EXPECT_EQ(s.major_deg, same[0].major_deg);
  EXPECT_EQ(s.pa_deg, 30);
  // One beam contains the other: that one.
  const std::vector<fits::Beam> nested = {arcsec_beam(30, 20, 30), arcsec_beam(40, 30, 30)};
  EXPECT_EQ(common_beam(nested).major_deg, nested[1].major_deg);
  // Crossed beams: the 30" circle (no smaller ellipse contains both).
  const std::vector<fits::Beam> crossed = {arcsec_beam(30, 20, 0), arcsec_beam(30, 20, 90)};
  const auto c = common_beam(crossed);
  EXPECT_NEAR(c.major_deg / kArcsec, 30, 0.05);
  EXPECT_NEAR(c.minor_deg / kArcsec, 30, 0.05);
  for (const auto& b : crossed) EXPECT_NO_THROW(deconvolve(c, b, "crossed"));
  // Three beams at different PAs: every one deconvolves; the area is at most
  // the enclosing circle's and at least the largest input's.
  const std::vector<fits::Beam> three = {arcsec_beam(30, 20, 10), arcsec_beam(28, 22, 60),
                                         arcsec_beam(32, 18, -45)};
  const auto t = common_beam(three);
  for (const auto& b : three) EXPECT_NO_THROW(deconvolve(t, b, "three"));
  EXPECT_LE(t.major_deg * t.minor_deg, 32 * 32 * kArcsec * kArcsec);
  EXPECT_GE(t.major_deg * t.minor_deg, 30 * 20 * kArcsec * kArcsec);
  EXPECT_LT(t.major_deg * t.minor_deg, 0.95 * 32 * 32 * kArcsec * kArcsec);  // better than a circle
  EXPECT_THROW(common_beam(std::vector<fits::Beam>{}), InputError);
}

fits::ImageSpec spec_at(double ra, double dec, int n, double cell_arcsec, const fits::Beam& beam) {
  fits::ImageSpec s;
  s.nx = s.ny = n;
  s.ra0_deg = ra;
  s.dec0_deg = dec;
  s.cell_deg = cell_arcsec * kArcsec;
  s.beam = beam;
  return s;
}

TEST(MosaicConvolution, PeakIntegratedFluxAndShapeOfAPointSource) {
  const int n = 128;
  const double cell = 5;
  const auto from = arcsec_beam(30, 20, 30), to = arcsec_beam(45, 35, -20);
  auto spec = spec_at(150, 37.2, n, cell, from);
  const auto wcs = fits::wcs_of(spec);
  double ra, dec;
  wcs.pixel_to_world(n / 2, n / 2, ra, dec);
  // A 1 Jy point source at the centre pixel, no noise, PB 1 (pb_cut 0).
  const auto img = testing::render_pbcor(spec, {{ra, dec, 1.0}}, 0, 0, 1);
  fits::Beam kernel;
  const auto out = convolve_to_beam(img, n, n, wcs, from, to, 5, "point", &kernel);
  EXPECT_GT(kernel.major_deg, 0);
  // Peak (Jy/beam of the new beam) = flux.
  EXPECT_NEAR(out[static_cast<std::size_t>(n / 2) * n + n / 2], 1.0, 0.01);
  // Integrated flux: Σ pixels / beam area in pixels.
  double sum = 0, mxx = 0, myy = 0, mxy = 0;
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      const double v = out[static_cast<std::size_t>(y) * n + x];
      sum += v;
      mxx += v * (x - n / 2) * (x - n / 2);
      myy += v * (y - n / 2) * (y - n / 2);
      mxy += v * (x - n / 2) * (y - n / 2);
    }
  }
  const double area_px = std::numbers::pi / (4 * std::log(2.0)) * 45 * 35 / (cell * cell);
  EXPECT_NEAR(sum / area_px, 1.0, 0.01);
  // Second moments = the target beam's covariance in the pixel frame (x = −east, y = north).
  const auto c = to_cov(to);
  const double s2 = kFwhm2ToSigma2 / (cell * kArcsec * cell * kArcsec);
  EXPECT_NEAR(mxx / sum, c.ee * s2, 0.02 * c.ee * s2);
  EXPECT_NEAR(myy / sum, c.nn * s2, 0.02 * c.nn * s2);
  EXPECT_NEAR(mxy / sum, -c.en * s2, 0.02 * std::sqrt(c.ee * c.nn) * s2);
  // Same beam: unchanged; NaNs stay NaN.
  auto with_nan = img;
  with_nan[0] = NAN;
  const auto same = convolve_to_beam(with_nan, n, n, wcs, from, from, 5, "same");
  EXPECT_TRUE(std::isnan(same[0]));
  EXPECT_EQ(same[static_cast<std::size_t>(n / 2) * n + n / 2],
            img[static_cast<std::size_t>(n / 2) * n + n / 2]);
  EXPECT_THROW(convolve_to_beam(img, n, n, wcs, to, from, 5, "smaller"), InputError);
}

TEST(MosaicGrid, WcsRoundTripThroughAFitsFile) {
  fits::ImageSpec g = spec_at(359.9, 37.2, 301, 7.5, arcsec_beam(30, 20, 0));
  const auto w = fits::wcs_of(g);
  const auto dir =
      std::filesystem::temp_directory_path() / ("mosaic_wcs_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "grid.fits";
  fits::write_image(path, std::vector<float>(static_cast<std::size_t>(g.nx) * g.ny, 0.f), g);
  const auto r = fits::read_wcs(path);
  for (const auto& [x, y] :
       std::vector<std::pair<double, double>>{{0, 0}, {150, 150}, {300, 17.3}, {42.5, 299}}) {
    double ra, dec, ra2, dec2, px, py;
    ASSERT_TRUE(w.pixel_to_world(x, y, ra, dec));
    ASSERT_TRUE(r.pixel_to_world(x, y, ra2, dec2));
    EXPECT_NEAR(ra, ra2, 1e-9);
    EXPECT_NEAR(dec, dec2, 1e-9);
    ASSERT_TRUE(r.world_to_pixel(ra, dec, px, py));
    EXPECT_NEAR(px, x, 1e-6);
    EXPECT_NEAR(py, y, 1e-6);
  }
  double ra, dec;
  w.pixel_to_world(150, 150, ra, dec);  // the centre pixel nx/2
  EXPECT_NEAR(ra, 359.9, 1e-9);
  EXPECT_NEAR(dec, 37.2, 1e-9);
  std::filesystem::remove_all(dir);
}

// Matched-filter flux of a point source at (ra, dec) in a mosaic (the common
// beam as the kernel, fixed position; ±1.5 FWHM box).
double forced_flux(const Result& m, double ra, double dec) {
  const auto w = fits::wcs_of(m.grid);
  double x0, y0;
  w.world_to_pixel(ra, dec, x0, y0);
  const double cell = m.grid.cell_deg;
  const auto c = to_cov(*m.grid.beam);
  const double sxx = c.ee * kFwhm2ToSigma2 / (cell * cell),
               syy = c.nn * kFwhm2ToSigma2 / (cell * cell),
               sxy = -c.en * kFwhm2ToSigma2 / (cell * cell);
  const double d = sxx * syy - sxy * sxy;
  const int r = static_cast<int>(1.5 * m.grid.beam->major_deg / cell) + 1;
  double num = 0, den = 0;
  for (int y = static_cast<int>(y0) - r; y <= static_cast<int>(y0) + r; ++y) {
    for (int x = static_cast<int>(x0) - r; x <= static_cast<int>(x0) + r; ++x) {
      const double v = m.image[static_cast<std::size_t>(y) * m.grid.nx + x];
      if (std::isnan(v)) continue;
      const double dx = x - x0, dy = y - y0;
      const double k = std::exp(-0.5 * (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / d);
      const double wgt = 1 / (m.noise[static_cast<std::size_t>(y) * m.grid.nx + x] *
                              m.noise[static_cast<std::size_t>(y) * m.grid.nx + x]);
      num += wgt * k * v;
      den += wgt * k * k;
    }
  }
  return num / den;
}

struct Drift {
  std::vector<fits::ImageSpec> specs;
  std::vector<std::vector<float>> apparent, pb;
  std::vector<fits::CelestialWcs> wcs;
  std::vector<Input> inputs;
};

// Three images along a drift in RA (0.4° on the sky apart, 0.89° wide), each
// with its own beam, PB-corrected like the pipeline's and turned back into
// apparent images for the library.
Drift make_drift(const std::vector<testing::PlacedSource>& sky, double noise, unsigned seed) {
  Drift d;
  const std::vector<fits::Beam> beams = {arcsec_beam(100, 70, 10), arcsec_beam(90, 80, -40),
                                         arcsec_beam(110, 70, 60)};
  for (int i = 0; i < 3; ++i) {
    d.specs.push_back(spec_at(150 + 0.5 * i, 37.2, 160, 20, beams[i]));
    const auto pbcor = testing::render_pbcor(d.specs[i], sky, noise, 0.5, seed + i);
    auto pb = testing::model_pb(d.specs[i]);
    std::vector<float> app(pbcor.size());
    for (std::size_t k = 0; k < app.size(); ++k) app[k] = pbcor[k] * pb[k];
    d.apparent.push_back(std::move(app));
    d.pb.push_back(std::move(pb));
    d.wcs.push_back(fits::wcs_of(d.specs[i]));
  }
  for (int i = 0; i < 3; ++i) {
    d.inputs.push_back(
        {"img" + std::to_string(i), 160, 160, d.apparent[i], d.pb[i], &d.wcs[i], beams[i], {}});
  }
  return d;
}

TEST(Mosaic, SourceInAnOverlapAndTheNoiseMap) {
  // Two sources in the overlaps (S/N ~ 200 and 60 at the centre noise).
  const std::vector<testing::PlacedSource> sky = {{150.25, 37.25, 0.2}, {150.75, 37.1, 0.06}};
  auto d = make_drift(sky, 1e-3, 11);
  Options o;
  std::size_t calls = 0;
  const auto m =
      make_mosaic(d.inputs, o, [&](std::size_t, std::size_t, const std::string&) { ++calls; });
  EXPECT_GE(calls, 6u);
  ASSERT_TRUE(m.grid.beam);
  for (const auto& in : d.inputs) EXPECT_NO_THROW(deconvolve(*m.grid.beam, in.beam, in.name));
  // The grid covers the drift: centre between the images, one cell of 20".
  EXPECT_NEAR(m.grid.ra0_deg, 150.5, 1e-6);
  EXPECT_DOUBLE_EQ(m.grid.cell_deg, 20 * kArcsec);
  EXPECT_GT(m.grid.nx * m.grid.cell_deg, 0.89 + 1.0 * std::cos(37.2 * kDeg));
  for (const auto& s : sky) {
    const double f = forced_flux(m, s.ra_deg, s.dec_deg);
    EXPECT_NEAR(f / s.flux_jy, 1.0, 0.03) << s.ra_deg;
  }
  // Every input's noise after convolution is estimated (≈ 1 mJy × the
  // convolution's change; within a factor 2).
  for (double s : m.sigma_jy) EXPECT_NEAR(s, 1e-3, 0.5e-3);

  // The noise map against the measured rms of a source-free mosaic: the
  // standard deviation of image / noise is 1 within 10 %, in the single-
  // coverage and in the overlap pixels separately.
  auto e = make_drift({}, 1e-3, 101);
  const auto n = make_mosaic(e.inputs, o);
  std::vector<double> lo, hi;  // overlap (low noise), single coverage
  double wmax = 0;
  for (float w : n.weight) {
    if (std::isfinite(w)) wmax = std::max(wmax, static_cast<double>(w));
  }
  for (std::size_t k = 0; k < n.image.size(); ++k) {
    if (!std::isfinite(n.image[k])) continue;
    const double r = n.image[k] / n.noise[k];
    (n.weight[k] > 0.5 * wmax ? lo : hi).push_back(r);
  }
  ASSERT_GT(lo.size(), 1000u);
  ASSERT_GT(hi.size(), 1000u);
  for (const auto* v : {&lo, &hi}) {
    double s = 0, s2 = 0;
    for (double r : *v) s += r, s2 += r * r;
    const double sd = std::sqrt(s2 / v->size() - (s / v->size()) * (s / v->size()));
    EXPECT_NEAR(sd, 1.0, 0.1);
  }
  // Noise map = W^−½ and the overlap is deeper than a single image.
  for (std::size_t k = 0; k < n.image.size(); ++k) {
    if (std::isfinite(n.weight[k])) {
      EXPECT_NEAR(n.noise[k], 1 / std::sqrt(n.weight[k]), 1e-6 * n.noise[k]);
    }
  }
}

TEST(Mosaic, PbCutoffAndErrors) {
  auto d = make_drift({}, 1e-3, 5);
  Options o;
  o.pb_cutoff = 0.95;  // the PB is ~0.83 at the image corners: they drop out
  const auto m = make_mosaic(d.inputs, o);
  const auto w = fits::wcs_of(m.grid);
  double x, y;
  // A corner of the first image, outside the others.
  double ra, dec;
  d.wcs[0].pixel_to_world(157, 2, ra, dec);
  w.world_to_pixel(ra, dec, x, y);
  EXPECT_TRUE(
      std::isnan(m.image[static_cast<std::size_t>(std::lround(y)) * m.grid.nx + std::lround(x)]));
  Options all;
  all.pb_cutoff = 0.1;
  const auto m2 = make_mosaic(d.inputs, all);
  EXPECT_TRUE(std::isfinite(
      m2.image[static_cast<std::size_t>(std::lround(y)) * m2.grid.nx + std::lround(x)]));
  // A target beam smaller than an input's: error naming the input.
  Options small;
  small.beam = arcsec_beam(95, 75, 0);
  try {
    make_mosaic(d.inputs, small);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("img"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_mosaic({}, all), InputError);
}

}  // namespace
}  // namespace contimg::mosaic
