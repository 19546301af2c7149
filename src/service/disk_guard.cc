#include "service/disk_guard.h"

#include <fmt/format.h>

namespace contimg::service {
namespace fs = std::filesystem;

TierSpace tier_space(const std::string& tier, const fs::path& path) {
  TierSpace t{tier, path, std::nullopt, std::nullopt};
  if (path.empty()) return t;
  fs::path p = fs::absolute(path).lexically_normal();
  std::error_code ec;
  while (!fs::exists(p, ec) && p.has_parent_path() && p.parent_path() != p) p = p.parent_path();
  const auto space = fs::space(p, ec);  // as preflight measures it
  if (ec) return t;
  t.free_bytes = space.available;
  t.total_bytes = space.capacity;
  return t;
}

std::string shortfall(const TierSpace& space, std::uintmax_t needed, std::uintmax_t min_free) {
  if (!space.free_bytes || *space.free_bytes >= needed + min_free) return {};
  constexpr double kGb = 1e9;
  return fmt::format(
      "{} tier {}: {:.2f} GB free, needs {:.2f} GB + {:.2f} GB kept free (stream.min_free_gb)",
      space.tier, space.path.string(), *space.free_bytes / kGb, needed / kGb, min_free / kGb);
}

}  // namespace contimg::service
