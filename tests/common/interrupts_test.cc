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

std::string host() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf[0] ? buf : "localhost";
}

// D3: imaging left products/<group>/.contimg-tmp-…-image@host, which no rerun
// swept (the sweep looked only at scratch/ and ms/, one level deep).
TEST(SweepStaleTempPaths, FindsStaleEntriesAtEveryTierToABoundedDepth) {
  test::TempDir root;
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  const std::string dead = ".contimg-tmp-" + std::to_string(child) + "-0badc0de-";
  const std::string live = ".contimg-tmp-" + std::to_string(getpid()) + "-0badc0de-";
  const auto products = root.path() / "products", ms = root.path() / "ms", cal = root.path() / "caltables";
  const auto in_products = products / "2025-01-01T00:00:00" / (dead + "image-2025-01-01T00:00:00@" + host());
  const auto in_ms = ms / (dead + "convert@" + host());
  const auto in_cal = cal / (dead + "solve-g@" + host());
  const auto stale_file = products / (dead + "x@" + host());
  const auto too_deep = products / "a" / "b" / (dead + "deep@" + host());
  const auto in_table = ms / "g.ms" / (dead + "inner@" + host());
  const auto alive = products / "g2" / (live + "image@" + host());
  const auto inside_alive = alive / (dead + "nested@" + host());
  for (const auto& p : {in_products, in_ms, in_cal, too_deep, in_table, inside_alive}) fs::create_directories(p / "x");
  std::ofstream(ms / "g.ms" / "table.dat") << "casacore";
  std::ofstream(stale_file) << "partial";
  fs::create_directories(root.path() / "elsewhere" / (dead + "linked@" + host()));
  fs::create_directory_symlink(root.path() / "elsewhere", products / "link");

  EXPECT_EQ(sweep_stale_temp_paths({products, ms, cal, root.path() / "missing"}, 2), 4);
  EXPECT_FALSE(fs::exists(in_products));
  EXPECT_FALSE(fs::exists(in_ms));
  EXPECT_FALSE(fs::exists(in_cal));
  EXPECT_FALSE(fs::exists(stale_file));
  EXPECT_TRUE(fs::exists(products / "2025-01-01T00:00:00"));  // only the temporary goes
  EXPECT_TRUE(fs::exists(too_deep));
  EXPECT_TRUE(fs::exists(in_table));
  EXPECT_TRUE(fs::exists(inside_alive));
  EXPECT_TRUE(fs::exists(root.path() / "elsewhere" / (dead + "linked@" + host())));
  EXPECT_EQ(sweep_stale_temp_paths({products}, 3), 1);  // now deep enough
  EXPECT_FALSE(fs::exists(too_deep));
}

// A ScopedTempDir's own name is what the sweep recognises.
TEST(SweepStaleTempPaths, RecognisesScopedTempDirNames) {
  test::TempDir root;
  fs::path name;
  {
    ScopedTempDir t(root.path() / "products" / "g", "image-g");
    name = t.path().filename();
    t.release();
  }
  EXPECT_EQ(sweep_stale_temp_paths({root.path() / "products"}, 2), 0);  // ours: alive
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  std::string stale = name.string();
  const auto dash = stale.find('-', std::string(".contimg-tmp-").size());
  stale = ".contimg-tmp-" + std::to_string(child) + stale.substr(dash);
  fs::rename(root.path() / "products" / "g" / name, root.path() / "products" / "g" / stale);
  EXPECT_EQ(sweep_stale_temp_paths({root.path() / "products"}, 2), 1);
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

// The service's stage guard: a signal sets the real guard only; the stages
// see the stop when the service decides (simulate); a path a stage registers
// is still removed by the real guard's second signal.
TEST(InterruptGuard, AManualGuardIgnoresSignalsAndForwardsRegisteredPaths) {
  test::TempDir root;
  const auto marker = root.path() / "stage-temp";
  const pid_t child = fork();
  if (child == 0) {
    InterruptGuard guard;
    InterruptGuard stages(InterruptGuard::Manual{}, &guard);
    fs::create_directories(marker);
    stages.register_path(marker);
    kill(getpid(), SIGTERM);
    for (int i = 0; i < 200 && !guard.interrupted(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!guard.interrupted()) _exit(10);
    if (stages.interrupted()) _exit(11);  // the stages must not see the signal
    stages.simulate(SIGTERM);
    if (!stages.interrupted()) _exit(12);
    kill(getpid(), SIGTERM);  // second signal: the real guard removes what the stages registered
    std::this_thread::sleep_for(std::chrono::seconds(5));
    _exit(13);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_FALSE(fs::exists(marker));
}

}  // namespace
}  // namespace contimg
