// `contimg flag MS`: clip zero/NaN/Inf samples, detect RFI with AOFlagger on
// every cross-correlation baseline over all channels of the group, flag dead
// antennas, write FLAG, record and print the statistics (docs/flagging.md).
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/single_stage.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "flagging/flag_stage.h"
#include "state/flag_stats.h"
#include "state/state_db.h"

namespace contimg::cli {
namespace fs = std::filesystem;
namespace {

struct FlagCommandOptions {
  std::string ms;
  std::string strategy;
  std::string db;
  std::string group;
  int threads = -1;
  bool force = false;
};

void print_axis(const flagging::AxisStats& a, const char* title) {
  std::cout << fmt::format("\n{:<24} {:>12} {:>9} {:>9}\n", title, "samples", "before %", "after %");
  for (std::size_t i = 0; i < a.labels.size(); ++i) {
    const auto n = a.counts.total[i];
    if (n == 0) continue;
    std::cout << fmt::format("{:<24} {:>12} {:>9.2f} {:>9.2f}\n", a.labels[i], n,
                             100.0 * double(a.counts.before[i]) / double(n),
                             100.0 * double(a.counts.after[i]) / double(n));
  }
}

}  // namespace

void register_flag_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<FlagCommandOptions>();
  auto* cmd = app.add_subcommand(
      "flag", "Flag a Measurement Set: zero/NaN clipping, AOFlagger RFI detection, dead antennas");
  cmd->add_option("ms", o->ms, "Measurement Set")->required();
  cmd->add_option("--strategy", o->strategy, "AOFlagger Lua strategy (= flagging.strategy)");
  cmd->add_option("--threads", o->threads, "Threads (= flagging.threads; 0 = all cores)");
  cmd->add_option("--db", o->db, "State database (= paths.state_db)");
  cmd->add_option("--group", o->group,
                  "Group id of an MS the pipeline did not make (default: the indexed group of its first integration)");
  cmd->add_flag("--force", o->force, "Flag again even if the database says this MS was flagged");
  cmd->callback([&ctx, o] {
    if (!o->strategy.empty()) ctx.command_overrides.push_back({"flagging.strategy", o->strategy, "--strategy"});
    if (o->threads >= 0) {
      ctx.command_overrides.push_back({"flagging.threads", std::to_string(o->threads), "--threads"});
    }
    if (!o->db.empty()) ctx.command_overrides.push_back({"paths.state_db", o->db, "--db"});
    ctx.action = [&ctx, o] {
      const auto& cfg = ctx.config();
      const fs::path ms = fs::absolute(o->ms).lexically_normal();
      state::StateDb db(state::StateDb::resolve_path(cfg));
      const auto job = job_for_ms(db, ms, o->group);
      auto progress = ctx.progress("flag", 0, "baselines");
      flagging::FlagStage stage(cfg, progress.get());
      const pipeline::Context start(ctx.shared_config(), job.group_id, {{"ms_path", ms.string()}},
                                    &ctx.interrupts());
      const auto res = run_stage_job(ctx, db, stage, start, job.out_root, o->force, "flag " + ms.string());
      progress->finish();
      if (res.record.outcome == pipeline::Outcome::kSkipped || !stage.report()) {
        const auto run = state::flag_run(db.database(), ms.string());
        if (ctx.json()) {
          nlohmann::json j = {{"ms", o->ms}, {"group_id", job.group_id}, {"skipped", true},
                              {"reason", "already flagged with this strategy"}};
          if (run) {
            j["flagged_after"] = run->flagged_after;
            j["dead_antennas"] = run->dead_antennas;
            j["finished_at"] = run->finished_at;
          }
          std::cout << j.dump(2) << "\n";
        } else {
          std::cout << fmt::format("{}: already flagged with this strategy at {} ({:.2f}% flagged); --force to redo\n",
                                   o->ms, run ? run->finished_at : "?", run ? 100 * run->flagged_after : 0.0);
        }
        return 0;
      }
      const auto& rep = *stage.report();
      if (ctx.json()) {
        auto j = flagging::to_json(rep);
        j["group_id"] = job.group_id;
        j["skipped"] = false;
        std::cout << j.dump(2) << "\n";
        return 0;
      }
      std::cout << fmt::format(
          "{}: {} baselines x {} times x {} channels x {} correlations ({} SPWs)\n"
          "flagged {:.2f}% before, {:.2f}% after ({} samples clipped as zero/NaN/Inf)\n"
          "read {:.1f} MB in {:.1f} s, detection {:.1f} s ({} threads), write {:.1f} s, total {:.1f} s\n",
          rep.ms.string(), rep.nbaselines, rep.ntimes, rep.nchan, rep.npol, rep.nspw, 100 * rep.fraction_before(),
          100 * rep.fraction_after(), rep.flagged_clipped, rep.bytes_read / 1e6, rep.seconds_read,
          rep.seconds_detect, rep.threads, rep.seconds_write, rep.seconds_total);
      if (rep.dead.empty()) std::cout << "dead antennas: none\n";
      for (std::size_t i = 0; i < rep.dead.size(); ++i) {
        std::cout << fmt::format("dead antenna {}: {}\n", rep.dead_names[i], rep.dead[i].reason);
      }
      print_axis(rep.antenna, "antenna");
      print_axis(rep.spw, "spw");
      print_axis(rep.time, "time (UTC)");
      std::size_t mostly = 0;
      for (std::size_t c = 0; c < rep.channel.labels.size(); ++c) {
        const auto n = rep.channel.counts.total[c];
        if (n && 2 * rep.channel.counts.after[c] > n) ++mostly;
      }
      std::cout << fmt::format("\nchannels more than half flagged: {} of {} (per channel: --json)\n", mostly,
                               rep.channel.labels.size());
      return 0;
    };
  });
}

}  // namespace contimg::cli
