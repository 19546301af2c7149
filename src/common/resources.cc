#include "common/resources.h"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "config/config.h"

namespace contimg {

Resources Resources::of_machine() {
  Resources r;
  r.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  r.memory_bytes = pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * page / 4 * 3 : 0;
  return r;
}

Resources Resources::from_config(const config::Config& cfg) {
  Resources r = of_machine();
  if (const auto t = cfg.get_int("resources.threads"); t > 0) r.threads = static_cast<int>(t);
  if (const auto m = cfg.get_int("resources.memory_mb"); m > 0) {
    r.memory_bytes = static_cast<std::uint64_t>(m) << 20;
  }
  return r;
}

Resources Resources::share(int parts) const {
  Resources r = *this;
  parts = std::max(1, parts);
  r.threads = std::max(1, threads / parts);
  r.memory_bytes = memory_bytes / static_cast<std::uint64_t>(parts);
  return r;
}

int Resources::threads_for(int requested) const {
  return requested > 0 ? std::min(requested, threads) : threads;
}

}  // namespace contimg
