// parallel_for (src/common/parallel.h): every item once, and a worker's exception reaches the
// caller.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "common/error.h"
#include "common/parallel.h"

namespace contimg {
namespace {

TEST(ParallelFor, RunsEveryItemExactlyOnceOnAnyThreadCount) {
  for (int threads : {0, 1, 2, 5, 64}) {
    std::vector<std::atomic<int>> hits(1000);
    std::atomic<std::size_t> max_worker{0};
    parallel_for(hits.size(), threads, [&](std::size_t i, std::size_t worker) {
      ++hits[i];
      std::size_t m = max_worker.load();
      while (worker > m && !max_worker.compare_exchange_weak(m, worker)) {
      }
    });
    for (std::size_t i = 0; i < hits.size(); ++i)
      ASSERT_EQ(hits[i].load(), 1) << "item " << i << ", " << threads;
    EXPECT_LT(max_worker.load(), parallel_workers(hits.size(), threads)) << threads << " threads";
  }
  parallel_for(0, 4, [](std::size_t, std::size_t) { FAIL() << "no item to run"; });
}

TEST(ParallelFor, RethrowsAWorkersExceptionWithItsKind) {
  for (int threads : {1, 2, 5}) {
    try {
      parallel_for(200, threads, [&](std::size_t i, std::size_t) {
        if (i == 37) throw InputError("box 37: broken");
      });
      FAIL() << "no exception with " << threads << " threads";
    } catch (const InputError& e) {
      EXPECT_STREQ(e.what(), "box 37: broken");
    }
  }
}

}  // namespace
}  // namespace contimg
