#pragma once
// Resident-memory figures of this process, from /proc (Linux).
#include <cstdint>

namespace contimg {

struct MemorySample {
  std::uint64_t rss_bytes = 0;       // VmRSS
  std::uint64_t peak_rss_bytes = 0;  // VmHWM since start or last reset
};

MemorySample sample_memory();

// Resets the kernel's high-water mark so that the next sample's peak covers
// only what follows (writes "5" to /proc/self/clear_refs). Returns false where
// the kernel refuses; the peak is then the process-lifetime peak.
bool reset_peak_memory();

}  // namespace contimg
