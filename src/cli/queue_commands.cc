// The job queue's commands (issue 13; docs/scale-out.md "Workers"):
//   contimg submit INPUT_DIR START END [--out DIR] [--allow-incomplete]
//     queues the groups of a UTC range (each group's first stage not done);
//   contimg worker [--stages S,...] [--max-jobs N] [--exit-when-idle S]
//     takes jobs from the queue until a signal, N jobs or S idle seconds.
// Both use the configured state database (`--db`, state.db_url): PostgreSQL
// for workers on several machines, SQLite for several on one.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/chain_output.h"
#include "common/error.h"
#include "grouping/utc_time.h"
#include "service/worker.h"

namespace contimg::cli {
namespace fs = std::filesystem;

void register_submit_command(CLI::App& app, CommandContext& ctx) {
  struct Options {
    std::string input_dir, start, end, out = "contimg-out";
    bool allow_incomplete = false;
  };
  auto o = std::make_shared<Options>();
  auto db = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "submit", "Queue the groups of a UTC range for workers (each group's first stage not done)");
  cmd->add_option("input_dir", o->input_dir, "Directory of *_sbNN.hdf5 files")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("start", o->start, "First group time (UTC, YYYY-MM-DD[THH:MM:SS])")->required();
  cmd->add_option("end", o->end, "Last group time (UTC; a date alone = end of that day)")
      ->required();
  cmd->add_option("--out", o->out,
                  "Output directory the jobs write into: ms/, products/<group>/ (and, unless "
                  "configured, the SQLite state database)")
      ->capture_default_str();
  cmd->add_flag("--allow-incomplete", o->allow_incomplete,
                "Queue groups with >= grouping.min_subbands subbands (missing ones flagged)");
  add_db_option(cmd, db);
  cmd->callback([&ctx, o, db] {
    if (!db->empty()) ctx.command_overrides.push_back({"paths.state_db", *db, "--db"});
    add_output_dir_overrides(ctx, o->out);
    ctx.action = [&ctx, o] {
      service::SubmitOptions so;
      so.input_dir = fs::absolute(o->input_dir);
      so.first_epoch = grouping::parse_utc_bound(o->start, false, "submit: START");
      so.last_epoch = grouping::parse_utc_bound(o->end, true, "submit: END");
      if (so.last_epoch < so.first_epoch) throw ConfigError("submit: END is before START");
      so.layout.out_dir = fs::absolute(o->out);
      so.allow_incomplete = o->allow_incomplete;
      const auto s = service::submit_range(ctx.shared_config(), so, &ctx.interrupts());
      if (ctx.json()) {
        std::cout << nlohmann::json{{"ok", true}, {"submit", s.to_json()}}.dump(2) << "\n";
      } else {
        std::cout << fmt::format(
            "submit: {} group(s) to process in {}: {} job(s) queued, {} already in the queue, {} "
            "done, {} with a failed job (contimg retry); {} skipped, {} failed by the "
            "incomplete-group policy\n",
            s.selected, s.database, s.queued, s.in_queue, s.done, s.failed_jobs, s.skipped,
            s.failed);
      }
      return 0;
    };
  });
}

void register_worker_command(CLI::App& app, CommandContext& ctx) {
  struct Options {
    std::vector<std::string> stages;
    int max_jobs = 0;
    double exit_when_idle = 0;
    std::string out = "contimg-out";
  };
  auto o = std::make_shared<Options>();
  auto db = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "worker", "Take jobs from the queue (any machine sharing the storage) until stopped");
  cmd->add_option("--stages", o->stages,
                  "Only jobs of these stages (comma-separated: convert, flag, solve, applycal, "
                  "image, validate); default any")
      ->delimiter(',');
  cmd->add_option("--max-jobs", o->max_jobs, "Exit 0 after this many jobs (0 = no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--exit-when-idle", o->exit_when_idle,
                  "Exit 0 when the queue has held no job of its stages, queued (even for later) "
                  "or running, for this many seconds (Slurm pilots, tests); 0 = run until a signal")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--out", o->out,
                  "Where the SQLite state database and scratch space are when not configured "
                  "(a PostgreSQL worker writes into each job's own output tree)")
      ->capture_default_str();
  add_db_option(cmd, db);
  cmd->callback([&ctx, o, db] {
    if (!db->empty()) ctx.command_overrides.push_back({"paths.state_db", *db, "--db"});
    add_output_dir_overrides(ctx, o->out);
    ctx.action = [&ctx, o] {
      service::WorkerOptions wo;
      wo.stages = o->stages;
      wo.max_jobs = o->max_jobs;
      wo.exit_when_idle_s = o->exit_when_idle;
      service::Worker worker(ctx.shared_config(), ctx.interrupts());
      const auto s = worker.run(wo);
      if (ctx.json()) {
        std::cout << nlohmann::json{{"ok", true}, {"worker", s.to_json()}}.dump(2) << "\n";
      } else {
        std::cout << fmt::format(
            "worker {}: {} job(s) done, {} failed, {} queued again, {} put back, {} lost, {} "
            "expired lease(s) reaped in {:.1f} s; ended by {}\n",
            s.holder, s.jobs_done, s.jobs_failed, s.jobs_retried, s.jobs_deferred, s.jobs_lost,
            s.reaped, s.wall_seconds, s.ended_by);
      }
      return 0;  // a failed job is the queue's business, not the worker's failure
    };
  });
}

}  // namespace contimg::cli
