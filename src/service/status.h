#pragma once
// What `contimg status` reports (docs/service.md "Status"), from the state
// database and the file system only, so that it works whether or not a
// service runs: groups by state, jobs by state, per-stage latency (p50/p95
// over the last hour and day, from the jobs' timestamps), failures with their
// reasons, the real-time factor, free space per storage tier against
// stream.min_free_gb, what the service is waiting for, and whether a service
// holds the output tree.
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "state/state_db.h"

namespace contimg::service {

struct StatusRequest {
  std::optional<std::filesystem::path> out_dir;    // jobs of this output tree only; its service
  std::optional<std::filesystem::path> input_dir;  // shown as the input tier
};

nlohmann::json collect_status(state::StateDb& db, const config::Config& cfg,
                              const StatusRequest& req);

// The text form of collect_status's result.
std::string format_status(const nlohmann::json& status);

// Nearest-rank percentile (p in [0, 100]) of `values`; 0 when empty.
double percentile(std::vector<double> values, double p);

}  // namespace contimg::service
