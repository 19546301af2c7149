#include "simulation/simulator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "astro/site_data.h"
#include "common/build_info.h"
#include "io/uvh5/uvh5_file.h"
#include "support/tiny_uvh5.h"

namespace contimg::simulation {
namespace {

namespace fs = std::filesystem;

class SimulatorTest : public ::testing::Test {
 protected:
  void SetUp() override { uvh5::initialize_hdf5(build::kHdf5PluginDir); }
  static const astro::SiteData& site() {
    static const astro::SiteData s = astro::load_site_data(build::kDataDir);
    return s;
  }
  SimulationSpec tiny() const {
    SimulationSpec s;
    s.nants = 5;
    s.ntimes = 3;
    s.nchan = 4;
    s.start_utc = "2025-03-01T10:00:00";
    return s;
  }
  test::TempDir dir_;
};

TEST(SimulatorLayout, FrequenciesFollowTheSpec) {
  EXPECT_DOUBLE_EQ(channel_frequency_hz(0, 0), 1498643188.4765625);
  EXPECT_DOUBLE_EQ(channel_frequency_hz(15, 47), 1311387329.1015625);
  EXPECT_DOUBLE_EQ(channel_frequency_hz(1, 0) - channel_frequency_hz(0, 47), -244140.625);
  const auto act = active_station_indices(6);
  EXPECT_EQ(act.front(), 0);
  EXPECT_EQ(act.back(), 116);  // outrigger included
  EXPECT_EQ(std::set<int>(act.begin(), act.end()).size(), 6u);
}

TEST(SimulatorSky, RandomFluxesFollowTheRequestedCounts) {
  // Euclidean counts (slope 2.5) on [0.05, 2] Jy: N(>S) ∝ S^-1.5, so the
  // fraction above 0.2 Jy is (0.2^-1.5 - 2^-1.5) / (0.05^-1.5 - 2^-1.5) = 0.121;
  // log-uniform (slope 1) puts ln(10)/ln(40) = 0.624 there.
  auto fraction_above = [](double slope, double s) {
    int n = 0;
    const int total = 20000;
    for (int k = 0; k < total; ++k) n += power_law_flux(0.05, 2.0, slope, (k + 0.5) / total) > s;
    return static_cast<double>(n) / total;
  };
  EXPECT_NEAR(fraction_above(2.5, 0.2), 0.121, 0.002);
  EXPECT_NEAR(fraction_above(1.0, 0.2), 0.624, 0.002);
  EXPECT_DOUBLE_EQ(power_law_flux(0.05, 2.0, 2.5, 0.0), 0.05);
  EXPECT_NEAR(power_law_flux(0.05, 2.0, 2.5, 1.0), 2.0, 1e-12);
}

TEST_F(SimulatorTest, WritesAGroupInTheDsa110Layout) {
  const Simulator sim(site().observatory, site().stations);
  const auto res = sim.run(tiny(), dir_.path());
  ASSERT_EQ(res.files.size(), 16u);
  EXPECT_EQ(res.group_id, "2025-03-01T10:00:00");
  EXPECT_EQ(res.files[0].filename(), "2025-03-01T10:00:00_sb00.hdf5");
  const std::regex name(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d_sb(\d\d)\.hdf5)");
  for (std::size_t k = 0; k < res.files.size(); ++k) {
    std::smatch m;
    const std::string fname = res.files[k].filename().string();
    ASSERT_TRUE(std::regex_match(fname, m, name)) << fname;
    EXPECT_EQ(std::stoi(m[1]), static_cast<int>(k));
    const uvh5::Uvh5File f(res.files[k], uvh5::CacheProfile::kStandard);
    const auto h = f.read_header();
    EXPECT_EQ(h.nants_telescope, 117);
    EXPECT_EQ(h.nants_data, 5);
    EXPECT_EQ(h.nbls, 15);  // autocorrelations included
    EXPECT_EQ(h.nblts, 45);
    EXPECT_EQ(h.polarization, (std::vector<std::int64_t>{-5, -6}));
    EXPECT_TRUE(h.freq_descending());
    EXPECT_DOUBLE_EQ(h.freq_hz.front(), channel_frequency_hz(static_cast<int>(k), 0, 4));
    EXPECT_DOUBLE_EQ(h.integration_time_s, 12.884902);
    EXPECT_EQ(h.visdata.shape.size(), 4u);
    EXPECT_NEAR(*h.pointing_dec_rad(), 54.6 * M_PI / 180, 1e-15);
    EXPECT_EQ(h.extra_keywords.at("phase_center_epoch"), "HADEC");
    // Time-major rows; uvw constant per baseline (fringe-stopped at the meridian).
    for (std::int64_t r = 15; r < h.nblts; ++r) {
      EXPECT_EQ(h.uvw_m[static_cast<std::size_t>(r)], h.uvw_m[static_cast<std::size_t>(r % 15)]);
      EXPECT_GT(h.time_jd[static_cast<std::size_t>(r)], h.time_jd[static_cast<std::size_t>(r - 15)] - 1e-12);
    }
    EXPECT_FALSE(fs::exists(res.files[k].string() + ".part"));
  }
  ASSERT_TRUE(fs::exists(res.truth));
  const auto truth = nlohmann::json::parse(std::ifstream(res.truth));
  EXPECT_EQ(truth["active_stations"].size(), 5u);
  EXPECT_EQ(truth["files"].size(), 16u);
}

TEST_F(SimulatorTest, UnitGainsNoNoisePointSourceAtPhaseCentreGivesItsFlux) {
  auto spec = tiny();
  spec.apply_gains = false;
  spec.calibrator_at_transit = true;
  spec.calibrator_flux_jy = 7.0;
  spec.ntimes = 1;  // the one integration sits at mid-group: the source is at the phase centre
  spec.subbands = {0};
  const Simulator sim(site().observatory, site().stations);
  const auto res = sim.run(spec, dir_.path());
  const uvh5::Uvh5File f(res.files[0], uvh5::CacheProfile::kStandard);
  const auto h = f.read_header();
  std::vector<std::complex<float>> vis(static_cast<std::size_t>(h.nblts * h.nfreqs * h.npols));
  f.read_rows(h, 0, static_cast<std::uint64_t>(h.nblts), {vis, {}, {}});
  for (std::int64_t r = 0; r < h.nblts; ++r) {
    const bool autocorr = h.ant_1[static_cast<std::size_t>(r)] == h.ant_2[static_cast<std::size_t>(r)];
    for (int c = 0; c < h.nfreqs * h.npols; ++c) {
      const auto v = vis[static_cast<std::size_t>(r * h.nfreqs * h.npols + c)];
      const double expect = autocorr ? 7.0 + 5000.0 : 7.0;
      // At transit on the phase centre: phase 0, amplitude = flux (beam = 1).
      EXPECT_NEAR(std::abs(v), expect, 1e-3 * expect) << "row " << r;
      if (!autocorr) {
        EXPECT_NEAR(std::arg(v), 0.0, 2e-3) << "row " << r;
      }
    }
  }
}

TEST_F(SimulatorTest, IsDeterministicAndWritesOnlyRequestedSubbands) {
  auto spec = tiny();
  spec.subbands = {0, 3, 7};
  spec.noise_jy = 0.5;
  spec.rfi_bursts = 2;
  const Simulator sim(site().observatory, site().stations);
  const auto a = sim.run(spec, dir_ / "a");
  const auto b = sim.run(spec, dir_ / "b");
  ASSERT_EQ(a.files.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(a.files[k].filename(), b.files[k].filename());
    const auto read = [](const fs::path& p) {
      const uvh5::Uvh5File f(p, uvh5::CacheProfile::kStandard);
      const auto h = f.peek();
      std::vector<std::complex<float>> v(static_cast<std::size_t>(h.nblts * h.nfreqs * h.npols));
      f.read_rows(h, 0, static_cast<std::uint64_t>(h.nblts), {v, {}, {}});
      return v;
    };
    EXPECT_EQ(read(a.files[k]), read(b.files[k]));
  }
}

}  // namespace
}  // namespace contimg::simulation
