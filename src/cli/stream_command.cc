// `contimg stream --input DIR --out DIR`: the chain as an unattended service
// (issue 12; docs/service.md). Runs until SIGTERM/SIGINT (exit 0 once the
// running stages finished or were cancelled within stream.stop_timeout_s) or,
// with --exit-when-idle SECONDS, until nothing arrived, waited or ran that long.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/chain_output.h"
#include "common/error.h"
#include "service/stream_service.h"

namespace contimg::cli {
namespace fs = std::filesystem;

void register_stream_command(CLI::App& app, CommandContext& ctx) {
  struct Options {
    std::string input, out = "contimg-out", reference;
    double exit_when_idle = 0;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "stream",
      "Watch a directory and run the chain on each group as it completes (a service); with a "
      "PostgreSQL state database, queue each group for `contimg worker`s instead");
  cmd->add_option("--input", o->input, "Directory the subband files arrive in")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", o->out,
                  "Output directory: ms/, products/<group>/, and (unless configured) the state "
                  "database and scratch space")
      ->capture_default_str();
  cmd->add_option("--reference", o->reference,
                  "Reference catalogue for validation (default: <group>.truth.json beside the "
                  "input files, else validation.reference_catalogue)");
  cmd->add_option("--exit-when-idle", o->exit_when_idle,
                  "Exit 0 when nothing has arrived, waited or run for this many seconds (batch "
                  "use, tests); 0 = run until a signal")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  auto db = std::make_shared<std::string>();
  add_db_option(cmd, db);
  cmd->callback([&ctx, o, db] {
    if (!db->empty()) ctx.command_overrides.push_back({"paths.state_db", *db, "--db"});
    add_output_dir_overrides(ctx, o->out);
    ctx.action = [&ctx, o] {
      service::StreamOptions so;
      so.input_dir = fs::absolute(o->input);
      so.layout.out_dir = fs::absolute(o->out);
      if (!o->reference.empty()) so.reference = fs::absolute(o->reference);
      so.exit_when_idle_s = o->exit_when_idle;
      so.command_line = ctx.argv;
      const auto summary = service::StreamService(ctx.shared_config(), ctx.interrupts()).run(so);
      if (ctx.json()) {
        std::cout << nlohmann::json{{"ok", true}, {"stream", summary.to_json()}}.dump(2) << "\n";
      } else {
        std::cout << fmt::format(
            "stream: {} file(s) registered; {} group(s) queued for workers, {} processed, {} "
            "failed, {} skipped, {} retry(ies) in {:.1f} s; ended by {}\n",
            summary.files_registered, summary.queued, summary.processed, summary.failed, summary.skipped,
            summary.retries, summary.wall_seconds, summary.ended_by);
      }
      return 0;  // a failed group is the service's normal business, not its failure
    };
  });
}

}  // namespace contimg::cli
