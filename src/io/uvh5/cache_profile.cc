#include "io/uvh5/cache_profile.h"

#include "common/error.h"
#include "config/config.h"

namespace contimg::uvh5 {

CacheProfiles CacheProfiles::from_config(const config::Config& cfg) {
  CacheProfiles p;
  const auto slots = static_cast<std::size_t>(cfg.get_int("hdf5.cache_slots"));
  auto settings = [&](const char* key) {
    const auto bytes = cfg.get_int(key);
    if (bytes < 0) throw ConfigError(std::string(key) + " must not be negative");
    return CacheSettings{static_cast<std::size_t>(bytes), slots, 0.75};
  };
  p.metadata = settings("hdf5.cache_metadata_bytes");
  p.standard = settings("hdf5.cache_standard_bytes");
  p.random = settings("hdf5.cache_random_bytes");
  return p;
}

const CacheSettings& CacheProfiles::get(CacheProfile p) const {
  switch (p) {
    case CacheProfile::kMetadata: return metadata;
    case CacheProfile::kStandard: return standard;
    case CacheProfile::kStreaming: return streaming;
    case CacheProfile::kRandom: return random;
  }
  return standard;
}

const char* to_string(CacheProfile p) {
  switch (p) {
    case CacheProfile::kMetadata: return "metadata";
    case CacheProfile::kStandard: return "standard";
    case CacheProfile::kStreaming: return "streaming";
    case CacheProfile::kRandom: return "random";
  }
  return "?";
}

CacheProfile parse_cache_profile(const std::string& name) {
  if (name == "metadata") return CacheProfile::kMetadata;
  if (name == "standard") return CacheProfile::kStandard;
  if (name == "streaming") return CacheProfile::kStreaming;
  if (name == "random") return CacheProfile::kRandom;
  throw ConfigError("unknown HDF5 cache profile \"" + name +
                    "\" (metadata, standard, streaming, random)");
}

}  // namespace contimg::uvh5
