// Preflight (issue 11, D9): each finding on a configuration that provokes it,
// and none on one that can do everything. WSClean is a fake script in a
// private PATH, so the tests do not depend on the installation.
#include "chain/preflight.h"

#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <numbers>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "astro/site_data.h"
#include "astro/time.h"
#include "catalog/vla_calibrators.h"
#include "common/error.h"
#include "state/state_db.h"

namespace contimg::chain {
namespace {
namespace fs = std::filesystem;
using Severity = Finding::Severity;

// PATH set for the scope of a test, restored after.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    if (const char* p = std::getenv("PATH")) old_ = p;
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() { ::setenv("PATH", old_.c_str(), 1); }

 private:
  std::string old_;
};

class Preflight : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("contimg_preflight_{}_{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bin");
    fs::create_directories(dir_ / "raw");
    fake_wsclean("echo 'WSClean version 3.1.0'; exit 0");
    path_ = std::make_unique<ScopedPath>((dir_ / "bin").string());
    req_.input_dir = dir_ / "raw";
    req_.out_dir = dir_ / "out";  // not there yet: created by the run
    req_.n_groups = 2;
    req_.any_calibrator_transit = true;
  }
  void TearDown() override {
    path_.reset();
    fs::remove_all(dir_);
  }

  void fake_wsclean(const std::string& body) {
    const auto p = dir_ / "bin" / "wsclean";
    std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
    fs::permissions(p, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  }

  // Defaults with the tiers under the test's directory and small images (a
  // few MB estimated: no space finding on a small disk), plus `sets`.
  config::Config config(const std::vector<std::pair<std::string, std::string>>& sets = {}) const {
    auto c = config::Config::defaults()
                 .with_override({"imaging.field_deg", "1", "--set"})
                 .with_override({"imaging.cell_arcsec", "10", "--set"})
                 .with_override({"paths.state_db", (dir_ / "out" / "contimg.sqlite").string(), "--set"})
                 .with_override({"paths.scratch_dir", (dir_ / "out" / "scratch").string(), "--set"})
                 .with_override({"paths.stage_dir", (dir_ / "out" / "stage").string(), "--set"});
    for (const auto& [k, v] : sets) c = c.with_override({k, v, "--set"});
    return c;
  }

  static std::vector<Finding> of(const std::vector<Finding>& all, const std::string& stage) {
    std::vector<Finding> out;
    std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const Finding& f) { return f.stage == stage; });
    return out;
  }
  static std::string dump(const std::vector<Finding>& all) { return to_json(all).dump(1); }

  fs::path dir_;
  std::unique_ptr<ScopedPath> path_;
  PreflightRequest req_;
};

TEST_F(Preflight, ARunThatCanDoEverythingOnlyWarnsAboutTheMissingReference) {
  const auto f = preflight(config(), req_);
  ASSERT_EQ(f.size(), 1u) << dump(f);
  EXPECT_EQ(f[0].stage, "validate");
  EXPECT_EQ(f[0].severity, Severity::kWarning);
  EXPECT_NE(f[0].message.find("validation will skip the cross-match"), std::string::npos) << f[0].message;
  EXPECT_NE(f[0].message.find("2 of 2 groups"), std::string::npos) << f[0].message;
  EXPECT_FALSE(has_errors(f));
  EXPECT_NO_THROW(throw_if_errors(f));
  EXPECT_FALSE(fs::exists(dir_ / "out")) << "preflight creates nothing";
}

TEST_F(Preflight, GroupsWithTheirOwnReferenceNeedNone) {
  req_.n_groups_with_reference = 2;
  EXPECT_TRUE(of(preflight(config(), req_), "validate").empty());
  req_.n_groups_with_reference = 1;
  const auto f = of(preflight(config(), req_), "validate");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].message.find("1 of 2 groups"), std::string::npos) << f[0].message;
}

TEST_F(Preflight, WsCleanNotInPathIsAnError) {
  fs::remove(dir_ / "bin" / "wsclean");
  const auto f = of(preflight(config(), req_), "image");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kError);
  EXPECT_NE(f[0].message.find("\"wsclean\" is not in PATH"), std::string::npos) << f[0].message;
  EXPECT_NE(f[0].message.find("imaging.wsclean"), std::string::npos) << "names the remedy";
  // An explicit path that is not there.
  const auto g = of(preflight(config({{"imaging.wsclean", (dir_ / "nope" / "wsclean").string()}}), req_), "image");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_NE(g[0].message.find("not an executable file"), std::string::npos) << g[0].message;
}

TEST_F(Preflight, WsCleanThatDoesNotRunIsAnError) {
  fake_wsclean("echo 'wsclean: error while loading shared libraries: libcasa_tables.so.7' >&2; exit 127");
  const auto f = of(preflight(config(), req_), "image");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kError);
  EXPECT_NE(f[0].message.find("does not run"), std::string::npos) << f[0].message;
  EXPECT_NE(f[0].message.find("exited 127"), std::string::npos) << f[0].message;
  EXPECT_NE(f[0].message.find("libcasa_tables"), std::string::npos) << "shows WSClean's own message";
}

TEST_F(Preflight, AnExplicitReferenceThatCannotBeOpenedIsAnError) {
  req_.reference = dir_ / "missing.fits";
  auto f = of(preflight(config(), req_), "validate");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kError);
  EXPECT_NE(f[0].message.find("missing.fits (--reference): no such file"), std::string::npos) << f[0].message;
  std::ofstream(dir_ / "bad.json") << "{ not json";
  req_.reference = dir_ / "bad.json";
  f = of(preflight(config(), req_), "validate");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kError);
  std::ofstream(dir_ / "good.json") << R"({"sources": []})";
  req_.reference = dir_ / "good.json";
  EXPECT_TRUE(of(preflight(config(), req_), "validate").empty());
  // The configured one, when no --reference is given.
  req_.reference.reset();
  f = of(preflight(config({{"validation.reference_catalogue", (dir_ / "nvss.fits").string()}}), req_), "validate");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kError);
  EXPECT_NE(f[0].message.find("validation.reference_catalogue"), std::string::npos) << f[0].message;
  EXPECT_THROW(throw_if_errors(preflight(config({{"validation.reference_catalogue", (dir_ / "nvss.fits").string()}}),
                                         req_)),
               ConfigError);
}

TEST_F(Preflight, AnUnwritableOutputIsAnError) {
  // A regular file where a directory must be created: unwritable even for root.
  std::ofstream(dir_ / "file") << "x";
  req_.out_dir = dir_ / "file" / "out";
  auto f = of(preflight(config(), req_), "run");
  ASSERT_EQ(f.size(), 1u) << dump(f);
  EXPECT_EQ(f[0].severity, Severity::kError);
  EXPECT_NE(f[0].message.find("output directory"), std::string::npos) << f[0].message;
  EXPECT_NE(f[0].message.find("not writable"), std::string::npos) << f[0].message;
  // The state database's directory as well.
  req_.out_dir = dir_ / "out";
  f = of(preflight(config({{"paths.state_db", (dir_ / "file" / "db" / "x.sqlite").string()}}), req_), "run");
  ASSERT_EQ(f.size(), 1u) << dump(f);
  EXPECT_NE(f[0].message.find("paths.state_db"), std::string::npos) << f[0].message;
  if (::geteuid() != 0) {  // permissions do not stop root
    fs::create_directories(dir_ / "ro");
    fs::permissions(dir_ / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    req_.out_dir = dir_ / "ro" / "out";
    f = of(preflight(config(), req_), "run");
    fs::permissions(dir_ / "ro", fs::perms::owner_all);
    ASSERT_EQ(f.size(), 1u) << dump(f);
    EXPECT_NE(f[0].message.find("cannot create files"), std::string::npos) << f[0].message;
  }
}

TEST_F(Preflight, MissingRunTimeDataIsAnError) {
  fs::create_directories(dir_ / "data");
  const auto f = of(preflight(config({{"paths.data_dir", (dir_ / "data").string()}}), req_), "convert");
  // Station table, IERS, leap seconds, calibrator list.
  ASSERT_EQ(f.size(), 4u) << dump(f);
  for (const auto& x : f) {
    EXPECT_EQ(x.severity, Severity::kError);
    EXPECT_NE(x.message.find("paths.data_dir"), std::string::npos) << x.message;
  }
  req_.input_dir = dir_ / "no-such-input";
  EXPECT_EQ(of(preflight(config(), req_), "convert").size(), 1u);
}

TEST_F(Preflight, AMissingFlaggingStrategyIsAnError) {
  const auto f = of(preflight(config({{"flagging.strategy", (dir_ / "none.lua").string()}}), req_), "flag");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kError);
  EXPECT_NE(f[0].message.find("none.lua: no such file"), std::string::npos) << f[0].message;
}

TEST_F(Preflight, FreeSpaceAgainstTheEstimate) {
  const auto cfg = config();
  const auto avail = fs::space(dir_).available;
  req_.input_bytes = 0;
  const auto products = estimate_output_bytes(cfg, req_);
  EXPECT_GT(products, 0u) << "images are counted even when the input size is unknown";
  req_.input_bytes = 1000;
  EXPECT_EQ(estimate_output_bytes(cfg, req_), products + 2000);
  // Far more than the disk: an error.
  req_.input_bytes = avail;
  auto f = of(preflight(cfg, req_), "run");
  ASSERT_EQ(f.size(), 1u) << dump(f);
  EXPECT_EQ(f[0].severity, Severity::kError);
  EXPECT_NE(f[0].message.find("MB free"), std::string::npos) << f[0].message;
  // Three quarters of the free space (other processes write meanwhile): a warning.
  ASSERT_GT(avail * 3 / 4, products);
  req_.input_bytes = (avail * 3 / 4 - products) / 2;
  f = of(preflight(cfg, req_), "run");
  ASSERT_EQ(f.size(), 1u) << dump(f);
  EXPECT_EQ(f[0].severity, Severity::kWarning);
  // Little: nothing to say.
  req_.input_bytes = 1 << 20;
  if (avail > 4 * estimate_output_bytes(cfg, req_)) {
    EXPECT_TRUE(of(preflight(cfg, req_), "run").empty());
  }
}

TEST_F(Preflight, CalibrationPolicyWithoutACalibrator) {
  req_.any_calibrator_transit = false;
  auto f = of(preflight(config({{"calibration.when_uncalibrated", "fail"}}), req_), "applycal");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kWarning);
  EXPECT_NE(f[0].message.find("will fail at applycal"), std::string::npos) << f[0].message;
  f = of(preflight(config({{"calibration.when_uncalibrated", "skip"}}), req_), "applycal");
  ASSERT_EQ(f.size(), 1u);
  EXPECT_NE(f[0].message.find("imaged uncalibrated"), std::string::npos) << f[0].message;
  req_.calset_available = true;
  EXPECT_TRUE(of(preflight(config({{"calibration.when_uncalibrated", "fail"}}), req_), "applycal").empty());
  // An unknown policy never reaches preflight: the configuration refuses it at load.
  EXPECT_THROW(config({{"calibration.when_uncalibrated", "sometimes"}}), ConfigError);
}

TEST_F(Preflight, ErrorsComeFirstAndAreAllReported) {
  fs::remove(dir_ / "bin" / "wsclean");
  req_.reference = dir_ / "missing.fits";
  const auto f = preflight(config({{"flagging.strategy", (dir_ / "none.lua").string()}}), req_);
  ASSERT_GE(f.size(), 3u);
  EXPECT_TRUE(std::is_sorted(f.begin(), f.end(),
                             [](const Finding& a, const Finding& b) { return a.severity > b.severity; }));
  try {
    throw_if_errors(f);
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("3 errors"), std::string::npos) << m;
    for (const char* s : {"image:", "flag:", "validate:"}) EXPECT_NE(m.find(s), std::string::npos) << m;
  }
  const auto j = to_json(f);
  EXPECT_EQ(j[0]["severity"], "error");
  EXPECT_TRUE(j[0].contains("stage") && j[0].contains("message"));
  EXPECT_EQ(to_string(Finding{"image", Severity::kError, "x"}), "error: image: x");
}

// The index alone tells whether a group holds a calibrator transit: 0834+555
// (J0834+5534, 8.8 Jy) transits DSA-110's meridian at 2025-03-20T04:38:07.4
// UTC (what `contimg simulate --calibrator 0834+555 --date 2025-03-20` uses).
TEST_F(Preflight, CalibratorTransitFromTheIndex) {
  const auto cfg = config();
  const auto data = cfg.get_path("paths.data_dir");
  const auto site = astro::load_site_data(data);
  const auto cals = catalog::VlaCalibratorCatalog::load(catalog::vla_calibrator_path(data));
  const double transit_mjd = astro::iso_to_jd_utc("2025-03-20T04:38:07.4") - astro::kMjdOffset;
  state::GroupRecord g;
  g.pointing_dec_rad = 55.5725 * std::numbers::pi / 180;
  auto span = [&](double centre_mjd) {
    g.time_first_mjd = centre_mjd - 150 / astro::kSecondsPerDay;
    g.time_last_mjd = centre_mjd + 150 / astro::kSecondsPerDay;
  };
  span(transit_mjd);
  EXPECT_TRUE(holds_calibrator_transit(g, site.observatory, cals, cfg));
  span(transit_mjd + 1.0 / 24);  // an hour later: a science group
  EXPECT_FALSE(holds_calibrator_transit(g, site.observatory, cals, cfg));
  span(transit_mjd);
  g.pointing_dec_rad = 50.0 * std::numbers::pi / 180;  // 5.6 deg away
  EXPECT_FALSE(holds_calibrator_transit(g, site.observatory, cals, cfg));
  g.pointing_dec_rad = 55.5725 * std::numbers::pi / 180;
  EXPECT_FALSE(holds_calibrator_transit(g, site.observatory, cals,
                                        config({{"conversion.calibrator_min_flux_jy", "20"}})))
      << "too faint for the converter to name it";
  g.time_first_mjd.reset();
  EXPECT_FALSE(holds_calibrator_transit(g, site.observatory, cals, cfg)) << "unknown times";
}

}  // namespace
}  // namespace contimg::chain
