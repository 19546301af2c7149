// SolveStage and ApplyStage through the StageRunner on a tiny simulated
// calibrator transit (3C286 put at transit, the converter names the field,
// the default model is found from that name): the chain contract's outputs,
// the registry, is_done/restore on a second run, and applying a set that
// failed QA never happens.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "calibration/apply_stage.h"
#include "calibration/solve_stage.h"
#include "catalog/calibrator_models.h"
#include "catalog/vla_calibrators.h"
#include "common/build_info.h"
#include "common/error.h"
#include "conversion/group_converter.h"
#include "grouping/subband_name.h"
#include "imaging/image_stage.h"
#include "imaging/imaging_ms.h"
#include "io/ms/casa_table.h"
#include "io/uvh5/hdf5_handle.h"
#include "orchestration/orchestrator.h"
#include "pipeline/runner.h"
#include "simulation/calibrator_transit.h"
#include "simulation/simulator.h"
#include "state/calsets.h"
#include "state/images.h"
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
  // applycal's own pass (the chain's default defers it to the image stage's, below).
  config::LoadOptions lo;
  lo.overrides = {{"paths.state_db", (dir_ / "state.sqlite3").string(), "test"},
                  {"calibration.apply_in_image_pass", "false", "test"}};
  cfg_ = std::make_shared<const config::Config>(config::Config::load(lo));
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

// calibration.write_corrected_data = false: applycal chooses and checks the
// set but writes nothing, and the imaging MS written from DATA with the set
// applied in the same pass is bit-identical to the one written from the
// CORRECTED_DATA an applycal writes (issue 14 item 4).
TEST_F(CalibrationStagesTest, ApplyingWhileImagingGivesTheSameImagingMsAsCorrectedData) {
  config::LoadOptions lo;
  lo.overrides = {{"paths.state_db", (dir_ / "state.sqlite3").string(), "test"},
                  {"calibration.write_corrected_data", "false", "test"}};
  cfg_ = std::make_shared<const config::Config>(config::Config::load(lo));
  const auto deferred = run_chain();
  ASSERT_TRUE(deferred.ok) << deferred.stages.front().error << deferred.stages.back().error;
  const std::string id = group_ + "_3C286";
  EXPECT_TRUE(deferred.final_context->get_bool("calibrated"));
  EXPECT_EQ(deferred.final_context->get_string("applied_calset_id"), id);
  EXPECT_FALSE(imaging::ms_has_column(ms_, "CORRECTED_DATA")) << "nothing written";
  // Rerun: the deferred apply is done (its job is; it has no product) and
  // restored by choosing again: the same set, not run a second time (a queue
  // worker's later jobs restore it; before, each ran it again).
  const auto again = run_chain();
  ASSERT_TRUE(again.ok);
  EXPECT_EQ(again.stages.back().outcome, pipeline::Outcome::kSkipped);
  EXPECT_EQ(again.final_context->get_string("applied_calset_id"), id);
  EXPECT_TRUE(again.final_context->get_bool("calibrated"));

  const auto site = astro::load_site_data(build::kDataDir);
  state::StateDb db(dir_ / "state.sqlite3");
  const auto set = state::calset(db, id);
  ASSERT_TRUE(set);
  const MsVisibilities vis(ms_);
  const auto solution = std::make_shared<const CalSolution>(load_solution(*set, vis.meta()));
  ApplyStats stats;
  imaging::ImagingMsOptions fused;
  fused.data_column = "DATA";
  fused.max_channel_width_hz = 1e6;
  fused.merge_spws = true;
  fused.correct = [&](int spw, std::span<const double> t, std::span<const int> a1,
                      std::span<const int> a2, std::size_t nchan, std::size_t ncorr,
                      std::span<std::complex<float>> d, std::span<std::uint8_t> f) {
    apply_solution(*solution, VisRows{spw, t.size(), nchan, ncorr, t, a1, a2, d, f}, stats);
  };
  fused.correct_label = "calset " + id;
  const auto a = imaging::make_imaging_ms(ms_, dir_ / "fused.ms", site.observatory, fused);
  EXPECT_EQ(a.source_column, "DATA");
  EXPECT_EQ(a.applied_in_pass, "calset " + id);
  EXPECT_GT(stats.samples, 0u);

  // The chain's default (calibration.apply_in_image_pass): applycal defers
  // and the image stage's pass writes CORRECTED_DATA and FLAG as it goes, as
  // image_stage.cc does, here on a copy of the MS.
  const fs::path copy = dir_ / "copy.ms";
  fs::copy(ms_, copy, fs::copy_options::recursive);
  {
    MsVisibilities out(copy, /*writable=*/true);
    out.ensure_corrected_data();
    imaging::ImagingMsOptions in_pass = fused;
    bool done = false;
    in_pass.write_back = [&](std::uint64_t row0, std::size_t n, std::size_t nchan,
                             std::size_t ncorr, std::span<const std::complex<float>> d,
                             std::span<const std::uint8_t> f) {
      out.write_corrected_rows(row0, n, nchan, ncorr, d, f);
    };
    in_pass.write_back_done = [&] {
      out.flush();
      done = true;
    };
    const auto c = imaging::make_imaging_ms(copy, dir_ / "in_pass.ms", site.observatory, in_pass);
    EXPECT_TRUE(done);
    EXPECT_EQ(c.rows, a.rows);
    EXPECT_GT(out.bytes_written(), 0u);
    // Sizes that disagree are refused, naming the MS.
    const std::vector<std::complex<float>> one(3);
    const std::vector<std::uint8_t> one_flag(3);
    try {
      out.write_corrected_rows(0, 1, 2, 2, one, one_flag);
      ADD_FAILURE() << "3 values for 1 row x 2 channels x 2 correlations accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("copy.ms"), std::string::npos) << e.what();
    }
  }

  // The two-pass route: applycal writes CORRECTED_DATA, the imaging MS reads it.
  config::LoadOptions write;
  write.overrides = {{"paths.state_db", (dir_ / "state.sqlite3").string(), "test"},
                     {"calibration.apply_in_image_pass", "false", "test"}};
  cfg_ = std::make_shared<const config::Config>(config::Config::load(write));
  const auto written = run_chain();
  ASSERT_TRUE(written.ok);
  ASSERT_TRUE(imaging::ms_has_column(ms_, "CORRECTED_DATA"));
  imaging::ImagingMsOptions two_pass = fused;
  two_pass.data_column = "auto";
  two_pass.correct = nullptr;
  two_pass.correct_label.clear();
  const auto b = imaging::make_imaging_ms(ms_, dir_ / "two_pass.ms", site.observatory, two_pass);
  EXPECT_EQ(b.source_column, "CORRECTED_DATA");
  ASSERT_EQ(a.rows, b.rows);

  const ms::CasaTable ta((dir_ / "fused.ms").string()), tb((dir_ / "two_pass.ms").string());
  ASSERT_EQ(ta.nrow(), tb.nrow());
  const auto da = ta.get_range<std::complex<float>>("DATA", 0, ta.nrow());
  const auto db_ = tb.get_range<std::complex<float>>("DATA", 0, tb.nrow());
  ASSERT_EQ(da.values.size(), db_.values.size());
  std::size_t differ = 0, nonzero = 0;
  for (std::size_t i = 0; i < da.values.size(); ++i) {
    if (da.values[i] != db_.values[i]) ++differ;
    if (da.values[i] != std::complex<float>(0, 0)) ++nonzero;
  }
  EXPECT_EQ(differ, 0u) << "DATA differs";
  EXPECT_GT(nonzero, da.values.size() / 2);
  EXPECT_EQ(ta.get_range<std::uint8_t>("FLAG", 0, ta.nrow()).values,
            tb.get_range<std::uint8_t>("FLAG", 0, tb.nrow()).values);
  EXPECT_EQ(ta.get_range<float>("WEIGHT_SPECTRUM", 0, ta.nrow()).values,
            tb.get_range<float>("WEIGHT_SPECTRUM", 0, tb.nrow()).values);
  // Not the trivial case: the solution changes the data (gains are not 1).
  const auto raw = imaging::make_imaging_ms(ms_, dir_ / "raw.ms", site.observatory, [&] {
    auto o = two_pass;
    o.data_column = "DATA";
    return o;
  }());
  const ms::CasaTable tr((dir_ / "raw.ms").string());
  const auto dr = tr.get_range<std::complex<float>>("DATA", 0, tr.nrow());
  std::size_t changed = 0;
  for (std::size_t i = 0; i < dr.values.size(); ++i) changed += dr.values[i] != da.values[i];
  EXPECT_GT(changed, dr.values.size() / 2);

  // The in-pass route wrote the CORRECTED_DATA and FLAG applycal's pass wrote,
  // bit for bit, and the same imaging MS.
  const ms::CasaTable tm(ms_.string()), tc(copy.string());
  ASSERT_EQ(tm.nrow(), tc.nrow());
  const auto cm = tm.get_range<std::complex<float>>("CORRECTED_DATA", 0, tm.nrow());
  const auto cc = tc.get_range<std::complex<float>>("CORRECTED_DATA", 0, tc.nrow());
  ASSERT_EQ(cm.values.size(), cc.values.size());
  std::size_t corrected_differ = 0;
  for (std::size_t i = 0; i < cm.values.size(); ++i)
    corrected_differ += cm.values[i] != cc.values[i];
  EXPECT_EQ(corrected_differ, 0u) << "CORRECTED_DATA differs";
  EXPECT_EQ(tm.get_range<std::uint8_t>("FLAG", 0, tm.nrow()).values,
            tc.get_range<std::uint8_t>("FLAG", 0, tc.nrow()).values);
  const ms::CasaTable ti((dir_ / "in_pass.ms").string());
  EXPECT_EQ(ti.get_range<std::complex<float>>("DATA", 0, ti.nrow()).values, da.values);
}

// The chain's default: applycal defers to the image stage's pass, and the
// image stage is not done until the MS's CORRECTED_DATA holds the set (an
// image made with calibration.write_corrected_data = false, the setting then
// turned on: CORRECTED_DATA must still be written).
TEST_F(CalibrationStagesTest, DeferredApplyLeavesTheImageStageUndoneUntilTheMsHoldsTheSet) {
  const auto r = run_chain();
  ASSERT_TRUE(r.ok) << r.stages.front().error << r.stages.back().error;
  const std::string id = group_ + "_3C286";
  EXPECT_EQ(r.final_context->get_string("applied_calset_id"), id);
  EXPECT_FALSE(imaging::ms_has_column(ms_, "CORRECTED_DATA"))
      << "deferred: nothing written by applycal";
  EXPECT_EQ(r.stages.back().outcome, pipeline::Outcome::kCompleted);

  state::StateDb db(dir_ / "state.sqlite3");
  const fs::path products = dir_ / "products";
  const auto p = imaging::ImageProducts::in(products, group_);
  fs::create_directories(products);
  for (const auto& f : {p.image, p.residual, p.model, p.psf, p.pb, p.pbcor, p.quicklook})
    std::ofstream(f) << "x";
  state::ImageRecord rec;
  rec.group_id = group_;
  rec.ms_path = ms_.string();
  rec.data_column = "DATA calibrated while imaging";
  rec.calset_id = id;
  rec.image_path = p.image.string();
  rec.pbcor_path = p.pbcor.string();
  rec.contimg_version = "test";
  state::upsert_image(db, rec);
  const orchestration::DbStateView view(db, (dir_ / "out").string());
  const auto ctx = pipeline::Context(cfg_, group_,
                                     {{"ms_path", ms_.string()},
                                      {"products_dir", products.string()},
                                      {"applied_calset_id", id}})
                       .with_state(&view);
  const imaging::ImageStage stage(*cfg_);
  EXPECT_FALSE(stage.is_done(ctx)) << "CORRECTED_DATA does not hold the set yet";
  {
    MsVisibilities vis(ms_, /*writable=*/true);
    vis.ensure_corrected_data();
    vis.set_applied_calset(id);
  }
  EXPECT_TRUE(stage.is_done(ctx));
  // And applycal is skipped on a rerun (its job is done), restoring the set.
  const auto again = run_chain();
  ASSERT_TRUE(again.ok);
  EXPECT_EQ(again.stages.back().outcome, pipeline::Outcome::kSkipped);
  EXPECT_EQ(again.final_context->get_string("applied_calset_id"), id);
}

}  // namespace
}  // namespace contimg::calibration
