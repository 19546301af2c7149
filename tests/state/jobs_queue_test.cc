// The job queue (docs/scale-out.md): enqueue, claim by priority then age,
// leases and the reaper, fenced completion, retries with backoff and the dead
// letter; on SQLite and on a real PostgreSQL, plus what only PostgreSQL does
// (SKIP LOCKED, LISTEN/NOTIFY, a connection terminated by the server).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"
#include "state/jobs.h"
#include "state/state_db.h"
#include "support/backends.h"
#include "support/error_of.h"

namespace contimg::state {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

class QueueTest : public test::BackendTest {
 protected:
  double seconds_until_run(StateDb& db, std::int64_t id) {
    auto st = db.database().prepare("SELECT run_after - " + db.database().now_epoch_sql() +
                                    " FROM jobs WHERE id = ?1");
    st.bind(1, id);
    EXPECT_TRUE(st.step());
    return st.get_double(0);
  }
};
INSTANTIATE_TEST_SUITE_P(Backends, QueueTest, CONTIMG_BOTH_BACKENDS);

JobKey key(const std::string& group, const std::string& stage = "image") {
  return {group, stage, "/out"};
}

TEST_P(QueueTest, OneJobPerGroupStageTreeClaimedByPriorityThenGroupThenAge) {
  StateDb db(target());
  JobStore jobs(db.database());
  EXPECT_TRUE(jobs.enqueue(key("g1"), 100));
  EXPECT_TRUE(jobs.enqueue(key("g2"), 100));
  EXPECT_TRUE(jobs.enqueue(key("g3", "solve"), 10));  // a solve ahead of the applies
  EXPECT_FALSE(jobs.enqueue(key("g1"), 1));           // the unique (group, stage, tree)
  EXPECT_TRUE(jobs.enqueue({"g1", "image", "/other-tree"}, 100));

  std::vector<std::string> order;
  while (auto j = jobs.claim_next("w1", 60)) {
    EXPECT_EQ(j->state, JobState::kRunning);
    EXPECT_EQ(j->attempt, 1);
    EXPECT_EQ(j->holder, "w1");
    order.push_back(j->key.group_id + "/" + j->key.stage + j->key.out_root);
  }
  // Priority, then the oldest group (its next stage before a younger group's
  // first), then the oldest job (migration 12).
  EXPECT_THAT(order, ::testing::ElementsAre("g3/solve/out", "g1/image/out", "g1/image/other-tree",
                                            "g2/image/out"));
  // A stage filter: a worker that only images gets no solve.
  EXPECT_TRUE(jobs.enqueue(key("g4", "solve")));
  EXPECT_FALSE(jobs.claim_next("w2", 60, {"image", "validate"}));
  EXPECT_TRUE(jobs.claim_next("w2", 60, {"solve"}));
}

TEST_P(QueueTest, AStaleWorkersLateCompletionChangesNothing) {
  StateDb a_db(target());
  StateDb b_db(target());
  JobStore a(a_db.database()), b(b_db.database());
  RetryPolicy policy{3, 0, 0};
  a.enqueue(key("g1"));
  auto mine = a.claim_next("worker-a", 0.3);
  ASSERT_TRUE(mine);
  EXPECT_TRUE(b.reap_expired(policy).empty());  // the lease is live
  std::this_thread::sleep_for(500ms);           // worker-a stalls past its lease
  const auto reaped = b.reap_expired(policy);
  ASSERT_EQ(reaped.size(), 1u);
  EXPECT_EQ(reaped[0].holder, "worker-a");
  EXPECT_EQ(reaped[0].now, JobState::kQueued);
  auto theirs = b.claim_next("worker-b", 60);
  ASSERT_TRUE(theirs);
  EXPECT_EQ(theirs->attempt, 2);

  // worker-a wakes up: its heartbeat, completion and failure are all refused.
  EXPECT_FALSE(a.heartbeat(mine->id, mine->attempt, *mine->holder, 60));
  EXPECT_FALSE(a.finish_done(*mine, "fp-a", 1.0, {}, {}));
  EXPECT_FALSE(a.finish_failed(*mine, ErrorKind::kIo, "late", 1.0, policy));
  auto now = b.get(mine->id);
  EXPECT_EQ(now->state, JobState::kRunning);
  EXPECT_EQ(now->holder, "worker-b");
  EXPECT_FALSE(now->fingerprint);

  EXPECT_TRUE(b.finish_done(*theirs, "fp-b", 2.0, {}, {}));
  now = a.get(mine->id);
  EXPECT_EQ(now->state, JobState::kDone);
  EXPECT_EQ(now->fingerprint, "fp-b");
  const auto attempts = a.attempts(mine->id);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].holder, "worker-a");
  EXPECT_EQ(attempts[0].outcome, "lease_expired");
  EXPECT_THAT(attempts[0].error, HasSubstr("lease expired"));
  EXPECT_EQ(attempts[1].holder, "worker-b");
  EXPECT_EQ(attempts[1].outcome, "done");
}

TEST_P(QueueTest, RetriesBackOffThenTheJobIsDiscardedWithEveryAttemptsError) {
  StateDb db(target());
  JobStore jobs(db.database());
  RetryPolicy policy{3, 0.3, 0.5};
  EXPECT_DOUBLE_EQ(policy.delay(1), 0.3);
  EXPECT_DOUBLE_EQ(policy.delay(2), 0.5);  // capped (0.6)
  EXPECT_DOUBLE_EQ(RetryPolicy{}.delay(3), 120);
  EXPECT_DOUBLE_EQ(RetryPolicy{}.delay(20), 1800);
  jobs.enqueue(key("bad"));
  std::int64_t id = 0;
  for (int k = 1; k <= 3; ++k) {
    std::optional<JobRecord> j;
    for (int tries = 0; tries < 100 && !(j = jobs.claim_next("w", 60)); ++tries) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(j) << "attempt " << k;
    EXPECT_EQ(j->attempt, k);
    id = j->id;
    EXPECT_TRUE(
        jobs.finish_failed(*j, ErrorKind::kIo, "disk full #" + std::to_string(k), 0.1, policy));
    const auto after = jobs.get(id);
    if (k < 3) {
      EXPECT_EQ(after->state, JobState::kQueued);
      const double wait = seconds_until_run(db, id);
      EXPECT_GT(wait, policy.delay(k) - 0.1);
      EXPECT_LE(wait, policy.delay(k) + 0.01);
      EXPECT_FALSE(jobs.claim_next("w", 60)) << "claimed before its backoff";
    } else {
      EXPECT_EQ(after->state, JobState::kDiscarded);  // the dead letter
      EXPECT_EQ(after->error, "disk full #3");
      EXPECT_TRUE(after->finished_at);
    }
  }
  EXPECT_FALSE(jobs.claim_next("w", 60));  // a discarded job is never claimed
  const auto attempts = jobs.attempts(id);
  ASSERT_EQ(attempts.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(attempts[k].error, "disk full #" + std::to_string(k + 1));
    EXPECT_EQ(attempts[k].error_kind, "io");
    EXPECT_EQ(attempts[k].outcome, k < 2 ? "retry" : "discarded");
  }

  // Bad input is not retried: failed at once, never done.
  jobs.enqueue(key("corrupt"));
  auto j = jobs.claim_next("w", 60);
  ASSERT_TRUE(j);
  EXPECT_TRUE(jobs.finish_failed(*j, ErrorKind::kInput, "sb03: truncated", 0.1, policy));
  EXPECT_EQ(jobs.get(j->id)->state, JobState::kFailed);
  EXPECT_FALSE(jobs.finish_done(*j, "fp", 0.1, {}, {}));
  EXPECT_EQ(jobs.get(j->id)->state, JobState::kFailed);
}

// A worker that claimed an apply whose set is still to be solved puts it back:
// queued for the delay, the attempt not used, no attempt row; a stale holder
// cannot. count_unfinished counts a tree's calibrator jobs still to run.
TEST_P(QueueTest, ADeferredJobComesBackLaterWithoutUsingAnAttempt) {
  StateDb db(target());
  JobStore jobs(db.database());
  jobs.enqueue(key("cal", "solve"), 10);
  jobs.enqueue(key("sci", "applycal"), 50);
  jobs.enqueue({"cal2", "convert", "/other"}, 10);
  EXPECT_EQ(jobs.count_unfinished("/out", {"convert", "flag", "solve"}, 10), 1);
  EXPECT_EQ(jobs.count_unfinished("/out", {"convert", "flag"}, 10), 0);
  EXPECT_EQ(jobs.count_unfinished("/out", {}, 50), 2);
  auto cal = jobs.claim_next("w", 60);
  ASSERT_TRUE(cal && cal->key.group_id == "cal");
  EXPECT_EQ(jobs.count_unfinished("/out", {"solve"}, 10), 1);  // running counts
  auto sci = jobs.claim_next("w", 60, {"applycal"});
  ASSERT_TRUE(sci);
  EXPECT_EQ(sci->attempt, 1);
  JobRecord stale = *sci;
  stale.holder = "another";
  EXPECT_FALSE(jobs.defer(stale, 0.3));  // fenced on the holder
  EXPECT_TRUE(jobs.defer(*sci, 0.3));
  const auto back = jobs.get(sci->id);
  EXPECT_EQ(back->state, JobState::kQueued);
  EXPECT_EQ(back->attempt, 0);
  EXPECT_FALSE(back->holder);
  EXPECT_TRUE(jobs.attempts(sci->id).empty());
  EXPECT_GT(seconds_until_run(db, sci->id), 0.1);
  EXPECT_FALSE(jobs.claim_next("w", 60, {"applycal"})) << "claimed before its delay";
  // Not claimable yet, still pending work (a worker waits for it, not exits).
  EXPECT_EQ(jobs.count_pending({"applycal"}), 1);
  EXPECT_EQ(jobs.count_pending({"flag"}), 0);
  EXPECT_EQ(jobs.count_pending({}), 3);  // the running solve and the other tree's convert count
  EXPECT_FALSE(jobs.defer(*sci, 0.3));  // no longer held
  ASSERT_TRUE(jobs.finish_done(*cal, "fp", 0.1, {}, {}));
  EXPECT_EQ(jobs.count_unfinished("/out", {"convert", "flag", "solve"}, 10), 0);
  std::optional<JobRecord> again;
  for (int tries = 0; tries < 100 && !(again = jobs.claim_next("w", 60, {"applycal"})); ++tries) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempt, 1);  // the first real attempt
  EXPECT_EQ(jobs.attempts(again->id).size(), 1u);
}

TEST_P(QueueTest, TheReaperTakesOnlyExpiredLeasesAndDiscardsAtTheLastAttempt) {
  StateDb db(target());
  JobStore jobs(db.database());
  RetryPolicy policy{1, 0, 0};
  jobs.enqueue(key("live"));
  jobs.enqueue(key("dead"));
  auto live = jobs.claim_next("w-live", 0.4);
  auto dead = jobs.claim_next("w-dead", 0.4);
  ASSERT_TRUE(live && dead);
  for (int k = 0; k < 4; ++k) {  // the live worker renews, the dead one does not
    std::this_thread::sleep_for(150ms);
    EXPECT_TRUE(jobs.heartbeat(live->id, live->attempt, *live->holder, 0.4));
  }
  const auto reaped = jobs.reap_expired(policy);
  ASSERT_EQ(reaped.size(), 1u);
  EXPECT_EQ(reaped[0].job_id, dead->id);
  EXPECT_EQ(reaped[0].now, JobState::kDiscarded);  // max_attempts 1 used up
  EXPECT_EQ(jobs.get(dead->id)->state, JobState::kDiscarded);
  EXPECT_EQ(jobs.get(live->id)->state, JobState::kRunning);
  EXPECT_TRUE(jobs.reap_expired(policy).empty());
}

TEST_P(QueueTest, ConnectionsRacingForTheSameJobsTakeEachExactlyOnce) {
  {
    StateDb db(target());
    JobStore jobs(db.database());
    for (int g = 0; g < 12; ++g) jobs.enqueue(key(fmt::format("g{}", g)));
  }
  std::mutex m;
  std::map<std::int64_t, int> claims;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      try {
        StateDb db(target());
        JobStore jobs(db.database());
        while (auto j = jobs.claim_next(fmt::format("w{}", w), 60)) {
          std::lock_guard lock(m);
          ++claims[j->id];
        }
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claims.size(), 12u);
  for (const auto& [id, n] : claims) EXPECT_EQ(n, 1) << "job " << id;
}

// ---------------------------------------------------------------- PostgreSQL only

class PostgresQueue : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::PgServer::shared()) GTEST_SKIP() << test::PgServer::reason();
    url_ = test::PgServer::shared()->fresh_url();
  }
  std::string url_;
};

TEST_F(PostgresQueue, TwoConnectionsRacingForOneJobExactlyOneWins) {
  for (int round = 0; round < 10; ++round) {
    StateDb setup(url_);
    JobStore(setup.database()).enqueue(key("race" + std::to_string(round)));
    std::atomic<int> won{0}, lost{0};
    std::atomic<bool> go{false};
    auto racer = [&](const std::string& name) {
      StateDb db(url_);
      JobStore jobs(db.database());
      while (!go) std::this_thread::yield();
      (jobs.claim_next(name, 60) ? won : lost)++;
    };
    std::thread a(racer, "a"), b(racer, "b");
    go = true;
    a.join();
    b.join();
    EXPECT_EQ(won.load(), 1) << "round " << round;
    EXPECT_EQ(lost.load(), 1) << "round " << round;
  }
}

TEST_F(PostgresQueue, AClaimSkipsARowAnotherTransactionHoldsInsteadOfWaiting) {
  StateDb a(url_), b(url_);
  JobStore jobs_a(a.database()), jobs_b(b.database());
  jobs_a.enqueue(key("first"), 1);
  jobs_a.enqueue(key("second"), 2);
  Transaction hold(a.database(), Transaction::Mode::kDeferred);
  auto lock = a.database().prepare("SELECT id FROM jobs WHERE group_id = 'first' FOR UPDATE");
  ASSERT_TRUE(lock.step());
  lock.reset();
  const auto t0 = std::chrono::steady_clock::now();
  auto j = jobs_b.claim_next("b", 60);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->key.group_id, "second");
  EXPECT_LT(waited, 1.0);
}

TEST_F(PostgresQueue, AnEnqueueWakesAListeningWorker) {
  StateDb worker(url_), submitter(url_);
  worker.database().listen(kJobsChannel);
  EXPECT_FALSE(worker.database().wait_notification(0.1));  // nothing yet
  std::thread t([&] {
    std::this_thread::sleep_for(200ms);
    JobStore(submitter.database()).enqueue(key("new"));
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(worker.database().wait_notification(10));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  t.join();
  // Polling stays the truth: the job is there whether or not anyone listened.
  EXPECT_TRUE(JobStore(worker.database()).claim_next("w", 60));
}

std::int64_t backend_pid(Database& db) {
  auto st = db.prepare("SELECT pg_backend_pid()");
  st.step();
  return st.get_int(0);
}

void terminate(Database& admin, std::int64_t pid) {
  auto st = admin.prepare("SELECT pg_terminate_backend(CAST(?1 AS INTEGER))");
  st.bind(1, pid);
  ASSERT_TRUE(st.step());
  ASSERT_EQ(st.get_int(0), 1);
  std::this_thread::sleep_for(100ms);
}

TEST_F(PostgresQueue, ATerminatedConnectionReconnectsButNeverMidTransaction) {
  StateDb db(url_), admin(url_);
  JobStore jobs(db.database());
  jobs.enqueue(key("g1"));
  // Outside a transaction: the next statement reconnects and works.
  const auto pid = backend_pid(db.database());
  terminate(admin.database(), pid);
  auto j = jobs.claim_next("w", 60);
  ASSERT_TRUE(j);
  EXPECT_NE(backend_pid(db.database()), pid);

  // Inside one: the transaction is lost, every statement says so (IoError:
  // retryable) until it is rolled back; nothing of it is committed.
  {
    Transaction tx(db.database());
    db.database().exec("UPDATE jobs SET priority = 7");
    terminate(admin.database(), backend_pid(db.database()));
    EXPECT_THAT(test::error_of<IoError>([&] { db.database().exec("SELECT 1"); }),
                HasSubstr("connection"));
    EXPECT_THROW(tx.commit(), IoError);
  }
  EXPECT_FALSE(db.database().in_transaction());
  EXPECT_EQ(jobs.get(j->id)->priority, 100);
  EXPECT_TRUE(jobs.heartbeat(j->id, j->attempt, *j->holder, 60));  // reconnected
}

// A server restart (pg_ctl restart -m fast) between two statements of a
// worker: its connection is re-opened, the lease renewed, the job completed.
// A server of its own: restarting the shared one would disturb other tests.
TEST(PostgresRestart, AWorkerCarriesOnAfterTheServerRestarts) {
  if (!test::PgServer::bin_dir()) GTEST_SKIP() << "PostgreSQL server programs not installed";
  char tmpl[] = "/tmp/contimg-pgr-XXXXXX";
  ASSERT_TRUE(::mkdtemp(tmpl));
  auto server = test::PgServer::start(tmpl);
  StateDb db(server->url());
  JobStore jobs(db.database());
  jobs.enqueue(key("g1"));
  auto j = jobs.claim_next("w", 60);
  ASSERT_TRUE(j);
  const auto pid = backend_pid(db.database());
  server->restart();
  EXPECT_TRUE(jobs.heartbeat(j->id, j->attempt, *j->holder, 60));  // reconnects
  EXPECT_NE(backend_pid(db.database()), pid);
  EXPECT_TRUE(jobs.finish_done(*j, "fp", 1.0, {}, {}));
  EXPECT_EQ(jobs.get(j->id)->state, JobState::kDone);
}

}  // namespace
}  // namespace contimg::state
