// `contimg retry GROUP [--stage S] [--out DIR]`: re-queues a group's failed or
// discarded jobs (all of them, or the one of stage S) in an output tree and
// makes the group pending again, so that a running `contimg stream` (at its
// next listing, stream.rescan_s) or the next `run` takes it up. Attempts are
// kept (docs/service.md "Operating").
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/chain_output.h"
#include "common/error.h"
#include "state/jobs.h"
#include "state/state_db.h"

namespace contimg::cli {
namespace fs = std::filesystem;

void register_retry_command(CLI::App& app, CommandContext& ctx) {
  struct Options {
    std::string group, stage, out = "contimg-out";
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("retry", "Re-queue a group's failed or discarded job(s)");
  cmd->add_option("group", o->group, "Group id (YYYY-MM-DDTHH:MM:SS)")->required();
  cmd->add_option("--stage", o->stage,
                  "Only this stage's job: convert, flag, solve, applycal, image, validate");
  cmd->add_option("--out", o->out, "Output directory the jobs write into")->capture_default_str();
  cmd->callback([&ctx, o] {
    add_output_dir_overrides(ctx, o->out);
    ctx.action = [&ctx, o] {
      state::StateDb::Options opt;
      opt.create = false;
      state::StateDb db(state::StateDb::resolve_path(ctx.config()), opt);
      const std::string root = fs::absolute(o->out).lexically_normal().string();
      if (!db.group(o->group)) {
        throw InputError(fmt::format("retry: no group {} in {}", o->group, db.path().string()));
      }
      state::JobStore jobs(db.database());
      std::vector<std::string> requeued;
      {
        auto tx = db.transaction();
        for (const auto& j : jobs.jobs_of_group(o->group)) {
          if (j.key.out_root != root || (!o->stage.empty() && j.key.stage != o->stage)) continue;
          if (jobs.requeue(j.key)) requeued.push_back(j.key.stage);
        }
        if (!requeued.empty()) {
          db.set_group_state(o->group, state::GroupState::kPending,
                             fmt::format("retry: {} re-queued", fmt::join(requeued, ", ")));
        }
        tx.commit();
      }
      if (requeued.empty()) {
        throw InputError(fmt::format("retry: group {} has no failed or discarded job{} in {}",
                                     o->group, o->stage.empty() ? "" : " of stage " + o->stage,
                                     root));
      }
      if (ctx.json()) {
        std::cout
            << nlohmann::json{{"ok", true}, {"group_id", o->group}, {"requeued", requeued}}.dump(2)
            << "\n";
      } else {
        std::cout << fmt::format("retry: {}: re-queued {}\n", o->group, fmt::join(requeued, ", "));
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
