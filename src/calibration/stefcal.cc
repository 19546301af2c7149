#include "calibration/stefcal.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace contimg::calibration {

SolveResult solve_gains(int nant, std::span<const Baseline> baselines,
                        std::span<const BaselineSums> sums, const SolveOptions& options,
                        std::span<const int> refants,
                        std::span<const std::complex<double>> initial) {
  if (baselines.size() != sums.size()) {
    throw InputError("solve_gains: baselines and sums differ in size");
  }
  if (!initial.empty() && initial.size() != static_cast<std::size_t>(nant)) {
    throw InputError("solve_gains: initial gains must have one value per antenna");
  }
  const auto na = static_cast<std::size_t>(nant);
  SolveResult r;
  r.gain.assign(na, {1.0, 0.0});
  r.snr.assign(na, 0.0);
  r.flagged.assign(na, false);

  // Useful baselines; antennas with too few of them (counting only baselines
  // to antennas that are kept) are flagged until nothing changes.
  std::vector<std::size_t> use;
  for (std::size_t b = 0; b < baselines.size(); ++b) {
    const auto& bl = baselines[b];
    if (bl.a1 == bl.a2 || bl.a1 < 0 || bl.a2 < 0 || bl.a1 >= nant || bl.a2 >= nant) continue;
    if (sums[b].mm > 0 && std::isfinite(sums[b].mm) && std::isfinite(std::abs(sums[b].vm))) use.push_back(b);
  }
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<int> count(na, 0);
    for (auto b : use) {
      const auto& bl = baselines[b];
      if (r.flagged[static_cast<std::size_t>(bl.a1)] || r.flagged[static_cast<std::size_t>(bl.a2)]) continue;
      ++count[static_cast<std::size_t>(bl.a1)];
      ++count[static_cast<std::size_t>(bl.a2)];
    }
    for (std::size_t a = 0; a < na; ++a) {
      if (!r.flagged[a] && count[a] < options.min_baselines) {
        r.flagged[a] = true;
        changed = true;
      }
    }
  }
  std::erase_if(use, [&](std::size_t b) {
    return r.flagged[static_cast<std::size_t>(baselines[b].a1)] ||
           r.flagged[static_cast<std::size_t>(baselines[b].a2)];
  });
  const auto nsolved = std::count(r.flagged.begin(), r.flagged.end(), false);
  if (nsolved == 0) return r;

  std::vector<std::complex<double>> g(na, {1.0, 0.0});
  if (!initial.empty()) {
    for (std::size_t a = 0; a < na; ++a) {
      if (std::abs(initial[a]) > 0 && std::isfinite(std::abs(initial[a]))) g[a] = initial[a];
    }
  }
  std::vector<std::complex<double>> num(na);
  std::vector<double> den(na);
  std::vector<std::complex<double>> next(na);
  for (int it = 1; it <= options.max_iterations; ++it) {
    std::fill(num.begin(), num.end(), std::complex<double>{});
    std::fill(den.begin(), den.end(), 0.0);
    for (auto b : use) {
      const auto p = static_cast<std::size_t>(baselines[b].a1);
      const auto q = static_cast<std::size_t>(baselines[b].a2);
      // vm = W Vbar: V_pq ~ g_p conj(g_q), V_qp = conj(V_pq) ~ g_q conj(g_p).
      num[p] += sums[b].vm * g[q];
      den[p] += sums[b].mm * std::norm(g[q]);
      num[q] += std::conj(sums[b].vm) * g[p];
      den[q] += sums[b].mm * std::norm(g[p]);
    }
    double dnorm = 0, gnorm = 0;
    for (std::size_t a = 0; a < na; ++a) {
      if (r.flagged[a]) continue;
      next[a] = den[a] > 0 ? num[a] / den[a] : g[a];
      // StefCal's averaging of every second iterate damps the oscillation
      // between two solutions that the plain alternating update shows.
      if (it % 2 == 0) next[a] = (1.0 - options.damping) * next[a] + options.damping * g[a];
      dnorm += std::norm(next[a] - g[a]);
      gnorm += std::norm(next[a]);
    }
    for (std::size_t a = 0; a < na; ++a) {
      if (!r.flagged[a]) g[a] = next[a];
    }
    r.iterations = it;
    if (gnorm > 0 && std::sqrt(dnorm / gnorm) < options.tolerance) {
      r.converged = true;
      break;
    }
  }

  // Residuals and SNR.
  std::vector<double> info(na, 0.0);
  for (auto b : use) {
    const auto p = static_cast<std::size_t>(baselines[b].a1);
    const auto q = static_cast<std::size_t>(baselines[b].a2);
    const auto G = g[p] * std::conj(g[q]);
    r.chi2 += std::max(0.0, sums[b].vv - 2 * std::real(std::conj(G) * sums[b].vm) + std::norm(G) * sums[b].mm);
    r.samples += sums[b].n;
    info[p] += sums[b].mm * std::norm(g[q]);
    info[q] += sums[b].mm * std::norm(g[p]);
  }
  const double dof = r.samples - static_cast<double>(nsolved);
  const double s2 = dof > 0 ? r.chi2 / dof : 0.0;
  for (std::size_t a = 0; a < na; ++a) {
    if (r.flagged[a]) continue;
    const double var = info[a] > 0 ? s2 / info[a] : 0.0;
    r.snr[a] = var > 0 ? std::min(1e6, std::abs(g[a]) / std::sqrt(var)) : (info[a] > 0 ? 1e6 : 0.0);
  }

  // Reference phase: the first unflagged antenna of the priority list, else
  // the first unflagged antenna.
  for (int ref : refants) {
    if (ref >= 0 && ref < nant && !r.flagged[static_cast<std::size_t>(ref)]) {
      r.reference = ref;
      break;
    }
  }
  if (r.reference < 0) {
    r.reference = static_cast<int>(std::find(r.flagged.begin(), r.flagged.end(), false) - r.flagged.begin());
  }
  const auto gr = g[static_cast<std::size_t>(r.reference)];
  const auto rot = std::abs(gr) > 0 ? std::conj(gr) / std::abs(gr) : std::complex<double>(1.0, 0.0);
  for (std::size_t a = 0; a < na; ++a) {
    if (!r.flagged[a]) r.gain[a] = g[a] * rot;
  }
  return r;
}

}  // namespace contimg::calibration
