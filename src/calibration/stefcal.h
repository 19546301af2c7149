#pragma once
// Antenna-based complex gain solver: StefCal / alternating least squares
// (Salvini & Wijnholds 2014, A&A 571, A97), on plain buffers.
//
// One solution cell (a channel for the bandpass, an interval for the gains)
// minimises sum_t w |V_pq(t) - g_p conj(g_q) M_pq(t)|^2. Because the gains are
// constant over the cell, that sum equals, up to a constant,
// sum_pq W_pq |Vbar_pq - g_p conj(g_q)|^2 with W = sum w|M|^2 and
// Vbar = sum w V conj(M) / W: the samples are reduced to per-baseline sums
// (BaselineSums) before iterating, so the cost per iteration is one pass over
// the baselines, not over every sample.
#include <complex>
#include <cstddef>
#include <span>
#include <vector>

namespace contimg::calibration {

struct Baseline {
  int a1 = 0, a2 = 0;  // antenna indices, a1 != a2 (autocorrelations excluded)
};

// Normal-equation sums of one baseline in one solution cell.
struct BaselineSums {
  std::complex<double> vm{};  // sum w V conj(M)
  double mm = 0;              // sum w |M|^2
  double vv = 0;              // sum w |V|^2 (for the residual)
  double n = 0;               // unflagged samples

  void add(std::complex<double> v, std::complex<double> m, double w) {
    vm += w * v * std::conj(m);
    mm += w * std::norm(m);
    vv += w * std::norm(v);
    n += 1;
  }
  BaselineSums& operator+=(const BaselineSums& o) {
    vm += o.vm;
    mm += o.mm;
    vv += o.vv;
    n += o.n;
    return *this;
  }
};

struct SolveOptions {
  int max_iterations = 100;
  double tolerance = 1e-8;  // relative change of the gain vector
  double damping = 0.5;     // g <- (1-d) g_new + d g_old on every second iteration
  int min_baselines = 3;    // an antenna with fewer useful baselines is flagged
};

struct SolveResult {
  std::vector<std::complex<double>> gain;  // per antenna; (1, 0) where flagged
  std::vector<double> snr;                 // per antenna; 0 where flagged
  std::vector<bool> flagged;               // per antenna
  int iterations = 0;
  bool converged = false;
  double chi2 = 0;         // weighted residual sum
  double samples = 0;      // unflagged complex samples
  int reference = -1;      // antenna whose phase was set to 0 (-1: none)
};

// Solves for `nant` antenna gains. `refants` is the reference priority list:
// the first unflagged one gets phase 0. `initial` (size nant) may be empty.
//
// SNR of g_p: the residual variance per unit weight s^2 = chi2 / (samples -
// solved antennas) gives var(g_p) = s^2 / sum_q W_pq |g_q|^2 (the diagonal of
// the normal matrix with the other gains fixed); SNR = |g_p| / sqrt(var),
// capped at 1e6 for noiseless data.
SolveResult solve_gains(int nant, std::span<const Baseline> baselines,
                        std::span<const BaselineSums> sums, const SolveOptions& options,
                        std::span<const int> refants,
                        std::span<const std::complex<double>> initial = {});

}  // namespace contimg::calibration
