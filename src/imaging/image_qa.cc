#include "imaging/image_qa.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::imaging {
namespace {

double median_of(std::vector<float>& v) {
  const std::size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(mid), v.end());
  const double hi = v[mid];
  if (v.size() % 2) return hi;
  const double lo = *std::max_element(v.begin(), v.begin() + static_cast<long>(mid));
  return 0.5 * (lo + hi);
}

}  // namespace

ImageStats image_stats(std::span<const float> pixels, long nx, long ny, double clip_sigma, int max_iterations) {
  if (nx <= 0 || ny <= 0 || pixels.size() != static_cast<std::size_t>(nx * ny)) {
    throw InputError(fmt::format("image QA: {} pixels for a {} x {} image", pixels.size(), nx, ny));
  }
  ImageStats s;
  std::vector<float> kept;
  kept.reserve(pixels.size());
  bool any = false;
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    const float v = pixels[i];
    if (!std::isfinite(v)) continue;
    kept.push_back(v);
    if (!any || v > s.peak) {
      s.peak = v;
      s.peak_x = static_cast<long>(i % static_cast<std::size_t>(nx));
      s.peak_y = static_cast<long>(i / static_cast<std::size_t>(nx));
      any = true;
    }
  }
  if (!any) throw InputError("image QA: the image has no finite pixel");
  std::vector<float> work;
  double lo = -INFINITY, hi = INFINITY;
  std::size_t previous = 0;
  for (s.iterations = 1; s.iterations <= max_iterations; ++s.iterations) {
    work.clear();
    for (float v : kept)
      if (v >= lo && v <= hi) work.push_back(v);
    if (work.empty()) break;
    s.noise_pixels = work.size();
    s.median = median_of(work);
    for (auto& v : work) v = static_cast<float>(std::abs(v - s.median));
    s.rms = 1.4826 * median_of(work);
    if (s.noise_pixels == previous || s.rms == 0) break;
    previous = s.noise_pixels;
    lo = s.median - clip_sigma * s.rms;
    hi = s.median + clip_sigma * s.rms;
  }
  s.dynamic_range = s.rms > 0 ? s.peak / s.rms : 0.0;
  return s;
}

}  // namespace contimg::imaging
