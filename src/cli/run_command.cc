// `contimg run INPUT_DIR START END [--out DIR]`: the whole chain per group
// (convert → flag → solve → applycal → image → validate), resumable, with
// per-stage timing and a final summary (SPEC §8, issue 6).
#include <filesystem>
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "chain/chain_runner.h"
#include "cli/app.h"
#include "cli/chain_output.h"
#include "cli/empty_range.h"
#include "common/error.h"
#include "grouping/utc_time.h"

namespace contimg::cli {
namespace fs = std::filesystem;

void register_run_command(CLI::App& app, CommandContext& ctx) {
  struct Options {
    std::string input_dir, start, end, out = "contimg-out", reference;
    bool allow_incomplete = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "run", "The whole chain for every group of a UTC range: convert, flag, solve, apply, image, validate");
  cmd->add_option("input_dir", o->input_dir, "Directory of *_sbNN.hdf5 files")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("start", o->start, "First group time (UTC, YYYY-MM-DD[THH:MM:SS])")->required();
  cmd->add_option("end", o->end, "Last group time (UTC; a date alone = end of that day)")->required();
  cmd->add_option("--out", o->out,
                  "Output directory: ms/, products/<group>/, and (unless configured) the state "
                  "database and scratch space")->capture_default_str();
  cmd->add_option("--reference", o->reference,
                  "Reference catalogue for validation (default: <group>.truth.json beside the "
                  "input files, else validation.reference_catalogue)");
  cmd->add_flag("--allow-incomplete", o->allow_incomplete,
                "Process groups with >= grouping.min_subbands subbands (missing ones flagged)");
  cmd->callback([&ctx, o] {
    add_output_dir_overrides(ctx, o->out);
    ctx.action = [&ctx, o] {
      chain::ChainOptions co;
      co.input_dir = fs::absolute(o->input_dir);
      co.first_epoch = grouping::parse_utc_bound(o->start, false, "run: START");
      co.last_epoch = grouping::parse_utc_bound(o->end, true, "run: END");
      if (co.last_epoch < co.first_epoch) throw ConfigError("run: END is before START");
      co.layout.out_dir = fs::absolute(o->out);
      co.allow_incomplete = o->allow_incomplete;
      if (!o->reference.empty()) co.reference = fs::absolute(o->reference);
      co.command_line = ctx.argv;
      auto summary = chain::ChainRunner(ctx.shared_config(), &ctx.interrupts()).run(co);
      if (summary.groups.empty()) {
        // Throws InputError (exit 3) when the directory holds no subband file at all.
        summary.warnings.push_back(empty_range_warning(co.input_dir, co.first_epoch, co.last_epoch));
        spdlog::warn("run: {}", summary.warnings.back());
      }
      print_chain_summary(ctx, summary);
      return chain_exit_code(summary);
    };
  });
}

}  // namespace contimg::cli
