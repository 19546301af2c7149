#pragma once
// QA gates of a calibration set (SPEC §5): a set fails when too many
// bandpass solutions are flagged, too few antennas are solved or the median
// SNR is low. A failed set is recorded but never applied.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "calibration/solution.h"

namespace contimg::calibration {

struct QaThresholds {
  double max_flagged_fraction = 0.25;
  int min_antennas = 10;
  double min_median_snr = 5;
};

struct QaReport {
  bool passed = false;
  std::string grade;  // A: passed with < 5% flagged and median SNR >= 20; B: passed; F: failed
  std::vector<std::string> reasons;  // why failed (empty when passed)
  int antennas_with_data = 0;
  int antennas_solved = 0;              // with data and >= half their bandpass solutions unflagged
  double bandpass_flagged_fraction = 0;  // over antennas with data
  double gain_flagged_fraction = 0;
  double median_snr = 0;  // of the bandpass solutions of antennas with data
};

QaReport assess(const CalSolution& solution, const QaThresholds& thresholds);
nlohmann::json to_json(const QaReport& r);

}  // namespace contimg::calibration
