#pragma once
// A parallel loop over independent items for the CPU-bound stages (validation's
// box statistics and Gaussian fits): `threads` workers (the caller's Resources
// share, at least one) take items 0..n-1 from a shared counter, so uneven items
// balance. Each item must write only its own slot of the output, which keeps
// results identical whatever the thread count. The first exception a worker
// throws stops the others from taking new items and is rethrown to the caller
// once every worker has joined.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

namespace contimg {

// `body(item, worker)`: `worker` in [0, workers) indexes per-worker scratch.
// Returns after every item is done (or an exception is rethrown).
template <typename Body>
void parallel_for(std::size_t n, int threads, Body&& body) {
  const std::size_t workers =
      std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, threads)));
  if (workers <= 1) {
    for (std::size_t i = 0; i < n; ++i) body(i, std::size_t{0});
    return;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&](std::size_t worker) {
    try {
      for (std::size_t i = next++; i < n && !failed.load(std::memory_order_relaxed); i = next++)
        body(i, worker);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::jthread> pool;
  pool.reserve(workers - 1);
  for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(run, w);
  run(0);
  pool.clear();  // joins
  if (error) std::rethrow_exception(error);
}

// The number of workers parallel_for uses for `n` items (to size per-worker scratch).
inline std::size_t parallel_workers(std::size_t n, int threads) {
  return std::max<std::size_t>(
      1, std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, threads))));
}

// A reduction whose result must not depend on the thread count: items are
// produced on `threads` workers (`produce(i)` returns a value) and consumed
// one at a time in item order (`consume(i, value)`), so a sum built in
// `consume` adds in the same order for any count. A worker holds its value
// until item i - 1 is consumed (at most `threads` values live at once). An
// exception from either side stops the others (none waits for an item that
// failed) and is rethrown as parallel_for does.
template <typename Produce, typename Consume>
void parallel_ordered(std::size_t n, int threads, Produce&& produce, Consume&& consume) {
  using T = std::invoke_result_t<Produce&, std::size_t>;
  std::mutex m;
  std::condition_variable turn;
  std::size_t next = 0;
  bool abandoned = false;
  auto abandon = [&] {
    {
      const std::lock_guard<std::mutex> lock(m);
      abandoned = true;
    }
    turn.notify_all();
  };
  parallel_for(n, threads, [&](std::size_t i, std::size_t) {
    std::optional<T> value;
    try {
      value.emplace(produce(i));
    } catch (...) {
      abandon();
      throw;
    }
    // parallel_for hands out items in order: item `next` is already held by
    // a worker that will consume it or fail.
    std::unique_lock<std::mutex> lock(m);
    turn.wait(lock, [&] { return next == i || abandoned; });
    if (abandoned) return;
    try {
      consume(i, std::move(*value));
    } catch (...) {
      abandoned = true;
      lock.unlock();
      turn.notify_all();
      throw;
    }
    ++next;
    lock.unlock();
    turn.notify_all();
  });
}

}  // namespace contimg
