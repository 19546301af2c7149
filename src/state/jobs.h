#pragma once
// The orchestrator's tables (docs/state.md "Jobs and provenance"): one job per
// (group, stage, output tree) and the products each job registered with what
// they were made from. Only the orchestrator writes them. Every transition of
// a running job is fenced on (job, attempt, holder): an attempt that lost its
// claim (its lease expired and another process took the job over) cannot
// overwrite the newer attempt's outcome.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/sqlite.h"

namespace contimg::state {

enum class JobState { kQueued, kRunning, kDone, kFailed, kDiscarded };
// Why an attempt failed. Retryable: io, timeout, interrupted; not: input,
// config (the same attempt would fail again), internal (a bug).
enum class ErrorKind { kInput, kConfig, kIo, kTimeout, kInterrupted, kInternal };

const char* to_string(JobState s);
const char* to_string(ErrorKind k);
JobState parse_job_state(std::string_view s);
ErrorKind parse_error_kind(std::string_view s);
bool is_retryable(ErrorKind k);

struct JobKey {
  std::string group_id;
  std::string stage;
  std::string out_root;
};

struct JobRecord {
  std::int64_t id = 0;
  JobKey key;
  JobState state = JobState::kQueued;
  int attempt = 0;
  std::optional<std::string> holder;
  std::optional<double> lease_expires;  // Unix seconds
  std::optional<std::string> fingerprint;
  std::optional<ErrorKind> error_kind;
  std::string error;
  std::optional<double> seconds;
  std::string created_at, updated_at;
  std::optional<std::string> started_at, finished_at;
  int priority = 100;   // lower is claimed first (claim_next)
  double run_after = 0; // Unix s (the database's clock): not claimed before (retry backoff)
};

// One attempt of a job (table job_attempts): who ran it and how it ended.
// The attempts of a discarded job are its dead-letter history.
struct AttemptRecord {
  int attempt = 0;
  std::string holder;
  std::string started_at;
  std::optional<std::string> finished_at;
  // running | done | failed | retry | discarded | lease_expired | released | taken_over
  std::string outcome;
  std::optional<std::string> error_kind;
  std::string error;
  std::optional<double> seconds;
};

// How a queued job that failed for a retryable reason is retried: after
// backoff_s doubled per attempt, capped at backoff_max_s; after max_attempts
// attempts it is discarded.
struct RetryPolicy {
  int max_attempts = 3;
  double backoff_s = 30;
  double backoff_max_s = 1800;
  // The wait after attempt `attempt` (1-based) failed.
  double delay(int attempt) const;
};

// What the reaper did to one job whose lease had expired.
struct ReapedJob {
  std::int64_t job_id = 0;
  int attempt = 0;
  std::string holder;
  JobState now = JobState::kQueued;  // queued (retried later) or discarded
};

struct ProductRecord {
  std::string path;  // absolute
  std::string kind;
  std::string group_id;
  std::string stage;
  std::optional<std::int64_t> job_id;
  std::optional<std::string> token;                  // directory products
  std::optional<std::int64_t> size_bytes, mtime_ns;  // file products
  std::string fingerprint;
  std::string inputs_json = "[]";
  std::string config_json = "{}";
  std::string created_at;  // set by the store
};

// The LISTEN/NOTIFY channel enqueue wakes idle workers on: a hint only, the
// jobs table is the truth (workers poll it all the same).
inline constexpr const char* kJobsChannel = "contimg_jobs";

class JobStore {
 public:
  explicit JobStore(Database& db) : db_(db) {}

  // The job of `key`, inserted as queued when absent.
  JobRecord ensure(const JobKey& key);
  std::optional<JobRecord> get(const JobKey& key);
  std::optional<JobRecord> get(std::int64_t job_id);
  std::vector<JobRecord> jobs_of_group(const std::string& group_id);

  struct Claim {
    bool claimed = false;
    JobRecord job;  // after the claim; else as found (holder = the other holder)
    JobState previous_state = JobState::kQueued;  // before the claim (running: taken over)
    std::optional<std::string> previous_holder;
    // Not claimed because the job is no longer as the caller saw it (`seen`).
    bool changed = false;
  };
  // Takes the job for `holder` (state running, attempt + 1, lease = now +
  // lease_s) unless another holder runs it and is alive: its lease has not
  // expired and `holder_alive(holder)` (a same-host process check) says so.
  // One IMMEDIATE transaction: two processes cannot both claim.
  // `seen`: the job as the caller read it when it decided to claim. When its
  // state or attempt differs now (another holder finished it meanwhile: a
  // claim would run a done job again), nothing is claimed and `changed` says
  // so; the caller decides again on the job as it is now.
  Claim claim(const JobKey& key, const std::string& holder, double lease_s,
              const std::function<bool(const std::string&)>& holder_alive,
              const JobRecord* seen = nullptr);
  // ---- the queue (docs/scale-out.md): workers on any machine take the next
  // job instead of a job they were given.

  // Queues the job of `key` (one per group, stage and tree: a second enqueue
  // changes nothing); wakes idle workers (NOTIFY kJobsChannel on PostgreSQL).
  // Returns true when the job was new.
  bool enqueue(const JobKey& key, int priority = 100);
  // Claims the next queued job whose run_after has come, lowest priority
  // first, then oldest: state running, attempt + 1, lease = now + lease_s,
  // an attempt row. On PostgreSQL one statement with FOR UPDATE SKIP LOCKED
  // (concurrent workers take different jobs and never wait on each other);
  // on SQLite the same statement under the write lock. `stages` empty: any.
  std::optional<JobRecord> claim_next(const std::string& holder, double lease_s,
                                      const std::vector<std::string>& stages = {});
  // Re-queues (with the policy's backoff) or discards every running job whose
  // lease expired: only those, each fenced on (job, attempt, holder, lease
  // still expired) so a heartbeat that won the race keeps its job. The
  // attempt is recorded lease_expired.
  std::vector<ReapedJob> reap_expired(const RetryPolicy& policy, int limit = 100);
  // Ends a running attempt as failed, the queue's way: a retryable error with
  // attempts left re-queues the job after the backoff; one without attempts
  // left discards it (the dead letter); a non-retryable error fails it. False,
  // writing nothing, when the claim was lost.
  bool finish_failed(const JobRecord& job, ErrorKind kind, std::string_view error, double seconds,
                     const RetryPolicy& policy, const std::function<void()>& also = {});
  // Puts a claimed job back for `delay_s` without using an attempt (a worker
  // that claimed an apply whose calibration set is not solved yet): queued,
  // attempt and history as before the claim. False when the claim was lost.
  bool defer(const JobRecord& job, double delay_s);
  // Jobs of `out_root` at one of `stages`, queued or running, with priority
  // <= max_priority (the queue's calibrator transits), for the apply's wait.
  std::int64_t count_unfinished(const std::string& out_root, const std::vector<std::string>& stages,
                                int max_priority);
  // Jobs at one of `stages` (empty: any) that are queued (whenever their
  // run_after comes) or running, in any tree: a worker is idle only when this
  // is 0 (a deferred apply or a retry in its backoff is work to wait for).
  std::int64_t count_pending(const std::vector<std::string>& stages);
  std::vector<AttemptRecord> attempts(std::int64_t job_id);
  // Jobs by state (queued, running, ...), for status and tests.
  std::vector<std::pair<std::string, std::int64_t>> count_by_state();

  // Renews the lease; false when the claim was lost (fenced).
  bool heartbeat(std::int64_t job_id, int attempt, const std::string& holder, double lease_s);
  // Ends a running attempt as done, registering its products (replacing any
  // earlier record of the same paths), in one transaction with `also` (the
  // group's state). False, writing nothing, when the claim was lost.
  bool finish_done(const JobRecord& job, const std::string& fingerprint, double seconds,
                   const std::vector<ProductRecord>& products, const std::function<void()>& also);
  // Ends a running attempt as failed; discarded (the dead letter) instead when
  // the error is retryable but the attempts reached `max_attempts`.
  bool finish_failed(const JobRecord& job, ErrorKind kind, std::string_view error, double seconds,
                     int max_attempts, const std::function<void()>& also);
  // Gives a claim back without an outcome (the job returns to queued).
  bool release(const JobRecord& job);
  // Re-queues a failed or discarded job (attempts are kept).
  bool requeue(const JobKey& key);

  std::optional<ProductRecord> product(const std::string& path);
  std::vector<ProductRecord> products_of_job(std::int64_t job_id);
  // Every product of this kind, oldest first.
  std::vector<ProductRecord> products_of_kind(const std::string& kind);
  bool forget_product(const std::string& path);

 private:
  void start_attempt(const JobRecord& job);
  void end_attempt(const JobRecord& job, std::string_view outcome,
                   std::optional<ErrorKind> kind = std::nullopt, std::string_view error = {},
                   std::optional<double> seconds = std::nullopt);
  Database& db_;
};

}  // namespace contimg::state
