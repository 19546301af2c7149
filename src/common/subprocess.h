#pragma once
// Running external programs (WSClean, version probes) without a shell: argv is
// passed as-is, so paths with spaces or quotes need no escaping.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace contimg {

struct ProcessResult {
  int exit_code = -1;      // -1 when killed by a signal or not started
  bool timed_out = false;
  std::string output;      // stdout and stderr interleaved (when captured)
};

// Runs argv[0] (searched in PATH) and waits, killing it after `timeout`.
// Output goes to `log_file` when given, else is captured into the result.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                          const std::optional<std::filesystem::path>& log_file = std::nullopt);

// The first executable called `name` in PATH, if any.
std::optional<std::filesystem::path> find_in_path(const std::string& name);

}  // namespace contimg
