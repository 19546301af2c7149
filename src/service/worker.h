#pragma once
// The job queue's two ends (issue 13; docs/scale-out.md "Workers"):
//   - submit_range (`contimg submit`): indexes a directory, selects the groups
//     of a time range by the one grouping rule, applies SPEC §3's
//     incomplete-group policy, and queues each group's first stage not done;
//   - Worker (`contimg worker`): on any machine that mounts the same storage,
//     takes the next job (JobStore::claim_next), runs that stage of its group
//     through the orchestrator under the claim (provenance, fenced completion,
//     heartbeat) and, in the transaction that records it done, queues the
//     group's next stage. Every worker also re-queues the jobs whose lease
//     expired (a dead worker's).
// A calibrator transit's jobs have priority kCalibratorPriority and are taken
// before any science group's; every applycal waits (put back, bounded by
// worker.calibration_wait_s) while a calibrator transit of its tree is still
// to be solved.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chain/chain_runner.h"
#include "config/config.h"

namespace contimg {
class InterruptGuard;
}
namespace contimg::conversion {
class GroupConverter;
}
namespace contimg::state {
class StateDb;
}

namespace contimg::service {

inline constexpr int kCalibratorPriority = 10;
inline constexpr int kSciencePriority = 50;

struct SubmitOptions {
  std::filesystem::path input_dir;
  std::int64_t first_epoch = 0, last_epoch = 0;  // group start times, UTC seconds
  chain::ChainLayout layout;
  bool allow_incomplete = false;
};

struct SubmitSummary {
  int selected = 0;     // groups to process
  int queued = 0;       // jobs queued by this call
  int in_queue = 0;     // groups whose next job was already queued or running
  int done = 0;         // groups whose every stage is done
  int failed_jobs = 0;  // groups with a failed or discarded job (`contimg retry` re-queues it)
  int skipped = 0, failed = 0;                      // by the incomplete-group policy
  nlohmann::json groups = nlohmann::json::array();  // per group: id, action, stage, priority
  std::string database;
  nlohmann::json to_json() const;
};

// The chain's stage names, from the one stage list (GroupProcessor).
std::vector<std::string> chain_stage_names(std::shared_ptr<const config::Config> config,
                                           const conversion::GroupConverter& converter);

// What queue_group did: action "queued" (a job of `stage` is new), "done"
// (every stage done), or the state of the existing job of `stage` (queued,
// running, failed, discarded: left as it is; `error` its last error).
struct QueuedGroup {
  std::string action, stage, error;
};
// Queues the first stage not done of a group in the tree `out_root` at
// `priority`, with the group's state, in one transaction; once (`contimg
// submit`, and `contimg stream` on PostgreSQL).
QueuedGroup queue_group(state::StateDb& db, const std::string& group_id,
                        const std::vector<std::string>& stage_names, const std::string& out_root,
                        int priority);

SubmitSummary submit_range(std::shared_ptr<const config::Config> config, const SubmitOptions& o,
                           const InterruptGuard* interrupts);

struct WorkerOptions {
  std::vector<std::string> stages;  // empty: any stage
  int max_jobs = 0;                 // > 0: exit after this many jobs ran
  double exit_when_idle_s = 0;      // > 0: exit when no job was claimable this long
};

struct WorkerSummary {
  std::string holder;
  int jobs_done = 0;
  int jobs_failed = 0;    // failed or discarded for good
  int jobs_retried = 0;   // failed for a retryable reason, queued again
  int jobs_deferred = 0;  // applies put back to wait for a solve
  int jobs_lost = 0;      // the claim was lost while it ran (another worker re-ran it)
  int reaped = 0;         // expired leases this worker re-queued or discarded
  double wall_seconds = 0;
  std::string ended_by;         // signal, idle, max-jobs
  std::string metrics_address;  // host:port of /metrics while it ran; "" = none
  nlohmann::json to_json() const;
};

class Worker {
 public:
  Worker(std::shared_ptr<const config::Config> config, const InterruptGuard& interrupts);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  WorkerSummary run(const WorkerOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace contimg::service
