#include "validation/gaussian_fit.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace contimg::validation {
namespace {

constexpr int kNp = 6;  // parameters per component

struct Shape {
  double e, a, b;  // exp(-Q/2), coordinates along the major and minor axes
};

Shape shape_at(const Gaussian2D& g, double x, double y) {
  const double dx = x - g.x0, dy = y - g.y0, s = std::sin(g.theta), c = std::cos(g.theta);
  const double a = -dx * s + dy * c, b = dx * c + dy * s;
  const double q = a * a / (g.sigma_major * g.sigma_major) + b * b / (g.sigma_minor * g.sigma_minor);
  return {std::exp(-0.5 * q), a, b};
}

std::vector<Gaussian2D> unpack(const std::vector<double>& p) {
  std::vector<Gaussian2D> out(p.size() / kNp);
  for (std::size_t k = 0; k < out.size(); ++k) {
    const double* q = &p[k * kNp];
    out[k] = {q[0], q[1], q[2], q[3], q[4], q[5]};
  }
  return out;
}

void project(std::vector<double>& p, const FitBounds& b) {
  for (std::size_t k = 0; k < p.size(); k += kNp) {
    p[k + 1] = std::clamp(p[k + 1], b.x_min, b.x_max);
    p[k + 2] = std::clamp(p[k + 2], b.y_min, b.y_max);
    p[k + 3] = std::max(p[k + 3], b.min_sigma_major);
    p[k + 4] = std::max(p[k + 4], b.min_sigma_minor);
  }
}

double chi2_of(const std::vector<FitPixel>& px, const std::vector<double>& p) {
  const auto comps = unpack(p);
  double chi2 = 0;
  for (const auto& q : px) {
    double m = 0;
    for (const auto& g : comps) m += g.value(q.x, q.y);
    chi2 += q.weight * (q.value - m) * (q.value - m);
  }
  return chi2;
}

// Solves A x = b (n x n, row-major) by Gaussian elimination with partial
// pivoting; false when singular.
bool solve(std::vector<double> a, std::vector<double> b, std::size_t n, std::vector<double>& x) {
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t piv = c;
    for (std::size_t r = c + 1; r < n; ++r) {
      if (std::abs(a[r * n + c]) > std::abs(a[piv * n + c])) piv = r;
    }
    if (std::abs(a[piv * n + c]) < 1e-300) return false;
    if (piv != c) {
      for (std::size_t k = 0; k < n; ++k) std::swap(a[c * n + k], a[piv * n + k]);
      std::swap(b[c], b[piv]);
    }
    for (std::size_t r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / a[c * n + c];
      for (std::size_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
      b[r] -= f * b[c];
    }
  }
  x.assign(n, 0);
  for (std::size_t r = n; r-- > 0;) {
    double s = b[r];
    for (std::size_t k = r + 1; k < n; ++k) s -= a[r * n + k] * x[k];
    x[r] = s / a[r * n + r];
  }
  return true;
}

}  // namespace

double Gaussian2D::value(double x, double y) const { return amp * shape_at(*this, x, y).e; }

void Gaussian2D::normalise() {
  if (sigma_minor > sigma_major) {
    std::swap(sigma_minor, sigma_major);
    theta += std::numbers::pi / 2;
  }
  theta = std::remainder(theta, std::numbers::pi);  // (-pi/2, pi/2]
}

FitResult fit_gaussians(const std::vector<FitPixel>& px, std::vector<Gaussian2D> initial,
                        const FitBounds& bounds, int max_iterations) {
  std::vector<double> p;
  for (const auto& g : initial) {
    p.insert(p.end(), {g.amp, g.x0, g.y0, g.sigma_major, g.sigma_minor, g.theta});
  }
  project(p, bounds);
  const std::size_t n = p.size();
  FitResult res;
  double chi2 = chi2_of(px, p);
  double lambda = 1e-3;
  std::vector<double> jtj(n * n), jtr(n), row(n), delta;
  for (int it = 0; it < max_iterations; ++it) {
    res.iterations = it + 1;
    std::fill(jtj.begin(), jtj.end(), 0.0);
    std::fill(jtr.begin(), jtr.end(), 0.0);
    const auto comps = unpack(p);
    for (const auto& q : px) {
      double m = 0;
      for (std::size_t k = 0; k < comps.size(); ++k) {
        const auto& g = comps[k];
        const auto s = shape_at(g, q.x, q.y);
        const double f = g.amp * s.e, st = std::sin(g.theta), ct = std::cos(g.theta);
        const double sa2 = g.sigma_major * g.sigma_major, sb2 = g.sigma_minor * g.sigma_minor;
        m += f;
        double* d = &row[k * kNp];
        d[0] = s.e;
        // dQ/dx0 = 2a/Sa^2 * sin(t) - 2b/Sb^2 * cos(t); df = -f/2 dQ.
        d[1] = -f * (s.a / sa2 * st - s.b / sb2 * ct);
        d[2] = -f * (-s.a / sa2 * ct - s.b / sb2 * st);
        d[3] = f * s.a * s.a / (sa2 * g.sigma_major);
        d[4] = f * s.b * s.b / (sb2 * g.sigma_minor);
        d[5] = f * s.a * s.b * (1 / sa2 - 1 / sb2);
      }
      const double r = q.value - m;
      for (std::size_t i = 0; i < n; ++i) {
        jtr[i] += q.weight * row[i] * r;
        for (std::size_t j = 0; j <= i; ++j) jtj[i * n + j] += q.weight * row[i] * row[j];
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < i; ++j) jtj[j * n + i] = jtj[i * n + j];
    }
    bool improved = false;
    while (lambda < 1e12) {
      auto a = jtj;
      for (std::size_t i = 0; i < n; ++i) a[i * n + i] += lambda * std::max(jtj[i * n + i], 1e-12);
      if (!solve(a, jtr, n, delta)) {
        lambda *= 10;
        continue;
      }
      auto trial = p;
      for (std::size_t i = 0; i < n; ++i) trial[i] += delta[i];
      project(trial, bounds);
      const double c2 = chi2_of(px, trial);
      if (std::isfinite(c2) && c2 <= chi2) {
        const double gain = chi2 - c2;
        p = std::move(trial);
        chi2 = c2;
        lambda = std::max(lambda / 10, 1e-9);
        improved = true;
        if (gain <= 1e-9 * std::max(chi2, 1e-30)) res.converged = true;
        break;
      }
      lambda *= 10;
    }
    if (!improved) {
      res.converged = true;  // no downhill step left: at a (bounded) minimum
      break;
    }
    if (res.converged) break;
  }
  res.chi2 = chi2;
  res.components = unpack(p);
  for (auto& g : res.components) g.normalise();
  return res;
}

}  // namespace contimg::validation
