#include "calibration/apply.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace contimg::calibration {

void interpolate_gains(const GainSolution& s, double t, int pol, std::span<std::complex<double>> g,
                       std::span<std::uint8_t> flag) {
  const auto nt = s.time.size();
  if (nt == 0) {
    std::fill(g.begin(), g.end(), std::complex<double>(1.0, 0.0));
    std::fill(flag.begin(), flag.end(), 1);
    return;
  }
  const auto hi_it = std::lower_bound(s.time.begin(), s.time.end(), t);
  std::size_t hi = static_cast<std::size_t>(hi_it - s.time.begin());
  std::size_t lo = hi == 0 ? 0 : hi - 1;
  if (hi >= nt) hi = nt - 1;
  const double span = s.time[hi] - s.time[lo];
  const double f = span > 0 ? std::clamp((t - s.time[lo]) / span, 0.0, 1.0) : 0.0;
  for (int a = 0; a < s.nant; ++a) {
    const auto ilo = s.index(lo, a, pol), ihi = s.index(hi, a, pol);
    const bool flo = s.flag[ilo] != 0, fhi = s.flag[ihi] != 0;
    const std::complex<double> glo = s.gain[ilo], ghi = s.gain[ihi];
    std::complex<double> v;
    if (flo && fhi) {
      v = 1.0;
    } else if (flo || fhi) {
      v = flo ? ghi : glo;  // one side flagged: the other holds
    } else {
      const double amp = (1 - f) * std::abs(glo) + f * std::abs(ghi);
      const double dph = std::arg(ghi * std::conj(glo));
      v = std::polar(amp, std::arg(glo) + f * dph);
    }
    g[static_cast<std::size_t>(a)] = v;
    flag[static_cast<std::size_t>(a)] = (flo && fhi) || std::abs(v) == 0 ? 1 : 0;
  }
}

void apply_solution(const CalSolution& sol, const VisRows& b, ApplyStats& stats) {
  if (b.time.size() != b.nrows || b.ant1.size() != b.nrows || b.ant2.size() != b.nrows ||
      b.data.size() != b.nrows * b.nchan * b.npol || b.flag.size() != b.data.size()) {
    throw InputError("apply: the rows' columns disagree in length");
  }
  const auto& bp = sol.bandpass;
  if (static_cast<std::size_t>(b.spw) >= bp.gain.size()) {
    throw InputError("apply: the bandpass has no solution for SPW " + std::to_string(b.spw));
  }
  if (bp.freqs[static_cast<std::size_t>(b.spw)].size() != b.nchan || static_cast<std::size_t>(bp.npol) != b.npol) {
    throw InputError("apply: the bandpass of SPW " + std::to_string(b.spw) +
                     " has another channel or polarization count than the MS");
  }
  const int nant = bp.nant;
  const auto np = b.npol;
  const auto cell = b.nchan * np;
  const auto& bg = bp.gain[static_cast<std::size_t>(b.spw)];
  const auto& bf = bp.flag[static_cast<std::size_t>(b.spw)];
  // Per integration, the inverse of each antenna's Jones term J = B(chan) g(t)
  // as [ant][chan][pol] (a row's cell order): then V / (J1 conj(J2)) is
  // V inv1 conj(inv2), two multiplications per sample instead of a complex
  // division (a library call) and two |.|. bad: J flagged, zero or not finite.
  std::vector<std::complex<double>> inv(static_cast<std::size_t>(nant) * cell);
  std::vector<std::uint8_t> bad(inv.size());
  std::vector<std::complex<double>> gp(static_cast<std::size_t>(nant));
  std::vector<std::uint8_t> fp(static_cast<std::size_t>(nant));
  double cached_time = std::nan("");
  for (std::size_t r = 0; r < b.nrows; ++r) {
    if (!(b.time[r] == cached_time)) {
      cached_time = b.time[r];
      for (std::size_t p = 0; p < np; ++p) {
        interpolate_gains(sol.gains, cached_time, static_cast<int>(p), gp, fp);
        for (int a = 0; a < nant; ++a) {
          const auto ua = static_cast<std::size_t>(a);
          for (std::size_t c = 0; c < b.nchan; ++c) {
            const auto bi = bp.index(b.spw, a, static_cast<int>(p), c);
            const std::complex<double> j = std::complex<double>(bg[bi]) * gp[ua];
            const auto k = ua * cell + c * np + p;
            const bool unusable = fp[ua] || bf[bi] || j == 0.0 || !std::isfinite(j.real()) ||
                                  !std::isfinite(j.imag());
            bad[k] = unusable ? 1 : 0;
            inv[k] = unusable ? std::complex<double>(0.0) : 1.0 / j;
          }
        }
      }
    }
    const int a1 = b.ant1[r], a2 = b.ant2[r];
    const std::size_t row = r * cell;
    stats.samples += cell;
    if (a1 < 0 || a2 < 0 || a1 >= nant || a2 >= nant) {
      for (std::size_t i = row; i < row + cell; ++i) {
        if (b.flag[i]) ++stats.flagged_before;
        else
          ++stats.flagged_by_solutions;
        b.flag[i] = 1;
        b.data[i] = 0;
      }
      continue;
    }
    const std::size_t o1 = static_cast<std::size_t>(a1) * cell,
                      o2 = static_cast<std::size_t>(a2) * cell;
    for (std::size_t k = 0; k < cell; ++k) {
      const std::size_t i = row + k;
      if (b.flag[i]) ++stats.flagged_before;
      if (bad[o1 + k] | bad[o2 + k]) {
        if (!b.flag[i]) ++stats.flagged_by_solutions;
        b.flag[i] = 1;
        b.data[i] = 0;
      } else {
        const std::complex<double> v(b.data[i]);
        b.data[i] = std::complex<float>(v * inv[o1 + k] * std::conj(inv[o2 + k]));
      }
    }
  }
}

void apply_solution(const CalSolution& sol, VisBlock& b, ApplyStats& stats) {
  apply_solution(
      sol, VisRows{b.spw, b.nrows, b.nchan, b.npol, b.time, b.ant1, b.ant2, b.data, b.flag}, stats);
}

void ModelComparison::add(const VisBlock& b, std::span<const std::complex<float>> model) {
  const auto cell = b.nchan * b.npol;
  for (std::size_t r = 0; r < b.nrows; ++r) {
    if (b.ant1[r] == b.ant2[r]) continue;
    for (std::size_t c = 0; c < b.nchan; ++c) {
      const std::complex<double> m = model[r * b.nchan + c];
      for (std::size_t p = 0; p < b.npol; ++p) {
        const auto i = r * cell + c * b.npol + p;
        const double wt = b.weight[i];
        if (b.flag[i] || !(wt > 0)) continue;
        const std::complex<double> v = b.data[i];
        vm += wt * std::real(std::conj(m) * v);
        mm += wt * std::norm(m);
        rr += wt * std::norm(v - m);
        w += wt;
      }
    }
  }
}

double ModelComparison::residual_rms() const { return w > 0 ? std::sqrt(rr / w) : 0; }

}  // namespace contimg::calibration
