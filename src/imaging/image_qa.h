#pragma once
// Image QA (SPEC §6) on plain pixels: robust noise, peak, dynamic range.
#include <cstddef>
#include <span>

namespace contimg::imaging {

struct ImageStats {
  double rms = 0;           // MAD × 1.4826 over source-free pixels
  double median = 0;        // of those pixels
  double peak = 0;          // largest finite pixel
  long peak_x = -1, peak_y = -1;
  double dynamic_range = 0; // peak / rms
  std::size_t noise_pixels = 0;  // pixels the noise was measured on
  int iterations = 0;
};

// Noise: MAD × 1.4826 about the median of the finite pixels, then again with
// pixels beyond `clip_sigma` σ of the median excluded (sources), until the
// set stops changing (at most max_iterations). Throws InputError when no
// pixel is finite or nx × ny != pixels.size().
ImageStats image_stats(std::span<const float> pixels, long nx, long ny, double clip_sigma = 5.0,
                       int max_iterations = 20);

}  // namespace contimg::imaging
