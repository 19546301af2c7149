#include "common/process_stats.h"

#include <fstream>
#include <string>

namespace contimg {

MemorySample sample_memory() {
  MemorySample s;
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    std::uint64_t kib = 0;
    if (key == "VmRSS:" && in >> kib) s.rss_bytes = kib * 1024;
    else if (key == "VmHWM:" && in >> kib) s.peak_rss_bytes = kib * 1024;
    in.ignore(4096, '\n');
  }
  return s;
}

bool reset_peak_memory() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace contimg
