#include "photometry/lightcurve_stats.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "validation/background.h"

namespace contimg::photometry {

void LightcurveAggregate::add(double flux, double error, std::int64_t image) {
  if (!std::isfinite(flux) || !std::isfinite(error) || !(error > 0)) return;
  const double w = 1 / (error * error);
  if (n == 0 || flux > max_flux) max_flux = flux, max_err = error, max_image = image;
  if (n == 0 || flux < min_flux) min_flux = flux, min_err = error, min_image = image;
  ++n;
  sum_w += w;
  sum_ws += w * flux;
  sum_ws2 += w * flux * flux;
  sum_s += flux;
  sum_s2 += flux * flux;
}

VariabilityMetrics metrics(const LightcurveAggregate& a) {
  VariabilityMetrics m;
  m.n = a.n;
  if (a.n == 0) return m;
  const double n = static_cast<double>(a.n);
  m.mean_flux = a.sum_s / n;
  m.xi = a.sum_ws / a.sum_w;
  m.xi_err = 1 / std::sqrt(a.sum_w);
  if (a.n < 2) return m;
  // N/(N-1) (mean(wS^2) - mean(wS)^2/mean(w)) = (sum wS^2 - (sum wS)^2 / sum w) / (N-1)
  m.eta = std::max(0.0, (a.sum_ws2 - a.sum_ws * a.sum_ws / a.sum_w) / (n - 1));
  const double var = std::max(0.0, (a.sum_s2 - a.sum_s * a.sum_s / n) / (n - 1));
  m.v = m.mean_flux != 0 ? std::sqrt(var) / m.mean_flux : 0;
  const double d = a.max_flux - a.min_flux;
  m.vs = d / std::sqrt(a.max_err * a.max_err + a.min_err * a.min_err);
  const double s = a.max_flux + a.min_flux;
  m.m = s != 0 ? 2 * d / s : 0;
  return m;
}

CandidateThresholds candidate_thresholds(const std::vector<VariabilityMetrics>& field,
                                         const CandidateOptions& o) {
  std::vector<float> le, lv;
  for (const auto& s : field) {
    if (s.n < o.min_measurements || !(s.eta > 0) || !(std::abs(s.v) > 0)) continue;
    le.push_back(static_cast<float>(std::log10(s.eta)));
    lv.push_back(static_cast<float>(std::log10(std::abs(s.v))));
  }
  CandidateThresholds t;
  t.n_field = static_cast<int>(le.size());
  if (le.empty()) {
    t.eta_cut = t.v_cut = INFINITY;
    return t;
  }
  // The one robust spread of contimg: clipped median and 1.4826 MAD (validation/background.h).
  const auto se = validation::clipped_stats(le, 3), sv = validation::clipped_stats(lv, 3);
  t.eta_cut = std::pow(10.0, se.median + o.eta_sigma * se.sigma);
  t.v_cut = std::pow(10.0, sv.median + o.v_sigma * sv.sigma);
  return t;
}

std::string candidate_reason(const VariabilityMetrics& s, const CandidateThresholds& t,
                             const CandidateOptions& o) {
  if (s.n < o.min_measurements) return "";
  const bool ev = s.eta > t.eta_cut && std::abs(s.v) > t.v_cut;
  const bool pair = std::abs(s.vs) >= o.vs_min && std::abs(s.m) >= o.m_min;
  if (ev && pair) return "eta+V,pair";
  if (ev) return "eta+V";
  if (pair) return "pair";
  return "";
}

}  // namespace contimg::photometry
