#pragma once
// QA gates of a calibration set (SPEC §5): a set fails when too many
// bandpass solutions are flagged, too few antennas are solved or the median
// SNR is low, or when its model does not explain the data (model_qa.h). A
// failed set is recorded but never applied.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "calibration/calset_history.h"
#include "calibration/model_qa.h"
#include "calibration/solution.h"
#include "config/config.h"

namespace contimg::calibration {

struct QaThresholds {
  double max_flagged_fraction = 0.25;
  int min_antennas = 10;
  double min_median_snr = 5;
  ModelQaThresholds model;
};

struct QaReport {
  bool passed = false;
  // A: passed with < 5% flagged, median SNR >= 20 and no warning; B: passed; F: failed
  std::string grade;
  std::vector<std::string> reasons;   // why failed (empty when passed)
  std::vector<std::string> warnings;  // passed, but worth a look (model QA, history)
  int antennas_with_data = 0;
  int antennas_solved = 0;               // with data and >= half their bandpass solutions unflagged
  double bandpass_flagged_fraction = 0;  // over antennas with data
  double gain_flagged_fraction = 0;
  double median_snr = 0;  // of the bandpass solutions of antennas with data
  ModelQaFigures model;   // copied from the solution
  CalsetSummary summary;  // what later sets compare with (qa_json "summary")
  HistoryReport history;  // against the earlier sets (add_history)
};

QaReport assess(const CalSolution& solution, const QaThresholds& thresholds);
// Summarises the set and compares it with the earlier sets' summaries:
// history failures and warnings join the report's, and passed/grade follow.
void add_history(QaReport& report, const CalSolution& solution, const std::string& calset_id,
                 const std::vector<CalsetSummary>& previous, const HistoryThresholds& thresholds,
                 const std::vector<std::array<double, 2>>& antenna_uv = {});
// The summaries in earlier sets' QA JSON (passed sets only; others and
// documents without a summary are skipped).
std::vector<CalsetSummary> history_from_qa_json(
    const std::vector<std::pair<std::string, std::string>>& status_and_qa_json);
HistoryThresholds history_thresholds(const config::Config& cfg);

// The calibration.* QA keys.
QaThresholds qa_thresholds(const config::Config& cfg);
nlohmann::json to_json(const QaReport& r);

}  // namespace contimg::calibration
