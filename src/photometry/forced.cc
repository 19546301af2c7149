#include "photometry/forced.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::photometry {
namespace {

const double kFwhmPerSigma = std::sqrt(8 * std::log(2.0));

struct UnionFind {
  std::vector<int> parent;
  explicit UnionFind(int n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  int find(int i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  }
  void unite(int a, int b) { parent[find(a)] = find(b); }
};

// Inverse of a symmetric n x n matrix (row-major) by Gauss-Jordan with partial
// pivoting; false when (numerically) singular.
bool invert(std::vector<double> a, std::size_t n, std::vector<double>& inv) {
  inv.assign(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i) inv[i * n + i] = 1;
  double scale = 0;
  for (double v : a) scale = std::max(scale, std::abs(v));
  if (!(scale > 0)) return false;
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t p = c;
    for (std::size_t r = c + 1; r < n; ++r) {
      if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
    }
    if (std::abs(a[p * n + c]) < 1e-12 * scale) return false;
    if (p != c) {
      for (std::size_t k = 0; k < n; ++k) {
        std::swap(a[p * n + k], a[c * n + k]);
        std::swap(inv[p * n + k], inv[c * n + k]);
      }
    }
    const double d = a[c * n + c];
    for (std::size_t k = 0; k < n; ++k) {
      a[c * n + k] /= d;
      inv[c * n + k] /= d;
    }
    for (std::size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r * n + c];
      if (f == 0) continue;
      for (std::size_t k = 0; k < n; ++k) {
        a[r * n + k] -= f * a[c * n + k];
        inv[r * n + k] -= f * inv[c * n + k];
      }
    }
  }
  return true;
}

bool usable(const float* data, const float* rms, int nx, int ny, int x, int y) {
  if (x < 0 || y < 0 || x >= nx || y >= ny) return false;
  const std::size_t k = static_cast<std::size_t>(y) * nx + x;
  return std::isfinite(data[k]) && std::isfinite(rms[k]) && rms[k] > 0;
}

}  // namespace

double KernelBeam::value(double dx, double dy) const {
  const double a = -dx * std::sin(theta) + dy * std::cos(theta);  // along the major axis
  const double b = dx * std::cos(theta) + dy * std::sin(theta);
  return std::exp(-0.5 *
                  (a * a / (sigma_major * sigma_major) + b * b / (sigma_minor * sigma_minor)));
}

double KernelBeam::fwhm_major() const {
  return sigma_major * kFwhmPerSigma;
}

ForcedSolution forced_photometry(const float* data, const float* rms, int nx, int ny,
                                 const KernelBeam& beam,
                                 const std::vector<ForcedPosition>& positions,
                                 const ForcedOptions& o) {
  if (!(beam.sigma_major > 0) || !(beam.sigma_minor > 0)) {
    throw InputError("forced photometry needs a restoring beam with positive axes");
  }
  if (!(o.box_beams > 0) || o.cluster_beams < 0) {
    throw ConfigError(
        fmt::format("forced photometry: box_beams ({}) must be > 0 and cluster_beams ({}) >= 0",
                    o.box_beams, o.cluster_beams));
  }
  const int n = static_cast<int>(positions.size());
  ForcedSolution sol;
  sol.results.resize(n);
  const double fwhm = beam.fwhm_major();
  const double radius = o.box_beams * fwhm;
  const double link = o.cluster_beams * fwhm;

  // Positions whose own pixel is usable take part; the rest stay ok = false.
  std::vector<int> live;
  for (int i = 0; i < n; ++i) {
    const auto& p = positions[i];
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    const int xi = static_cast<int>(std::lround(p.x)), yi = static_cast<int>(std::lround(p.y));
    if (!usable(data, rms, nx, ny, xi, yi)) continue;
    sol.results[i].local_rms = rms[static_cast<std::size_t>(yi) * nx + xi];
    live.push_back(i);
  }

  // Clusters: positions within `link` of each other, transitively (a grid of
  // cells of side `link` makes this linear in the number of positions).
  UnionFind uf(n);
  if (link > 0) {
    const double cell = link;
    std::unordered_map<std::int64_t, std::vector<int>> grid;
    auto key = [](std::int64_t cx, std::int64_t cy) { return cx * 4294967311LL + cy; };
    for (int i : live) {
      const auto cx = static_cast<std::int64_t>(std::floor(positions[i].x / cell));
      const auto cy = static_cast<std::int64_t>(std::floor(positions[i].y / cell));
      for (std::int64_t dy = -1; dy <= 1; ++dy) {
        for (std::int64_t dx = -1; dx <= 1; ++dx) {
          auto it = grid.find(key(cx + dx, cy + dy));
          if (it == grid.end()) continue;
          for (int j : it->second) {
            if (std::hypot(positions[i].x - positions[j].x, positions[i].y - positions[j].y) < link)
              uf.unite(i, j);
          }
        }
      }
      grid[key(cx, cy)].push_back(i);
    }
  }
  std::unordered_map<int, std::vector<int>> groups;
  std::vector<int> roots;
  for (int i : live) {
    const int r = uf.find(i);
    auto [it, inserted] = groups.try_emplace(r);
    if (inserted) roots.push_back(r);
    it->second.push_back(i);
  }

  const double r2 = radius * radius;
  struct Pix {
    int x, y;
    double d, inv_s;  // data, 1 / rms
  };
  std::vector<Pix> pix;
  std::vector<double> kern;  // pix.size() x m
  std::vector<double> rho_table;
  for (int root : roots) {
    const auto& members = groups[root];
    const std::size_t m = members.size();
    double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
    for (int i : members) {
      x0 = std::min(x0, positions[i].x), x1 = std::max(x1, positions[i].x);
      y0 = std::min(y0, positions[i].y), y1 = std::max(y1, positions[i].y);
    }
    const int bx0 = std::max(0, static_cast<int>(std::floor(x0 - radius)));
    const int bx1 = std::min(nx - 1, static_cast<int>(std::ceil(x1 + radius)));
    const int by0 = std::max(0, static_cast<int>(std::floor(y0 - radius)));
    const int by1 = std::min(ny - 1, static_cast<int>(std::ceil(y1 + radius)));
    pix.clear();
    kern.clear();
    for (int y = by0; y <= by1; ++y) {
      for (int x = bx0; x <= bx1; ++x) {
        bool near = false;
        for (int i : members) {
          const double dx = x - positions[i].x, dy = y - positions[i].y;
          if (dx * dx + dy * dy <= r2) {
            near = true;
            break;
          }
        }
        if (!near || !usable(data, rms, nx, ny, x, y)) continue;
        const std::size_t k = static_cast<std::size_t>(y) * nx + x;
        pix.push_back({x, y, data[k], 1.0 / rms[k]});
        for (int i : members) kern.push_back(beam.value(x - positions[i].x, y - positions[i].y));
      }
    }
    // Normal equations (K^T W K) a = K^T W d.
    std::vector<double> a(m * m, 0.0), b(m, 0.0);
    for (std::size_t p = 0; p < pix.size(); ++p) {
      const double w = pix[p].inv_s * pix[p].inv_s;
      const double* kp = &kern[p * m];
      for (std::size_t r = 0; r < m; ++r) {
        b[r] += w * kp[r] * pix[p].d;
        for (std::size_t c = 0; c < m; ++c) a[r * m + c] += w * kp[r] * kp[c];
      }
    }
    std::vector<double> inv;
    if (!invert(a, m, inv)) continue;  // coincident positions: left ok = false
    std::vector<double> amp(m, 0.0);
    for (std::size_t r = 0; r < m; ++r) {
      for (std::size_t c = 0; c < m; ++c) amp[r] += inv[r * m + c] * b[c];
    }
    double chi2 = 0;
    for (std::size_t p = 0; p < pix.size(); ++p) {
      double model = 0;
      for (std::size_t r = 0; r < m; ++r) model += amp[r] * kern[p * m + r];
      const double res = (pix[p].d - model) * pix[p].inv_s;
      chi2 += res * res;
    }
    std::vector<double> cov = inv;
    if (o.correlation == NoiseCorrelation::kBeam) {
      // M = sum_jk u_j u_k^T rho(j - k), u_j = K_j / s_j; rho tabulated on the box's offsets.
      const int w = bx1 - bx0, h = by1 - by0;
      const int tw = 2 * w + 1;
      rho_table.assign(static_cast<std::size_t>(tw) * (2 * h + 1), 0.0);
      for (int dy = -h; dy <= h; ++dy) {
        for (int dx = -w; dx <= w; ++dx) {
          rho_table[static_cast<std::size_t>(dy + h) * tw + (dx + w)] = beam.value(dx, dy);
        }
      }
      std::vector<double> mm(m * m, 0.0);
      for (std::size_t j = 0; j < pix.size(); ++j) {
        std::vector<double> acc(m, 0.0);  // sum_k rho_jk u_k
        for (std::size_t k = 0; k < pix.size(); ++k) {
          const double r = rho_table[static_cast<std::size_t>(pix[k].y - pix[j].y + h) * tw +
                                     (pix[k].x - pix[j].x + w)];
          if (r < 1e-6) continue;
          for (std::size_t c = 0; c < m; ++c) acc[c] += r * kern[k * m + c] * pix[k].inv_s;
        }
        for (std::size_t rr = 0; rr < m; ++rr) {
          const double uj = kern[j * m + rr] * pix[j].inv_s;
          for (std::size_t c = 0; c < m; ++c) mm[rr * m + c] += uj * acc[c];
        }
      }
      // cov = inv M inv
      std::vector<double> t(m * m, 0.0);
      for (std::size_t r = 0; r < m; ++r)
        for (std::size_t c = 0; c < m; ++c)
          for (std::size_t k = 0; k < m; ++k) t[r * m + c] += inv[r * m + k] * mm[k * m + c];
      std::fill(cov.begin(), cov.end(), 0.0);
      for (std::size_t r = 0; r < m; ++r)
        for (std::size_t c = 0; c < m; ++c)
          for (std::size_t k = 0; k < m; ++k) cov[r * m + c] += t[r * m + k] * inv[k * m + c];
    }
    int cluster_index = -1;
    if (m > 1) {
      cluster_index = static_cast<int>(sol.clusters.size());
      sol.clusters.push_back({members, cov});
    }
    for (std::size_t r = 0; r < m; ++r) {
      auto& res = sol.results[members[r]];
      res.ok = std::isfinite(amp[r]) && cov[r * m + r] > 0;
      res.flux = amp[r];
      res.error = std::sqrt(std::max(0.0, cov[r * m + r]));
      res.chi2 = chi2;
      res.npix = static_cast<int>(pix.size());
      res.cluster = cluster_index;
    }
  }
  return sol;
}

}  // namespace contimg::photometry
