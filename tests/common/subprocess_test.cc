#include "common/subprocess.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

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

}  // namespace
}  // namespace contimg
