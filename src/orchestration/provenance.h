#pragma once
// Small pieces of the orchestrator's bookkeeping shared by the commands that
// use it: the provenance of source files, and the sweep of what killed runs
// left behind.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace contimg::orchestration {

// [{"subband": k, "path": p, "size": bytes, "mtime_ns": t}, ...] in the given
// order; a file that cannot be stat'ed is recorded with size -1 (the stage
// that reads it fails with the reason).
nlohmann::json describe_files(const std::vector<std::pair<int, std::string>>& files);

// Removes stale temporary paths (".contimg-tmp-<pid>-…" of this host whose
// process is gone) in each root and one level below it (products/<group>/).
// Returns how many were removed.
int sweep_temporaries(const std::vector<std::filesystem::path>& roots);

}  // namespace contimg::orchestration
