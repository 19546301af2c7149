// parallel_for and parallel_ordered (src/common/parallel.h): every item once (in order, for
// parallel_ordered's consumer), and a worker's exception reaches the caller.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
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

TEST(ParallelOrdered, ConsumesEveryItemOnceInItemOrderWhateverFinishesFirst) {
  for (int threads : {1, 2, 3, 8}) {
    std::vector<std::size_t> order;
    parallel_ordered(
        40, threads,
        [](std::size_t i) {
          // Early items take longest, so later ones are ready first.
          std::this_thread::sleep_for(std::chrono::microseconds(40 * (40 - i)));
          return i * i;
        },
        [&](std::size_t i, std::size_t v) {
          EXPECT_EQ(v, i * i);
          order.push_back(i);
        });
    ASSERT_EQ(order.size(), 40u) << threads;
    for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i) << threads;
  }
}

TEST(ParallelOrdered, AFailureOnEitherSideReachesTheCallerAndNoWorkerWaitsForIt) {
  for (int threads : {1, 2, 5}) {
    // Item 0 fails while others are produced and wait for their turn behind it.
    EXPECT_THROW(parallel_ordered(
                     20, threads,
                     [](std::size_t i) -> int {
                       if (i == 0) {
                         std::this_thread::sleep_for(std::chrono::milliseconds(5));
                         throw IoError("item 0: read failed");
                       }
                       return 1;
                     },
                     [](std::size_t, int) {}),
                 IoError)
        << threads;
    std::size_t consumed = 0;
    EXPECT_THROW(parallel_ordered(
                     20, threads, [](std::size_t) { return 1; },
                     [&](std::size_t i, int) {
                       if (i == 3) throw InputError("item 3: inconsistent");
                       ++consumed;
                     }),
                 InputError)
        << threads;
    EXPECT_EQ(consumed, 3u) << threads;  // 0, 1, 2; nothing after the failure
  }
}

}  // namespace
}  // namespace contimg
