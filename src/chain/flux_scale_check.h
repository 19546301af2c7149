#pragma once
// The chain's downstream flux-scale check (issue 16, docs/calibration.md
// "Flux-scale check"): when validation had no reference catalogue to compare
// fluxes with, each calibrator transit of the run is calibrated with a set
// other than its own (its own would give 1 by construction) and its flux
// compared with the catalogue's.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "calibration/flux_scale.h"

namespace contimg::pipeline {
class StateView;
}

namespace contimg::chain {

struct GroupResult;

struct FluxScaleCheck {
  bool ran = false;
  std::string reason;  // why it did not run
  calibration::FluxScaleReport report;
  // Transits that could not be checked, each with why.
  std::vector<std::string> unchecked;
  nlohmann::json to_json() const;
};

// `groups`: the run's results (outputs of the final contexts); `view`: the
// orchestrator's read-only state (the sets). Reads each transit's MS once.
FluxScaleCheck check_flux_scale(const std::vector<GroupResult>& groups,
                                const pipeline::StateView& view,
                                const std::filesystem::path& data_dir, double tolerance);

}  // namespace contimg::chain
