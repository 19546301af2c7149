#pragma once
// Runs a chain of stages on one context: times each stage, records its data
// volume (MB/s), resident memory before/after and its peak, and its outcome;
// gives every stage a scratch directory that is removed on every exit path.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "pipeline/context.h"
#include "pipeline/stage.h"

namespace contimg {
class InterruptGuard;
}

namespace contimg::pipeline {

enum class Outcome { kCompleted, kSkipped, kFailed, kCancelled, kNotRun };
const char* to_string(Outcome o);

struct StageRecord {
  std::string stage;
  Outcome outcome = Outcome::kNotRun;
  double seconds = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t rss_before = 0;
  std::uint64_t rss_after = 0;
  std::uint64_t peak_rss = 0;
  std::string error;  // what went wrong, for failed/cancelled
  std::string error_kind;  // "input", "config", "io", "cancelled", "internal"

  double mb_per_s() const;  // (read + written) / seconds, in 1e6 bytes per second
};

struct RunReport {
  std::string group_id;
  std::vector<StageRecord> stages;
  bool ok = false;
  double seconds = 0;
  std::optional<Context> final_context;  // when every stage completed or was skipped

  nlohmann::json to_json() const;
};

class StageRunner {
 public:
  explicit StageRunner(const InterruptGuard* interrupts = nullptr) : interrupts_(interrupts) {}

  // Stops at the first failed stage (later stages build on earlier ones); the
  // remaining stages are reported as not run.
  RunReport run(const std::vector<std::unique_ptr<Stage>>& stages, const Context& initial) const;

  // One stage's life cycle on `ctx` (updated with its outputs on success):
  // is_done/restore when `consult_is_done`, else validate, execute,
  // validate_outputs, cleanup, in a scratch directory removed on every exit
  // path; timed and measured. Never throws: the error is in the record.
  StageRecord run_one(Stage& stage, Context& ctx, bool consult_is_done) const;

 private:
  const InterruptGuard* interrupts_;
};

}  // namespace contimg::pipeline
