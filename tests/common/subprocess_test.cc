#include "common/subprocess.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "common/interrupts.h"

#include "support/tiny_uvh5.h"

namespace contimg {
namespace {

TEST(Subprocess, CapturesOutputAndExitCodeWithoutAShell) {
  // An argument with spaces and shell metacharacters reaches the program verbatim.
  const auto r = run_process({"printf", "%s|", "a b; $(rm -rf /) 'q'"}, std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.output, "a b; $(rm -rf /) 'q'|");
  EXPECT_EQ(run_process({"sh", "-c", "exit 7"}, std::chrono::seconds(10)).exit_code, 7);
}

TEST(Subprocess, TimesOutAndKills) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_process({"sleep", "30"}, std::chrono::seconds(1));
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(Subprocess, WritesToALogFile) {
  test::TempDir dir;
  const auto log = dir / "tool.log";
  const auto r = run_process({"sh", "-c", "echo out; echo err >&2"}, std::chrono::seconds(10), log);
  EXPECT_EQ(r.exit_code, 0);
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "out\nerr\n");
}

TEST(Subprocess, MissingProgramIsReported) {
  const auto r = run_process({"contimg-no-such-program"}, std::chrono::seconds(5));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(find_in_path("contimg-no-such-program"));
  EXPECT_TRUE(find_in_path("sh"));
}

using Clock = std::chrono::steady_clock;

// Alive and not a zombie (an orphan's zombie waits for a reaper that a
// container's PID 1 may never be).
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < line.size() && line[close_paren + 2] != 'Z';
}

pid_t read_pid(const std::filesystem::path& file) {
  for (int i = 0; i < 200; ++i) {  // the script may not have written it yet
    std::ifstream in(file);
    pid_t pid = 0;
    if (in >> pid && pid > 0) return pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

bool gone_within(pid_t pid, std::chrono::milliseconds limit) {
  const auto until = Clock::now() + limit;
  while (alive(pid)) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// A shell (the child) that started a sleeping grandchild and sleeps itself.
std::vector<std::string> family(const test::TempDir& dir) {
  return {"sh", "-c",
          "echo $$ > '" + (dir / "child.pid").string() + "'; sleep 1000 & echo $! > '" +
              (dir / "grandchild.pid").string() + "'; wait"};
}

TEST(Subprocess, CancellationStopsChildAndGrandchildAtOnce) {
  test::TempDir dir;
  std::atomic<bool> stop{false};
  ProcessOptions o;
  o.timeout = std::chrono::seconds(60);
  o.cancel = [&] { return stop.load(); };
  std::thread trigger([&] {
    read_pid(dir / "grandchild.pid");
    stop = true;
  });
  const auto t0 = Clock::now();
  EXPECT_THROW(run_process(family(dir), o), Cancelled);
  trigger.join();
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  const pid_t child = read_pid(dir / "child.pid"), grandchild = read_pid(dir / "grandchild.pid");
  ASSERT_GT(child, 0);
  ASSERT_GT(grandchild, 0);
  EXPECT_FALSE(alive(child));
  EXPECT_TRUE(gone_within(grandchild, std::chrono::milliseconds(500))) << "grandchild " << grandchild << " survived";
}

TEST(Subprocess, CancellationKillsWhatIgnoresSigterm) {
  test::TempDir dir;
  ProcessOptions o;
  o.kill_grace = std::chrono::milliseconds(300);
  const auto t0 = Clock::now();
  o.cancel = [&] { return Clock::now() - t0 > std::chrono::milliseconds(300); };
  EXPECT_THROW(run_process({"sh", "-c", "trap '' TERM; echo $$ > '" + (dir / "child.pid").string() + "'; sleep 1000"}, o),
               Cancelled);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  const pid_t child = read_pid(dir / "child.pid");
  ASSERT_GT(child, 0);
  EXPECT_FALSE(alive(child));
}

TEST(Subprocess, TimeOutStopsTheWholeGroup) {
  test::TempDir dir;
  ProcessOptions o;
  o.timeout = std::chrono::seconds(1);
  const auto r = run_process(family(dir), o);
  EXPECT_TRUE(r.timed_out);
  const pid_t grandchild = read_pid(dir / "grandchild.pid");
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(gone_within(grandchild, std::chrono::milliseconds(500)));
}

TEST(Subprocess, ChildDiesWithItsParentEvenByKill9) {
  test::TempDir dir;
  const auto pid_file = dir / "child.pid";
  const pid_t parent = fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {  // a stand-in for contimg, killed below while its child runs
    run_process({"sh", "-c", "echo $$ > '" + pid_file.string() + "'; exec sleep 1000"}, std::chrono::seconds(60));
    _exit(0);
  }
  const pid_t child = read_pid(pid_file);
  ASSERT_GT(child, 0);
  kill(parent, SIGKILL);
  int status = 0;
  waitpid(parent, &status, 0);
  EXPECT_TRUE(gone_within(child, std::chrono::seconds(2))) << "child " << child << " outlived its parent";
  if (alive(child)) kill(child, SIGKILL);
}

// SIGTERM to contimg stops the child at once (it used to wait for WSClean to
// finish). In a child process: the guard blocks signals in the test binary.
TEST(Subprocess, SigtermToTheParentStopsTheChild) {
  test::TempDir dir;
  const auto pid_file = dir / "child.pid";
  const pid_t parent = fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    InterruptGuard guard;
    std::thread signaller([&] {
      read_pid(pid_file);
      kill(getpid(), SIGTERM);
    });
    ProcessOptions o;
    o.cancel = cancel_on(&guard);
    const auto t0 = Clock::now();
    int code = 10;  // not cancelled
    try {
      run_process({"sh", "-c", "echo $$ > '" + pid_file.string() + "'; exec sleep 1000"}, o);
    } catch (const Cancelled&) {
      code = Clock::now() - t0 < std::chrono::seconds(2) ? 0 : 11;
    }
    signaller.join();
    _exit(code);
  }
  int status = 0;
  waitpid(parent, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const pid_t child = read_pid(pid_file);
  ASSERT_GT(child, 0);
  EXPECT_FALSE(alive(child));
  EXPECT_FALSE(cancel_on(nullptr)());
}

}  // namespace
}  // namespace contimg
