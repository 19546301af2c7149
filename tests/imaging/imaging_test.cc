// Imaging algorithms on plain buffers (docs/imaging.md): re-phasing, cell and
// image size, WSClean argv and failures, effective primary beam, PB
// correction, image noise; the images table.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <fstream>
#include <random>

#include "common/error.h"
#include "config/config.h"
#include "imaging/image_qa.h"
#include "imaging/image_stage.h"
#include "imaging/imager.h"
#include "imaging/primary_beam_image.h"
#include "imaging/rephase.h"
#include "imaging/wsclean_driver.h"
#include "io/fits/fits_image.h"
#include "orchestration/orchestrator.h"
#include "pipeline/context.h"
#include "sky/primary_beam.h"
#include "state/images.h"
#include "state/state_db.h"
#include "support/error_of.h"
#include "support/tiny_uvh5.h"

namespace contimg::imaging {
namespace {

constexpr double kC = 299792458.0;
using V3 = std::array<double, 3>;

V3 unit(double ra, double dec) { return {std::cos(dec) * std::cos(ra), std::cos(dec) * std::sin(ra), std::sin(dec)}; }
double dot(const V3& a, const V3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// A point source of 1 Jy at s, phased to centre c: exp(+2πi b·(s − c) ν / c).
std::complex<float> point_vis(const V3& b, const V3& s, const V3& centre, double f) {
  const double phase = 2 * M_PI * (dot(b, s) - dot(b, centre)) * f / kC;
  return {static_cast<float>(std::cos(phase)), static_cast<float>(std::sin(phase))};
}

TEST(Rephase, MovesAPointSourceVisibilityToTheNewCentre) {
  const V3 s = unit(1.0, 0.95), c0 = unit(0.99, 0.955), c1 = unit(1.004, 0.953);
  const std::vector<V3> baselines = {{1200.3, -850.1, 300.7}, {-25.4, 10.2, 3.3}, {2500, 100, -40}};
  const std::vector<double> freqs = {1.311e9, 1.40e9, 1.4986e9};
  std::vector<std::complex<float>> data;
  std::vector<double> w0, w1;
  for (const auto& b : baselines) {
    w0.push_back(dot(b, c0));
    w1.push_back(dot(b, c1));
    for (double f : freqs) data.insert(data.end(), 2, point_vis(b, s, c0, f));  // XX, YY
  }
  const auto original = data;
  rephase_visibilities(data, 2, freqs, w0, w1);
  for (std::size_t r = 0; r < baselines.size(); ++r) {
    for (std::size_t c = 0; c < freqs.size(); ++c) {
      const auto expected = point_vis(baselines[r], s, c1, freqs[c]);
      for (std::size_t p = 0; p < 2; ++p) {
        const auto got = data[(r * freqs.size() + c) * 2 + p];
        EXPECT_LT(std::abs(got - expected), 2e-6) << "row " << r << " chan " << c;
      }
    }
  }
  // The long baseline's phase really changed (the check above can fail).
  EXPECT_GT(std::abs(original[2 * freqs.size() * 2] - data[2 * freqs.size() * 2]), 0.1);
  // And back again.
  rephase_visibilities(data, 2, freqs, w1, w0);
  for (std::size_t i = 0; i < data.size(); ++i) EXPECT_LT(std::abs(data[i] - original[i]), 2e-6);
}

TEST(Rephase, EvenlySpacedChannelsRotateByRecurrenceAsExactlyAsDirectly) {
  // A DSA-110 SPW: 48 channels of 244 kHz (the recurrence path), the longest
  // baselines, a centre 1.5 deg away: every channel as the direct phase.
  const V3 s = unit(1.0, 0.95), c0 = unit(0.99, 0.955), c1 = unit(1.02, 0.94);
  const std::vector<V3> baselines = {{2650.3, -850.1, 300.7}, {-2400.4, 1010.2, -93.3}};
  std::vector<double> freqs;
  for (int c = 0; c < 48; ++c) freqs.push_back(1498643188.4765625 - c * 244140.625);
  std::vector<std::complex<float>> data;
  std::vector<double> w0, w1;
  for (const auto& b : baselines) {
    w0.push_back(dot(b, c0));
    w1.push_back(dot(b, c1));
    for (double f : freqs) data.insert(data.end(), 2, point_vis(b, s, c0, f));
  }
  rephase_visibilities(data, 2, freqs, w0, w1);
  double worst = 0;
  for (std::size_t r = 0; r < baselines.size(); ++r) {
    for (std::size_t c = 0; c < freqs.size(); ++c) {
      const auto expected = point_vis(baselines[r], s, c1, freqs[c]);
      for (std::size_t p = 0; p < 2; ++p)
        worst = std::max(worst, double(std::abs(data[(r * freqs.size() + c) * 2 + p] - expected)));
    }
  }
  EXPECT_LT(worst, 2e-6);
}

TEST(Rephase, RefusesInconsistentSizes) {
  std::vector<std::complex<float>> data(10);
  const std::vector<double> f = {1e9, 2e9}, w = {1.0, 2.0}, w_short = {1.0};
  EXPECT_NE(test::error_of<InputError>([&] { rephase_visibilities(data, 2, f, w, w); }).find("10 visibilities"),
            std::string::npos);
  std::vector<std::complex<float>> ok(8);
  EXPECT_FALSE(test::error_of<InputError>([&] { rephase_visibilities(ok, 2, f, w, w_short); }).empty());
}

TEST(CellSize, IsTheBeamMinorAxisOverPixelsPerBeamRoundedDown) {
  const double arcsec = M_PI / 180.0 / 3600.0;
  // 34" / 4 = 8.5"; 35" / 3 = 11.67" -> 11.6".
  EXPECT_DOUBLE_EQ(cell_from_beam_arcsec(34 * arcsec, 4), 8.5);
  EXPECT_DOUBLE_EQ(cell_from_beam_arcsec(35 * arcsec, 3), 11.6);
  EXPECT_EQ(image_size_px(3.5, 3.2), 3938);  // 3937.5 up to an even count
  EXPECT_EQ(image_size_px(1.0, 60), 60);
  EXPECT_FALSE(test::error_of<InputError>([] { cell_from_beam_arcsec(0, 4); }).empty());
}

TEST(WscleanArgv, HoldsTheSpec6ParametersAndPathsAsSingleArguments) {
  WscleanSettings s;
  s.threads = 2;
  s.abs_mem_gb = 4;
  const auto a = wsclean_argv(s, "/x/my group.ms", "/out/g 1", "/out/tmp", 3.2, 3938);
  auto has = [&](std::vector<std::string> seq) { return std::search(a.begin(), a.end(), seq.begin(), seq.end()) != a.end(); };
  EXPECT_EQ(a.front(), "wsclean");
  EXPECT_EQ(a.back(), "/x/my group.ms");
  EXPECT_TRUE(has({"-name", "/out/g 1"}));
  EXPECT_TRUE(has({"-pol", "I"}));
  EXPECT_TRUE(has({"-weight", "briggs", "0"}));
  EXPECT_TRUE(has({"-use-wgridder"}));
  EXPECT_TRUE(has({"-reorder"}));
  EXPECT_TRUE(has({"-size", "3938", "3938"}));
  EXPECT_TRUE(has({"-scale", "3.2asec"}));
  EXPECT_TRUE(has({"-auto-mask", "5"}));
  EXPECT_TRUE(has({"-auto-threshold", "0.5"}));
  EXPECT_TRUE(has({"-mgain", "0.8"}));
  EXPECT_TRUE(has({"-niter", "100000"}));
  EXPECT_TRUE(has({"-j", "2"}));
  EXPECT_TRUE(has({"-abs-mem", "4"}));
  EXPECT_TRUE(has({"-data-column", "DATA"}));
  EXPECT_TRUE(has({"-no-update-model-required"}));
  EXPECT_FALSE(has({"-baseline-averaging"}));  // not asked for
  EXPECT_FALSE(has({"-make-psf"}));            // CLEAN makes the PSF
  const auto b = wsclean_argv(s, "/x/a.ms", "/out/g", "/out/tmp", 4.2, 3000, 12.6712);  // factor 1
  const std::vector<std::string> bda = {"-baseline-averaging", "12.671"};
  EXPECT_NE(std::search(b.begin(), b.end(), bda.begin(), bda.end()), b.end());
  s.niter = 0;  // a dirty image: WSClean makes no PSF (hence no beam) unless asked
  const auto c = wsclean_argv(s, "/x/a.ms", "/out/g", "/out/tmp", 4.2, 3000);
  EXPECT_NE(std::find(c.begin(), c.end(), "-make-psf"), c.end());
  s.niter = 100;
  s.auto_mask = 0;  // the drift correction's bright-source pass: no auto-mask stage
  const auto d = wsclean_argv(s, "/x/a.ms", "/out/g", "/out/tmp", 4.2, 3000);
  EXPECT_EQ(std::find(d.begin(), d.end(), "-auto-mask"), d.end());
}

TEST(BaselineAveraging, IsTheLongestBaselinesTrackInOneIntegration) {
  // DSA-110: 2698 m at 1498.6 MHz = 13488 wavelengths; 12.885 s; Earth turns 2π per 86164.09 s.
  EXPECT_NEAR(baseline_averaging_lambda(1, 2698.256, 1498643188.48, 12.884902), 12.673, 0.002);
  EXPECT_NEAR(baseline_averaging_lambda(0.5, 2698.256, 1498643188.48, 12.884902), 6.336, 0.002);
  EXPECT_EQ(baseline_averaging_lambda(0, 2698.256, 1.5e9, 12.9), 0.0);  // off
  EXPECT_EQ(baseline_averaging_lambda(1, 0, 1.5e9, 12.9), 0.0);         // nothing known: off
}

TEST(RunWsclean, MissingProgramAndFailuresAreClearErrorsWithTheLogTail) {
  test::TempDir dir;
  const auto missing = test::error_of<IoError>(
      [&] { run_wsclean({"no-such-wsclean-xyz", "-version"}, std::chrono::seconds(5), dir / "a.log"); });
  EXPECT_NE(missing.find("not in PATH"), std::string::npos) << missing;
  const auto failed = test::error_of<Error>([&] {
    run_wsclean({"sh", "-c", "echo line one; echo the reason >&2; exit 3"}, std::chrono::seconds(10), dir / "b.log");
  });
  EXPECT_NE(failed.find("exit status 3"), std::string::npos) << failed;
  EXPECT_NE(failed.find("the reason"), std::string::npos) << failed;
  const auto slow = test::error_of<Error>(
      [&] { run_wsclean({"sleep", "5"}, std::chrono::seconds(1), dir / "c.log"); });
  EXPECT_NE(slow.find("timed out"), std::string::npos) << slow;
}

// D4: WSClean failing for a full disk is the environment's (IoError, exit 4,
// retryable) and says so; it was a plain Error (exit 1).
TEST(RunWsclean, AFullDiskIsAnIoErrorThatSaysSo) {
  test::TempDir dir;
  const auto full = test::error_of<IoError>([&] {
    run_wsclean({"sh", "-c", "echo 'Writing image: No space left on device' >&2; exit 1"}, std::chrono::seconds(10),
                dir / "d.log");
  });
  EXPECT_NE(full.find("No space left on device"), std::string::npos) << full;
  EXPECT_NE(full.find("disk full"), std::string::npos) << full;
  EXPECT_TRUE(says_disk_full("std::exception: ... ENOSPC"));
  EXPECT_FALSE(says_disk_full("the reason"));
}

// D3: SIGTERM during imaging stops WSClean instead of waiting for it.
TEST(RunWsclean, CancellationStopsItAtOnce) {
  test::TempDir dir;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(run_wsclean({"sleep", "60"}, std::chrono::seconds(120), dir / "e.log",
                           [&] { return std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(200); }),
               Cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST(EffectiveBeam, IsTheAiryPatternAveragedOverPointingsAndFrequencies) {
  const std::vector<astro::SkyDirection> one = {{1.0, 0.9}};
  const std::vector<double> f1 = {1.4e9};
  EXPECT_DOUBLE_EQ(effective_beam(1.0, 0.9, one, f1), 1.0);
  const double d = 0.01;
  EXPECT_NEAR(effective_beam(1.0, 0.9 + d, one, f1), sky::airy_power(d, 1.4e9), 1e-12);
  // Two pointings either side: the midpoint sees each at distance d.
  const std::vector<astro::SkyDirection> two = {{1.0, 0.9 - d}, {1.0, 0.9 + d}};
  EXPECT_NEAR(effective_beam(1.0, 0.9, two, f1), sky::airy_power(d, 1.4e9), 1e-9);
  // A source seen by the last pointing only (far from the first).
  const std::vector<astro::SkyDirection> drift = {{0.9, 0.9}, {1.0, 0.9}};
  EXPECT_NEAR(effective_beam(1.0, 0.9, drift, f1), 0.5 * (1.0 + sky::airy_power(0.1 * std::cos(0.9), 1.4e9)), 1e-4);
  const std::vector<double> f2 = {1.3e9, 1.5e9};
  EXPECT_NEAR(effective_beam(1.0, 0.9 + d, one, f2), 0.5 * (sky::airy_power(d, 1.3e9) + sky::airy_power(d, 1.5e9)), 1e-12);
  EXPECT_TRUE(std::isnan(effective_beam(NAN, 0.9, one, f1)));
  EXPECT_FALSE(test::error_of<InputError>([&] { effective_beam(1.0, 0.9, {}, f1); }).empty());
}

TEST(BeamGrid, TheBeamOnAnImageGridFollowsTheWcsAndAgreesWithThePointFormula) {
  fits::ImageSpec spec;
  spec.nx = 301;
  spec.ny = 250;
  spec.ra0_deg = 202.8;
  spec.dec0_deg = 30.6;
  spec.cell_deg = 4.2 / 3600;  // the pipeline's pixel: a sample every 67"
  const auto wcs = fits::wcs_of(spec);
  // Two pointings 0.3 deg apart in RA, east of the image centre: the beam's
  // peak is off the centre, so a transposed or shifted grid would show.
  // 1e-4: the error the imager's 16-pixel sampling is documented to keep.
  const double deg = M_PI / 180;
  const std::vector<astro::SkyDirection> pointings = {{203.0 * deg, 30.6 * deg},
                                                      {203.3 * deg, 30.6 * deg}};
  const std::vector<double> freqs = {1.35e9, 1.45e9};
  const auto pb = effective_beam_on_grid(wcs, spec.nx, spec.ny, pointings, freqs);
  ASSERT_EQ(pb.size(), static_cast<std::size_t>(spec.nx * spec.ny));
  double worst = 0;
  for (int y = 0; y < spec.ny; y += 7) {
    for (int x = 0; x < spec.nx; x += 5) {
      double ra = 0, dec = 0;
      ASSERT_TRUE(wcs.pixel_to_world(x, y, ra, dec));
      const double exact = effective_beam(ra * deg, dec * deg, pointings, freqs);
      worst = std::max(worst, std::abs(pb[static_cast<std::size_t>(y * spec.nx + x)] - exact));
    }
  }
  EXPECT_LT(worst, 1e-4);
  // On three threads: the same grid, value for value.
  EXPECT_EQ(effective_beam_on_grid(wcs, spec.nx, spec.ny, pointings, freqs, 3), pb);
  // Brighter towards the pointings (east = smaller x) than away from them.
  const auto at = [&](int x, int y) { return pb[static_cast<std::size_t>(y * spec.nx + x)]; };
  EXPECT_GT(at(20, spec.ny / 2), at(spec.nx - 21, spec.ny / 2));
  EXPECT_FALSE(
      test::error_of<InputError>([&] { effective_beam_on_grid(wcs, 10, 10, {}, freqs); }).empty());
}

TEST(BeamGrid, BilinearUpsamplingIsExactForPlanesAndCorrectionCutsAtTheFraction) {
  const std::size_t nx = 37, ny = 20, step = 8;
  const std::size_t ncx = coarse_points(nx, step), ncy = coarse_points(ny, step);
  std::vector<float> coarse(ncx * ncy);
  for (std::size_t y = 0; y < ncy; ++y)
    for (std::size_t x = 0; x < ncx; ++x) coarse[y * ncx + x] = static_cast<float>(2.0 + 0.5 * x * step - 0.25 * y * step);
  const auto fine = upsample_grid(coarse, ncx, ncy, step, nx, ny);
  for (std::size_t y = 0; y < ny; ++y)
    for (std::size_t x = 0; x < nx; ++x) ASSERT_NEAR(fine[y * nx + x], 2.0 + 0.5 * x - 0.25 * y, 1e-4);
  EXPECT_FALSE(test::error_of<InputError>([&] { upsample_grid(coarse, ncx - 1, ncy, step, nx, ny); }).empty());

  const std::vector<float> image = {1, 2, 3, NAN}, pb = {1.0f, 0.5f, 0.1f, 0.9f};
  const auto corrected = pb_correct(image, pb, 0.2);
  EXPECT_FLOAT_EQ(corrected[0], 1);
  EXPECT_FLOAT_EQ(corrected[1], 4);
  EXPECT_TRUE(std::isnan(corrected[2]));  // below 20 % of the peak
  EXPECT_TRUE(std::isnan(corrected[3]));
}

TEST(ImageStats, RobustNoiseIgnoresSourcesAndFindsThePeak) {
  const long nx = 200, ny = 150;
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.002f);
  std::vector<float> px(static_cast<std::size_t>(nx * ny));
  for (auto& v : px) v = noise(rng);
  // Bright sources over 5 % of the pixels inflate a plain standard deviation.
  for (std::size_t i = 0; i < px.size(); i += 20) px[i] += 0.5f;
  px[static_cast<std::size_t>(70 * nx + 33)] = 3.0f;
  px[5] = NAN;
  const auto s = image_stats(px, nx, ny);
  EXPECT_NEAR(s.rms, 0.002, 0.002 * 0.05);
  EXPECT_FLOAT_EQ(static_cast<float>(s.peak), 3.0f);
  EXPECT_EQ(s.peak_x, 33);
  EXPECT_EQ(s.peak_y, 70);
  EXPECT_NEAR(s.dynamic_range, 3.0 / s.rms, 1e-9);
  EXPECT_LT(s.noise_pixels, px.size() - px.size() / 20 + 10);
  const std::vector<float> blank(4, NAN);
  EXPECT_FALSE(test::error_of<InputError>([&] { image_stats(blank, 2, 2); }).empty());
}

TEST(PhaseCentre, ParsesDegreesAndRefusesNonsense) {
  const auto c = parse_phase_centre("180.5,-30.25");
  EXPECT_NEAR(c.ra_rad, 180.5 * M_PI / 180, 1e-15);
  EXPECT_NEAR(c.dec_rad, -30.25 * M_PI / 180, 1e-15);
  EXPECT_NEAR(parse_phase_centre("-10,5").ra_rad, 350 * M_PI / 180, 1e-12);
  for (const char* bad : {"", "10", "10;20", "10,95", "a,b", "10,20,30"}) {
    EXPECT_FALSE(test::error_of<ConfigError>([&] { parse_phase_centre(bad); }).empty()) << bad;
  }
}

TEST(ImagesTable, UpsertKeepsOneRowPerGroup) {
  test::TempDir dir;
  state::StateDb db(dir / "state.sqlite3");
  state::ImageRecord r;
  r.group_id = "2025-01-01T12:00:00";
  r.ms_path = "/x.ms";
  r.data_column = "DATA";
  r.image_path = "/p/x.image.fits";
  r.pbcor_path = "/p/x.pbcor.fits";
  r.centre_ra_deg = 10;
  r.centre_dec_deg = 54.6;
  r.cell_arcsec = 3.2;
  r.size_px = 3938;
  r.rms_jy = 1e-3;
  r.peak_jy = 2.0;
  r.dynamic_range = 2000;
  r.bmaj_arcsec = 20;
  r.contimg_version = "0.1.0";
  state::upsert_image(db, r);
  r.rms_jy = 2e-3;
  state::upsert_image(db, r);
  const auto got = state::image_record(db, r.group_id);
  ASSERT_TRUE(got);
  EXPECT_DOUBLE_EQ(got->rms_jy, 2e-3);
  EXPECT_DOUBLE_EQ(*got->bmaj_arcsec, 20);
  EXPECT_FALSE(got->bmin_arcsec);
  auto st = db.database().prepare("SELECT COUNT(*) FROM images");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.get_int(0), 1);
  EXPECT_FALSE(state::image_record(db, "other"));
}

TEST(ImageStage, IsStaleWhenTheGroupWasRecalibratedWithAnotherSet) {
  namespace fs = std::filesystem;
  test::TempDir dir;
  // No MS here: CORRECTED_DATA's own check (the chain's default) is in
  // calibration_stages_test (DeferredApplyLeavesTheImageStageUndone...).
  auto cfg = std::make_shared<const config::Config>(
      config::Config::defaults()
          .with_override({"paths.state_db", (dir / "state.sqlite3").string(), "--set"})
          .with_override({"calibration.write_corrected_data", "false", "--set"}));
  const auto products = dir / "products";
  const auto p = ImageProducts::in(products, "grp");
  fs::create_directories(p.image.parent_path());
  for (const auto& f : {p.image, p.residual, p.model, p.psf, p.pb, p.pbcor, p.quicklook}) std::ofstream(f) << "x";
  state::StateDb db(dir / "state.sqlite3");
  state::ImageRecord r;
  r.group_id = "grp";
  r.ms_path = (dir / "grp.ms").string();
  r.data_column = "CORRECTED_DATA";
  r.calset_id = "cal-A";
  r.image_path = p.image.string();
  r.pbcor_path = p.pbcor.string();
  r.contimg_version = "test";
  state::upsert_image(db, r);
  ImageStage stage(*cfg);
  const orchestration::DbStateView view(db, dir.path().string());
  auto ctx_with = [&](const std::string& calset) {
    return pipeline::Context(cfg, "grp", {{"ms_path", r.ms_path}, {"products_dir", products.string()},
                                          {"applied_calset_id", calset}})
        .with_state(&view);
  };
  EXPECT_TRUE(stage.is_done(ctx_with("cal-A")));
  EXPECT_FALSE(stage.is_done(ctx_with("cal-B"))) << "applied another set since: image again";
  EXPECT_FALSE(stage.is_done(ctx_with(""))) << "now uncalibrated";
  fs::remove(p.psf);
  EXPECT_FALSE(stage.is_done(ctx_with("cal-A"))) << "a product is missing";
}

}  // namespace
}  // namespace contimg::imaging
