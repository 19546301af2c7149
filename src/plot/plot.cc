#include "plot/plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include <cairo.h>
#include <fmt/format.h>

#include "common/durable.h"
#include "common/error.h"

namespace contimg::plot {
namespace {

namespace fs = std::filesystem;

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using Surface = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using Cairo = std::unique_ptr<cairo_t, ContextDeleter>;

struct Rgb {
  double r, g, b;
};

// Tableau-10, the usual categorical palette.
constexpr std::array<Rgb, 10> kPalette{{{0.122, 0.467, 0.706},
                                        {1.000, 0.498, 0.055},
                                        {0.173, 0.627, 0.173},
                                        {0.839, 0.153, 0.157},
                                        {0.580, 0.404, 0.741},
                                        {0.549, 0.337, 0.294},
                                        {0.890, 0.467, 0.761},
                                        {0.498, 0.498, 0.498},
                                        {0.737, 0.741, 0.133},
                                        {0.090, 0.745, 0.812}}};

// Anchors of matplotlib's "inferno" (perceptually uniform, prints in grey).
constexpr std::array<Rgb, 9> kInferno{{{0.001, 0.000, 0.014},
                                       {0.122, 0.047, 0.282},
                                       {0.333, 0.059, 0.427},
                                       {0.533, 0.133, 0.416},
                                       {0.729, 0.212, 0.333},
                                       {0.890, 0.349, 0.200},
                                       {0.976, 0.549, 0.039},
                                       {0.976, 0.788, 0.196},
                                       {0.988, 1.000, 0.643}}};

Rgb inferno(double t) {
  t = std::clamp(t, 0.0, 1.0) * (kInferno.size() - 1);
  const auto i = std::min<std::size_t>(static_cast<std::size_t>(t), kInferno.size() - 2);
  const double f = t - static_cast<double>(i);
  const Rgb& a = kInferno[i];
  const Rgb& b = kInferno[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

Rgb parse_colour(const std::string& hex) {
  unsigned v = 0;
  if (hex.size() != 7 || hex[0] != '#' || std::sscanf(hex.c_str() + 1, "%6x", &v) != 1) {
    throw ConfigError(fmt::format("plot: colour '{}' is not #rrggbb", hex));
  }
  return {((v >> 16) & 0xff) / 255.0, ((v >> 8) & 0xff) / 255.0, (v & 0xff) / 255.0};
}

void set_colour(cairo_t* cr, const Rgb& c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

void text(cairo_t* cr, double x, double y, const std::string& s, double size, double halign,
          double valign, bool bold = false, bool vertical = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  if (vertical) cairo_rotate(cr, -M_PI / 2);
  cairo_move_to(cr, -e.x_bearing - halign * e.width, -e.y_bearing - valign * e.height);
  cairo_show_text(cr, s.c_str());
  cairo_new_path(cr);  // show_text leaves a current point that later paths would join
  cairo_restore(cr);
}

// "Nice" tick positions covering [lo, hi] (Heckbert's labelling).
std::vector<double> nice_ticks(double lo, double hi, int target = 6) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double frac = raw / mag;
  const double step = (frac < 1.5 ? 1 : frac < 3 ? 2 : frac < 7 ? 5 : 10) * mag;
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string tick_label(double v) {
  const double a = std::abs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3)) return fmt::format("{:.2g}", v);
  return fmt::format("{:.6g}", v);
}

std::pair<double, double> data_range(const std::vector<Series>& series, bool use_x) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : series) {
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      const double v = use_x ? s.x[i] : s.y[i];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) return {0, 1};
  if (hi - lo <= std::abs(hi) * 1e-12) {
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    return {lo - pad, hi + pad};
  }
  const double pad = 0.04 * (hi - lo);
  return {lo - pad, hi + pad};
}

void draw_panel(cairo_t* cr, const Panel& p, double x0, double y0, double w, double h) {
  const double left = 70, right = 15, top = p.title.empty() ? 12 : 32, bottom = 48;
  const double px0 = x0 + left, py0 = y0 + top, pw = w - left - right, ph = h - top - bottom;
  if (pw < 20 || ph < 20) throw ConfigError("plot: panel too small for its axes");
  const auto [xlo, xhi] = p.xlim.value_or(data_range(p.series, true));
  const auto [ylo, yhi] = p.ylim.value_or(data_range(p.series, false));
  auto sx = [&](double x) { return px0 + (x - xlo) / (xhi - xlo) * pw; };
  auto sy = [&](double y) { return py0 + ph - (y - ylo) / (yhi - ylo) * ph; };

  cairo_set_source_rgb(cr, 0, 0, 0);
  if (!p.title.empty()) text(cr, px0 + pw / 2, y0 + 8, p.title, 14, 0.5, 0, true);
  cairo_set_line_width(cr, 1);
  for (double t : nice_ticks(xlo, xhi)) {
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, sx(t), py0);
    cairo_line_to(cr, sx(t), py0 + ph);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, sx(t), py0 + ph + 5, tick_label(t), 11, 0.5, 0);
  }
  for (double t : nice_ticks(ylo, yhi)) {
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, px0, sy(t));
    cairo_line_to(cr, px0 + pw, sy(t));
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, px0 - 5, sy(t), tick_label(t), 11, 1, 0.5);
  }
  cairo_rectangle(cr, px0, py0, pw, ph);
  cairo_stroke(cr);
  text(cr, px0 + pw / 2, y0 + h - 4, p.xlabel, 12, 0.5, 1);
  text(cr, x0 + 4, py0 + ph / 2, p.ylabel, 12, 0.5, 0, false, true);

  cairo_save(cr);
  cairo_rectangle(cr, px0, py0, pw, ph);
  cairo_clip(cr);
  for (std::size_t k = 0; k < p.series.size(); ++k) {
    const auto& s = p.series[k];
    if (s.x.size() != s.y.size()) {
      throw ConfigError(fmt::format("plot: series '{}' has {} x and {} y values", s.label,
                                    s.x.size(), s.y.size()));
    }
    set_colour(cr, kPalette[k % kPalette.size()]);
    if (s.style == Series::Style::kLine) {
      cairo_set_line_width(cr, 1.5);
      bool pen_down = false;
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
          pen_down = false;
          continue;
        }
        if (pen_down) {
          cairo_line_to(cr, sx(s.x[i]), sy(s.y[i]));
        } else {
          cairo_move_to(cr, sx(s.x[i]), sy(s.y[i]));
        }
        pen_down = true;
      }
      cairo_stroke(cr);
    } else {
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        cairo_arc(cr, sx(s.x[i]), sy(s.y[i]), 2.5, 0, 2 * M_PI);
        cairo_fill(cr);
      }
    }
  }
  cairo_restore(cr);

  // Legend, top right, when labelled.
  double ly = py0 + 8;
  for (std::size_t k = 0; k < p.series.size(); ++k) {
    if (p.series[k].label.empty()) continue;
    set_colour(cr, kPalette[k % kPalette.size()]);
    cairo_rectangle(cr, px0 + pw - 110, ly, 10, 10);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, px0 + pw - 95, ly + 5, p.series[k].label, 10, 0, 0.5);
    ly += 14;
  }
}

void write_surface(cairo_surface_t* surface, const fs::path& png) {
  cairo_surface_flush(surface);
  if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
    throw IoError(fmt::format("{}: cannot draw the plot: {}", png.string(),
                              cairo_status_to_string(cairo_surface_status(surface))));
  }
  // Written beside, then renamed: a reader never sees half a PNG.
  const fs::path part = png.string() + ".part";
  const auto status = cairo_surface_write_to_png(surface, part.c_str());
  if (status != CAIRO_STATUS_SUCCESS) {
    std::error_code ec;
    fs::remove(part, ec);
    throw IoError(fmt::format("{}: cannot write PNG: {}", png.string(), cairo_status_to_string(status)));
  }
  durable::rename_into_place(part, png);
}

std::pair<Surface, Cairo> white_canvas(int w, int h) {
  Surface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h));
  Cairo cr(cairo_create(surface.get()));
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  return {std::move(surface), std::move(cr)};
}

}  // namespace

void write_panels_png(const fs::path& png, const std::vector<Panel>& panels, int columns,
                      int width_px, int height_px) {
  if (panels.empty() || columns < 1 || width_px < 100 || height_px < 100) {
    throw ConfigError(fmt::format("plot {}: need ≥ 1 panel, ≥ 1 column and ≥ 100×100 pixels",
                                  png.string()));
  }
  const int rows = (static_cast<int>(panels.size()) + columns - 1) / columns;
  auto [surface, cr] = white_canvas(width_px, height_px);
  const double w = static_cast<double>(width_px) / columns;
  const double h = static_cast<double>(height_px) / rows;
  for (std::size_t i = 0; i < panels.size(); ++i) {
    const int r = static_cast<int>(i) / columns, c = static_cast<int>(i) % columns;
    draw_panel(cr.get(), panels[i], c * w, r * h, w, h);
  }
  write_surface(surface.get(), png);
}

std::pair<double, double> percentile_range(const float* pixels, std::size_t n, double lo_pct,
                                           double hi_pct) {
  std::vector<float> finite;
  finite.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isfinite(pixels[i])) finite.push_back(pixels[i]);
  }
  if (finite.empty()) return {0, 1};
  auto at = [&](double pct) {
    const auto k = static_cast<std::size_t>(std::clamp(pct / 100.0, 0.0, 1.0) * (finite.size() - 1));
    std::nth_element(finite.begin(), finite.begin() + static_cast<std::ptrdiff_t>(k), finite.end());
    return static_cast<double>(finite[k]);
  };
  const double lo = at(lo_pct), hi = at(hi_pct);
  return {lo, hi > lo ? hi : lo + 1};
}

void write_image_png(const fs::path& png, const ImageView& v, int width_px) {
  if (v.pixels == nullptr || v.nx < 2 || v.ny < 2 || !(v.vmax > v.vmin) || width_px < 200) {
    throw ConfigError(fmt::format(
        "plot {}: need pixels, an image of ≥ 2×2, vmax > vmin and a width ≥ 200", png.string()));
  }
  const double margin = 50, bar_w = 18, bar_gap = 12, bar_labels = 70;
  const double img_w = width_px - 2 * margin - bar_gap - bar_w - bar_labels;
  const double scale = img_w / v.nx;
  const double img_h = scale * v.ny;
  const double title_h = v.title.empty() ? 0 : 26;
  const int height_px = static_cast<int>(std::ceil(img_h + 2 * margin + title_h));
  auto [surface, cr] = white_canvas(width_px, height_px);
  const double ix0 = margin, iy0 = margin + title_h;

  // Stretch: asinh with the softening at 5% of the range keeps the noise visible.
  const double soft = 0.05 * (v.vmax - v.vmin);
  auto stretch = [&](double x) {
    const double t = std::clamp((x - v.vmin) / (v.vmax - v.vmin), 0.0, 1.0);
    if (!v.asinh) return t;
    const double s = soft / (v.vmax - v.vmin);
    return std::asinh(t / s) / std::asinh(1 / s);
  };

  // Pixels into an image surface (row 0 at the bottom: flip), then scaled.
  Surface img(cairo_image_surface_create(CAIRO_FORMAT_RGB24, v.nx, v.ny));
  cairo_surface_flush(img.get());
  auto* data = cairo_image_surface_get_data(img.get());
  const int stride = cairo_image_surface_get_stride(img.get());
  for (int y = 0; y < v.ny; ++y) {
    auto* row = reinterpret_cast<std::uint32_t*>(data + static_cast<std::ptrdiff_t>(v.ny - 1 - y) * stride);
    for (int x = 0; x < v.nx; ++x) {
      const float p = v.pixels[static_cast<std::size_t>(y) * v.nx + x];
      const Rgb c = std::isfinite(p) ? inferno(stretch(p)) : Rgb{0.85, 0.85, 0.85};
      row[x] = (static_cast<std::uint32_t>(c.r * 255) << 16) |
               (static_cast<std::uint32_t>(c.g * 255) << 8) | static_cast<std::uint32_t>(c.b * 255);
    }
  }
  cairo_surface_mark_dirty(img.get());
  cairo_save(cr.get());
  cairo_translate(cr.get(), ix0, iy0);
  cairo_scale(cr.get(), scale, scale);
  cairo_set_source_surface(cr.get(), img.get(), 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr.get()), CAIRO_FILTER_NEAREST);
  cairo_paint(cr.get());
  cairo_restore(cr.get());
  cairo_set_source_rgb(cr.get(), 0, 0, 0);
  cairo_set_line_width(cr.get(), 1);
  cairo_rectangle(cr.get(), ix0, iy0, img_w, img_h);
  cairo_stroke(cr.get());
  if (!v.title.empty()) text(cr.get(), ix0 + img_w / 2, margin / 2, v.title, 15, 0.5, 0, true);

  auto to_canvas = [&](double x, double y) {
    return std::pair{ix0 + (x + 0.5) * scale, iy0 + img_h - (y + 0.5) * scale};
  };
  cairo_save(cr.get());
  cairo_rectangle(cr.get(), ix0, iy0, img_w, img_h);
  cairo_clip(cr.get());
  for (const auto& m : v.markers) {
    const auto [cx, cy] = to_canvas(m.x, m.y);
    set_colour(cr.get(), parse_colour(m.colour));
    cairo_set_line_width(cr.get(), 1.5);
    switch (m.shape) {
      case Marker::Shape::kCircle:
        cairo_new_sub_path(cr.get());
        cairo_arc(cr.get(), cx, cy, m.radius_px, 0, 2 * M_PI);
        break;
      case Marker::Shape::kSquare:
        cairo_rectangle(cr.get(), cx - m.radius_px, cy - m.radius_px, 2 * m.radius_px, 2 * m.radius_px);
        break;
      case Marker::Shape::kCross:
        cairo_move_to(cr.get(), cx - m.radius_px, cy);
        cairo_line_to(cr.get(), cx + m.radius_px, cy);
        cairo_move_to(cr.get(), cx, cy - m.radius_px);
        cairo_line_to(cr.get(), cx, cy + m.radius_px);
        break;
    }
    cairo_stroke(cr.get());
    if (!m.label.empty()) text(cr.get(), cx + m.radius_px + 2, cy - m.radius_px, m.label, 10, 0, 1);
  }
  if (v.beam_px) {
    // Filled ellipse in the lower-left corner; PA from north (+y) through east (−x).
    const auto [maj, min, pa] = *v.beam_px;
    const double r = std::max(maj, min) * scale / 2 + 6;
    cairo_new_path(cr.get());  // not joined to the last label's text point
    cairo_save(cr.get());
    cairo_translate(cr.get(), ix0 + r, iy0 + img_h - r);
    cairo_rotate(cr.get(), -pa);
    cairo_scale(cr.get(), std::max(min * scale / 2, 0.5), std::max(maj * scale / 2, 0.5));
    cairo_arc(cr.get(), 0, 0, 1, 0, 2 * M_PI);
    cairo_restore(cr.get());
    cairo_set_source_rgb(cr.get(), 1, 1, 1);
    cairo_fill_preserve(cr.get());
    cairo_set_source_rgb(cr.get(), 0, 0, 0);
    cairo_stroke(cr.get());
  }
  cairo_restore(cr.get());

  // Colour bar with the data values at its ticks (through the stretch).
  const double bx = ix0 + img_w + bar_gap;
  for (int k = 0; k < static_cast<int>(img_h); ++k) {
    set_colour(cr.get(), inferno(1.0 - k / img_h));
    cairo_rectangle(cr.get(), bx, iy0 + k, bar_w, 1);
    cairo_fill(cr.get());
  }
  cairo_set_source_rgb(cr.get(), 0, 0, 0);
  cairo_rectangle(cr.get(), bx, iy0, bar_w, img_h);
  cairo_stroke(cr.get());
  for (double t : nice_ticks(v.vmin, v.vmax)) {
    if (t < v.vmin || t > v.vmax) continue;
    const double y = iy0 + img_h * (1 - stretch(t));
    cairo_move_to(cr.get(), bx + bar_w, y);
    cairo_line_to(cr.get(), bx + bar_w + 4, y);
    cairo_stroke(cr.get());
    text(cr.get(), bx + bar_w + 6, y, tick_label(t), 10, 0, 0.5);
  }
  if (!v.colourbar_label.empty()) {
    text(cr.get(), bx + bar_w + bar_labels - 8, iy0 + img_h / 2, v.colourbar_label, 11, 0.5, 1, false, true);
  }
  write_surface(surface.get(), png);
}

}  // namespace contimg::plot
