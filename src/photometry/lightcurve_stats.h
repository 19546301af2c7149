#pragma once
// Light-curve statistics kept incrementally per source (issue 15;
// docs/science-products.md): sufficient sums, so a new measurement updates a
// source in O(1) and no per-pair table exists (what breaks VAST at 10^7 rows).
// w = 1/sigma^2. Formulas (TraP schema.rst; VAST utils.py):
//   xi  = sum(wS) / sum(w),  sigma_xi = sum(w)^-1/2
//   eta = N/(N-1) (mean(wS^2) - mean(wS)^2 / mean(w))
//   V   = s / mean(S), s the sample standard deviation (N-1)
//   Vs  = (Sa - Sb) / sqrt(sigma_a^2 + sigma_b^2),  m = 2 (Sa - Sb) / (Sa + Sb)
// The two-epoch pair is the brightest and the faintest measurement (kept as
// the extremes): for positive fluxes it is exactly the max-|m| pair of all
// pairs, and the max-|Vs| pair when the errors are equal. Keeping the true
// max-|Vs| pair would need every earlier measurement at each update.
#include <cstdint>
#include <string>
#include <vector>

namespace contimg::photometry {

struct LightcurveAggregate {
  std::int64_t n = 0;
  double sum_w = 0, sum_ws = 0, sum_ws2 = 0;  // weighted (w = 1/sigma^2)
  double sum_s = 0, sum_s2 = 0;               // unweighted, for V
  double max_flux = 0, max_err = 0, min_flux = 0, min_err = 0;
  std::int64_t max_image = -1, min_image = -1;  // where the extremes were measured

  // Ignores a measurement whose error is not positive and finite (it has no weight).
  void add(double flux, double error, std::int64_t image = -1);
};

struct VariabilityMetrics {
  std::int64_t n = 0;
  double mean_flux = 0;       // unweighted
  double xi = 0, xi_err = 0;  // weighted mean and its error
  double eta = 0;             // 0 for N < 2
  double v = 0;               // 0 for N < 2 or a mean of 0
  double vs = 0, m = 0;       // of the (brightest, faintest) pair; 0 for N < 2
};

VariabilityMetrics metrics(const LightcurveAggregate& a);

// Variability candidates (docs/science-products.md): a source with at least
// `min_measurements` is a candidate when both log10(eta) and log10(V) exceed
// the field's sigma-clipped median by `eta_sigma` / `v_sigma` clipped
// standard deviations, or when its pair has |Vs| >= vs_min and |m| >= m_min.
struct CandidateOptions {
  int min_measurements = 3;
  double eta_sigma = 3, v_sigma = 3;
  double vs_min = 4.3, m_min = 0.26;
};

struct CandidateThresholds {
  double eta_cut = 0, v_cut = 0;  // in eta and V (not log)
  int n_field = 0;                // sources the spread was measured on
};

CandidateThresholds candidate_thresholds(const std::vector<VariabilityMetrics>& field,
                                         const CandidateOptions& o);

// Why a source is a candidate: "eta+V", "pair", "eta+V,pair", or "" (not one).
std::string candidate_reason(const VariabilityMetrics& s, const CandidateThresholds& t,
                             const CandidateOptions& o);

}  // namespace contimg::photometry
