// The job queue alone (issue 13; docs/perf.md "The job queue"): N jobs are
// queued, then T threads, each with its own connection (as T workers would
// have), claim (JobStore::claim_next), heartbeat once and complete
// (finish_done) them as fast as they can. Reports claims per second and the
// per-job latency of claim + heartbeat + completion (median, p95), for the
// state database given (a SQLite file, or a postgresql:// URL). Every job must
// end done exactly once; the report says whether it did.
//   queue_bench --db PATH|URL [--jobs N] [--threads T]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "state/jobs.h"
#include "state/state_db.h"

namespace fs = std::filesystem;
using namespace contimg;

int main(int argc, char** argv) {
  std::string db_target;
  int n = 2000, threads = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--db")
      db_target = argv[i + 1];
    else if (k == "--jobs")
      n = std::stoi(argv[i + 1]);
    else if (k == "--threads")
      threads = std::stoi(argv[i + 1]);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  if (db_target.empty()) {
    std::cerr << "usage: queue_bench --db PATH|URL [--jobs N] [--threads T]\n";
    return 2;
  }
  const std::string root =
      fmt::format("/bench/queue-{}", std::chrono::system_clock::now().time_since_epoch().count());
  using clock = std::chrono::steady_clock;
  double enqueue_s = 0;
  {
    state::StateDb db(db_target);
    state::JobStore jobs(db.database());
    const auto t0 = clock::now();
    auto tx = db.transaction();
    for (int i = 0; i < n; ++i) jobs.enqueue({fmt::format("g{:06d}", i), "bench", root}, 50);
    tx.commit();
    enqueue_s = std::chrono::duration<double>(clock::now() - t0).count();
  }
  std::atomic<int> done{0}, lost{0};
  std::mutex m;
  std::vector<double> latencies;
  const auto t0 = clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      state::StateDb db(db_target);
      state::JobStore jobs(db.database());
      const std::string holder = fmt::format("bench:{}:0/{}", t, t);
      std::vector<double> mine;
      for (;;) {
        const auto a = clock::now();
        const auto j = jobs.claim_next(holder, 120, {"bench"});
        if (!j) break;
        if (j->key.out_root != root) continue;  // another run's leftovers: not ours to time
        jobs.heartbeat(j->id, j->attempt, holder, 120);
        if (jobs.finish_done(*j, "fp", 0.0, {}, {}))
          ++done;
        else
          ++lost;
        mine.push_back(std::chrono::duration<double>(clock::now() - a).count());
      }
      std::lock_guard l(m);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& th : pool) th.join();
  const double wall = std::chrono::duration<double>(clock::now() - t0).count();
  std::sort(latencies.begin(), latencies.end());
  auto q = [&](double f) {
    return latencies.empty() ? 0.0
                             : latencies[static_cast<std::size_t>(f * (latencies.size() - 1))];
  };
  std::int64_t done_rows = 0;
  {
    state::StateDb db(db_target);
    auto& st =
        db.database().cached("SELECT count(*) FROM jobs WHERE out_root = ?1 AND state = 'done'");
    st.bind(1, root);
    st.step();
    done_rows = st.get_int(0);
    st.reset();
  }
  const nlohmann::json report{{"database", state::redact_url(db_target)},
                              {"jobs", n},
                              {"threads", threads},
                              {"enqueue_seconds", enqueue_s},
                              {"claim_complete_wall_seconds", wall},
                              {"claims_per_second", n / wall},
                              {"latency_ms_median", 1e3 * q(0.5)},
                              {"latency_ms_p95", 1e3 * q(0.95)},
                              {"done", done.load()},
                              {"lost", lost.load()},
                              {"every_job_done_once", done.load() == n && done_rows == n}};
  std::cout << report.dump(2) << "\n";
  return report["every_job_done_once"].get<bool>() ? 0 : 1;
}
