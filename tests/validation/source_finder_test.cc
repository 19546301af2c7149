// Source finding, cross-match QA and the verdict on synthetic images (issue 6 acceptance).
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <cstring>
#include <fstream>
#include <numbers>
#include <random>

#include <fmt/format.h>

#include "common/error.h"
#include "io/fits/fits_image.h"
#include "io/fits/fits_table.h"
#include "support/synthetic_image.h"
#include "validation/catalogue_io.h"
#include "validation/crossmatch.h"
#include "validation/reference.h"
#include "validation/source_finder.h"

namespace contimg::validation {
namespace {
namespace fs = std::filesystem;
constexpr double kDeg = std::numbers::pi / 180;

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / fmt::format("contimg_validation_{}_{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

struct Run {
  testing::SyntheticImage synth;
  fits::Image image;
  SourceFinderResult found;
  std::vector<catalog::RefSource> refs;
  QaResult qa;
};

Run run_on(const testing::SyntheticOptions& o, const std::string& name) {
  Run r;
  r.synth = testing::make_synthetic_image(o);
  const auto dir = temp_dir(name);
  const auto path = testing::write_synthetic(r.synth, dir, "img");
  r.image = fits::read_image(path);
  r.found = find_sources(r.image, FinderOptions{});
  const auto q = query_for_image(r.image, -0.7);
  r.refs = in_footprint(load_reference(dir / "img.truth.json", q), r.image);
  r.qa = cross_match(r.found.detections, r.refs, QaThresholds{});
  fs::remove_all(dir);
  return r;
}

TEST(SourceFinder, ASharedResultIsHandedOnOnlyForTheSamePixelsAndOptions) {
  testing::SyntheticOptions o;
  o.n = 256;
  const auto synth = testing::make_synthetic_image(o);
  const auto dir = temp_dir("shared");
  const auto image = fits::read_image(testing::write_synthetic(synth, dir, "img"));
  fs::remove_all(dir);
  const auto fresh = find_sources(image, FinderOptions{});
  ASSERT_FALSE(fresh.detections.empty());
  auto same = [](const SourceFinderResult& a, const SourceFinderResult& b) {
    if (a.detections.size() != b.detections.size()) return false;
    for (std::size_t i = 0; i < a.detections.size(); ++i) {
      if (a.detections[i].flux_jy != b.detections[i].flux_jy ||
          a.detections[i].ra_deg != b.detections[i].ra_deg)
        return false;
    }
    // Bit for bit (blank pixels are NaN).
    const auto& x = a.pixel.maps.rms;
    const auto& y = b.pixel.maps.rms;
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
  };
  // Kept, then taken, the same object, by a call with another thread count (not part of the
  // key); taken once: the next call finds again.
  const auto kept = find_sources_shared(image, FinderOptions{}, nullptr, /*keep=*/true);
  EXPECT_TRUE(same(*kept, fresh));
  FinderOptions two_threads;
  two_threads.threads = 2;
  const auto taken = find_sources_shared(image, two_threads, nullptr, false);
  EXPECT_EQ(taken.get(), kept.get());
  const auto again = find_sources_shared(image, FinderOptions{}, nullptr, false);
  EXPECT_NE(again.get(), kept.get());
  EXPECT_TRUE(same(*again, fresh));
  // Kept for one image, asked for another (a source brighter) or other options: never the
  // stored result.
  const auto stored = find_sources_shared(image, FinderOptions{}, nullptr, true);
  auto brighter = image;
  const auto& d = fresh.detections.front();
  brighter.pixels[static_cast<std::size_t>(std::lround(d.y)) * brighter.nx +
                  static_cast<std::size_t>(std::lround(d.x))] += 0.5f;
  const auto other = find_sources_shared(brighter, FinderOptions{}, nullptr, false);
  EXPECT_NE(other.get(), stored.get());
  EXPECT_TRUE(same(*other, find_sources(brighter, FinderOptions{})));
  EXPECT_FALSE(same(*other, fresh));
  FinderOptions deeper;
  deeper.detect_sigma = 4;
  const auto deep = find_sources_shared(image, deeper, nullptr, false);
  EXPECT_NE(deep.get(), stored.get());
  EXPECT_TRUE(same(*deep, find_sources(image, deeper)));
  // The stored result is still there for its own image.
  EXPECT_EQ(find_sources_shared(image, FinderOptions{}, nullptr, false).get(), stored.get());
}

TEST(FitsImage, WritesAndReadsAWsCleanLikeImageWithItsWcs) {
  const auto dir = temp_dir("fits");
  fits::ImageSpec spec;
  spec.nx = 64;
  spec.ny = 48;
  spec.ra0_deg = 350;
  spec.dec0_deg = 60;
  spec.cell_deg = 10.0 / 3600;
  spec.freq_hz = 1.405e9;
  spec.beam = fits::Beam{0.01, 0.005, 42};
  spec.date_obs = "2025-02-03T04:05:06.7";
  std::vector<float> px(64 * 48);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<float>(i);
  px[5] = NAN;
  // Brackets and spaces are plain characters of a path (no cfitsio filter syntax).
  const auto path = dir / "a [b] c.fits";
  fits::write_image(path, px, spec);
  const auto img = fits::read_image(path);
  EXPECT_EQ(img.nx, 64);
  EXPECT_EQ(img.ny, 48);
  EXPECT_TRUE(std::isnan(img.pixels[5]));
  EXPECT_EQ(img.at(3, 2), 2 * 64 + 3);
  ASSERT_TRUE(img.beam);
  EXPECT_DOUBLE_EQ(img.beam->pa_deg, 42);
  EXPECT_DOUBLE_EQ(*img.freq_hz, 1.405e9);
  EXPECT_EQ(img.date_obs, "2025-02-03T04:05:06.7");
  double ra, dec, x, y;
  ASSERT_TRUE(img.wcs->pixel_to_world(32, 24, ra, dec));
  EXPECT_NEAR(ra, 350, 1e-9);
  EXPECT_NEAR(dec, 60, 1e-9);
  // One pixel east (RA up) is one pixel to the left.
  ASSERT_TRUE(img.wcs->world_to_pixel(350 + 10.0 / 3600 / std::cos(60 * kDeg), 60, x, y));
  EXPECT_NEAR(x, 31, 1e-3);
  EXPECT_NEAR(y, 24, 1e-3);
  EXPECT_NEAR(img.wcs->pixel_scale_deg(32, 24) * 3600, 10, 1e-3);
  EXPECT_NEAR(img.wcs->north_angle_rad(32, 24), 0, 1e-6);
  EXPECT_THROW(fits::read_image(dir / "missing.fits"), InputError);
  // RA comes back in [0, 360) west of RA 0 (WSClean writes CRVAL1 in (-180, 180]).
  spec.ra0_deg = -0.001;
  fits::write_image(dir / "ra0.fits", px, spec);
  ASSERT_TRUE(fits::read_wcs(dir / "ra0.fits").pixel_to_world(40, 24, ra, dec));
  EXPECT_GT(ra, 359.9);
  EXPECT_LT(ra, 360);
  fs::remove_all(dir);
}

TEST(Background, RecoversNoiseAndOffsetDespiteSources) {
  const int n = 200;
  std::vector<float> px(n * n);
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.5f, 2.0f);
  for (auto& v : px) v = g(rng);
  for (int k = 0; k < 30; ++k) px[static_cast<std::size_t>(k) * 1301 % px.size()] = 1000;  // bright spikes
  const auto m = estimate_background(px.data(), n, n, {60, 15, 3});
  EXPECT_NEAR(m.background[n * n / 2 + n / 2], 0.5, 0.15);
  EXPECT_NEAR(m.rms[n * n / 2 + n / 2], 2.0, 0.15);
  EXPECT_NEAR(m.rms[0], 2.0, 0.2);
}

TEST(GaussianFit, RecoversANoiselessEllipticalGaussian) {
  Gaussian2D truth{3.0, 20.3, 18.7, 4.0, 2.0, 0.6};
  std::vector<FitPixel> px;
  for (int y = 5; y < 35; ++y) {
    for (int x = 5; x < 35; ++x) px.push_back({double(x), double(y), truth.value(x, y), 1.0});
  }
  FitBounds b;
  b.min_sigma_major = 1.5;
  b.min_sigma_minor = 1.5;
  const auto r = fit_gaussians(px, {{2.0, 20, 19, 2, 2, 0}}, b);
  ASSERT_EQ(r.components.size(), 1u);
  const auto& g = r.components[0];
  EXPECT_NEAR(g.amp, 3.0, 1e-6);
  EXPECT_NEAR(g.x0, 20.3, 1e-6);
  EXPECT_NEAR(g.y0, 18.7, 1e-6);
  EXPECT_NEAR(g.sigma_major, 4.0, 1e-6);
  EXPECT_NEAR(g.sigma_minor, 2.0, 1e-6);
  EXPECT_NEAR(g.theta, 0.6, 1e-6);
  // The size bound holds: a fit may not go below the beam.
  b.min_sigma_minor = 2.5;
  const auto bounded = fit_gaussians(px, {{2.0, 20, 19, 4, 2.5, 0.6}}, b);
  EXPECT_GE(bounded.components[0].sigma_minor, 2.5 - 1e-12);
}

TEST(Condon, ErrorsScaleInverselyWithSnrAndMatchTheClosedForm) {
  PixelComponent c;
  c.g = {10.0, 0, 0, 2.0, 2.0, 0};
  c.local_rms = 1.0;
  const double fw = std::sqrt(8 * std::log(2.0));
  condon_errors(c, 2.0 * fw, 2.0 * fw);  // a point source in a circular beam: fit = beam
  // rho^2 = (1/4) 2^(3/2) 2^(3/2) (A/s)^2 = 2 (A/s)^2 -> sigma_A/A = sqrt(2)/rho = 1/(A/s).
  EXPECT_NEAR(c.err_amp, 1.0, 1e-9);
  const double e10 = c.err_major_axis_pos;
  c.g.amp = 100;
  condon_errors(c, 2.0 * fw, 2.0 * fw);
  EXPECT_NEAR(c.err_major_axis_pos, e10 / 10, 1e-12);
  EXPECT_NEAR(c.err_amp, 1.0, 1e-9);  // sigma_A = sigma for a point source
}

TEST(SourceFinder, MeetsTheAcceptanceOnASyntheticImage) {
  const auto r = run_on({}, "accept");
  const double noise = r.synth.noise_jy;
  ASSERT_EQ(r.refs.size(), r.synth.truth.sources.size()) << "every source lies inside the footprint";
  int spurious = 0;
  for (std::size_t i = 0; i < r.found.detections.size(); ++i) {
    const bool matched = std::any_of(r.qa.matches.begin(), r.qa.matches.end(),
                                     [&](const Match& m) { return m.detection == static_cast<int>(i); });
    if (!matched) ++spurious;
  }
  EXPECT_LE(spurious, 1) << "spurious detections at 5 sigma";
  int bright = 0, found_bright = 0;
  for (std::size_t j = 0; j < r.refs.size(); ++j) {
    const double snr = r.refs[j].flux_jy / noise;
    const auto m = std::find_if(r.qa.matches.begin(), r.qa.matches.end(),
                                [&](const Match& mm) { return mm.reference == static_cast<int>(j); });
    if (snr >= 10) {
      ++bright;
      if (m == r.qa.matches.end()) continue;
      ++found_bright;
      EXPECT_LT(std::hypot(m->dra_arcsec, m->ddec_arcsec), 2.0) << r.refs[j].name << " SNR " << snr;
    }
    if (snr >= 50 && m != r.qa.matches.end()) {
      EXPECT_NEAR(m->flux_ratio, 1.0, 0.05) << r.refs[j].name << " SNR " << snr;
      const auto& d = r.found.detections[m->detection];
      EXPECT_NEAR(d.peak_jy / r.refs[j].flux_jy, 1.0, 0.05);
      // Condon errors are honest: the offset is within 4 sigma.
      const double dra = m->dra_arcsec, ddec = m->ddec_arcsec;
      EXPECT_LT(std::abs(dra), 4 * d.ra_err_arcsec + 0.05) << r.refs[j].name;
      EXPECT_LT(std::abs(ddec), 4 * d.dec_err_arcsec + 0.05) << r.refs[j].name;
      EXPECT_NEAR(d.major_arcsec, 30, 3);
      EXPECT_NEAR(d.minor_arcsec, 20, 3);
    }
  }
  EXPECT_EQ(found_bright, bright) << "completeness above 10 sigma";
  EXPECT_EQ(r.qa.verdict, Verdict::kPass) << fmt::format("{}", fmt::join(r.qa.reasons, "; "));
  RecordProperty("detections", static_cast<int>(r.found.detections.size()));
  std::cout << fmt::format("[synthetic] {} sources, {} detections, {} spurious, astrometry mean ({:+.2f}, {:+.2f})\" rms {:.2f}\", "
                           "flux ratio {:.3f}, completeness {:.0f}%\n",
                           r.refs.size(), r.found.detections.size(), spurious, r.qa.mean_dra_arcsec,
                           r.qa.mean_ddec_arcsec, r.qa.rms_offset_arcsec, r.qa.flux_ratio_median,
                           100 * r.qa.completeness);
}

TEST(SourceFinder, AWrongFluxScaleFailsForFlux) {
  testing::SyntheticOptions o;
  o.flux_scale = 0.7;
  const auto r = run_on(o, "flux");
  EXPECT_EQ(r.qa.verdict, Verdict::kFail);
  ASSERT_FALSE(r.qa.reasons.empty());
  EXPECT_NE(r.qa.reasons.front().find("fail: flux scale"), std::string::npos) << r.qa.reasons.front();
  EXPECT_NEAR(r.qa.flux_ratio_median, 0.7, 0.03);
}

TEST(SourceFinder, ATenArcsecShiftFailsForAstrometry) {
  testing::SyntheticOptions o;
  o.shift_ra_arcsec = 10;
  const auto r = run_on(o, "shift");
  EXPECT_EQ(r.qa.verdict, Verdict::kFail);
  bool astrometry_failed = false;
  for (const auto& s : r.qa.reasons) astrometry_failed |= s.rfind("fail: astrometry", 0) == 0;
  EXPECT_TRUE(astrometry_failed) << fmt::format("{}", fmt::join(r.qa.reasons, "; "));
}

TEST(SourceFinder, SeparatesTwoBlendedSourcesInOneIsland) {
  const int n = 80;
  std::vector<float> px(n * n, 0.f);
  PixelBeam beam{2.0, 2.0, 0};
  Gaussian2D a{1.0, 35, 40, 2, 2, 0}, b{0.5, 44, 40, 2, 2, 0};
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0, 0.01f);
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) px[y * n + x] = static_cast<float>(a.value(x, y) + b.value(x, y)) + g(rng);
  }
  const auto cat = find_components(px, n, n, beam, FinderOptions{});
  ASSERT_EQ(cat.islands.size(), 1u);
  ASSERT_EQ(cat.components.size(), 2u);
  EXPECT_NEAR(cat.components[0].g.x0, 35, 0.1);
  EXPECT_NEAR(cat.components[1].g.x0, 44, 0.1);
  EXPECT_NEAR(cat.components[1].g.amp, 0.5, 0.02);
}

// A PB-corrected noise image: white noise of rms 1 divided by a Gaussian beam
// that falls to ~0.12 in the corners.
struct PbNoise {
  int n = 300;
  std::vector<float> pixels, pb;
};
PbNoise pb_corrected_noise(unsigned seed) {
  PbNoise p;
  const int n = p.n;
  p.pixels.resize(n * n);
  p.pb.resize(n * n);
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0, 1);
  const double s = 100;  // beam sigma, pixels
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      const double r2 = (x - n / 2.0) * (x - n / 2.0) + (y - n / 2.0) * (y - n / 2.0);
      const float b = static_cast<float>(std::exp(-r2 / (2 * s * s)));
      p.pb[y * n + x] = b;
      p.pixels[y * n + x] = g(rng) / b;
    }
  }
  return p;
}

TEST(SourceFinder, NoiseMapsFollowThePrimaryBeamThatTheImageWasDividedBy) {
  const auto p = pb_corrected_noise(11);
  const int n = p.n;
  const PixelBeam beam{1.5, 1.5, 0};
  const auto with_pb = find_components(p.pixels, n, n, beam, FinderOptions{}, &p.pb);
  const auto without = find_components(p.pixels, n, n, beam, FinderOptions{});
  for (int k : {0, n - 1, n * n / 2 + n / 2, n * n - 1, n * (n / 2)}) {
    const double truth = 1 / p.pb[k];
    EXPECT_NEAR(with_pb.maps.rms[k] / truth, 1.0, 0.12) << "pixel " << k;
  }
  // Boxes alone cannot follow 1/PB into a corner: the reason for the PB.
  EXPECT_LT(without.maps.rms[0] * p.pb[0], 0.85);
  EXPECT_LE(with_pb.components.size(), 1u) << "pure noise at 5 sigma";
  const std::vector<float> wrong(10, 1.f);
  EXPECT_THROW(find_components(p.pixels, n, n, beam, FinderOptions{}, &wrong), InputError);
}

TEST(SourceFinder, ReportsOnlyComponentsWhoseFittedPeakReachesTheThreshold) {
  const int n = 400;
  std::vector<float> px(n * n);
  std::mt19937 rng(21);
  std::normal_distribution<float> g(0, 1);
  for (auto& v : px) v = g(rng);
  // 64 sources of peak 4.7 sigma: noise lifts some seed pixels past 5 sigma.
  const PixelBeam beam{1.5, 1.5, 0};
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) {
      const Gaussian2D src{4.7, 25.0 + 50 * i, 25.0 + 50 * j, 1.5, 1.5, 0};
      for (int y = static_cast<int>(src.y0) - 8; y <= src.y0 + 8; ++y) {
        for (int x = static_cast<int>(src.x0) - 8; x <= src.x0 + 8; ++x) px[y * n + x] += static_cast<float>(src.value(x, y));
      }
    }
  }
  const auto cat = find_components(px, n, n, beam, FinderOptions{});
  ASSERT_FALSE(cat.islands.empty()) << "some 4.7-sigma sources seed islands";
  EXPECT_LT(cat.components.size(), cat.islands.size()) << "and most fits stay below 5 sigma";
  for (const auto& c : cat.components) EXPECT_GE(c.g.amp / c.local_rms, 5.0);
}

TEST(Catalogue, FitsTableKeepsColumnsAndUnits) {
  const auto dir = temp_dir("cat");
  Detection d;
  d.ra_deg = 12.5;
  d.dec_deg = -3.25;
  d.flux_jy = 0.042;
  d.island = 7;
  write_catalogue_fits(dir / "c.fits", {d, d}, {{"IMAGE", "x.pbcor.fits"}});
  write_catalogue_csv(dir / "c.csv", {d});
  const auto t = fits::read_table(dir / "c.fits");
  ASSERT_NE(t.find("RA"), nullptr);
  EXPECT_EQ(t.find("RA")->unit, "deg");
  EXPECT_EQ(t.find("INT_FLUX")->unit, "Jy");
  EXPECT_EQ(t.find("PEAK_FLUX")->unit, "Jy/beam");
  EXPECT_EQ(t.find("RA_ERR")->unit, "arcsec");
  EXPECT_DOUBLE_EQ(std::get<std::vector<double>>(t.find("DEC")->data)[1], -3.25);
  EXPECT_DOUBLE_EQ(std::get<std::vector<double>>(t.find("ISLAND_ID")->data)[0], 7);
  EXPECT_EQ(t.keys.at("IMAGE"), "x.pbcor.fits");
  std::ifstream csv(dir / "c.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("ISLAND_ID,COMPONENT,RA[deg],DEC[deg]", 0), 0u) << header;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace contimg::validation
