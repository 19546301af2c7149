// `contimg slurm submit INPUT_DIR START END --workers N --out DIR` (issue 13;
// docs/scale-out.md "Slurm"): queues the range as `contimg submit` does (the
// same service::submit_range), writes a job array of pilot workers into
// DIR/slurm/ and submits it with sbatch. Slurm does the scheduling; nothing of
// it is re-implemented here.
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/chain_output.h"
#include "common/build_info.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "grouping/utc_time.h"
#include "service/slurm.h"
#include "service/worker.h"
#include "state/database.h"
#include "state/state_db.h"

namespace contimg::cli {
namespace fs = std::filesystem;

namespace {

std::string utc_stamp(const char* format) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

// The program the pilots run: this one, by its absolute path (the nodes must
// see it there: a shared installation or the same package everywhere).
fs::path this_program(const std::vector<std::string>& argv) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && !self.empty()) return self;
  return fs::absolute(argv.empty() ? fs::path("contimg") : fs::path(argv.front()));
}

bool holds_password(const std::string& s) {
  return (state::is_postgres_url(s) && state::redact_url(s) != s) ||
         s.find("password=") != std::string::npos;
}

// The options every pilot is started with: those of this command line that
// choose the configuration and the logging, so that the pilots see what
// `submit` saw. A configuration file by $CONTIMG_CONFIG is named explicitly
// (an --sbatch-arg=--export=NONE would drop the variable).
std::vector<std::string> pilot_globals(const GlobalOptions& o) {
  std::vector<std::string> g;
  std::string config_file = o.config_file;
  if (config_file.empty()) {
    if (const char* env = std::getenv("CONTIMG_CONFIG"); env && *env) config_file = env;
  }
  if (!config_file.empty()) {
    g.insert(g.end(), {"--config", fs::absolute(config_file).lexically_normal().string()});
  }
  for (const auto& kv : o.sets) g.insert(g.end(), {"--set", kv});
  if (!o.log_level.empty()) g.insert(g.end(), {"--log-level", o.log_level});
  if (!o.log_format.empty()) g.insert(g.end(), {"--log-format", o.log_format});
  if (!o.progress.empty()) g.insert(g.end(), {"--progress", o.progress});
  return g;
}

// DIR/slurm/pilots-<UTC>.sh, never an existing file (two submissions in one
// second keep both scripts).
fs::path new_script_path(const fs::path& dir) {
  const std::string stem = "pilots-" + utc_stamp("%Y%m%dT%H%M%SZ");
  fs::path p = dir / (stem + ".sh");
  for (int k = 2; fs::exists(p); ++k) p = dir / fmt::format("{}-{}.sh", stem, k);
  return p;
}

// A final path never holds a partial file: write a .part, then rename.
void write_file(const fs::path& path, const std::string& text) {
  const fs::path part = path.string() + ".part";
  {
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(part, ec);
      throw IoError(fmt::format("slurm: cannot write {}", part.string()));
    }
  }
  fs::rename(part, path);
}

}  // namespace

void register_slurm_command(CLI::App& app, CommandContext& ctx) {
  struct Options {
    std::string input_dir, start, end, out = "contimg-out", db, time_limit, sbatch = "sbatch";
    int workers = 0;
    double exit_when_idle = 300;
    std::vector<std::string> sbatch_args;
    bool allow_incomplete = false, allow_sqlite = false, dry_run = false;
  };
  auto o = std::make_shared<Options>();
  auto* slurm = app.add_subcommand("slurm", "Run the job queue's workers as Slurm jobs");
  slurm->require_subcommand(1);
  auto* cmd = slurm->add_subcommand(
      "submit",
      "Queue the groups of a UTC range (as `contimg submit`) and submit a Slurm job array of "
      "pilot workers that drain the queue");
  cmd->add_option("input_dir", o->input_dir, "Directory of *_sbNN.hdf5 files")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("start", o->start, "First group time (UTC, YYYY-MM-DD[THH:MM:SS])")->required();
  cmd->add_option("end", o->end, "Last group time (UTC; a date alone = end of that day)")
      ->required();
  cmd->add_option("--workers", o->workers, "Pilot workers: the job array's size (0..N-1)")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--out", o->out,
                  "Output directory the jobs write into (on storage every node mounts); the "
                  "batch script and the pilots' output files go to DIR/slurm/")
      ->capture_default_str();
  cmd->add_option("--db", o->db,
                  "State database every node can reach: a postgresql:// URL (default "
                  "state.db_url); a SQLite file only with --allow-sqlite");
  cmd->add_flag("--allow-sqlite", o->allow_sqlite,
                "Accept a SQLite state database: only when every pilot runs on this machine "
                "(a single-node cluster, tests)");
  cmd->add_option("--sbatch-arg", o->sbatch_args,
                  "An sbatch option for the array, one word each, repeatable: "
                  "--sbatch-arg=--partition=long --sbatch-arg=--cpus-per-task=8")
      ->allow_extra_args(false);
  cmd->add_option("--time-limit", o->time_limit,
                  "Each pilot's time limit (sbatch --time, e.g. 12:00:00); default the "
                  "partition's. At the limit Slurm sends SIGTERM: the pilot puts its job back");
  cmd->add_option("--exit-when-idle", o->exit_when_idle,
                  "A pilot exits 0 when the queue has held no job (queued or running) for this many seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--allow-incomplete", o->allow_incomplete,
                "Queue groups with >= grouping.min_subbands subbands (missing ones flagged)");
  cmd->add_flag("--dry-run", o->dry_run,
                "Write the batch script and show it; queue nothing, submit nothing");
  cmd->add_option("--sbatch", o->sbatch, "The sbatch program")->capture_default_str();

  cmd->callback([&ctx, o] {
    if (!o->db.empty()) ctx.command_overrides.push_back({"paths.state_db", o->db, "--db"});
    add_output_dir_overrides(ctx, o->out);
    ctx.action = [&ctx, o] {
      const auto& cfg = ctx.config();
      const fs::path out = fs::absolute(o->out).lexically_normal();
      const std::int64_t first = grouping::parse_utc_bound(o->start, false, "slurm submit: START");
      const std::int64_t last = grouping::parse_utc_bound(o->end, true, "slurm submit: END");
      if (last < first) throw ConfigError("slurm submit: END is before START");

      // The database the pilots share. Checked before anything is queued.
      std::string database = state::StateDb::resolve_path(cfg).string();
      const bool postgres = state::is_postgres_url(database);
      if (!postgres) {
        database = fs::absolute(database).lexically_normal().string();
        if (!o->allow_sqlite) {
          throw ConfigError(fmt::format(
              "slurm submit: the state database is the SQLite file {}. Slurm starts the pilots "
              "on other nodes, which all need the one database, and SQLite's file locking is "
              "not safe over network filesystems (NFS, Lustre): give --db "
              "postgresql://user@host/db (or state.db_url; docs/scale-out.md), or "
              "--allow-sqlite when every pilot runs on this machine (a single-node cluster)",
              database));
        }
      }
      const auto globals = pilot_globals(ctx.options);
      bool secret = holds_password(database);
      for (const auto& g : globals) secret |= holds_password(g);
      if (secret) {
        throw ConfigError(
            "slurm submit: the database URL holds a password, which the batch script (kept in "
            "DIR/slurm/) would store in clear: give it to the pilots through ~/.pgpass or "
            "PGPASSWORD instead (libpq reads both; sbatch passes the environment on by default)");
      }

      service::PilotScriptSpec spec;
      spec.contimg = this_program(ctx.argv);
      spec.globals = globals;
      spec.database = database;
      spec.out_dir = out;
      spec.workers = o->workers;
      spec.exit_when_idle_s = o->exit_when_idle;
      spec.time_limit = o->time_limit;
      spec.log_dir = out / "slurm";
      spec.sbatch_args = o->sbatch_args;
      std::string command_line;
      for (const auto& a : ctx.argv)
        command_line += (command_line.empty() ? "" : " ") + service::shell_quote(a);
      spec.comments = {fmt::format("Written by contimg {} on {} at {}.", build::kVersion,
                                   host_name(), utc_stamp("%Y-%m-%dT%H:%M:%SZ")),
                       fmt::format("Range {} .. {} of {}; state database {}.", o->start, o->end,
                                   fs::absolute(o->input_dir).lexically_normal().string(),
                                   state::redact_url(database)),
                       "Command: " + command_line,
                       "Resubmit the same pilots with: sbatch THIS_FILE"};
      std::string script = service::pilot_script(spec);  // refuses what it cannot carry

      nlohmann::json submit_json = nullptr;
      std::optional<service::SubmitSummary> queued;
      if (!o->dry_run) {
        // Before anything is queued: a missing sbatch is the user's to fix.
        service::find_sbatch(o->sbatch);
        service::SubmitOptions so;
        so.input_dir = fs::absolute(o->input_dir);
        so.first_epoch = first;
        so.last_epoch = last;
        so.layout.out_dir = out;
        so.allow_incomplete = o->allow_incomplete;
        queued = service::submit_range(ctx.shared_config(), so, &ctx.interrupts());
        submit_json = queued->to_json();
        ctx.interrupts().throw_if_interrupted();
      }

      // Nothing queued and nothing waiting in the range: pilots would only idle.
      const bool nothing = queued && queued->queued + queued->in_queue == 0;
      fs::path script_path;
      nlohmann::json job = nullptr;
      if (!nothing) {
        fs::create_directories(spec.log_dir);
        script_path = new_script_path(spec.log_dir);
        write_file(script_path, script);
      }
      if (!nothing && !o->dry_run) {
        const std::string context = fmt::format(
            "; the jobs stay queued and the script is {} (submit it with sbatch, or run this "
            "command again: it queues nothing twice)",
            script_path.string());
        service::SbatchJob j;
        try {
          j = service::run_sbatch(o->sbatch, script_path);
        } catch (const IoError& e) {
          throw IoError(e.what() + context);
        } catch (const ConfigError& e) {
          throw ConfigError(e.what() + context);
        }
        job = {{"job_id", j.job_id}, {"cluster", j.cluster}};
        // The submission's record beside its script.
        nlohmann::json record{{"job_id", j.job_id},
                              {"cluster", j.cluster},
                              {"script", script_path.string()},
                              {"submitted_at", utc_stamp("%Y-%m-%dT%H:%M:%SZ")},
                              {"submit", submit_json}};
        write_file(fs::path(script_path).replace_extension(".json"), record.dump(2) + "\n");
      }
      const std::string skipped =
          nothing ? "nothing to process in the range: no pilots submitted" : "";

      const std::string pattern = (spec.log_dir / (spec.job_name + "-%A_%a.out")).string();
      if (ctx.json()) {
        nlohmann::json s{
            {"script", nothing ? nlohmann::json(nullptr) : nlohmann::json(script_path.string())},
            {"workers", spec.workers},
            {"array", fmt::format("0-{}", spec.workers - 1)},
            {"job", job},
            {"output", pattern},
            {"database", state::redact_url(database)},
            {"exit_when_idle_s", spec.exit_when_idle_s},
            {"time_limit", spec.time_limit},
            {"sbatch_args", spec.sbatch_args},
            {"dry_run", o->dry_run}};
        if (!skipped.empty()) s["note"] = skipped;
        std::cout << nlohmann::json{{"ok", true}, {"submit", submit_json}, {"slurm", s}}.dump(2)
                  << "\n";
        return 0;
      }
      if (queued) {
        const auto& q = *queued;
        std::cout << fmt::format(
            "submit: {} group(s) to process in {}: {} job(s) queued, {} already in the queue, {} "
            "done, {} with a failed job (contimg retry); {} skipped, {} failed by the "
            "incomplete-group policy\n",
            q.selected, q.database, q.queued, q.in_queue, q.done, q.failed_jobs, q.skipped,
            q.failed);
      }
      if (!skipped.empty()) {
        std::cout << "slurm: " << skipped << "\n";
      } else if (o->dry_run) {
        std::cout << "slurm: dry run: nothing queued, nothing submitted; the batch script is "
                  << script_path.string() << ":\n\n"
                  << script;
      } else {
        std::cout << fmt::format(
            "slurm: {} pilot worker(s) submitted as job {} (array 0-{}); script {}; their "
            "output {}\n",
            spec.workers, job["job_id"].get<std::string>(), spec.workers - 1, script_path.string(),
            pattern);
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
