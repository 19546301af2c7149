#include "validation/background.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "common/error.h"
#include "common/parallel.h"

namespace contimg::validation {

ClippedStats clipped_stats(std::vector<float>& values, double clip_sigma) {
  ClippedStats s;
  std::size_t n = values.size();
  auto median_of = [&](std::size_t count) {
    auto mid = values.begin() + static_cast<std::ptrdiff_t>(count / 2);
    std::nth_element(values.begin(), mid, values.begin() + static_cast<std::ptrdiff_t>(count));
    return static_cast<double>(*mid);
  };
  std::vector<float> dev;
  for (int pass = 0; pass < 10 && n > 0; ++pass) {
    s.median = median_of(n);
    dev.resize(n);
    for (std::size_t i = 0; i < n; ++i) dev[i] = std::abs(values[i] - static_cast<float>(s.median));
    auto mid = dev.begin() + static_cast<std::ptrdiff_t>(n / 2);
    std::nth_element(dev.begin(), mid, dev.end());
    s.sigma = 1.4826 * *mid;
    s.n = n;
    if (s.sigma <= 0) break;
    const double lo = s.median - clip_sigma * s.sigma, hi = s.median + clip_sigma * s.sigma;
    auto end = std::partition(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n),
                              [&](float v) { return v >= lo && v <= hi; });
    const auto kept = static_cast<std::size_t>(end - values.begin());
    if (kept == n) break;
    n = kept;
  }
  return s;
}

BackgroundMaps estimate_background(const float* pixels, int nx, int ny, const BackgroundOptions& o) {
  if (o.box < 3 || o.step < 1) {
    throw InputError(fmt::format("background box {} / step {} pixels: box must be >= 3, step >= 1",
                                 o.box, o.step));
  }
  // Grid nodes from 0 to n-1 inclusive, every `step` pixels.
  auto nodes = [&](int n) {
    std::vector<int> v;
    for (int p = 0; p < n - 1; p += o.step) v.push_back(p);
    v.push_back(n - 1);
    return v;
  };
  const auto gx = nodes(nx), gy = nodes(ny);
  const auto ngx = gx.size(), ngy = gy.size();
  constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> gb(ngx * ngy, kNan), gr(ngx * ngy, kNan);
  const int half = o.box / 2;
  // A box needs a fair sample for a median and MAD.
  const std::size_t min_n = std::max<std::size_t>(30, static_cast<std::size_t>(o.box) * o.box / 10);
  // Each row of nodes is one work item; every node writes only its own slot, so
  // the maps do not depend on the thread count.
  parallel_for(ngy, o.threads, [&](std::size_t j, std::size_t) {
    std::vector<float> buf;
    buf.reserve(static_cast<std::size_t>(o.box) * o.box);
    for (std::size_t i = 0; i < ngx; ++i) {
      // Boxes keep their full size at the edges (shifted inwards).
      const int x0 = std::clamp(gx[i] - half, 0, std::max(0, nx - o.box));
      const int y0 = std::clamp(gy[j] - half, 0, std::max(0, ny - o.box));
      buf.clear();
      for (int y = y0; y < std::min(ny, y0 + o.box); ++y) {
        const float* row = pixels + static_cast<std::size_t>(y) * nx;
        for (int x = x0; x < std::min(nx, x0 + o.box); ++x) {
          if (std::isfinite(row[x])) buf.push_back(row[x]);
        }
      }
      if (buf.size() < min_n) continue;
      const auto s = clipped_stats(buf, o.clip_sigma);
      gb[j * ngx + i] = static_cast<float>(s.median);
      gr[j * ngx + i] = static_cast<float>(s.sigma);
    }
  });
  // Empty nodes (all-blank boxes near the PB cut) take the nearest filled node,
  // so interpolation near the footprint's edge stays defined.
  std::vector<std::size_t> filled;
  for (std::size_t k = 0; k < gb.size(); ++k) {
    if (std::isfinite(gr[k]) && gr[k] > 0) filled.push_back(k);
  }
  if (filled.empty()) {
    throw InputError(fmt::format("no {}x{}-pixel box holds {} finite pixels with non-zero spread",
                                 o.box, o.box, min_n));
  }
  for (std::size_t k = 0; k < gb.size(); ++k) {
    if (std::isfinite(gr[k]) && gr[k] > 0) continue;
    const auto ki = static_cast<long>(k % ngx), kj = static_cast<long>(k / ngx);
    long best = std::numeric_limits<long>::max();
    for (auto f : filled) {
      const long di = static_cast<long>(f % ngx) - ki, dj = static_cast<long>(f / ngx) - kj;
      if (di * di + dj * dj < best) {
        best = di * di + dj * dj;
        gb[k] = gb[f];
        gr[k] = gr[f];
      }
    }
  }
  BackgroundMaps m;
  m.nx = nx;
  m.ny = ny;
  m.background.assign(static_cast<std::size_t>(nx) * ny, kNan);
  m.rms.assign(static_cast<std::size_t>(nx) * ny, kNan);
  // Interpolation in blocks of rows (each writes its own pixels).
  constexpr int kRowsPerItem = 64;
  const auto nblocks = static_cast<std::size_t>((ny + kRowsPerItem - 1) / kRowsPerItem);
  parallel_for(nblocks, o.threads, [&](std::size_t block, std::size_t) {
    const int y_begin = static_cast<int>(block) * kRowsPerItem;
    const int y_end = std::min(ny, y_begin + kRowsPerItem);
    std::size_t j = 0;
    for (int y = y_begin; y < y_end; ++y) {
      while (j + 2 < ngy && gy[j + 1] <= y) ++j;
      const double ty = ngy == 1 ? 0 : std::clamp(double(y - gy[j]) / (gy[j + 1] - gy[j]), 0.0, 1.0);
      const std::size_t j1 = ngy == 1 ? j : j + 1;
      std::size_t i = 0;
      for (int x = 0; x < nx; ++x) {
        while (i + 2 < ngx && gx[i + 1] <= x) ++i;
        const std::size_t k = static_cast<std::size_t>(y) * nx + x;
        if (!std::isfinite(pixels[k])) continue;
        const double tx = ngx == 1 ? 0 : std::clamp(double(x - gx[i]) / (gx[i + 1] - gx[i]), 0.0, 1.0);
        const std::size_t i1 = ngx == 1 ? i : i + 1;
        auto lerp = [&](const std::vector<float>& g) {
          const double a = g[j * ngx + i] * (1 - tx) + g[j * ngx + i1] * tx;
          const double b = g[j1 * ngx + i] * (1 - tx) + g[j1 * ngx + i1] * tx;
          return static_cast<float>(a * (1 - ty) + b * ty);
        };
        m.background[k] = lerp(gb);
        m.rms[k] = lerp(gr);
      }
    }
  });
  return m;
}

}  // namespace contimg::validation
