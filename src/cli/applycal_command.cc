// `contimg applycal MS [--calset ID] [--check-model sky.json] [--json]`:
// CORRECTED_DATA from DATA with the nearest valid passed calibration set
// (SPEC §5). Without a valid set: calibration.when_uncalibrated decides
// (skip: exit 0, "not calibrated"; fail: exit 3).
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "calibration/apply_stage.h"
#include "cli/app.h"
#include "cli/single_stage.h"
#include "state/state_db.h"
#include "common/error.h"
#include "common/interrupts.h"

namespace contimg::cli {

void register_applycal_command(CLI::App& app, CommandContext& ctx) {
  auto req = std::make_shared<calibration::ApplyRequest>();
  auto ms = std::make_shared<std::string>();
  auto model = std::make_shared<std::string>();
  auto db = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("applycal", "Write CORRECTED_DATA with the nearest valid calibration set");
  cmd->add_option("ms", *ms, "Measurement Set")->required();
  cmd->add_option("--calset", req->calset_id, "Calibration set id (default: the valid passed set nearest in time)");
  cmd->add_option("--check-model", *model, "Sky-model JSON to compare the calibrated data with (flux ratio per SPW, residual rms)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--db", *db, "State database (= paths.state_db)");
  auto group = std::make_shared<std::string>();
  cmd->add_option("--group", *group,
                  "Group id of an MS the pipeline did not make (default: the indexed group of its first integration)");
  cmd->callback([&ctx, req, ms, model, db, group] {
    if (!db->empty()) ctx.command_overrides.push_back({"paths.state_db", *db, "--db"});
    ctx.action = [&ctx, req, ms, model, group] {
      const auto path = std::filesystem::absolute(*ms).lexically_normal();
      req->check_model = *model;
      state::StateDb sdb(state::StateDb::resolve_path(ctx.config()));
      const auto job = job_for_ms(sdb, path, *group);
      calibration::ApplyStage stage(ctx.config(), *req);
      const pipeline::Context start(ctx.shared_config(), job.group_id, {{"ms_path", path.string()}},
                                    &ctx.interrupts());
      // An explicit applycal always writes CORRECTED_DATA again.
      run_stage_job(ctx, sdb, stage, start, job.out_root, /*force=*/true, "applycal " + path.string());
      if (!stage.outcome()) throw Error("applycal " + path.string() + ": the stage returned no outcome");
      const auto& o = *stage.outcome();
      if (ctx.json()) {
        std::cout << to_json(o).dump(2) << "\n";
        return 0;
      }
      if (!o.calibrated) {
        std::cout << fmt::format("{}: not calibrated: {}\n", o.group_id, o.reason);
        return 0;
      }
      std::cout << fmt::format("{}: applied calset {} ({:.1f} h away) in {:.2f} s ({:.0f} MB/s read)\n", o.group_id,
                               o.calset_id, o.hours_from_calset, o.seconds,
                               o.seconds > 0 ? o.bytes_read / 1e6 / o.seconds : 0.0);
      std::cout << fmt::format("  {} samples, {} flagged before, {} newly flagged by solutions\n", o.stats.samples,
                               o.stats.flagged_before, o.stats.flagged_by_solutions);
      if (!o.model_ratio.empty()) {
        double lo = o.model_ratio.front(), hi = lo;
        for (double r : o.model_ratio) lo = std::min(lo, r), hi = std::max(hi, r);
        std::cout << fmt::format("  calibrated/model flux per SPW: {:.4f} .. {:.4f}; residual rms {:.4g} Jy\n", lo, hi,
                                 o.residual_rms);
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
