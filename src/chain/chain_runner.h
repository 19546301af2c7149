#pragma once
// The whole per-group chain (SPEC §8, issue 6): convert → flag → solve (where a
// calibrator transits) → applycal → image → validate. Two passes over the
// groups of a range: first every group is converted, flagged and — when it
// holds a calibrator transit — solved, so that the registry knows every
// calibration set of the range before any group is calibrated; then each group
// is calibrated with the nearest valid set, imaged and validated. Each stage is
// skipped when its product exists (is_done), so a rerun resumes: finished
// steps are skipped and failed ones repeated. A failed group never stops the
// others.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chain/flux_scale_check.h"
#include "chain/preflight.h"
#include "config/config.h"
#include "pipeline/runner.h"

namespace contimg {
class InterruptGuard;
class Progress;
}  // namespace contimg

namespace contimg::chain {

// Where the chain puts things under one output directory.
struct ChainLayout {
  std::filesystem::path out_dir;
  std::filesystem::path ms_dir() const { return out_dir / "ms"; }
  std::filesystem::path products_dir(const std::string& group_id) const {
    return out_dir / "products" / group_id;
  }
};

struct ChainOptions {
  std::filesystem::path input_dir;
  std::int64_t first_epoch = 0, last_epoch = 0;  // group start times, UTC seconds
  ChainLayout layout;
  bool allow_incomplete = false;
  // Reference catalogue for validation; empty = a `<group_id>.truth.json`
  // beside the input files (simulated data), else validation.reference_catalogue.
  std::filesystem::path reference;
  std::vector<std::string> command_line;
};

struct GroupResult {
  std::string group_id;
  std::string status;  // "processed", "failed", "skipped"
  std::string reason;  // why failed or skipped
  std::vector<pipeline::StageRecord> stages;
  nlohmann::json outputs;  // the final context's outputs (products, QA numbers)
  // Subbands the group lacks (converted as flagged SPWs with --allow-incomplete), each with why.
  std::vector<std::pair<int, std::string>> missing_subbands;
};

struct ChainSummary {
  std::vector<GroupResult> groups;
  double wall_seconds = 0;
  std::vector<Finding> preflight;  // warnings found before the first stage
  std::vector<std::string> warnings;  // e.g. an empty time range
  // Calibrator transits against their catalogue flux when validation had no reference catalogue.
  FluxScaleCheck flux_scale;
  int count(std::string_view status) const;  // groups with that status
  int processed() const { return count("processed"); }
  int failed() const { return count("failed"); }
  int skipped() const { return count("skipped"); }
  // Seconds of completed stages, summed over groups, by stage name.
  std::map<std::string, double> stage_seconds() const;
  // Cadence (309 s per group) × processed groups ÷ wall time: > 1 keeps up.
  double real_time_factor() const;
  nlohmann::json to_json() const;
};

inline constexpr double kGroupCadenceS = 309.0;

class ChainRunner {
 public:
  ChainRunner(std::shared_ptr<const config::Config> config, const InterruptGuard* interrupts)
      : config_(std::move(config)), interrupts_(interrupts) {}

  ChainSummary run(const ChainOptions& options) const;

 private:
  std::shared_ptr<const config::Config> config_;
  const InterruptGuard* interrupts_;
};

}  // namespace contimg::chain
