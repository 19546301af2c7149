// `contimg index DIR [--recursive]`: records every subband file of DIR in the
// state database (a header peek of each new or changed file) and groups them
// by the one rule (docs/grouping.md). Idempotent: unchanged files are not
// opened and an unchanged directory writes nothing. Exit 3 when any scanned
// file is invalid (unparsable name, unreadable, truncated), whether found now
// or recorded earlier and still unchanged; the others are indexed regardless.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/app.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "grouping/indexer.h"
#include "grouping/settings.h"
#include "state/state_db.h"

namespace contimg::cli {
namespace {

struct IndexCommandOptions {
  std::string dir;
  bool recursive = false;
  std::string db;
};

}  // namespace

void register_index_command(CLI::App& app, CommandContext& ctx) {
  auto opts = std::make_shared<IndexCommandOptions>();
  auto* cmd = app.add_subcommand(
      "index", "Record the *_sbNN.hdf5 files of a directory in the state database and group them");
  cmd->add_option("dir", opts->dir, "Directory holding the subband files")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("-r,--recursive", opts->recursive, "Descend into subdirectories");
  cmd->add_option("--db", opts->db, "State database file (= paths.state_db)");
  cmd->callback([&ctx, opts] {
    if (!opts->db.empty()) ctx.command_overrides.push_back({"paths.state_db", opts->db, "--db"});
    ctx.action = [&ctx, opts] {
      const auto& cfg = ctx.config();
      const auto settings = grouping::GroupingSettings::from_config(cfg);
      state::StateDb db(state::StateDb::resolve_path(cfg));
      const auto files = grouping::scan_directory(opts->dir, opts->recursive);
      auto progress = ctx.progress("index", files.size(), "files");

      grouping::IndexOptions io;
      io.tolerance_s = settings.tolerance_s;
      io.expected_subbands = settings.expected_subbands;
      io.pointing_tolerance_deg = settings.pointing_tolerance_deg;
      io.profiles = uvh5::CacheProfiles::from_config(cfg);
      io.check_interrupt = [&ctx] { ctx.interrupts().throw_if_interrupted(); };
      io.progress = progress.get();
      grouping::IndexSummary pruned;  // recorded files under dir that no longer exist
      grouping::forget_vanished(db, opts->dir, io, pruned);
      auto s = grouping::index_files(db, files, io);
      s.removed = pruned.removed;
      s.groups_written += pruned.groups_written;
      s.groups_removed += pruned.groups_removed;
      progress->finish();

      for (const auto& f : s.invalid_files) {
        if (!f.is_new) spdlog::warn("index: still invalid (unchanged since recorded): {}", f.error);
      }
      if (ctx.json()) {
        nlohmann::json invalid = nlohmann::json::array();
        for (const auto& f : s.invalid_files) {
          invalid.push_back({{"path", f.path}, {"error", f.error}, {"new", f.is_new}});
        }
        const nlohmann::json out = {{"db", db.path().string()},
                                    {"dir", opts->dir},
                                    {"scanned", s.scanned},
                                    {"indexed", s.indexed},
                                    {"unchanged", s.unchanged},
                                    {"invalid", s.invalid},
                                    {"invalid_total", s.invalid_total},
                                    {"invalid_files", invalid},
                                    {"groups", s.groups},
                                    {"groups_complete", s.groups_complete},
                                    {"groups_written", s.groups_written},
                                    {"groups_removed", s.groups_removed},
                                    {"duplicates", s.duplicates},
                                    {"excluded", s.excluded},
                                    {"removed", s.removed},
                                    {"seconds", s.seconds}};
        std::cout << out.dump(2) << "\n";
      } else {
        std::cout << fmt::format(
            "index {}: {} files: {} indexed, {} unchanged, {} invalid{}; {} groups ({} complete, "
            "{} written{}){}{}; {:.2f} s; {}\n",
            opts->dir, s.scanned, s.indexed, s.unchanged, s.invalid,
            s.invalid_total > s.invalid ? fmt::format(" ({} in total)", s.invalid_total) : "",
            s.groups, s.groups_complete, s.groups_written,
            s.groups_removed ? fmt::format(", {} removed", s.groups_removed) : "",
            s.duplicates ? fmt::format("; {} duplicate files superseded", s.duplicates) : "",
            s.removed ? fmt::format("; {} vanished files removed", s.removed) : "",
            s.seconds, db.path().string());
      }
      return s.invalid_total ? static_cast<int>(ExitCode::kInputError) : 0;
    };
  });
}

}  // namespace contimg::cli
