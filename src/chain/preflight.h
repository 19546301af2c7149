#pragma once
// Preflight (issue 11, D9): what a run cannot do, said before its first stage.
// Checks every stage's needs for the whole run — input directory, run-time
// data, AOFlagger strategy, WSClean, reference catalogue, writable output
// tiers, free space, calibration policy — and returns findings: an error when
// the run cannot work (the caller stops before converting anything), a
// warning when a stage will degrade (it runs, and says why). Independent of
// any runner: it reads the configuration and the file system, never the state
// database, and runs no stage. What is checked, and the thresholds:
// docs/chain.md ("Preflight").
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config/config.h"

namespace contimg::astro {
class Observatory;
}
namespace contimg::catalog {
class VlaCalibratorCatalog;
}
namespace contimg::state {
struct GroupRecord;
}

namespace contimg::chain {

struct Finding {
  enum class Severity { kWarning, kError };
  std::string stage;  // convert, flag, applycal, image, validate; "run" for the output tiers
  Severity severity = Severity::kWarning;
  std::string message;  // the problem, its reason and the remedy
};

struct PreflightRequest {
  std::filesystem::path input_dir, out_dir;
  // An explicit reference for every group (`run --reference`); none: each
  // group's own (a truth file) or validation.reference_catalogue.
  std::optional<std::filesystem::path> reference;
  int n_groups = 0;                  // groups the run will process
  int n_groups_with_reference = 0;   // of those, with their own reference (`<group>.truth.json`)
  bool any_calibrator_transit = false;  // a group of the run holds a calibrator transit
  bool calset_available = false;        // the registry already holds a set valid for the range
  std::uintmax_t input_bytes = 0;       // the groups' input files; 0 = unknown (MS space not estimated)
};

// Every finding, errors first; empty when the run can do everything.
std::vector<Finding> preflight(const config::Config& cfg, const PreflightRequest& req);

// Bytes the run will add under out_dir: 2 × the input (an MS with
// CORRECTED_DATA, measured 1.25 × its UVH5 files, plus imaging's re-phased
// working copy) + per group 6 float32 FITS images of the configured size.
std::uintmax_t estimate_output_bytes(const config::Config& cfg, const PreflightRequest& req);

// For PreflightRequest::any_calibrator_transit, from the index alone (before
// any conversion): whether a VLA calibrator the converter would name — 20 cm
// flux >= conversion.calibrator_min_flux_jy, within
// conversion.calibrator_radius_deg of the meridian pointing — transits while
// the group's data were taken (time_first/last_mjd ± half an integration).
// False when the index lacks the pointing or the times. An approximation of
// the converter's per-field test, good enough for a warning.
bool holds_calibrator_transit(const state::GroupRecord& group, const astro::Observatory& obs,
                              const catalog::VlaCalibratorCatalog& calibrators, const config::Config& cfg);

const char* to_string(Finding::Severity s);
std::string to_string(const Finding& f);  // "error: image: WSClean not found: ..."
bool has_errors(const std::vector<Finding>& findings);
nlohmann::json to_json(const std::vector<Finding>& findings);  // [{stage, severity, message}]
// ConfigError (exit 2) listing every error finding, when there is one.
void throw_if_errors(const std::vector<Finding>& findings);

}  // namespace contimg::chain
