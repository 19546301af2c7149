#include "cli/single_stage.h"

#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "grouping/utc_time.h"
#include "io/ms/ms_time.h"
#include "orchestration/orchestrator.h"
#include "orchestration/provenance.h"
#include "state/jobs.h"

namespace contimg::cli {
namespace fs = std::filesystem;
namespace {

constexpr double kUnixEpochMjdS = 40587.0 * 86400.0;  // MJD of 1970-01-01, in seconds

fs::path normal(const fs::path& p) {
  fs::path q = p;
  while (!q.empty() && !q.has_filename()) q = q.parent_path();  // "x.ms/" -> "x.ms"
  return fs::absolute(q).lexically_normal();
}

}  // namespace

std::optional<JobIdentity> registered_job(state::StateDb& db, const fs::path& product) {
  state::JobStore jobs(db.database());
  const auto rec = jobs.product(normal(product).string());
  if (!rec || !rec->job_id) return std::nullopt;
  const auto job = jobs.get(*rec->job_id);
  if (!job) return std::nullopt;
  return JobIdentity{job->key.group_id, job->key.out_root, true};
}

JobIdentity job_for_ms(state::StateDb& db, const fs::path& ms_in, const std::string& group) {
  const fs::path ms = normal(ms_in);
  if (auto reg = registered_job(db, ms)) {
    if (!group.empty() && group != reg->group_id) {
      throw InputError(fmt::format("{}: registered as the MS of group {}, not {} (--group)",
                                   ms.string(), reg->group_id, group));
    }
    return *reg;
  }
  JobIdentity id{group, ms.parent_path(), false};
  if (id.group_id.empty()) {
    // The data say which group this is: the indexed group whose span holds
    // the first integration, else that integration's time.
    std::error_code ec;
    if (!fs::is_directory(ms, ec)) {
      throw InputError(fmt::format("{}: not a Measurement Set directory", ms.string()));
    }
    const auto first = contimg::ms::first_time_mjd_s(ms);
    if (!first) {
      throw InputError(fmt::format("{}: the MS has no data rows: nothing says which group it is (--group names it)",
                                   ms.string()));
    }
    const double t_mjd_s = *first;
    const auto t = static_cast<std::int64_t>(std::floor(t_mjd_s - kUnixEpochMjdS));
    std::optional<state::GroupRecord> best;
    for (auto& g : db.groups_in_range(t - 330, t)) {
      if (!best || g.start_epoch > best->start_epoch) best = g;
    }
    id.group_id = best ? best->group_id : grouping::epoch_to_iso(t);
    spdlog::info(
        "{}: not registered by the pipeline; group {} ({})", ms.string(), id.group_id,
        best ? "the indexed group of its first integration" : "the time of its first integration");
  }
  return id;
}

StageJobResult run_stage_job(CommandContext& ctx, state::StateDb& db, pipeline::Stage& stage,
                             const pipeline::Context& start, const fs::path& out_root, bool force,
                             const std::string& what, const nlohmann::json& source_inputs) {
  const auto& cfg = ctx.config();
  auto settings = orchestration::OrchestratorSettings::from_config(cfg);
  settings.temporary_roots = orchestration::temporary_roots(cfg, {});
  orchestration::sweep_temporaries(settings.temporary_roots);
  orchestration::Orchestrator orch(db, out_root, settings, &ctx.interrupts());
  orchestration::Segment segment;
  segment.running = std::nullopt;  // one stage does not make a group processed
  segment.done = std::nullopt;
  segment.force = force;
  segment.source_inputs = source_inputs;
  const auto report = orch.run(std::vector<pipeline::Stage*>{&stage}, start,
                               segment);  // throws Cancelled after recording it
  StageJobResult out{report.stages.front(), report.final_context};
  if (!report.ok) {
    const auto& r = out.record;
    const auto msg = fmt::format("{}: {}", what, r.error);
    if (r.error_kind == "config") throw ConfigError(msg);
    if (r.error_kind == "input") throw InputError(msg);
    if (r.error_kind == "io") throw IoError(msg);
    if (r.error_kind == "cancelled") throw Cancelled(msg);
    throw Error(msg);
  }
  return out;
}

}  // namespace contimg::cli
