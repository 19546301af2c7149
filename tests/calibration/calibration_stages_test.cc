// SolveStage and ApplyStage through the StageRunner on a tiny simulated
// calibrator transit (3C286 put at transit, the converter names the field,
// the default model is found from that name): the chain contract's outputs,
// the registry, is_done/restore on a second run, and applying a set that
// failed QA never happens.
#include <gtest/gtest.h>

#include <cmath>

#include "calibration/apply_stage.h"
#include "calibration/solve_stage.h"
#include "orchestration/orchestrator.h"
#include "catalog/calibrator_models.h"
#include "catalog/vla_calibrators.h"
#include "common/build_info.h"
#include "conversion/group_converter.h"
#include "grouping/subband_name.h"
#include "io/uvh5/hdf5_handle.h"
#include "pipeline/runner.h"
#include "simulation/calibrator_transit.h"
#include "simulation/simulator.h"
#include "state/calsets.h"
#include "state/state_db.h"
#include "support/tiny_uvh5.h"

namespace contimg::calibration {
namespace {

namespace fs = std::filesystem;

class CalibrationStagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uvh5::initialize_hdf5(build::kHdf5PluginDir);
    const auto site = astro::load_site_data(build::kDataDir);
    const auto list = catalog::load_vla_calibrators(catalog::vla_calibrator_path(build::kDataDir));
    const auto cal = catalog::find_calibrator(list, "3C286");
    ASSERT_TRUE(cal);
    simulation::SimulationSpec spec;
    spec.nants = 14;
    spec.ntimes = 4;
    spec.nchan = 2;
    spec.noise_jy = 0.02;
    simulation::put_calibrator_at_transit(spec, *cal, site.observatory, "2025-01-01");
    const auto res = simulation::Simulator(site.observatory, site.stations).run(spec, dir_ / "in");
    std::vector<conversion::SubbandFile> files;
    for (const auto& f : res.files) files.push_back({grouping::parse_subband_name(f.filename().string()).name->subband, f});
    const conversion::GroupConverter conv(site, {{"3C286", cal->ra_rad, cal->dec_rad, 15.0}}, {});
    const auto r = conv.convert(res.group_id, files, dir_ / "out");
    ASSERT_EQ(r.calibrator_field.rfind("3C286_t", 0), 0u) << r.calibrator_field;
    ms_ = r.ms_path;
    group_ = res.group_id;
    config::LoadOptions lo;
    lo.overrides = {{"paths.state_db", (dir_ / "state.sqlite3").string(), "test"}};
    cfg_ = std::make_shared<const config::Config>(config::Config::load(lo));
  }

  // As the chain runs them: jobs of the orchestrator, which stores the
  // stages' records (the stages never open the database).
  pipeline::RunReport run_chain() const {
    std::vector<std::unique_ptr<pipeline::Stage>> stages;
    stages.push_back(std::make_unique<SolveStage>(*cfg_));
    stages.push_back(std::make_unique<ApplyStage>(*cfg_));
    state::StateDb db(dir_ / "state.sqlite3");
    orchestration::Orchestrator orch(db, dir_ / "out", orchestration::OrchestratorSettings::from_config(*cfg_),
                                     nullptr);
    orchestration::Segment seg;
    seg.running = std::nullopt;
    seg.done = std::nullopt;
    return orch.run(stages, pipeline::Context(cfg_, group_, {{"ms_path", ms_.string()}}), seg);
  }

  test::TempDir dir_;
  fs::path ms_;
  std::string group_;
  std::shared_ptr<const config::Config> cfg_;
};

TEST_F(CalibrationStagesTest, SolveThenApplyGiveTheContractOutputsAndResume) {
  const auto first = run_chain();
  ASSERT_TRUE(first.ok) << first.stages.front().error << first.stages.back().error;
  const auto& out = *first.final_context;
  EXPECT_EQ(out.get_string("calset_status"), "passed") << out.get_string("calset_reason");
  EXPECT_EQ(out.get_string("calset_id"), group_ + "_3C286");
  EXPECT_TRUE(out.get_bool("calibrated"));
  EXPECT_EQ(out.get_string("applied_calset_id"), group_ + "_3C286");
  state::StateDb db(dir_ / "state.sqlite3");
  ASSERT_EQ(state::list_calsets(db).size(), 1u);

  EXPECT_EQ(state::list_calsets(db).front().out_root, (dir_ / "out").string()) << "scoped to the job's tree";

  // Second run: both done (restored outputs: the MS holds the set apply would
  // choose), same set, no new row.
  const auto second = run_chain();
  ASSERT_TRUE(second.ok);
  EXPECT_EQ(second.stages.front().outcome, pipeline::Outcome::kSkipped);
  EXPECT_EQ(second.stages.back().outcome, pipeline::Outcome::kSkipped);
  EXPECT_EQ(second.final_context->get_string("calset_status"), "passed");
  EXPECT_EQ(second.final_context->get_string("applied_calset_id"), group_ + "_3C286");
  EXPECT_EQ(state::list_calsets(db).size(), 1u);
}

TEST_F(CalibrationStagesTest, AFailedSetIsReportedNotThrownAndNeverApplied) {
  config::LoadOptions lo;
  lo.overrides = {{"paths.state_db", (dir_ / "state.sqlite3").string(), "test"},
                  {"calibration.min_antennas", "100", "test"}};  // 14 antennas cannot pass
  cfg_ = std::make_shared<const config::Config>(config::Config::load(lo));
  const auto r = run_chain();
  ASSERT_TRUE(r.ok) << r.stages.front().error << r.stages.back().error;
  EXPECT_EQ(r.final_context->get_string("calset_status"), "failed");
  EXPECT_NE(r.final_context->get_string("calset_reason").find("antennas solved"), std::string::npos);
  EXPECT_FALSE(r.final_context->get_bool("calibrated"));
  EXPECT_EQ(r.final_context->get_string("applied_calset_id"), "");
}

}  // namespace
}  // namespace contimg::calibration
