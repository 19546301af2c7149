#include "service/worker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "common/interrupts.h"
#include "config/config.h"
#include "state/jobs.h"
#include "state/state_db.h"

namespace contimg::service {
namespace {

namespace fs = std::filesystem;

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("contimg-worker-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::shared_ptr<const config::Config> config() const {
    return std::make_shared<const config::Config>(
        config::Config::defaults()
            .with_override({"paths.state_db", (dir_ / "state.sqlite").string(), "test"})
            .with_override({"paths.scratch_dir", (dir_ / "scratch").string(), "test"})
            .with_override({"paths.stage_dir", (dir_ / "stage").string(), "test"})
            .with_override({"worker.poll_s", "0.1", "test"})
            .with_override({"worker.reap_s", "0.5", "test"}));
  }

  fs::path dir_;
};

// A job put back for later (a deferred apply, a retry in its backoff) is work
// to wait for: a pilot with --exit-when-idle shorter than the delay stayed
// idle and exited, leaving it queued (three pilots left 3 applies queued in
// bench/run_queue_bench.py). Now it waits, takes the job when its time comes
// (here it fails it: the group is not in the index) and only then exits.
TEST_F(WorkerTest, ExitWhenIdleWaitsForAJobQueuedForLater) {
  const auto cfg = config();
  std::int64_t id = 0;
  // From the deferral (constructing the worker can take a second under ASan).
  const auto t0 = std::chrono::steady_clock::now();
  {
    state::StateDb db(dir_ / "state.sqlite");
    state::JobStore jobs(db.database());
    jobs.enqueue({"2025-03-20T10:00:00", "applycal", (dir_ / "out").string()}, 50);
    const auto claimed = jobs.claim_next("another", 60);
    ASSERT_TRUE(claimed);
    id = claimed->id;
    ASSERT_TRUE(jobs.defer(*claimed, 1.5));
  }
  InterruptGuard interrupts(InterruptGuard::Manual{}, nullptr);
  Worker worker(cfg, interrupts);
  WorkerOptions o;
  o.exit_when_idle_s = 0.3;
  const auto s = worker.run(o);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(s.ended_by, "idle");
  EXPECT_GE(waited, 1.4) << "exited before the deferred job's time";
  EXPECT_EQ(s.jobs_failed, 1);
  state::StateDb db(dir_ / "state.sqlite");
  const auto job = state::JobStore(db.database()).get(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, state::JobState::kFailed)
      << "the job was left " << state::to_string(job->state);
}

}  // namespace
}  // namespace contimg::service
