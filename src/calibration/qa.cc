#include "calibration/qa.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace contimg::calibration {

QaReport assess(const CalSolution& s, const QaThresholds& t) {
  QaReport r;
  const auto& bp = s.bandpass;
  std::vector<float> snrs;
  double total = 0, flagged = 0;
  for (int a = 0; a < bp.nant; ++a) {
    if (static_cast<std::size_t>(a) >= s.antenna_has_data.size() || !s.antenna_has_data[static_cast<std::size_t>(a)]) continue;
    ++r.antennas_with_data;
    double at = 0, af = 0;
    for (std::size_t spw = 0; spw < bp.freqs.size(); ++spw) {
      for (int p = 0; p < bp.npol; ++p) {
        for (std::size_t c = 0; c < bp.freqs[spw].size(); ++c) {
          const auto i = bp.index(static_cast<int>(spw), a, p, c);
          at += 1;
          af += bp.flag[spw][i] ? 1 : 0;
          snrs.push_back(bp.snr[spw][i]);
        }
      }
    }
    total += at;
    flagged += af;
    if (at > 0 && af <= 0.5 * at) ++r.antennas_solved;
  }
  r.bandpass_flagged_fraction = total > 0 ? flagged / total : 1.0;
  if (!snrs.empty()) {
    std::nth_element(snrs.begin(), snrs.begin() + static_cast<std::ptrdiff_t>(snrs.size() / 2), snrs.end());
    r.median_snr = snrs[snrs.size() / 2];
  }
  double gt = 0, gf = 0;
  const auto& g = s.gains;
  for (std::size_t k = 0; k < g.flag.size(); ++k) {
    const auto a = static_cast<std::size_t>((k / static_cast<std::size_t>(g.npol)) % static_cast<std::size_t>(g.nant));
    if (a >= s.antenna_has_data.size() || !s.antenna_has_data[a]) continue;
    gt += 1;
    gf += g.flag[k] ? 1 : 0;
  }
  r.gain_flagged_fraction = gt > 0 ? gf / gt : 1.0;

  if (r.bandpass_flagged_fraction > t.max_flagged_fraction) {
    r.reasons.push_back(fmt::format("{:.1f}% of bandpass solutions flagged (limit {:.1f}%)",
                                    100 * r.bandpass_flagged_fraction, 100 * t.max_flagged_fraction));
  }
  if (r.antennas_solved < t.min_antennas) {
    r.reasons.push_back(fmt::format("{} antennas solved (minimum {})", r.antennas_solved, t.min_antennas));
  }
  if (r.median_snr < t.min_median_snr) {
    r.reasons.push_back(fmt::format("median bandpass SNR {:.1f} (minimum {:.1f})", r.median_snr, t.min_median_snr));
  }
  r.passed = r.reasons.empty();
  const char grade = !r.passed ? 'F' : (r.bandpass_flagged_fraction < 0.05 && r.median_snr >= 20 ? 'A' : 'B');
  r.grade = std::string(1, grade);
  return r;
}

nlohmann::json to_json(const QaReport& r) {
  return {{"passed", r.passed},
          {"grade", r.grade},
          {"reasons", r.reasons},
          {"antennas_with_data", r.antennas_with_data},
          {"antennas_solved", r.antennas_solved},
          {"bandpass_flagged_fraction", r.bandpass_flagged_fraction},
          {"gain_flagged_fraction", r.gain_flagged_fraction},
          {"median_snr", r.median_snr}};
}

}  // namespace contimg::calibration
