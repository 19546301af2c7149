#include "plot/plot.h"

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include <cairo.h>
#include <gtest/gtest.h>

#include "common/error.h"
#include "common/interrupts.h"

namespace contimg::plot {
namespace {

namespace fs = std::filesystem;

struct Png {
  std::unique_ptr<cairo_surface_t, void (*)(cairo_surface_t*)> s{nullptr, cairo_surface_destroy};
  explicit Png(const fs::path& p) : s(cairo_image_surface_create_from_png(p.c_str()), cairo_surface_destroy) {}
  bool ok() const { return cairo_surface_status(s.get()) == CAIRO_STATUS_SUCCESS; }
  int width() const { return cairo_image_surface_get_width(s.get()); }
  int height() const { return cairo_image_surface_get_height(s.get()); }
  // 0xRRGGBB
  std::uint32_t at(int x, int y) const {
    const auto* row = cairo_image_surface_get_data(s.get()) + y * cairo_image_surface_get_stride(s.get());
    return reinterpret_cast<const std::uint32_t*>(row)[x] & 0xffffff;
  }
  int count(std::uint32_t rgb) const {
    return count_if([rgb](std::uint32_t c) { return c == rgb; });
  }
  template <typename F>
  int count_if(F f) const {
    int n = 0;
    for (int y = 0; y < height(); ++y)
      for (int x = 0; x < width(); ++x) n += f(at(x, y)) ? 1 : 0;
    return n;
  }
};

TEST(Plot, PanelsAreWrittenAsAPngOfTheRequestedSizeWithTheSeriesDrawn) {
  ScopedTempDir dir(fs::temp_directory_path(), "plot-test");
  std::vector<Panel> panels(2);
  for (auto& p : panels) {
    p.title = "bandpass";
    p.xlabel = "frequency (MHz)";
    p.ylabel = "amplitude";
    Series s;
    for (int i = 0; i < 50; ++i) {
      s.x.push_back(1300 + i);
      s.y.push_back(std::sin(i / 5.0));
    }
    s.label = "ant 1";
    p.series.push_back(s);
  }
  panels[1].series[0].style = Series::Style::kMarkers;
  panels[1].series[0].y[10] = NAN;  // skipped, not fatal
  const fs::path png = dir.path() / "bp.png";
  write_panels_png(png, panels, 2, 800, 400);
  Png img(png);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img.width(), 800);
  EXPECT_EQ(img.height(), 400);
  EXPECT_GT(img.count(0x1f77b4), 100);  // the first palette colour: the data were drawn
  EXPECT_FALSE(fs::exists(png.string() + ".part"));
}

TEST(Plot, ImageMapsBrightPixelsBrightAndDrawsMarkers) {
  ScopedTempDir dir(fs::temp_directory_path(), "plot-test");
  const int n = 64;
  std::vector<float> pix(n * n, 0.0f);
  pix[static_cast<std::size_t>(10 * n + 50)] = 1.0f;  // x=50, y=10 (y up)
  pix[static_cast<std::size_t>(0)] = NAN;
  ImageView v;
  v.pixels = pix.data();
  v.nx = v.ny = n;
  v.vmin = 0;
  v.vmax = 1;
  v.title = "test";
  v.colourbar_label = "Jy/beam";
  v.markers.push_back({20, 40, 5, Marker::Shape::kSquare, "#00ff00", "src"});
  v.beam_px = std::array<double, 3>{4, 2, 0.3};
  const fs::path png = dir.path() / "img.png";
  write_image_png(png, v, 600);
  Png img(png);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img.width(), 600);
  // Green marker strokes (antialiased, so "greenish"): inferno has no such colour.
  EXPECT_GT(img.count_if([](std::uint32_t c) {
    return ((c >> 8) & 0xff) > 180 && ((c >> 16) & 0xff) < 90 && (c & 0xff) < 90;
  }), 10);
  // The image area: 50 px margin, scale = (600 - 100 - 12 - 18 - 70) / 64 = 6.25 px per pixel;
  // there is a title (26 px). Pixel (50, 10) is bright, (30, 30) is the floor.
  const double scale = (600.0 - 100 - 12 - 18 - 70) / n;
  auto canvas = [&](double x, double y) {
    return std::pair{static_cast<int>(50 + (x + 0.5) * scale),
                     static_cast<int>(50 + 26 + n * scale - (y + 0.5) * scale)};
  };
  const auto [bx, by] = canvas(50, 10);
  const auto [fx, fy] = canvas(30, 30);
  auto lum = [](std::uint32_t c) { return ((c >> 16) & 0xff) + ((c >> 8) & 0xff) + (c & 0xff); };
  EXPECT_GT(lum(img.at(bx, by)), 600u);
  EXPECT_LT(lum(img.at(fx, fy)), 30u);
}

TEST(Plot, ErrorsNameThePathAndNoPartialFileIsLeft) {
  ScopedTempDir dir(fs::temp_directory_path(), "plot-test");
  Panel p;
  p.series.push_back({{0, 1}, {0, 1}, "", Series::Style::kLine});
  const fs::path bad = dir.path() / "missing-dir" / "x.png";
  try {
    write_panels_png(bad, {p});
    FAIL() << "expected IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("x.png"), std::string::npos);
  }
  EXPECT_THROW(write_panels_png(dir.path() / "y.png", {}), ConfigError);
  p.series[0].y.pop_back();
  EXPECT_THROW(write_panels_png(dir.path() / "z.png", {p}), ConfigError);
}

TEST(Plot, PercentileRangeIgnoresBlanks) {
  std::vector<float> v;
  for (int i = 0; i <= 100; ++i) v.push_back(static_cast<float>(i));
  v.push_back(NAN);
  const auto [lo, hi] = percentile_range(v.data(), v.size(), 1, 99);
  EXPECT_NEAR(lo, 1, 1e-9);
  EXPECT_NEAR(hi, 99, 1e-9);
}

}  // namespace
}  // namespace contimg::plot
