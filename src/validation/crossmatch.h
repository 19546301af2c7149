#pragma once
// Cross-match QA (SPEC §7): detections against a reference catalogue inside
// the image's footprint — astrometric offsets, flux ratio, completeness,
// false detections — and a pass/warn/fail verdict with reasons. Every
// threshold comes from the validation.* configuration (docs/validation.md).
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "catalog/reference_store.h"
#include "validation/source_finder.h"

namespace contimg::config {
class Config;
}

namespace contimg::validation {

struct QaThresholds {
  double match_radius_arcsec = 10;
  double astrometry_warn_arcsec = 2.5, astrometry_fail_arcsec = 5;
  double flux_warn = 0.10, flux_fail = 0.20;  // |median ratio - 1|
  double completeness_min_flux_jy = 0.010, completeness_fail = 0.70;
  double qa_min_snr = 10;  // astrometry and flux statistics use matches at least this significant
  double clip_sigma = 3;
  double false_rate_warn = 0.20;
  static QaThresholds from_config(const config::Config& c);
};

struct Match {
  int detection = 0, reference = 0;
  double dra_arcsec = 0, ddec_arcsec = 0;  // detection - reference, RA * cos(Dec)
  double flux_ratio = 0;                   // integrated / reference
  bool used_astrometry = false, used_flux = false;  // in the statistics (SNR cut, clipping)
};

enum class Verdict { kPass, kWarn, kFail };
const char* to_string(Verdict v);

struct QaResult {
  std::vector<Match> matches;  // mutual nearest pairs within the radius
  int n_detections = 0, n_reference = 0;
  double match_radius_arcsec = 0;
  int n_astrometry = 0;
  double mean_dra_arcsec = 0, mean_ddec_arcsec = 0, rms_offset_arcsec = 0;
  int n_flux = 0;
  double flux_ratio_median = 0, flux_ratio_sigma = 0;
  int n_complete_ref = 0, n_complete_found = 0;
  double completeness = 0;
  int n_unmatched = 0;
  double false_rate = 0;
  Verdict verdict = Verdict::kPass;
  std::vector<std::string> reasons;  // every check's finding, worst first
  std::vector<int> unmatched_detections, missed_references;
  // No reference to compare with: the cross-match statistics above are empty
  // and `skip_reason` says why (docs/validation.md, "Without a reference").
  bool crossmatch_skipped = false;
  std::string skip_reason;
};

// `references` are the ones inside the footprint, with fluxes at the image frequency.
QaResult cross_match(const std::vector<Detection>& detections,
                     const std::vector<catalog::RefSource>& references, const QaThresholds& t);

// The verdict of an image that has no reference to be compared with: the
// cross-match is skipped (a warning naming `why`: flux scale, astrometry,
// completeness and false detections are not checked), and the image checks
// decide the rest — fail when the noise cannot be measured (`noise_jy` not
// positive: a blank or constant image), else pass. So the verdict is warn or
// fail, never pass: a pass claims a flux scale and positions that were checked.
QaResult without_reference(int n_detections, double noise_jy, double peak_jy, const std::string& why);

nlohmann::json to_json(const QaResult& r);

}  // namespace contimg::validation
