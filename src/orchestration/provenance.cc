#include "orchestration/provenance.h"

#include <chrono>

#include "common/interrupts.h"

namespace contimg::orchestration {
namespace fs = std::filesystem;

nlohmann::json describe_files(const std::vector<std::pair<int, std::string>>& files) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [subband, path] : files) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    const auto mtime = fs::last_write_time(path, ec);
    out.push_back(
        {{"subband", subband},
         {"path", path},
         {"size", ec ? -1 : static_cast<std::int64_t>(size)},
         {"mtime_ns", ec ? 0
                         : std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch())
                               .count()}});
  }
  return out;
}

int sweep_temporaries(const std::vector<fs::path>& roots) {
  int removed = 0;
  for (const auto& root : roots) {
    std::error_code ec;
    if (!fs::is_directory(root, ec)) continue;
    removed += sweep_stale_temp_dirs(root);
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      if (entry.is_directory(ec) && !entry.is_symlink(ec)) removed += sweep_stale_temp_dirs(entry.path());
    }
  }
  return removed;
}

}  // namespace contimg::orchestration
