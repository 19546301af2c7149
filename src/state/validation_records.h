#pragma once
// Validation results in the state database (SPEC §7, §9): the verdict of a
// group's image and its detections. Writing again replaces the group's rows
// (one transaction), so a rerun leaves no duplicates.
#include <optional>
#include <string>
#include <vector>

#include "state/sqlite.h"

namespace contimg::state {

struct DetectionRow {
  int island = 0, component = 0;
  double ra_deg = 0, dec_deg = 0, ra_err_arcsec = 0, dec_err_arcsec = 0;
  double peak_jy = 0, peak_err_jy = 0, flux_jy = 0, flux_err_jy = 0;
  double major_arcsec = 0, minor_arcsec = 0, pa_deg = 0, snr = 0;
};

struct ValidationRecord {
  std::string group_id;
  std::string out_root;  // the output tree whose job made it ("" = before trees)
  std::string image_path, reference;
  std::string verdict;               // pass, warn, fail
  std::vector<std::string> reasons;  // worst first
  std::string metrics_json;
  int n_detections = 0;
  std::string catalogue_fits, catalogue_csv, report_html;
  std::string validated_at;          // set by the database layer
};

// Replaces the validation of (group, out_root) and its detections.
void save_validation(Database& db, const ValidationRecord& v, const std::vector<DetectionRow>& detections);
// `tree`: that tree's row, else one made before trees; nullopt: the most
// recent of any tree.
std::optional<ValidationRecord> load_validation(Database& db, const std::string& group_id,
                                                const std::optional<std::string>& tree = std::nullopt);
std::vector<DetectionRow> load_detections(Database& db, const std::string& group_id,
                                          const std::optional<std::string>& tree = std::nullopt);

}  // namespace contimg::state
