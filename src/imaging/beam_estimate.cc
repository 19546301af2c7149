#include "imaging/beam_estimate.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <mutex>

#include <fftw3.h>
#include <fmt/format.h>

#include "common/error.h"

namespace contimg::imaging {
namespace {

// Grid cells a side at most (uv and PSF); the PSF is padded to about twice
// the grid so that its main lobe spans several pixels.
constexpr long kMaxHalfCells = 1024;
constexpr std::size_t kMaxFft = 4096;
// The main lobe: pixels above this fraction of the peak reached from it
// downhill (CASA's PSF fit uses the same level).
constexpr double kLobeLevel = 0.35;
// How far from the centre the lobe is followed (PSF pixels).
constexpr long kMaxLobeRadius = 400;

// FFTW's planner is not thread-safe.
std::mutex& fftw_planner_mutex() {
  static std::mutex m;
  return m;
}

std::size_t fast_size(std::size_t n) {
  for (;; ++n) {
    std::size_t m = n;
    for (std::size_t p : {2u, 3u, 5u}) {
      while (m % p == 0) m /= p;
    }
    if (m == 1) return n;
  }
}

struct FftwFree {
  void operator()(void* p) const { fftwf_free(p); }
};

}  // namespace

UvCoverage::UvCoverage(double field_rad, double max_uv_lambda) {
  if (!(field_rad > 0) || !(max_uv_lambda > 0)) {
    throw InputError(
        fmt::format("uv coverage: needs a positive field ({} rad) and uv extent ({} wavelengths)",
                    field_rad, max_uv_lambda));
  }
  du_ = 1.0 / field_rad;
  half_ = static_cast<long>(std::ceil(max_uv_lambda / du_)) + 1;
  if (half_ > kMaxHalfCells) {
    half_ = kMaxHalfCells;
    du_ = max_uv_lambda / static_cast<double>(kMaxHalfCells - 1);
  }
  n_ = static_cast<std::size_t>(2 * half_ + 1);
  w_.assign(n_ * n_, 0.0);
}

BeamShape UvCoverage::predicted_beam(double robust) const {
  if (empty()) throw InputError("beam estimate: no unflagged visibility with a positive weight");
  // Briggs: each cell's density W_k becomes W_k / (1 + W_k f²).
  double sum_w2 = 0;
  for (double w : w_) sum_w2 += w * w;
  const double s = 5.0 * std::pow(10.0, -robust);
  const double f2 = s * s / (sum_w2 / sum_w_);

  // PSF = real FFT of the weighted density (Hermitian: the half u >= 0 holds it).
  const std::size_t m = fast_size(std::max(n_, std::min<std::size_t>(2 * n_, kMaxFft)));
  const std::size_t mh = m / 2 + 1;
  std::unique_ptr<fftwf_complex, FftwFree> in(
      static_cast<fftwf_complex*>(fftwf_malloc(sizeof(fftwf_complex) * m * mh)));
  std::unique_ptr<float, FftwFree> out(static_cast<float*>(fftwf_malloc(sizeof(float) * m * m)));
  if (!in || !out) throw IoError("beam estimate: out of memory for the PSF");
  std::fill_n(&in.get()[0][0], 2 * m * mh, 0.0f);
  const long mm = static_cast<long>(m);
  for (long iv = -half_; iv <= half_; ++iv) {
    const std::size_t row = static_cast<std::size_t>(((iv % mm) + mm) % mm);
    for (long iu = 0; iu <= half_; ++iu) {
      const double w = w_[index(iu, iv)];
      if (w > 0)
        in.get()[row * mh + static_cast<std::size_t>(iu)][0] = static_cast<float>(w / (1 + w * f2));
    }
  }
  fftwf_plan plan;
  {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    plan = fftwf_plan_dft_c2r_2d(static_cast<int>(m), static_cast<int>(m), in.get(), out.get(),
                                 FFTW_ESTIMATE);
  }
  if (!plan) throw IoError("beam estimate: FFTW could not plan the PSF transform");
  fftwf_execute(plan);
  {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    fftwf_destroy_plan(plan);
  }
  // out[y * m + x]: x along u (l, east), y along v (m, north), periodic.
  const float* psf = out.get();
  const double peak = psf[0];
  if (!(peak > 0)) throw InputError("beam estimate: the PSF has no positive peak");
  auto at = [&](long x, long y) {
    return psf[static_cast<std::size_t>(((y % mm) + mm) % mm) * m +
               static_cast<std::size_t>(((x % mm) + mm) % mm)] /
           peak;
  };

  // The main lobe by flood fill, then min Σ P² (ln P + a x² + b xy + c y²)².
  const long r = std::min<long>(kMaxLobeRadius, mm / 2 - 1);
  const std::size_t side = static_cast<std::size_t>(2 * r + 1);
  std::vector<char> seen(side * side, 0);
  auto cell = [&](long x, long y) -> char& {
    return seen[static_cast<std::size_t>(y + r) * side + static_cast<std::size_t>(x + r)];
  };
  std::vector<std::pair<long, long>> stack = {{0, 0}};
  cell(0, 0) = 1;
  std::array<double, 6> n{};  // normal matrix (symmetric 3x3, upper) then
  std::array<double, 3> rhs{};
  std::size_t pixels = 0;
  while (!stack.empty()) {
    const auto [x, y] = stack.back();
    stack.pop_back();
    const double p = at(x, y);
    if (x != 0 || y != 0) {
      const double g[3] = {double(x) * x, double(x) * y, double(y) * y};
      const double wt = p * p, t = -std::log(p);
      n[0] += wt * g[0] * g[0];
      n[1] += wt * g[0] * g[1];
      n[2] += wt * g[0] * g[2];
      n[3] += wt * g[1] * g[1];
      n[4] += wt * g[1] * g[2];
      n[5] += wt * g[2] * g[2];
      rhs[0] += wt * g[0] * t;
      rhs[1] += wt * g[1] * t;
      rhs[2] += wt * g[2] * t;
      ++pixels;
    }
    for (const auto& [dx, dy] : {std::pair<long, long>{1, 0}, {-1, 0}, {0, 1}, {0, -1}}) {
      const long nx = x + dx, ny = y + dy;
      if (nx < -r || nx > r || ny < -r || ny > r || cell(nx, ny)) continue;
      // Downhill only: DSA-110's PSF has sidelobe ridges above the level
      // next to the main lobe; climbing onto them would widen the fit.
      const double q = at(nx, ny);
      if (q <= kLobeLevel || q > p) continue;
      cell(nx, ny) = 1;
      stack.emplace_back(nx, ny);
    }
  }
  if (pixels < 6) {
    throw InputError(
        fmt::format("beam estimate: the PSF's main lobe spans {} pixel(s); cannot fit it", pixels));
  }
  // Solve the 3x3 system by Cramer's rule.
  const double a11 = n[0], a12 = n[1], a13 = n[2], a22 = n[3], a23 = n[4], a33 = n[5];
  const double det =
      a11 * (a22 * a33 - a23 * a23) - a12 * (a12 * a33 - a23 * a13) + a13 * (a12 * a23 - a22 * a13);
  if (!(std::abs(det) > 0))
    throw InputError("beam estimate: the PSF's main lobe cannot be fitted (singular)");
  const double qa = (rhs[0] * (a22 * a33 - a23 * a23) - a12 * (rhs[1] * a33 - a23 * rhs[2]) +
                     a13 * (rhs[1] * a23 - a22 * rhs[2])) /
                    det;
  const double qb = (a11 * (rhs[1] * a33 - a23 * rhs[2]) - rhs[0] * (a12 * a33 - a23 * a13) +
                     a13 * (a12 * rhs[2] - rhs[1] * a13)) /
                    det;
  const double qc = (a11 * (a22 * rhs[2] - rhs[1] * a23) - a12 * (a12 * rhs[2] - rhs[1] * a13) +
                     rhs[0] * (a12 * a23 - a22 * a13)) /
                    det;
  // ln P = -(x, y) Q (x, y)ᵀ with Q = [[qa, qb/2], [qb/2, qc]].
  const double tr = qa + qc, dif = qa - qc;
  const double root = std::sqrt(dif * dif + qb * qb);
  const double lmin = 0.5 * (tr - root), lmax = 0.5 * (tr + root);
  if (!(lmin > 0)) throw InputError("beam estimate: the PSF's main lobe is not a closed ellipse");
  const double pixel_rad = 1.0 / (static_cast<double>(m) * du_);
  BeamShape b;
  b.bmaj_rad = 2.0 * std::sqrt(std::log(2.0) / lmin) * pixel_rad;
  b.bmin_rad = 2.0 * std::sqrt(std::log(2.0) / lmax) * pixel_rad;
  // The major axis is the eigenvector of the smaller eigenvalue.
  double ex = qb / 2, ey = lmin - qa;
  if (std::abs(ex) + std::abs(ey) < 1e-30) {
    ex = (qa <= qc) ? 1 : 0;
    ey = (qa <= qc) ? 0 : 1;
  }
  double pa = std::atan2(ex, ey) * 180.0 / M_PI;  // from north (y) towards east (x)
  pa = std::fmod(pa + 360.0, 180.0);
  b.bpa_deg = pa;
  return b;
}

}  // namespace contimg::imaging
