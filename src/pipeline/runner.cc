#include "pipeline/runner.h"

#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/interrupts.h"
#include "common/logging.h"
#include "common/process_stats.h"

namespace contimg::pipeline {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

std::pair<std::string, std::string> describe(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Cancelled& x) {
    return {"cancelled", x.what()};
  } catch (const ConfigError& x) {
    return {"config", x.what()};
  } catch (const InputError& x) {
    return {"input", x.what()};
  } catch (const IoError& x) {
    return {"io", x.what()};
  } catch (const std::filesystem::filesystem_error& x) {
    return {"io", x.what()};
  } catch (const std::exception& x) {
    return {"internal", x.what()};
  } catch (...) {
    return {"internal", "unknown exception"};
  }
}

}  // namespace

void check_keys(const Stage& stage, const Context& ctx, const std::vector<KeySpec>& specs,
                const char* what) {
  for (const auto& k : specs) {
    const std::string name(k.name);
    const Value* v = ctx.find(name);
    if (!v) {
      throw ConfigError(fmt::format("stage {} {} \"{}\" ({}) in its context, which has none (group {})",
                                    stage.name(), what, name, to_string(k.type), ctx.group_id()));
    }
    if (type_of(*v) != k.type) {
      throw ConfigError(fmt::format("stage {} {} \"{}\" as a {}, but the context holds a {} (group {})",
                                    stage.name(), what, name, to_string(k.type), to_string(type_of(*v)),
                                    ctx.group_id()));
    }
  }
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::kCompleted: return "completed";
    case Outcome::kSkipped: return "skipped";
    case Outcome::kFailed: return "failed";
    case Outcome::kCancelled: return "cancelled";
    case Outcome::kNotRun: return "not-run";
  }
  return "?";
}

double StageRecord::mb_per_s() const {
  return seconds > 0 ? static_cast<double>(bytes_read + bytes_written) / 1e6 / seconds : 0.0;
}

nlohmann::json RunReport::to_json() const {
  nlohmann::json st = nlohmann::json::array();
  for (const auto& s : stages) {
    st.push_back({{"stage", s.stage},
                  {"outcome", pipeline::to_string(s.outcome)},
                  {"seconds", s.seconds},
                  {"bytes_read", s.bytes_read},
                  {"bytes_written", s.bytes_written},
                  {"mb_per_s", s.mb_per_s()},
                  {"rss_before_bytes", s.rss_before},
                  {"rss_after_bytes", s.rss_after},
                  {"peak_rss_bytes", s.peak_rss},
                  {"error", s.error},
                  {"error_kind", s.error_kind}});
  }
  return {{"group_id", group_id}, {"ok", ok}, {"seconds", seconds}, {"stages", st}};
}

StageRecord StageRunner::run_one(Stage& stage, Context& ctx, bool consult_is_done) const {
  auto log = logging::group_logger(ctx.group_id());
  const auto scratch_root = ctx.config().get_path("paths.scratch_dir");
  StageRecord rec;
  rec.stage = stage.name();
  const MemorySample before = sample_memory();
  const bool peak_reset = reset_peak_memory();
  rec.rss_before = before.rss_bytes;
  const auto t0 = std::chrono::steady_clock::now();
  bool succeeded = false;
  std::exception_ptr error;
  Context stage_in = ctx;
  try {
    ctx.throw_if_interrupted();
    if (consult_is_done && stage.is_done(ctx)) {
      ctx = stage.restore(ctx);
      check_keys(stage, ctx, stage.provides(), "provides");
      rec.outcome = Outcome::kSkipped;
      succeeded = true;
      log->info("stage={} outcome=skipped reason=\"product exists\"", rec.stage);
    } else {
      ScopedTempDir scratch(scratch_root, rec.stage, interrupts_);
      stage_in = ctx.with_scratch_dir(scratch.path());
      log->info("stage={} event=start", rec.stage);
      check_keys(stage, stage_in, stage.needs(), "needs");
      stage.validate(stage_in);
      Context out = stage.execute(stage_in);
      check_keys(stage, out, stage.provides(), "provides");
      stage.validate_outputs(out);
      rec.bytes_read = out.io().bytes_read - stage_in.io().bytes_read;
      rec.bytes_written = out.io().bytes_written - stage_in.io().bytes_written;
      ctx = out.with_scratch_dir({});
      rec.outcome = Outcome::kCompleted;
      succeeded = true;
    }
  } catch (...) {
    error = std::current_exception();
  }
  if (rec.outcome != Outcome::kSkipped) stage.cleanup(stage_in, succeeded);
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const MemorySample after = sample_memory();
  rec.rss_after = after.rss_bytes;
  rec.peak_rss = peak_reset ? after.peak_rss_bytes : std::max(after.peak_rss_bytes, before.rss_bytes);
  if (error) {
    auto [kind, what] = describe(error);
    rec.error_kind = kind;
    rec.error = what;
    rec.outcome = kind == "cancelled" ? Outcome::kCancelled : Outcome::kFailed;
    log->error("stage={} outcome={} secs={:.3f} error_kind={} error=\"{}\"", rec.stage,
               to_string(rec.outcome), rec.seconds, kind, what);
  } else if (rec.outcome == Outcome::kCompleted) {
    log->info("stage={} outcome=completed secs={:.3f} read_MB={:.1f} written_MB={:.1f} "
              "MB/s={:.1f} rss_MiB={:.0f}->{:.0f} peak_MiB={:.0f}",
              rec.stage, rec.seconds, rec.bytes_read / 1e6, rec.bytes_written / 1e6,
              rec.mb_per_s(), rec.rss_before / kMiB, rec.rss_after / kMiB, rec.peak_rss / kMiB);
  }
  return rec;
}

RunReport StageRunner::run(const std::vector<std::unique_ptr<Stage>>& stages,
                           const Context& initial) const {
  RunReport report;
  report.group_id = initial.group_id();
  const auto run_start = std::chrono::steady_clock::now();
  sweep_stale_temp_dirs(initial.config().get_path("paths.scratch_dir"));

  Context ctx = initial;
  bool failed = false;
  for (const auto& stage : stages) {
    if (failed) {
      StageRecord rec;
      rec.stage = stage->name();
      report.stages.push_back(rec);
      continue;
    }
    report.stages.push_back(run_one(*stage, ctx, /*consult_is_done=*/true));
    const auto o = report.stages.back().outcome;
    failed = o == Outcome::kFailed || o == Outcome::kCancelled;
  }
  report.ok = !failed;
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
  if (report.ok) report.final_context = ctx;
  return report;
}

}  // namespace contimg::pipeline
