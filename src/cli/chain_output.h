#pragma once
// What `run` and `demo` share on the command line: the output-directory
// defaults and the chain summary (text or --json).
#include <filesystem>
#include <string>

#include "chain/chain_runner.h"
#include "cli/app.h"

namespace contimg::cli {

// Unless configured otherwise (file, environment or --set), the state
// database and scratch space go under `out_dir` too.
void add_output_dir_overrides(CommandContext& ctx, const std::filesystem::path& out_dir);

void print_chain_summary(const CommandContext& ctx, const chain::ChainSummary& summary);

}  // namespace contimg::cli
