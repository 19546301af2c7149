#include "flagging/flag_stage.h"

#include <gtest/gtest.h>

#include <fstream>

#include "astro/site_data.h"
#include "common/build_info.h"
#include "common/error.h"
#include "conversion/group_converter.h"
#include "grouping/subband_name.h"
#include "io/uvh5/hdf5_handle.h"
#include "simulation/simulator.h"
#include "state/flag_stats.h"
#include "state/state_db.h"
#include "support/tiny_uvh5.h"

namespace contimg::flagging {
namespace {

namespace fs = std::filesystem;

// A tiny simulated group converted to an MS: 6 stations (1 24 47 71 94 117),
// station 47 dead, a 10 Jy calibrator, noise.
fs::path make_ms(const fs::path& dir) {
  uvh5::initialize_hdf5(build::kHdf5PluginDir);
  const auto site = astro::load_site_data(build::kDataDir);
  simulation::SimulationSpec spec;
  spec.nants = 6;
  spec.ntimes = 8;
  spec.nchan = 4;
  spec.noise_jy = 0.5;
  spec.calibrator_at_transit = true;
  spec.dead_stations = {47};
  spec.start_utc = "2025-03-01T10:00:00";
  const auto res = simulation::Simulator(site.observatory, site.stations).run(spec, dir / "in");
  std::vector<conversion::SubbandFile> files;
  for (const auto& f : res.files) {
    files.push_back({grouping::parse_subband_name(f.filename().string()).name->subband, f});
  }
  const conversion::GroupConverter conv(site, {}, {});
  return conv.convert(res.group_id, files, dir / "out").ms_path;
}

TEST(FlagStage, FlagsRecordsAndIsDoneUntilTheStrategyChanges) {
  test::TempDir dir;
  const fs::path ms = make_ms(dir.path());
  const fs::path strategy = dir / "s.lua";
  fs::copy_file(fs::path(build::kDataDir) / "strategies" / "dsa110-lband.lua", strategy);
  auto cfg = std::make_shared<const config::Config>(
      config::Config::defaults()
          .with_override({"paths.state_db", (dir / "state.sqlite3").string(), "test"})
          .with_override({"flagging.strategy", strategy.string(), "test"})
          .with_override({"flagging.threads", "2", "test"}));
  const pipeline::Context in(cfg, "2025-03-01T10:00:00", {{"ms_path", ms.string()}});
  FlagStage stage(*cfg);
  EXPECT_EQ(stage.name(), "flag");
  EXPECT_FALSE(stage.is_done(in));
  stage.validate(in);
  const auto out = stage.execute(in);
  const double f = out.get_double("flagged_fraction");
  EXPECT_EQ(out.get_strings("dead_antennas"), std::vector<std::string>{"DSA-047"});
  // The dead station's 5 cross baselines + autocorrelation of 21 rows per (time, SPW).
  EXPECT_GE(f, 6.0 / 21.0);
  EXPECT_LT(f, 6.0 / 21.0 + 0.05);
  EXPECT_GT(out.io().bytes_read, 0u);
  EXPECT_TRUE(stage.is_done(in));
  {
    state::StateDb db(dir / "state.sqlite3");
    const auto run = state::flag_run(db.database(), fs::absolute(ms).lexically_normal().string());
    ASSERT_TRUE(run);
    EXPECT_EQ(run->group_id.value_or(""), "2025-03-01T10:00:00");
    EXPECT_DOUBLE_EQ(run->flagged_after, f);
  }
  // A changed strategy text is a different strategy: not done any more.
  std::ofstream(strategy, std::ios::app) << "\n-- changed\n";
  EXPECT_FALSE(stage.is_done(in));
}

TEST(FlagStage, MissingMsFailsValidation) {
  test::TempDir dir;
  auto cfg = std::make_shared<const config::Config>(config::Config::defaults().with_override(
      {"paths.state_db", (dir / "state.sqlite3").string(), "test"}));
  const pipeline::Context in(cfg, "g", {{"ms_path", (dir / "none.ms").string()}});
  FlagStage stage(*cfg);
  EXPECT_FALSE(stage.is_done(in));
  EXPECT_THROW(stage.validate(in), InputError);
}

}  // namespace
}  // namespace contimg::flagging
