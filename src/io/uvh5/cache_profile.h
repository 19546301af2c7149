#pragma once
// HDF5 chunk-cache profiles (SPEC §4). The default 1 MiB cache thrashes on the
// production files' 2-4 MB compressed chunks: every partial read of a chunk
// decompresses it again. Each open chooses the profile of its access pattern.
#include <cstddef>
#include <string>

namespace contimg::config {
class Config;
}

namespace contimg::uvh5 {

enum class CacheProfile {
  kMetadata,   // header peeks: 1 MiB
  kStandard,   // sequential block reads: 16 MiB
  kStreaming,  // single pass, whole-chunk reads: no cache
  kRandom,     // strided/random access: 64 MiB
};

struct CacheSettings {
  std::size_t bytes = 0;
  std::size_t slots = 0;
  double w0 = 0.75;  // HDF5 preemption policy (fully read chunks evicted first)
};

struct CacheProfiles {
  CacheSettings metadata{1u << 20, 12421, 0.75};
  CacheSettings standard{16u << 20, 12421, 0.75};
  CacheSettings streaming{0, 521, 1.0};
  CacheSettings random{64u << 20, 12421, 0.75};

  static CacheProfiles from_config(const config::Config& cfg);
  const CacheSettings& get(CacheProfile p) const;
};

const char* to_string(CacheProfile p);
CacheProfile parse_cache_profile(const std::string& name);  // throws ConfigError

}  // namespace contimg::uvh5
