#pragma once
// The one owner of job state and provenance (issue 11; docs/state.md "Jobs and
// provenance"). Every stage of every group runs as a job keyed by (group,
// stage, output tree):
//   - a stage is done only when its job says so, its fingerprint (the inputs'
//     versions and the configuration that matters) is today's, and its
//     products are still the ones registered (a token inside a directory
//     product, size and mtime of a file product);
//   - one holder at a time, across processes: a claim in the state database
//     with a lease renewed by a heartbeat; a holder that died on this host is
//     recognised at once, one on another host when its lease runs out; a
//     second run waits for what another holds and says so;
//   - a path at a product's final place without a record is never trusted: it
//     is moved aside (or the stage fails, by configuration); what a crashed
//     attempt of the same job left there is removed;
//   - a stage's products, the job's outcome and the group's state are written
//     in one transaction; completions are fenced on (job, attempt, holder).
// Stages compute and return; they never touch jobs, products or group states.
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/runner.h"
#include "pipeline/stage.h"
#include "pipeline/state_view.h"
#include "state/jobs.h"
#include "state/state_db.h"

namespace contimg {
class InterruptGuard;
}

namespace contimg::orchestration {

struct OrchestratorSettings {
  double lease_s = 120;        // a running job's claim lasts this long without a heartbeat
  double heartbeat_s = 30;     // the holder renews its lease this often
  double wait_poll_s = 1.0;    // how often a waiting run looks again
  int max_attempts = 3;        // retryable failures before a job is discarded
  bool move_untrusted = true;  // false: a path without a record fails the stage
  // The temporary tiers the caller sweeps at its start (temporary_roots()):
  // swept again when a job is taken over from a holder that died, whose
  // temporaries may postdate that sweep (it died while this run waited).
  std::vector<std::filesystem::path> temporary_roots;
  // The holder its claims carry; empty: this_holder() + "/n" (one per
  // instance). A queue worker gives its orchestrators (one per output tree)
  // the holder it claims jobs with.
  std::string holder;
  static OrchestratorSettings from_config(const config::Config& cfg);
};

// One call of run(): a sequence of stages of one group, and what the group's
// state becomes while and after they run.
struct Segment {
  // nullopt: the group's state is left as it is while the stages run and
  // when they succeed (a single-stage command); a failure still reaches it.
  std::optional<state::GroupState> running = state::GroupState::kProcessing;
  // Written when every stage of the segment is done; nullopt leaves the state
  // as the running one (a later segment continues).
  std::optional<state::GroupState> done = state::GroupState::kProcessed;
  // Provenance of the first stage when it reads no upstream product: input
  // files with size and mtime (JSON array).
  nlohmann::json source_inputs = nlohmann::json::array();
  // true: a done job is redone all the same (`convert` without --skip-existing).
  bool force = false;
  // The queue (docs/scale-out.md "Workers"). A job this orchestrator's
  // holder already claimed (JobStore::claim_next): its stage runs under that
  // claim instead of claiming again.
  std::optional<state::JobRecord> preclaimed;
  // Runs inside the transaction that records a stage done: the worker queues
  // the group's next stage there, so that none is lost between the two.
  std::function<void(const state::JobRecord& done)> on_done;
  // The queue's rule for a failure: a retryable one is queued again after the
  // backoff (the group stays in work) until the attempts are used up.
  std::optional<state::RetryPolicy> retry;
};

// The context key carrying the fingerprint of the last stage run or
// restored: the next stage's upstream version.
inline constexpr const char* kUpstreamFingerprint = "upstream_fingerprint";

// "host:pid:start-ticks" of this process (an orchestrator's holder appends
// "/n" to tell several in one process apart).
std::string this_holder();
// False only when `holder` names a process of this host that no longer runs
// (pid gone, or reused by a process started at another time).
bool holder_alive(const std::string& holder);

// FNV-1a 64 of `text`, as 16 hex digits.
std::string fingerprint_of(const std::string& text);

// The name of the identity file inside a directory product.
inline constexpr const char* kTokenFile = "contimg.product.json";

// The read-only state a stage sees (pipeline/state_view.h): this database,
// scoped to one output tree.
class DbStateView : public pipeline::StateView {
 public:
  DbStateView(state::StateDb& db, std::string out_root) : db_(db), out_root_(std::move(out_root)) {}
  std::optional<state::FlagRunRecord> flag_run(const std::string& ms_path) const override;
  std::optional<state::CalsetRecord> calset(const std::string& id) const override;
  std::vector<state::CalsetRecord> valid_calsets(double time_s) const override;
  void visit_passed_calsets_before(double time_s,
                                   const std::function<bool(const state::CalsetRecord&)>& visit) const override;
  std::optional<state::ImageRecord> image(const std::string& group_id) const override;
  std::optional<state::ValidationRecord> validation(const std::string& group_id) const override;
  std::vector<state::SourceRow> sources_in_cone(double ra_deg, double dec_deg, double radius_deg) const override;
  std::optional<state::MeasuredImage> measured_image(const std::string& path) const override;

 private:
  state::StateDb& db_;
  std::string out_root_;
};

class Orchestrator {
 public:
  // `db` is this thread's connection; `out_root` the output tree the jobs
  // write into (part of the job's identity: two trees are two jobs).
  Orchestrator(state::StateDb& db, std::filesystem::path out_root, OrchestratorSettings settings,
               const InterruptGuard* interrupts);
  ~Orchestrator();
  Orchestrator(const Orchestrator&) = delete;
  Orchestrator& operator=(const Orchestrator&) = delete;

  // Runs the stages in order for the context's group: each is skipped when
  // done (restored), else claimed, run and recorded. Stops at the first
  // failure, which reaches the job and the group. Waits (polling) for a stage
  // another live process holds. Throws Cancelled after recording an
  // interrupted attempt.
  pipeline::RunReport run(const std::vector<pipeline::Stage*>& stages,
                          const pipeline::Context& initial, const Segment& segment);
  pipeline::RunReport run(const std::vector<std::unique_ptr<pipeline::Stage>>& stages,
                          const pipeline::Context& initial, const Segment& segment);

  const std::string& holder() const { return holder_; }
  const std::filesystem::path& out_root() const { return out_root_; }
  // The view of the state the stages of this orchestrator get.
  const pipeline::StateView& state_view() const { return view_; }

 private:
  struct Held;
  bool products_verified(const state::JobRecord& job);
  bool adoptable_legacy(pipeline::Stage& stage, const pipeline::Context& ctx);
  void settle_planned_products(pipeline::Stage& stage, const pipeline::Context& ctx,
                               const state::JobStore::Claim& claim);
  std::vector<state::ProductRecord> product_records(pipeline::Stage& stage,
                                                    const pipeline::Context& out,
                                                    const std::string& fingerprint,
                                                    const std::string& inputs_json,
                                                    const std::string& config_json);
  void heartbeat_loop();

  state::StateDb& db_;
  state::JobStore jobs_;
  std::filesystem::path out_root_;
  OrchestratorSettings settings_;
  const InterruptGuard* interrupts_;
  std::string holder_;
  pipeline::StageRunner runner_;
  DbStateView view_;

  // The heartbeat thread renews the lease of the job being run (own connection).
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<state::JobRecord> current_;
  bool stopping_ = false;
  std::thread heartbeat_;
};

}  // namespace contimg::orchestration
