#pragma once
// The single-stage commands (flag, solve, applycal, image, validate,
// convert-files) run their stage as a job of the orchestrator, like `run`
// does (issue 11): one holder per (group, stage, tree) across processes,
// provenance of the products, the stage's records stored with the job's
// completion, a failure reaching the group's state. docs/cli.md
// "Single-stage commands" says how the group and the tree are found.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "pipeline/context.h"
#include "pipeline/runner.h"
#include "pipeline/stage.h"
#include "state/state_db.h"

namespace contimg::cli {

// Which job a product belongs to.
struct JobIdentity {
  std::string group_id;
  std::filesystem::path out_root;
  bool registered = false;  // the product is one the pipeline registered
};

// The job that registered `product` (its group and output tree), if any.
std::optional<JobIdentity> registered_job(state::StateDb& db, const std::filesystem::path& product);

// The group and tree of an MS a command works on: the job that registered it;
// else `group` (--group) or the indexed group whose time span holds the MS's
// first integration, else the time of that integration; the tree is then the
// MS's directory. Never the file name.
JobIdentity job_for_ms(state::StateDb& db, const std::filesystem::path& ms,
                       const std::string& group);

struct StageJobResult {
  pipeline::StageRecord record;
  std::optional<pipeline::Context> context;  // on success (completed or skipped)
};

// Runs `stage` on `start` as a job of an orchestrator writing into `out_root`.
// `force`: redo a done job. Throws the stage's failure as an exception of its
// kind (its message prefixed with `what`), so the command's exit code is the
// usual one.
StageJobResult run_stage_job(CommandContext& ctx, state::StateDb& db, pipeline::Stage& stage,
                             const pipeline::Context& start, const std::filesystem::path& out_root,
                             bool force, const std::string& what,
                             const nlohmann::json& source_inputs = nlohmann::json::array());

}  // namespace contimg::cli
