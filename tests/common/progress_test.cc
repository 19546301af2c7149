#include "common/progress.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <thread>
#include <vector>

namespace contimg {
namespace {

TEST(Progress, CountsAdvancesFromManyThreads) {
  Progress p("read", 4000, "rows", Progress::Mode::kQuiet);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) p.advance();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(p.done(), 4000u);
}

TEST(Progress, AutoModeLogsWhenStderrIsNotATerminal) {
  Progress p("x", 1, "", Progress::Mode::kAuto);
  EXPECT_EQ(p.mode(), isatty(2) ? Progress::Mode::kBar : Progress::Mode::kLog);
}

}  // namespace
}  // namespace contimg
