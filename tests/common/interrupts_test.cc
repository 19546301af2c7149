#include "common/interrupts.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "support/tiny_uvh5.h"

namespace contimg {
namespace {

namespace fs = std::filesystem;

TEST(ScopedTempDir, IsRemovedWithItsContentsEvenOnException) {
  test::TempDir root;
  fs::path seen;
  try {
    ScopedTempDir t(root.path(), "convert");
    seen = t.path();
    fs::create_directories(t.path() / "x.ms" / "SUB");
    std::ofstream(t.path() / "x.ms" / "SUB" / "table.dat") << "data";
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(seen.empty());
  EXPECT_FALSE(fs::exists(seen));
}

TEST(ScopedTempDir, ReleaseKeepsTheDirectory) {
  test::TempDir root;
  fs::path kept;
  {
    ScopedTempDir t(root.path(), "x");
    kept = t.path();
    t.release();
  }
  EXPECT_TRUE(fs::exists(kept));
}

TEST(SweepStaleTempDirs, RemovesOnlyThoseOfDeadProcesses) {
  test::TempDir root;
  // A child that exits at once gives a pid that is certainly dead.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  const auto dead = root.path() / (".contimg-tmp-" + std::to_string(child) + "-0000-convert");
  const auto alive = root.path() / (".contimg-tmp-" + std::to_string(getpid()) + "-0000-convert");
  const auto other = root.path() / "2025-01-01T00:00:00.ms";
  // Another machine's directory on a shared filesystem is never judged here.
  const auto remote = root.path() / (".contimg-tmp-" + std::to_string(child) + "-0000-convert@another-host.example");
  for (const auto& p : {dead, alive, other, remote}) fs::create_directories(p / "inner");
  EXPECT_EQ(sweep_stale_temp_dirs(root.path()), 1);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(alive));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(remote));
}

// The real signal path: SIGTERM to this process reaches the watcher thread.
// Run in a child so that the test binary's own signal mask is untouched.
TEST(InterruptGuard, RealSigtermSetsTheFlagAndUnwindingCleansUp) {
  test::TempDir root;
  const pid_t child = fork();
  if (child == 0) {
    InterruptGuard guard;
    fs::path tmp;
    try {
      ScopedTempDir t(root.path(), "work", &guard);
      tmp = t.path();
      kill(getpid(), SIGTERM);
      for (int i = 0; i < 200 && !guard.interrupted(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      guard.throw_if_interrupted();
      _exit(10);  // not interrupted
    } catch (const Cancelled&) {
    }
    _exit(fs::exists(tmp) ? 11 : (guard.signal_number() == SIGTERM ? 0 : 12));
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(InterruptGuard, SecondSignalRemovesRegisteredPathsAndExits130) {
  test::TempDir root;
  const auto marker = root.path() / "staging";
  const pid_t child = fork();
  if (child == 0) {
    InterruptGuard guard;
    fs::create_directories(marker / "x.ms");
    guard.register_path(marker);
    kill(getpid(), SIGINT);
    for (int i = 0; i < 200 && !guard.interrupted(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(getpid(), SIGINT);
    std::this_thread::sleep_for(std::chrono::seconds(5));
    _exit(0);  // should not get here
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_FALSE(fs::exists(marker));
}

}  // namespace
}  // namespace contimg
