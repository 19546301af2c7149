#include "orchestration/provenance.h"

#include <sys/stat.h>

#include <chrono>

#include "common/interrupts.h"
#include "config/config.h"

namespace contimg::orchestration {
namespace fs = std::filesystem;

std::optional<FileStamp> stamp_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{
      static_cast<std::int64_t>(st.st_size),
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

nlohmann::json describe_files(const std::vector<std::pair<int, std::string>>& files) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [subband, path] : files) {
    const auto s = stamp_of(path);
    out.push_back({{"subband", subband},
                   {"path", path},
                   {"size", s ? s->size_bytes : -1},
                   {"mtime_ns", s ? s->mtime_ns : 0}});
  }
  return out;
}

std::vector<fs::path> temporary_roots(const config::Config& cfg, std::vector<fs::path> roots) {
  roots.push_back(cfg.get_path("paths.scratch_dir"));
  if (const auto stage = cfg.get_string("conversion.stage_dir"); !stage.empty())
    roots.emplace_back(stage);
  if (const auto tmpfs = cfg.get_string("paths.tmpfs_dir"); !tmpfs.empty()) {
    roots.push_back(fs::path(tmpfs) / "contimg-staging");
  }
  if (const auto cal = cfg.get_string("calibration.caltables_dir"); !cal.empty())
    roots.emplace_back(cal);
  return roots;
}

int sweep_temporaries(const std::vector<fs::path>& roots) {
  // products/<group>/.contimg-tmp-… is two levels below the products root.
  return sweep_stale_temp_paths(roots, 2);
}

}  // namespace contimg::orchestration
