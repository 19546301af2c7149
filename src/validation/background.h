#pragma once
// Background and noise maps (SPEC §7) in the manner of PyBDSF's / Aegean's
// "rms box": robust statistics in boxes of `box` pixels centred on a grid of
// step `step`, bilinearly interpolated to every pixel. The statistics are
// sigma-clipped (median and 1.4826 x MAD, clipped at `clip_sigma` until stable,
// at most 10 passes), so sources inside a box barely move them. NaN pixels
// (outside the primary-beam cut) are ignored and stay NaN in the maps.
#include <vector>

namespace contimg::validation {

struct BackgroundOptions {
  int box = 100;          // box side (pixels)
  int step = 25;          // grid step (pixels)
  double clip_sigma = 3;  // clipping threshold
  int threads = 1;        // workers for the box statistics (the maps do not depend on it)
};

struct BackgroundMaps {
  int nx = 0, ny = 0;
  std::vector<float> background;  // nx*ny (Jy/beam)
  std::vector<float> rms;         // nx*ny (Jy/beam)
};

// `pixels` is row-major nx*ny (x fastest). Throws InputError when no box holds
// enough finite pixels for a statistic.
BackgroundMaps estimate_background(const float* pixels, int nx, int ny, const BackgroundOptions& o);

// Clipped (median, sigma) of `values` (reordered in place); NaNs must be removed.
struct ClippedStats {
  double median = 0, sigma = 0;
  std::size_t n = 0;
};
ClippedStats clipped_stats(std::vector<float>& values, double clip_sigma);

}  // namespace contimg::validation
