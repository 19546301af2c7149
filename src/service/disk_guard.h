#pragma once
// Disk guards (issue 12): the service never starts a stage on a tier that
// would be left with less than stream.min_free_gb beyond what the stage is
// estimated to write; the group waits and says so (log, event, status).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace contimg::service {

struct TierSpace {
  std::string tier;                                       // "out", "scratch", ...
  std::filesystem::path path;                             // as configured
  std::optional<std::uintmax_t> free_bytes, total_bytes;  // none: cannot stat
};

// statvfs of `path`, or of its nearest existing ancestor.
TierSpace tier_space(const std::string& tier, const std::filesystem::path& path);

// "" when `space` keeps `min_free` after writing `needed`, else the reason
// ("out tier /x: 1.2 GB free, needs 0.4 GB + 5 GB kept free (stream.min_free_gb)").
// A tier that cannot be measured passes (the stage reports its own error).
std::string shortfall(const TierSpace& space, std::uintmax_t needed, std::uintmax_t min_free);

}  // namespace contimg::service
