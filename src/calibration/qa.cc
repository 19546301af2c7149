#include "calibration/qa.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace contimg::calibration {

namespace {

// Passed when nothing failed; A: < 5% flagged, median SNR >= 20, no warning.
void grade(QaReport& r) {
  r.passed = r.reasons.empty();
  const char g =
      !r.passed
          ? 'F'
          : (r.bandpass_flagged_fraction < 0.05 && r.median_snr >= 20 && r.warnings.empty() ? 'A'
                                                                                            : 'B');
  r.grade = std::string(1, g);
}

}  // namespace

QaReport assess(const CalSolution& s, const QaThresholds& t) {
  QaReport r;
  const auto& bp = s.bandpass;
  std::vector<float> snrs;
  double total = 0, flagged = 0;
  for (int a = 0; a < bp.nant; ++a) {
    if (static_cast<std::size_t>(a) >= s.antenna_has_data.size() ||
        !s.antenna_has_data[static_cast<std::size_t>(a)])
      continue;
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
    std::nth_element(snrs.begin(), snrs.begin() + static_cast<std::ptrdiff_t>(snrs.size() / 2),
                     snrs.end());
    r.median_snr = snrs[snrs.size() / 2];
  }
  double gt = 0, gf = 0;
  const auto& g = s.gains;
  for (std::size_t k = 0; k < g.flag.size(); ++k) {
    const auto a = static_cast<std::size_t>((k / static_cast<std::size_t>(g.npol)) %
                                            static_cast<std::size_t>(g.nant));
    if (a >= s.antenna_has_data.size() || !s.antenna_has_data[a]) continue;
    gt += 1;
    gf += g.flag[k] ? 1 : 0;
  }
  r.gain_flagged_fraction = gt > 0 ? gf / gt : 1.0;

  if (r.bandpass_flagged_fraction > t.max_flagged_fraction) {
    r.reasons.push_back(fmt::format("{:.1f}% of bandpass solutions flagged (limit {:.1f}%)",
                                    100 * r.bandpass_flagged_fraction,
                                    100 * t.max_flagged_fraction));
  }
  if (r.antennas_solved < t.min_antennas) {
    r.reasons.push_back(
        fmt::format("{} antennas solved (minimum {})", r.antennas_solved, t.min_antennas));
  }
  if (r.median_snr < t.min_median_snr) {
    r.reasons.push_back(
        fmt::format("median bandpass SNR {:.1f} (minimum {:.1f})", r.median_snr, t.min_median_snr));
  }
  r.model = s.model_qa;
  // A solution without model-QA sums (nant 0: not from calibrate()) is not gated on them.
  if (s.model_qa.nant > 0) gate_model_qa(s.model_qa, t.model, r.reasons, r.warnings);
  grade(r);
  return r;
}

void add_history(QaReport& r, const CalSolution& s, const std::string& id,
                 const std::vector<CalsetSummary>& previous, const HistoryThresholds& t,
                 const std::vector<std::array<double, 2>>& uv) {
  r.summary = summarize(s, id, uv);
  r.history = compare_with_history(r.summary, previous, t);
  r.reasons.insert(r.reasons.end(), r.history.failures.begin(), r.history.failures.end());
  r.warnings.insert(r.warnings.end(), r.history.warnings.begin(), r.history.warnings.end());
  grade(r);
}

std::vector<CalsetSummary> history_from_qa_json(
    const std::vector<std::pair<std::string, std::string>>& sets) {
  std::vector<CalsetSummary> out;
  for (const auto& [status, text] : sets) {
    if (status != "passed") continue;
    const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("summary")) continue;  // sets solved before summaries existed
    try {
      out.push_back(calset_summary_from_json(j.at("summary")));
    } catch (const InputError&) {
      continue;  // a damaged summary only loses that set from the comparison
    }
  }
  return out;
}

HistoryThresholds history_thresholds(const config::Config& cfg) {
  HistoryThresholds t;
  t.warn_scale_jump = cfg.get_double("calibration.history_warn_scale_jump");
  t.fail_scale_jump = cfg.get_double("calibration.history_fail_scale_jump");
  t.warn_antenna_jump = cfg.get_double("calibration.history_warn_antenna_jump");
  t.warn_shape_jump = cfg.get_double("calibration.history_warn_shape_jump");
  t.fail_shape_jump = cfg.get_double("calibration.history_fail_shape_jump");
  t.warn_phase_rms_factor = cfg.get_double("calibration.history_warn_phase_rms_factor");
  t.max_sets = static_cast<int>(cfg.get_int("calibration.history_sets"));
  t.warn_position_arcsec = cfg.get_double("calibration.history_warn_position_arcsec");
  return t;
}

QaThresholds qa_thresholds(const config::Config& cfg) {
  QaThresholds th;
  th.max_flagged_fraction = cfg.get_double("calibration.max_flagged_fraction");
  th.min_antennas = static_cast<int>(cfg.get_int("calibration.min_antennas"));
  th.min_median_snr = cfg.get_double("calibration.min_median_snr");
  th.model.min_signal_explained = cfg.get_double("calibration.min_signal_explained");
  th.model.min_signal_to_noise = cfg.get_double("calibration.model_min_signal_to_noise");
  th.model.warn_chi2 = cfg.get_double("calibration.warn_reduced_chi2");
  th.model.max_chi2 = cfg.get_double("calibration.max_reduced_chi2");
  th.model.min_source_fraction = cfg.get_double("calibration.min_source_fraction");
  th.model.max_source_sigma = cfg.get_double("calibration.source_fraction_max_sigma");
  return th;
}

nlohmann::json to_json(const QaReport& r) {
  return {{"passed", r.passed},
          {"grade", r.grade},
          {"reasons", r.reasons},
          {"warnings", r.warnings},
          {"antennas_with_data", r.antennas_with_data},
          {"antennas_solved", r.antennas_solved},
          {"bandpass_flagged_fraction", r.bandpass_flagged_fraction},
          {"gain_flagged_fraction", r.gain_flagged_fraction},
          {"median_snr", r.median_snr},
          {"model", to_json(r.model)},
          {"summary", to_json(r.summary)},
          {"history", to_json(r.history)}};
}

}  // namespace contimg::calibration
