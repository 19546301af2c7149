#pragma once
// Diagnostic plots as PNG (cairo): line/marker panels for calibration
// solutions and QA, and an image view with a colour bar, source markers and
// the restoring beam for quick-looks and reports. Small on purpose: what the
// pipeline's reports need, nothing more.
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace contimg::plot {

struct Series {
  std::vector<double> x, y;  // equal lengths; NaN points are skipped (lines break there)
  std::string label;         // shown in the legend when any series of the panel has one
  enum class Style { kLine, kMarkers } style = Style::kLine;
};

struct Panel {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  std::optional<std::pair<double, double>> xlim, ylim;  // else from the data
};

// Panels in a grid of `columns`, written as a PNG. Throws IoError naming the
// path when it cannot be written, ConfigError on bad arguments.
void write_panels_png(const std::filesystem::path& png, const std::vector<Panel>& panels,
                      int columns = 1, int width_px = 900, int height_px = 600);

struct Marker {
  double x = 0, y = 0;  // pixel coordinates of the image (0-based, y up)
  double radius_px = 6;
  enum class Shape { kCircle, kSquare, kCross } shape = Shape::kCircle;
  std::string colour = "#00ff00";  // #rrggbb
  std::string label;
};

struct ImageView {
  const float* pixels = nullptr;  // nx * ny, row-major, row 0 at the bottom (FITS order); NaN = blank
  int nx = 0, ny = 0;
  double vmin = 0, vmax = 1;  // display range
  bool asinh = true;          // asinh stretch (bright sources and noise both visible)
  std::string title, colourbar_label;
  std::vector<Marker> markers;
  std::optional<std::array<double, 3>> beam_px;  // major, minor FWHM (image pixels), pa (rad, from +y towards -x)
};

// The image scaled to `width_px` wide (plus margins and a colour bar).
void write_image_png(const std::filesystem::path& png, const ImageView& view, int width_px = 900);

// Robust display range: the given percentiles of the finite pixels.
std::pair<double, double> percentile_range(const float* pixels, std::size_t n, double lo_pct,
                                           double hi_pct);

}  // namespace contimg::plot
