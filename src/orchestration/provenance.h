#pragma once
// Small pieces of the orchestrator's bookkeeping shared by the commands that
// use it: the provenance of source files, and the sweep of what killed runs
// left behind.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace contimg::config {
class Config;
}

namespace contimg::orchestration {

// A file's size and modification time (Unix ns, from stat: the same numbers
// `stat` and Python's os.stat print). Not fs::last_write_time(): libstdc++'s
// file clock counts from 2174, so its numbers mean nothing outside the process.
struct FileStamp {
  std::int64_t size_bytes = 0;
  std::int64_t mtime_ns = 0;
};
std::optional<FileStamp> stamp_of(const std::filesystem::path& path);

// [{"subband": k, "path": p, "size": bytes, "mtime_ns": t}, ...] in the given
// order; a file that cannot be stat'ed is recorded with size -1 (the stage
// that reads it fails with the reason).
nlohmann::json describe_files(const std::vector<std::pair<int, std::string>>& files);

// Removes stale temporary paths (".contimg-tmp-<pid>-…" of this host whose
// process is gone) in each root and up to two levels below it
// (products/<group>/…). Returns how many were removed.
int sweep_temporaries(const std::vector<std::filesystem::path>& roots);

// `roots` plus every temporary tier of the configuration: scratch, the
// converter's staging (conversion.stage_dir, the tmpfs staging directory) and
// calibration.caltables_dir.
std::vector<std::filesystem::path> temporary_roots(const config::Config& cfg,
                                                   std::vector<std::filesystem::path> roots);

}  // namespace contimg::orchestration
