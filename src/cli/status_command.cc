// `contimg status [--out DIR] [--json]`: what the pipeline is doing, from the
// state database (docs/service.md "Status"): groups and jobs by state, stage
// latencies, failures, the real-time factor, free space per tier.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/chain_output.h"
#include "service/status.h"
#include "state/state_db.h"

namespace contimg::cli {
namespace fs = std::filesystem;

void register_status_command(CLI::App& app, CommandContext& ctx) {
  struct Options {
    std::string out, input;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("status",
                                 "Groups, jobs, latencies, failures and free space of a pipeline");
  cmd->add_option("--out", o->out,
                  "Output directory of a `stream` or `run` (its jobs, its service, and the state "
                  "database under it unless configured)");
  cmd->add_option("--input", o->input, "Input directory, shown as the input tier");
  cmd->callback([&ctx, o] {
    if (!o->out.empty()) add_output_dir_overrides(ctx, o->out);
    ctx.action = [&ctx, o] {
      state::StateDb::Options opt;
      opt.create = false;
      state::StateDb db(state::StateDb::resolve_path(ctx.config()), opt);
      service::StatusRequest req;
      if (!o->out.empty()) req.out_dir = fs::absolute(o->out);
      if (!o->input.empty()) req.input_dir = fs::absolute(o->input);
      const auto s = service::collect_status(db, ctx.config(), req);
      if (ctx.json()) {
        std::cout << s.dump(2) << "\n";
      } else {
        std::cout << service::format_status(s);
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
