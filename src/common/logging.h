#pragma once
// Logging: spdlog to stderr (stdout carries results and --json output).
// Every line of per-group work goes through group_logger(id), whose name is
// "group=<id>", so `grep group=2025-01-01T00:00:00` finds a group's history.
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace contimg::logging {

enum class Format { kText, kJson };

struct Options {
  std::string level = "info";  // trace, debug, info, warn, error, off
  Format format = Format::kText;
  std::string file;  // also append to this file when set
};

// Configures the default logger; call once in main before any work.
void setup(const Options& options);

Format parse_format(const std::string& name);  // throws ConfigError

// A logger that tags each line with the group id.
std::shared_ptr<spdlog::logger> group_logger(const std::string& group_id);

}  // namespace contimg::logging
