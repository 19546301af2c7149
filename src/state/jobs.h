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
  Database& db_;
};

}  // namespace contimg::state
