#include "state/jobs.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "common/error.h"
#include "state/clock.h"

namespace contimg::state {
namespace {

// The database's clock (Unix s): on PostgreSQL the one clock every machine's
// leases are measured by.
double db_now(Database& db) {
  auto& st = db.cached("SELECT " + db.now_epoch_sql());
  st.step();
  const double now = st.get_double(0);
  st.reset();
  return now;
}

constexpr const char* kJobColumns =
    "id, group_id, stage, out_root, state, attempt, holder, lease_expires, fingerprint, "
    "error_kind, error, seconds, created_at, updated_at, started_at, finished_at, priority, "
    "run_after";

JobRecord read_job(const Statement& st) {
  JobRecord j;
  j.id = st.get_int(0);
  j.key = {st.get_text(1), st.get_text(2), st.get_text(3)};
  j.state = parse_job_state(st.get_text(4));
  j.attempt = static_cast<int>(st.get_int(5));
  j.holder = st.get_opt_text(6);
  j.lease_expires = st.get_opt_double(7);
  j.fingerprint = st.get_opt_text(8);
  if (auto k = st.get_opt_text(9)) j.error_kind = parse_error_kind(*k);
  j.error = st.get_opt_text(10).value_or("");
  j.seconds = st.get_opt_double(11);
  j.created_at = st.get_text(12);
  j.updated_at = st.get_text(13);
  j.started_at = st.get_opt_text(14);
  j.finished_at = st.get_opt_text(15);
  j.priority = static_cast<int>(st.get_int(16));
  j.run_after = st.get_double(17);
  return j;
}

constexpr const char* kProductColumns =
    "path, kind, group_id, stage, job_id, token, size_bytes, mtime_ns, fingerprint, inputs, "
    "config, created_at";

ProductRecord read_product(const Statement& st) {
  ProductRecord p;
  p.path = st.get_text(0);
  p.kind = st.get_text(1);
  p.group_id = st.get_text(2);
  p.stage = st.get_text(3);
  p.job_id = st.get_opt_int(4);
  p.token = st.get_opt_text(5);
  p.size_bytes = st.get_opt_int(6);
  p.mtime_ns = st.get_opt_int(7);
  p.fingerprint = st.get_text(8);
  p.inputs_json = st.get_text(9);
  p.config_json = st.get_text(10);
  p.created_at = st.get_text(11);
  return p;
}

// The fence: the row is still this attempt's.
constexpr const char* kFence = "id = ?1 AND attempt = ?2 AND holder = ?3 AND state = 'running'";

}  // namespace

const char* to_string(JobState s) {
  switch (s) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kFailed:
      return "failed";
    case JobState::kDiscarded:
      return "discarded";
  }
  return "?";
}

const char* to_string(ErrorKind k) {
  switch (k) {
    case ErrorKind::kInput:
      return "input";
    case ErrorKind::kConfig:
      return "config";
    case ErrorKind::kIo:
      return "io";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kInterrupted:
      return "interrupted";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "?";
}

JobState parse_job_state(std::string_view s) {
  for (auto v : {JobState::kQueued, JobState::kRunning, JobState::kDone, JobState::kFailed,
                 JobState::kDiscarded}) {
    if (s == to_string(v)) return v;
  }
  throw IoError(fmt::format("state db: unknown job state \"{}\"", s));
}

ErrorKind parse_error_kind(std::string_view s) {
  for (auto v : {ErrorKind::kInput, ErrorKind::kConfig, ErrorKind::kIo, ErrorKind::kTimeout,
                 ErrorKind::kInterrupted, ErrorKind::kInternal}) {
    if (s == to_string(v)) return v;
  }
  throw IoError(fmt::format("state db: unknown error kind \"{}\"", s));
}

bool is_retryable(ErrorKind k) {
  return k == ErrorKind::kIo || k == ErrorKind::kTimeout || k == ErrorKind::kInterrupted;
}

JobRecord JobStore::ensure(const JobKey& key) {
  Transaction tx(db_);
  const std::string now = now_iso();
  db_.cached(
         "INSERT INTO jobs (group_id, stage, out_root, state, created_at, updated_at) "
         "VALUES (?1, ?2, ?3, 'queued', ?4, ?4) ON CONFLICT (group_id, stage, out_root) DO NOTHING")
      .bind(1, key.group_id)
      .bind(2, key.stage)
      .bind(3, key.out_root)
      .bind(4, now)
      .run();
  auto j = get(key);
  tx.commit();
  return *j;
}

std::optional<JobRecord> JobStore::get(const JobKey& key) {
  auto& st = db_.cached(fmt::format(
      "SELECT {} FROM jobs WHERE group_id = ?1 AND stage = ?2 AND out_root = ?3", kJobColumns));
  st.bind(1, key.group_id).bind(2, key.stage).bind(3, key.out_root);
  if (!st.step()) return std::nullopt;
  auto j = read_job(st);
  st.reset();
  return j;
}

std::optional<JobRecord> JobStore::get(std::int64_t job_id) {
  auto& st = db_.cached(fmt::format("SELECT {} FROM jobs WHERE id = ?1", kJobColumns));
  st.bind(1, job_id);
  if (!st.step()) {
    st.reset();
    return std::nullopt;
  }
  auto j = read_job(st);
  st.reset();
  return j;
}

std::vector<JobRecord> JobStore::jobs_of_group(const std::string& group_id) {
  auto& st =
      db_.cached(fmt::format("SELECT {} FROM jobs WHERE group_id = ?1 ORDER BY id", kJobColumns));
  st.bind(1, group_id);
  std::vector<JobRecord> out;
  while (st.step()) out.push_back(read_job(st));
  return out;
}

JobStore::Claim JobStore::claim(const JobKey& key, const std::string& holder, double lease_s,
                                const std::function<bool(const std::string&)>& holder_alive,
                                const JobRecord* seen) {
  Transaction tx(db_);
  JobRecord j = ensure(key);
  const double now = db_now(db_);
  const JobState previous = j.state;
  const auto previous_holder = j.holder;
  if (seen && (j.state != seen->state || j.attempt != seen->attempt)) {
    tx.commit();
    Claim c{false, j, previous, previous_holder};
    c.changed = true;
    return c;
  }
  if (j.state == JobState::kRunning && j.holder && *j.holder != holder) {
    const bool lease_live = j.lease_expires && *j.lease_expires > now;
    if (lease_live && holder_alive(*j.holder)) {
      tx.commit();
      return {false, j, previous, previous_holder};
    }
  }
  const std::string now_text = now_iso();
  db_.cached(
         "UPDATE jobs SET state = 'running', attempt = attempt + 1, holder = ?2, "
         "lease_expires = ?3, heartbeat_at = ?4, started_at = ?4, finished_at = NULL, "
         "error_kind = NULL, retryable = NULL, error = NULL, seconds = NULL, updated_at = ?4 "
         "WHERE id = ?1")
      .bind(1, j.id)
      .bind(2, holder)
      .bind(3, now + lease_s)
      .bind(4, now_text)
      .run();
  if (previous == JobState::kRunning) {
    // The attempt this one takes over from ends here.
    JobRecord old = j;
    end_attempt(old, "taken_over", ErrorKind::kInterrupted,
                fmt::format("taken over by {}", holder));
  }
  j = *get(key);
  start_attempt(j);
  tx.commit();
  return {true, j, previous, previous_holder};
}

bool JobStore::heartbeat(std::int64_t job_id, int attempt, const std::string& holder,
                         double lease_s) {
  // The database's clock: on PostgreSQL the one every machine's reaper reads.
  auto& st = db_.cached(fmt::format(
      "UPDATE jobs SET lease_expires = {} + ?4, heartbeat_at = ?5 WHERE {}", db_.now_epoch_sql(),
      kFence));
  st.bind(1, job_id).bind(2, attempt).bind(3, holder).bind(4, lease_s).bind(5, now_iso());
  return st.run() == 1;
}

bool JobStore::finish_done(const JobRecord& job, const std::string& fingerprint, double seconds,
                           const std::vector<ProductRecord>& products,
                           const std::function<void()>& also) {
  Transaction tx(db_);
  const std::string now = now_iso();
  auto& st = db_.cached(fmt::format(
      "UPDATE jobs SET state = 'done', fingerprint = ?4, seconds = ?5, finished_at = ?6, "
      "updated_at = ?6, lease_expires = NULL, holder = NULL WHERE {}",
      kFence));
  st.bind(1, job.id)
      .bind(2, job.attempt)
      .bind(3, *job.holder)
      .bind(4, fingerprint)
      .bind(5, seconds)
      .bind(6, now);
  if (st.run() != 1) return false;  // the transaction rolls back
  end_attempt(job, "done", std::nullopt, {}, seconds);
  for (const auto& p : products) {
    db_.cached(
           "INSERT INTO products (path, kind, group_id, stage, job_id, token, size_bytes, "
           "mtime_ns, "
           "fingerprint, inputs, config, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
           "?10, ?11, ?12) ON CONFLICT (path) DO UPDATE SET kind = excluded.kind, "
           "group_id = excluded.group_id, stage = excluded.stage, job_id = excluded.job_id, "
           "token = excluded.token, size_bytes = excluded.size_bytes, mtime_ns = "
           "excluded.mtime_ns, "
           "fingerprint = excluded.fingerprint, inputs = excluded.inputs, config = "
           "excluded.config, "
           "created_at = excluded.created_at")
        .bind(1, p.path)
        .bind(2, p.kind)
        .bind(3, p.group_id)
        .bind(4, p.stage)
        .bind(5, job.id)
        .bind(6, p.token)
        .bind(7, p.size_bytes)
        .bind(8, p.mtime_ns)
        .bind(9, p.fingerprint)
        .bind(10, p.inputs_json)
        .bind(11, p.config_json)
        .bind(12, now)
        .run();
  }
  if (also) also();
  tx.commit();
  return true;
}

bool JobStore::finish_failed(const JobRecord& job, ErrorKind kind, std::string_view error,
                             double seconds, int max_attempts, const std::function<void()>& also) {
  Transaction tx(db_);
  // A retryable failure that used up its attempts is the dead letter.
  const bool discard = is_retryable(kind) && job.attempt >= max_attempts;
  const std::string now = now_iso();
  auto& st = db_.cached(fmt::format(
      "UPDATE jobs SET state = ?4, error_kind = ?5, retryable = ?6, error = ?7, seconds = ?8, "
      "finished_at = ?9, updated_at = ?9, lease_expires = NULL, holder = NULL WHERE {}",
      kFence));
  st.bind(1, job.id)
      .bind(2, job.attempt)
      .bind(3, *job.holder)
      .bind(4, discard ? "discarded" : "failed")
      .bind(5, to_string(kind))
      .bind(6, is_retryable(kind))
      .bind(7, error)
      .bind(8, seconds)
      .bind(9, now);
  if (st.run() != 1) return false;
  end_attempt(job, discard ? "discarded" : "failed", kind, error, seconds);
  if (also) also();
  tx.commit();
  return true;
}

bool JobStore::release(const JobRecord& job) {
  Transaction tx(db_);
  auto& st = db_.cached(fmt::format(
      "UPDATE jobs SET state = 'queued', holder = NULL, lease_expires = NULL, updated_at = ?4 "
      "WHERE {}",
      kFence));
  st.bind(1, job.id).bind(2, job.attempt).bind(3, job.holder.value_or("")).bind(4, now_iso());
  if (st.run() != 1) return false;
  end_attempt(job, "released");
  tx.commit();
  return true;
}

bool JobStore::requeue(const JobKey& key) {
  auto& st = db_.cached(
      "UPDATE jobs SET state = 'queued', updated_at = ?4 WHERE group_id = ?1 AND stage = ?2 AND "
      "out_root = ?3 AND state IN ('failed', 'discarded')");
  st.bind(1, key.group_id).bind(2, key.stage).bind(3, key.out_root).bind(4, now_iso());
  return st.run() == 1;
}

// ---------------------------------------------------------------- attempts

void JobStore::start_attempt(const JobRecord& job) {
  db_.cached(
         "INSERT INTO job_attempts (job_id, attempt, holder, started_at, outcome) "
         "VALUES (?1, ?2, ?3, ?4, 'running') ON CONFLICT (job_id, attempt) DO UPDATE SET "
         "holder = excluded.holder, started_at = excluded.started_at, outcome = 'running', "
         "finished_at = NULL, error_kind = NULL, error = NULL, seconds = NULL")
      .bind(1, job.id)
      .bind(2, job.attempt)
      .bind(3, job.holder.value_or(""))
      .bind(4, job.started_at.value_or(now_iso()))
      .run();
}

void JobStore::end_attempt(const JobRecord& job, std::string_view outcome,
                           std::optional<ErrorKind> kind, std::string_view error,
                           std::optional<double> seconds) {
  // Only a running attempt ends (once): a row of an attempt from before
  // migration 11 does not exist, which is fine.
  db_.cached(
         "UPDATE job_attempts SET outcome = ?3, finished_at = ?4, error_kind = ?5, error = ?6, "
         "seconds = ?7 WHERE job_id = ?1 AND attempt = ?2 AND outcome = 'running'")
      .bind(1, job.id)
      .bind(2, job.attempt)
      .bind(3, outcome)
      .bind(4, now_iso())
      .bind(5, kind ? std::optional<std::string>(to_string(*kind)) : std::nullopt)
      .bind(6, error.empty() ? std::nullopt : std::optional<std::string>(error))
      .bind(7, seconds)
      .run();
}

std::vector<AttemptRecord> JobStore::attempts(std::int64_t job_id) {
  auto& st = db_.cached(
      "SELECT attempt, holder, started_at, finished_at, outcome, error_kind, error, seconds "
      "FROM job_attempts WHERE job_id = ?1 ORDER BY attempt");
  st.bind(1, job_id);
  std::vector<AttemptRecord> out;
  while (st.step()) {
    AttemptRecord a;
    a.attempt = static_cast<int>(st.get_int(0));
    a.holder = st.get_text(1);
    a.started_at = st.get_text(2);
    a.finished_at = st.get_opt_text(3);
    a.outcome = st.get_text(4);
    a.error_kind = st.get_opt_text(5);
    a.error = st.get_opt_text(6).value_or("");
    a.seconds = st.get_opt_double(7);
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<std::pair<std::string, std::int64_t>> JobStore::count_by_state() {
  auto& st = db_.cached("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state");
  std::vector<std::pair<std::string, std::int64_t>> out;
  while (st.step()) out.emplace_back(st.get_text(0), st.get_int(1));
  return out;
}

// ---------------------------------------------------------------- the queue

double RetryPolicy::delay(int attempt) const {
  double d = backoff_s;
  for (int k = 1; k < attempt && d < backoff_max_s; ++k) d *= 2;
  return std::min(d, backoff_max_s);
}

bool JobStore::enqueue(const JobKey& key, int priority) {
  Transaction tx(db_);
  const std::string now = now_iso();
  const int n =
      db_.cached(
             "INSERT INTO jobs (group_id, stage, out_root, state, priority, created_at, "
             "updated_at) VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?5) "
             "ON CONFLICT (group_id, stage, out_root) DO NOTHING")
          .bind(1, key.group_id)
          .bind(2, key.stage)
          .bind(3, key.out_root)
          .bind(4, priority)
          .bind(5, now)
          .run();
  if (n > 0) db_.notify(kJobsChannel);  // delivered at commit
  tx.commit();
  return n > 0;
}

std::optional<JobRecord> JobStore::claim_next(const std::string& holder, double lease_s,
                                              const std::vector<std::string>& stages) {
  // SQLite: the write lock makes the statement exclusive. PostgreSQL: a plain
  // transaction (no writer lock); SKIP LOCKED passes over rows other workers
  // are claiming, so concurrent claims take different jobs without waiting.
  Transaction tx(db_, db_.is_postgres() ? Transaction::Mode::kDeferred
                                        : Transaction::Mode::kImmediate);
  std::string filter;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    filter += fmt::format("{}?{}", i == 0 ? " AND stage IN (" : ", ", i + 4);
  }
  if (!stages.empty()) filter += ")";
  const std::string now = db_.now_epoch_sql();
  auto& st = db_.cached(fmt::format(
      "WITH c AS (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= {0}{1} "
      "ORDER BY priority, group_id, id LIMIT 1{2}) "
      "UPDATE jobs SET state = 'running', attempt = jobs.attempt + 1, holder = ?1, "
      "lease_expires = {0} + ?2, heartbeat_at = ?3, started_at = ?3, finished_at = NULL, "
      "error_kind = NULL, retryable = NULL, error = NULL, seconds = NULL, updated_at = ?3 "
      "FROM c WHERE jobs.id = c.id RETURNING jobs.id",
      now, filter, db_.is_postgres() ? " FOR UPDATE SKIP LOCKED" : ""));
  st.bind(1, holder).bind(2, lease_s).bind(3, now_iso());
  for (std::size_t i = 0; i < stages.size(); ++i) st.bind(static_cast<int>(i) + 4, stages[i]);
  if (!st.step()) {
    st.reset();
    tx.commit();
    return std::nullopt;
  }
  const std::int64_t id = st.get_int(0);
  st.reset();
  auto j = get(id);
  start_attempt(*j);
  tx.commit();
  return j;
}

bool JobStore::defer(const JobRecord& job, double delay_s) {
  Transaction tx(db_);
  auto& st = db_.cached(fmt::format(
      "UPDATE jobs SET state = 'queued', attempt = attempt - 1, holder = NULL, "
      "lease_expires = NULL, started_at = NULL, run_after = {} + ?4, updated_at = ?5 WHERE {}",
      db_.now_epoch_sql(), kFence));
  st.bind(1, job.id).bind(2, job.attempt).bind(3, job.holder.value_or("")).bind(4, delay_s).bind(
      5, now_iso());
  if (st.run() != 1) return false;
  // Not an attempt: its row goes (the history shows only work that ran).
  db_.cached("DELETE FROM job_attempts WHERE job_id = ?1 AND attempt = ?2")
      .bind(1, job.id)
      .bind(2, job.attempt)
      .run();
  tx.commit();
  return true;
}

std::int64_t JobStore::count_unfinished(const std::string& out_root,
                                        const std::vector<std::string>& stages, int max_priority) {
  std::string filter;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    filter += fmt::format("{}?{}", i == 0 ? " AND stage IN (" : ", ", i + 3);
  }
  if (!stages.empty()) filter += ")";
  auto& st = db_.cached(fmt::format(
      "SELECT count(*) FROM jobs WHERE out_root = ?1 AND priority <= ?2 AND state IN ('queued', "
      "'running'){}",
      filter));
  st.bind(1, out_root).bind(2, max_priority);
  for (std::size_t i = 0; i < stages.size(); ++i) st.bind(static_cast<int>(i) + 3, stages[i]);
  st.step();
  const std::int64_t n = st.get_int(0);
  st.reset();
  return n;
}

std::int64_t JobStore::count_pending(const std::vector<std::string>& stages) {
  std::string filter;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    filter += fmt::format("{}?{}", i == 0 ? " AND stage IN (" : ", ", i + 1);
  }
  if (!stages.empty()) filter += ")";
  auto& st =
      db_.cached(fmt::format("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running'){}", filter));
  for (std::size_t i = 0; i < stages.size(); ++i) st.bind(static_cast<int>(i) + 1, stages[i]);
  st.step();
  const std::int64_t n = st.get_int(0);
  st.reset();
  return n;
}

std::vector<ReapedJob> JobStore::reap_expired(const RetryPolicy& policy, int limit) {
  Transaction tx(db_, db_.is_postgres() ? Transaction::Mode::kDeferred
                                        : Transaction::Mode::kImmediate);
  const std::string now = db_.now_epoch_sql();
  std::vector<ReapedJob> found;
  {
    auto& st = db_.cached(fmt::format(
        "SELECT id, attempt, holder FROM jobs WHERE state = 'running' AND lease_expires < {} "
        "ORDER BY id LIMIT ?1{}",
        now, db_.is_postgres() ? " FOR UPDATE SKIP LOCKED" : ""));
    st.bind(1, limit);
    while (st.step()) {
      found.push_back({st.get_int(0), static_cast<int>(st.get_int(1)),
                       st.get_opt_text(2).value_or(""), JobState::kQueued});
    }
  }
  std::vector<ReapedJob> out;
  const std::string now_text = now_iso();
  for (auto r : found) {
    const bool discard = r.attempt >= policy.max_attempts;
    r.now = discard ? JobState::kDiscarded : JobState::kQueued;
    const std::string error = fmt::format("lease expired: holder {} stopped renewing it", r.holder);
    // Fenced, and the lease still expired: a heartbeat that came in between wins.
    auto& up = db_.cached(fmt::format(
        "UPDATE jobs SET state = ?4, run_after = {0} + ?5, holder = NULL, lease_expires = NULL, "
        "error_kind = 'interrupted', retryable = 1, error = ?6, finished_at = ?7, updated_at = ?8 "
        "WHERE {1} AND lease_expires < {0}",
        now, kFence));
    up.bind(1, r.job_id)
        .bind(2, r.attempt)
        .bind(3, r.holder)
        .bind(4, to_string(r.now))
        .bind(5, discard ? 0.0 : policy.delay(r.attempt))
        .bind(6, error)
        .bind(7, discard ? std::optional<std::string>(now_text) : std::nullopt)
        .bind(8, now_text);
    if (up.run() != 1) continue;
    JobRecord j;
    j.id = r.job_id;
    j.attempt = r.attempt;
    end_attempt(j, "lease_expired", ErrorKind::kInterrupted, error);
    out.push_back(r);
  }
  tx.commit();
  return out;
}

bool JobStore::finish_failed(const JobRecord& job, ErrorKind kind, std::string_view error,
                             double seconds, const RetryPolicy& policy,
                             const std::function<void()>& also) {
  Transaction tx(db_);
  const bool retryable = is_retryable(kind);
  const bool discard = retryable && job.attempt >= policy.max_attempts;
  const bool retry = retryable && !discard;
  const char* state = retry ? "queued" : discard ? "discarded" : "failed";
  const std::string now = now_iso();
  auto& st = db_.cached(fmt::format(
      "UPDATE jobs SET state = ?4, error_kind = ?5, retryable = ?6, error = ?7, seconds = ?8, "
      "finished_at = ?9, updated_at = ?10, lease_expires = NULL, holder = NULL, "
      "run_after = {} + ?11 WHERE {}",
      db_.now_epoch_sql(), kFence));
  st.bind(1, job.id)
      .bind(2, job.attempt)
      .bind(3, job.holder.value_or(""))
      .bind(4, state)
      .bind(5, to_string(kind))
      .bind(6, retryable)
      .bind(7, error)
      .bind(8, seconds)
      .bind(9, retry ? std::nullopt : std::optional<std::string>(now))
      .bind(10, now)
      .bind(11, retry ? policy.delay(job.attempt) : 0.0);
  if (st.run() != 1) return false;
  end_attempt(job, retry ? "retry" : discard ? "discarded" : "failed", kind, error, seconds);
  if (retry) db_.notify(kJobsChannel);
  if (also) also();
  tx.commit();
  return true;
}

std::optional<ProductRecord> JobStore::product(const std::string& path) {
  auto& st = db_.cached(fmt::format("SELECT {} FROM products WHERE path = ?1", kProductColumns));
  st.bind(1, path);
  if (!st.step()) return std::nullopt;
  auto p = read_product(st);
  st.reset();
  return p;
}

std::vector<ProductRecord> JobStore::products_of_job(std::int64_t job_id) {
  auto& st = db_.cached(
      fmt::format("SELECT {} FROM products WHERE job_id = ?1 ORDER BY path", kProductColumns));
  st.bind(1, job_id);
  std::vector<ProductRecord> out;
  while (st.step()) out.push_back(read_product(st));
  return out;
}

std::vector<ProductRecord> JobStore::products_of_kind(const std::string& kind) {
  auto& st = db_.cached(fmt::format("SELECT {} FROM products WHERE kind = ?1 ORDER BY created_at, path",
                                    kProductColumns));
  st.bind(1, kind);
  std::vector<ProductRecord> out;
  while (st.step()) out.push_back(read_product(st));
  return out;
}

bool JobStore::forget_product(const std::string& path) {
  auto& st = db_.cached("DELETE FROM products WHERE path = ?1");
  st.bind(1, path);
  return st.run() > 0;
}

}  // namespace contimg::state
