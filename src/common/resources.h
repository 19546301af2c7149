#pragma once
// The share of the machine a piece of work may use (issue 11): threads and
// memory. The command that starts work builds one budget (resources.threads,
// resources.memory_mb) and hands it to the stages through their Context; a
// stage sizes its thread pools and its subprocesses (WSClean -j, -abs-mem) from
// it instead of taking "all cores", and work run side by side splits it.
#include <cstdint>

namespace contimg::config {
class Config;
}

namespace contimg {

struct Resources {
  int threads = 1;
  std::uint64_t memory_bytes = 0;

  // This machine: its cores and 3/4 of its physical memory.
  static Resources of_machine();
  // resources.threads / resources.memory_mb (0 = the machine's).
  static Resources from_config(const config::Config& cfg);

  // One of `parts` equal shares (at least one thread each).
  Resources share(int parts) const;
  // A component's own setting (> 0) capped by the budget; 0 takes the budget.
  int threads_for(int requested) const;
};

}  // namespace contimg
