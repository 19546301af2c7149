// `contimg solve MS [--model sky.json] [--refant NAME] [--json]`: bandpass and
// gains on a calibrator MS, CASA tables beside it, the set registered with
// its QA (SPEC §5). A set that fails QA is recorded and reported (exit code
// 1); it is never applied.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "calibration/solve_stage.h"
#include "cli/app.h"
#include "cli/single_stage.h"
#include "state/state_db.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "state/calsets.h"
#include "state/state_db.h"

namespace contimg::cli {

void register_solve_command(CLI::App& app, CommandContext& ctx) {
  auto req = std::make_shared<calibration::SolveRequest>();
  auto ms = std::make_shared<std::string>();
  auto model = std::make_shared<std::string>();
  auto db = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "solve",
      "Solve bandpass and gains on a calibrator MS; write CASA B/G tables; register the set");
  cmd->add_option("ms", *ms, "Measurement Set of a calibrator transit")->required();
  cmd->add_option("--model", *model,
                  "Sky-model JSON (a SkyModel, or a simulator truth file's sky) instead of the "
                  "calibrator field's VLA calibrator")
      ->check(CLI::ExistingFile);
  cmd->add_option("--refant", req->refant, "Reference antenna (name or index; default automatic)");
  cmd->add_option("--db", *db, "State database (= paths.state_db)");
  auto group = std::make_shared<std::string>();
  cmd->add_option("--group", *group,
                  "Group id of an MS the pipeline did not make (default: the indexed group of its first integration)");
  cmd->callback([&ctx, req, ms, model, db, group] {
    if (!db->empty()) ctx.command_overrides.push_back({"paths.state_db", *db, "--db"});
    ctx.action = [&ctx, req, ms, model, group] {
      const auto path = std::filesystem::absolute(*ms).lexically_normal();
      req->model_json = *model;
      for (const auto& a : ctx.argv) req->command_line += (req->command_line.empty() ? "" : " ") + a;
      state::StateDb sdb(state::StateDb::resolve_path(ctx.config()));
      const auto job = job_for_ms(sdb, path, *group);
      calibration::SolveStage stage(ctx.config(), *req, /*require_calibrator=*/true);
      const pipeline::Context start(ctx.shared_config(), job.group_id, {{"ms_path", path.string()}},
                                    &ctx.interrupts());
      // An explicit solve always solves again (the set is replaced).
      run_stage_job(ctx, sdb, stage, start, job.out_root, /*force=*/true, "solve " + path.string());
      if (!stage.outcome()) throw Error("solve " + path.string() + ": the stage returned no outcome");
      const auto& o = *stage.outcome();
      if (ctx.json()) {
        std::cout << to_json(o).dump(2) << "\n";
      } else {
        std::cout << fmt::format("calset {}: {} (grade {})\n", o.calset_id, o.status, o.qa.grade);
        std::cout << fmt::format("  calibrator {}, reference antenna {}\n", o.calibrator, o.refant);
        std::cout << fmt::format(
            "  antennas solved {}/{}, bandpass flagged {:.1f}%, gains flagged {:.1f}%, median SNR "
            "{:.1f}\n",
            o.qa.antennas_solved, o.qa.antennas_with_data, 100 * o.qa.bandpass_flagged_fraction,
            100 * o.qa.gain_flagged_fraction, o.qa.median_snr);
        for (const auto& r : o.qa.reasons) std::cout << "  QA failure: " << r << "\n";
        for (const auto& w : o.qa.warnings) std::cout << "  QA warning: " << w << "\n";
        std::cout << fmt::format(
            "  model: reduced chi2 {:.2f}, explains {:.1f}% of the sky power (raw {:.3f})\n",
            o.qa.model.reduced_chi2, 100 * o.qa.model.signal_explained, o.qa.model.explained);
        std::cout << fmt::format("  bandpass {}\n  gains    {}\n", o.bandpass_table.string(),
                                 o.gain_table.string());
        for (const auto& p : o.plots) std::cout << "  plot     " << p.string() << "\n";
        std::cout << fmt::format("  {:.2f} s ({:.1f} MB read, {:.0f} MB/s)\n", o.seconds,
                                 o.bytes_read / 1e6,
                                 o.seconds > 0 ? o.bytes_read / 1e6 / o.seconds : 0.0);
      }
      return o.qa.passed ? 0 : static_cast<int>(ExitCode::kFailure);
    };
  });
}

}  // namespace contimg::cli
