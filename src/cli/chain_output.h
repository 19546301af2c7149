#pragma once
// What `run` and `demo` share on the command line: the output-directory
// defaults and the chain summary (text or --json).
#include <filesystem>
#include <memory>
#include <string>

#include "chain/chain_runner.h"
#include "cli/app.h"

namespace contimg::cli {

// Unless configured otherwise (file, environment or --set), the state
// database and scratch space go under `out_dir` too.
void add_output_dir_overrides(CommandContext& ctx, const std::filesystem::path& out_dir);

// --db (a SQLite file or a postgresql:// URL) of the commands that serve or
// feed the job queue (stream, submit, worker, slurm submit); the callback
// puts it into paths.state_db.
void add_db_option(CLI::App* cmd, std::shared_ptr<std::string> db);

// 0 when no group failed; 4 when every failed group failed for the
// environment (an I/O error: a full disk, permissions), which a rerun after
// the fix completes; else 1.
int chain_exit_code(const chain::ChainSummary& s);

void print_chain_summary(const CommandContext& ctx, const chain::ChainSummary& summary);

}  // namespace contimg::cli
