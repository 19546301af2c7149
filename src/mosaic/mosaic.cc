#include "mosaic/mosaic.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::mosaic {
namespace {

constexpr double kDeg = std::numbers::pi / 180;
const double kFwhmToSigma2 = 1 / (8 * std::log(2.0));  // σ² = FWHM² / (8 ln 2)

struct Eig {
  double l1 = 0, l2 = 0;  // l1 >= l2
};
Eig eig(double a, double b, double c) {  // of [[a, b], [b, c]]
  const double m = (a + c) / 2, d = std::hypot((a - c) / 2, b);
  return {m + d, m - d};
}

double wrap180(double d) {
  while (d > 180) d -= 360;
  while (d < -180) d += 360;
  return d;
}

// d(east, north)/d(x, y) in degrees per pixel at pixel (x, y).
struct Jacobian {
  double ex = 0, ey = 0, nx = 0, ny = 0;
};
Jacobian jacobian(const fits::CelestialWcs& wcs, double x, double y, const std::string& what) {
  double r0, d0, r1, d1, r2, d2;
  if (!wcs.pixel_to_world(x, y, r0, d0) || !wcs.pixel_to_world(x + 1, y, r1, d1) ||
      !wcs.pixel_to_world(x, y + 1, r2, d2)) {
    throw InputError(fmt::format("{}: the WCS has no sky position at pixel ({}, {})", what, x, y));
  }
  const double c = std::cos(d0 * kDeg);
  return {wrap180(r1 - r0) * c, wrap180(r2 - r0) * c, d1 - d0, d2 - d0};
}

double beam_area(const fits::Beam& b) {
  return b.major_deg * b.minor_deg;
}

// Minimum over A of A·B(A) for beams rotated into the frame of angle theta
// (major along PA = theta): returns the area and the (A, B) that reach it.
struct Fit {
  double area = INFINITY, a = 0, b = 0;
};
Fit fit_at(std::span<const BeamCov> covs, double theta) {
  const double s = std::sin(theta), c = std::cos(theta);
  std::vector<double> p(covs.size()), q(covs.size()), r(covs.size());
  double pmax = 0, qmax = 0, lmax = 0;
  for (std::size_t i = 0; i < covs.size(); ++i) {
    const auto& k = covs[i];
    // u = (sin θ, cos θ), v = (cos θ, −sin θ) in (east, north).
    p[i] = s * s * k.ee + 2 * s * c * k.en + c * c * k.nn;
    q[i] = c * c * k.ee - 2 * s * c * k.en + s * s * k.nn;
    r[i] = s * c * k.ee + (c * c - s * s) * k.en - s * c * k.nn;
    pmax = std::max(pmax, p[i]);
    qmax = std::max(qmax, q[i]);
    lmax = std::max(lmax, eig(k.ee, k.en, k.nn).l1);
  }
  auto b_of = [&](double a) {
    double b = qmax;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (r[i] != 0) b = std::max(b, q[i] + r[i] * r[i] / (a - p[i]));
    }
    return b;
  };
  // A·B(A) is unimodal on (pmax, ∞): golden section on log A up to the
  // enclosing circle's bound (A·B ≤ lmax² needs A ≤ lmax² / qmax).
  double lo = std::log(pmax * (1 + 1e-12) + 1e-300);
  double hi = std::log(std::max(lmax * lmax / std::max(qmax, 1e-300), pmax) * 1.01 + 1e-300);
  const double g = (std::sqrt(5.0) - 1) / 2;
  auto f = [&](double la) { return std::exp(la) * b_of(std::exp(la)); };
  double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo), f1 = f(x1), f2 = f(x2);
  for (int it = 0; it < 80; ++it) {
    if (f1 < f2) {
      hi = x2, x2 = x1, f2 = f1, x1 = hi - g * (hi - lo), f1 = f(x1);
    } else {
      lo = x1, x1 = x2, f1 = f2, x2 = lo + g * (hi - lo), f2 = f(x2);
    }
  }
  const double a = std::exp((lo + hi) / 2);
  return {a * b_of(a), a, b_of(a)};
}

bool contains(const fits::Beam& outer, const fits::Beam& inner) {
  const auto o = to_cov(outer), i = to_cov(inner);
  const auto e = eig(o.ee - i.ee, o.en - i.en, o.nn - i.nn);
  return e.l2 >= -1e-9 * eig(o.ee, o.en, o.nn).l1;
}

float bilinear(std::span<const float> v, int nx, int ny, double x, double y) {
  if (!(x >= 0 && y >= 0 && x <= nx - 1 && y <= ny - 1)) return NAN;
  const int x0 = std::min(static_cast<int>(x), nx - 2 < 0 ? 0 : nx - 2);
  const int y0 = std::min(static_cast<int>(y), ny - 2 < 0 ? 0 : ny - 2);
  const int x1 = std::min(x0 + 1, nx - 1), y1 = std::min(y0 + 1, ny - 1);
  const double fx = x - x0, fy = y - y0;
  const auto at = [&](int xx, int yy) { return v[static_cast<std::size_t>(yy) * nx + xx]; };
  return static_cast<float>((1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x1, y0)) +
                            fy * ((1 - fx) * at(x0, y1) + fx * at(x1, y1)));
}

// Keys' cubic convolution (a = −0.5, Catmull-Rom): exact for quadratics and
// far less smoothing than bilinear (which broadens a 5-pixel beam enough to
// lose 1–3 % of a point source's peak). NaN when a 4×4 neighbour is blank or
// off the image; then the caller falls back to bilinear.
double keys(double t) {
  t = std::abs(t);
  if (t < 1) return (1.5 * t - 2.5) * t * t + 1;
  if (t < 2) return ((-0.5 * t + 2.5) * t - 4) * t + 2;
  return 0;
}

float bicubic(std::span<const float> v, int nx, int ny, double x, double y) {
  const int x0 = static_cast<int>(std::floor(x)), y0 = static_cast<int>(std::floor(y));
  if (x0 < 1 || y0 < 1 || x0 + 2 > nx - 1 || y0 + 2 > ny - 1) return NAN;
  double wx[4], wy[4];
  for (int i = 0; i < 4; ++i) {
    wx[i] = keys(x - (x0 - 1 + i));
    wy[i] = keys(y - (y0 - 1 + i));
  }
  double s = 0;
  for (int j = 0; j < 4; ++j) {
    const float* row = v.data() + static_cast<std::size_t>(y0 - 1 + j) * nx + (x0 - 1);
    double r = 0;
    for (int i = 0; i < 4; ++i) r += wx[i] * row[i];
    s += wy[j] * r;
  }
  return static_cast<float>(s);  // NaN propagates from a blank neighbour
}

}  // namespace

BeamCov to_cov(const fits::Beam& b) {
  const double t = b.pa_deg * kDeg, s = std::sin(t), c = std::cos(t);
  const double M = b.major_deg * b.major_deg, m = b.minor_deg * b.minor_deg;
  // Major along (sin PA, cos PA) in (east, north), minor along (cos PA, −sin PA).
  return {M * s * s + m * c * c, (M - m) * s * c, M * c * c + m * s * s};
}

fits::Beam from_cov(const BeamCov& c) {
  const auto e = eig(c.ee, c.en, c.nn);
  fits::Beam b;
  b.major_deg = std::sqrt(std::max(e.l1, 0.0));
  b.minor_deg = std::sqrt(std::max(e.l2, 0.0));
  double pa = 0.5 * std::atan2(2 * c.en, c.nn - c.ee) / kDeg;
  if (pa < -90 + 1e-12) pa += 180;
  if (pa > 90) pa -= 180;
  b.pa_deg = pa;
  return b;
}

fits::Beam deconvolve(const fits::Beam& to, const fits::Beam& from, const std::string& what) {
  const auto t = to_cov(to), f = to_cov(from);
  BeamCov k{t.ee - f.ee, t.en - f.en, t.nn - f.nn};
  const auto e = eig(k.ee, k.en, k.nn);
  const double scale = eig(t.ee, t.en, t.nn).l1;
  if (e.l2 < -1e-6 * scale) {
    throw InputError(fmt::format(
        "{}: its beam {:.2f}\" x {:.2f}\" PA {:.1f} does not fit inside the common beam {:.2f}\" x "
        "{:.2f}\" PA {:.1f} (cannot convolve to a smaller beam)",
        what, from.major_deg * 3600, from.minor_deg * 3600, from.pa_deg, to.major_deg * 3600,
        to.minor_deg * 3600, to.pa_deg));
  }
  if (e.l1 <= 1e-12 * scale) return {};
  auto b = from_cov(k);
  if (e.l2 <= 1e-12 * scale) b.minor_deg = 0;
  return b;
}

fits::Beam common_beam(std::span<const fits::Beam> beams) {
  if (beams.empty()) throw InputError("common beam of no image");
  // One of the beams when it contains all the others (the common case of
  // equal beams, exactly).
  std::optional<fits::Beam> best;
  for (const auto& b : beams) {
    if (std::all_of(beams.begin(), beams.end(), [&](const auto& o) { return contains(b, o); }) &&
        (!best || beam_area(b) < beam_area(*best))) {
      best = b;
    }
  }
  if (best) return *best;
  std::vector<BeamCov> covs;
  for (const auto& b : beams) covs.push_back(to_cov(b));
  // Coarse scan of the orientation, then golden refinement about the best.
  Fit f;
  double theta = 0;
  for (int i = 0; i < 360; ++i) {
    const double t = i * std::numbers::pi / 360;
    const auto fi = fit_at(covs, t);
    if (fi.area < f.area) f = fi, theta = t;
  }
  double lo = theta - std::numbers::pi / 360, hi = theta + std::numbers::pi / 360;
  for (int it = 0; it < 40; ++it) {
    const double m1 = lo + (hi - lo) / 3, m2 = hi - (hi - lo) / 3;
    if (fit_at(covs, m1).area < fit_at(covs, m2).area) {
      hi = m2;
    } else {
      lo = m1;
    }
  }
  theta = (lo + hi) / 2;
  f = fit_at(covs, theta);
  // A hair larger so that deconvolving every input stays well defined.
  fits::Beam out{std::sqrt(f.a) * (1 + 1e-9), std::sqrt(f.b) * (1 + 1e-9), theta / kDeg};
  if (out.minor_deg > out.major_deg) {
    std::swap(out.major_deg, out.minor_deg);
    out.pa_deg += 90;
  }
  while (out.pa_deg > 90) out.pa_deg -= 180;
  return out;
}

std::vector<float> convolve_to_beam(std::span<const float> pixels, int nx, int ny,
                                    const fits::CelestialWcs& wcs, const fits::Beam& from,
                                    const fits::Beam& to, double radius_sigma,
                                    const std::string& what, fits::Beam* kernel_out) {
  if (pixels.size() != static_cast<std::size_t>(nx) * ny) {
    throw InputError(fmt::format("{}: {} pixels for a {} x {} image", what, pixels.size(), nx, ny));
  }
  const auto k = deconvolve(to, from, what);
  if (kernel_out) *kernel_out = k;
  const double flux_scale = beam_area(to) / beam_area(from);
  std::vector<float> out(pixels.begin(), pixels.end());
  if (k.major_deg == 0) {
    for (auto& v : out) v = static_cast<float>(v * flux_scale);
    return out;
  }
  // Kernel covariance in pixels: Σ_pix = J⁻¹ Σ_EN J⁻ᵀ, σ² = FWHM² / (8 ln 2).
  const auto j = jacobian(wcs, nx / 2.0, ny / 2.0, what);
  const double det = j.ex * j.ny - j.ey * j.nx;
  const double i00 = j.ny / det, i01 = -j.ey / det, i10 = -j.nx / det, i11 = j.ex / det;
  const auto c = to_cov(k);
  const double t00 = i00 * c.ee + i01 * c.en, t01 = i00 * c.en + i01 * c.nn;
  const double t10 = i10 * c.ee + i11 * c.en, t11 = i10 * c.en + i11 * c.nn;
  double sxx = (t00 * i00 + t01 * i01) * kFwhmToSigma2;
  double sxy = (t00 * i10 + t01 * i11) * kFwhmToSigma2;
  double syy = (t10 * i10 + t11 * i11) * kFwhmToSigma2;
  // A kernel axis narrower than 0.4 pixel (σ) cannot be sampled: widen it to
  // that (the output beam is then wider than stated by < 1 pixel² of σ²).
  const auto e = eig(sxx, sxy, syy);
  const double floor2 = 0.16;
  if (e.l2 < floor2) {
    const double th = 0.5 * std::atan2(2 * sxy, sxx - syy);  // major-axis angle from +x
    const double l1 = std::max(e.l1, floor2), l2 = floor2, cs = std::cos(th), sn = std::sin(th);
    sxx = l1 * cs * cs + l2 * sn * sn;
    syy = l1 * sn * sn + l2 * cs * cs;
    sxy = (l1 - l2) * sn * cs;
  }
  const double d = sxx * syy - sxy * sxy;
  const double pxx = syy / d, pyy = sxx / d, pxy = -sxy / d;
  const int rx = static_cast<int>(std::ceil(radius_sigma * std::sqrt(sxx)));
  const int ry = static_cast<int>(std::ceil(radius_sigma * std::sqrt(syy)));
  const int kw = 2 * rx + 1;
  std::vector<double> ker(static_cast<std::size_t>(kw) * (2 * ry + 1));
  double ksum = 0;
  for (int dy = -ry; dy <= ry; ++dy) {
    for (int dx = -rx; dx <= rx; ++dx) {
      const double q = pxx * dx * dx + 2 * pxy * dx * dy + pyy * dy * dy;
      const double v = q > radius_sigma * radius_sigma ? 0 : std::exp(-0.5 * q);
      ker[static_cast<std::size_t>(dy + ry) * kw + dx + rx] = v;
      ksum += v;
    }
  }
  for (int y = 0; y < ny; ++y) {
    for (int x = 0; x < nx; ++x) {
      auto& o = out[static_cast<std::size_t>(y) * nx + x];
      if (std::isnan(pixels[static_cast<std::size_t>(y) * nx + x])) continue;
      double s = 0, w = 0;
      for (int dy = std::max(-ry, -y); dy <= std::min(ry, ny - 1 - y); ++dy) {
        const float* row = pixels.data() + static_cast<std::size_t>(y + dy) * nx;
        const double* krow = ker.data() + static_cast<std::size_t>(dy + ry) * kw + rx;
        for (int dx = std::max(-rx, -x); dx <= std::min(rx, nx - 1 - x); ++dx) {
          const float v = row[x + dx];
          if (std::isnan(v)) continue;
          s += krow[dx] * v;
          w += krow[dx];
        }
      }
      // Renormalised over the finite pixels (w == ksum away from blanks).
      o = static_cast<float>(w > 0 ? s / w * flux_scale : NAN);
    }
  }
  (void)ksum;
  return out;
}

fits::ImageSpec common_grid(std::span<const Input> inputs, double cell_deg) {
  if (inputs.empty()) throw InputError("a mosaic of no image");
  double sx = 0, sy = 0, sz = 0, cell = cell_deg;
  for (const auto& in : inputs) {
    double ra, dec;
    if (!in.wcs->pixel_to_world(in.nx / 2.0, in.ny / 2.0, ra, dec)) {
      throw InputError(fmt::format("{}: no sky position at the image centre", in.name));
    }
    sx += std::cos(dec * kDeg) * std::cos(ra * kDeg);
    sy += std::cos(dec * kDeg) * std::sin(ra * kDeg);
    sz += std::sin(dec * kDeg);
    if (cell_deg <= 0) {
      const double c = in.wcs->pixel_scale_deg(in.nx / 2.0, in.ny / 2.0);
      cell = cell > 0 ? std::min(cell, c) : c;
    }
  }
  fits::ImageSpec g;
  g.ra0_deg = std::atan2(sy, sx) / kDeg;
  if (g.ra0_deg < 0) g.ra0_deg += 360;
  g.dec0_deg = std::atan2(sz, std::hypot(sx, sy)) / kDeg;
  // The WCS-derived scale carries ~1e-9 relative noise: round to 1 µas.
  g.cell_deg = cell_deg > 0 ? cell : std::round(cell * 3.6e9) / 3.6e9;
  // Extent: every input's border pixels in a provisional grid's pixel frame.
  g.nx = g.ny = 2;
  const auto probe = fits::wcs_of(g);
  double hx = 0, hy = 0;
  for (const auto& in : inputs) {
    const int step = std::max(1, std::max(in.nx, in.ny) / 64);
    auto visit = [&](int x, int y) {
      double ra, dec, px, py;
      if (!in.wcs->pixel_to_world(x, y, ra, dec) || !probe.world_to_pixel(ra, dec, px, py)) return;
      hx = std::max(hx, std::abs(px - 1));
      hy = std::max(hy, std::abs(py - 1));
    };
    for (int x = 0; x < in.nx; x += step) visit(x, 0), visit(x, in.ny - 1);
    for (int y = 0; y < in.ny; y += step) visit(0, y), visit(in.nx - 1, y);
    visit(in.nx - 1, in.ny - 1);
  }
  const long half_x = static_cast<long>(std::ceil(hx)), half_y = static_cast<long>(std::ceil(hy));
  if (half_x > 20000 || half_y > 20000) {
    throw InputError(
        fmt::format("a mosaic grid of {} x {} pixels of {:.2f}\" (the inputs are too far apart or "
                    "the cell too small)",
                    2 * half_x + 2, 2 * half_y + 2, cell * 3600));
  }
  g.nx = static_cast<int>(2 * half_x + 2);
  g.ny = static_cast<int>(2 * half_y + 2);
  return g;
}

Result make_mosaic(std::span<const Input> inputs, const Options& o, const Progress& progress) {
  if (inputs.empty()) throw InputError("a mosaic of no image");
  for (const auto& in : inputs) {
    const auto n = static_cast<std::size_t>(in.nx) * in.ny;
    if (!in.wcs || in.apparent.size() != n || in.pb.size() != n) {
      throw InputError(fmt::format("{}: image, primary beam and WCS do not match ({} x {})",
                                   in.name, in.nx, in.ny));
    }
    if (in.beam.major_deg <= 0 || in.beam.minor_deg <= 0) {
      throw InputError(fmt::format("{}: no restoring beam (BMAJ/BMIN)", in.name));
    }
  }
  Result r;
  std::vector<fits::Beam> beams;
  for (const auto& in : inputs) beams.push_back(in.beam);
  const fits::Beam beam = o.beam ? *o.beam : common_beam(beams);
  r.grid = common_grid(inputs, o.cell_deg);
  r.grid.beam = beam;
  const auto gw = fits::wcs_of(r.grid);
  const std::size_t npix = static_cast<std::size_t>(r.grid.nx) * r.grid.ny;
  std::vector<double> ra(npix, NAN), dec(npix, NAN);
  for (int y = 0; y < r.grid.ny; ++y) {
    for (int x = 0; x < r.grid.nx; ++x) {
      const auto k = static_cast<std::size_t>(y) * r.grid.nx + x;
      if (!gw.pixel_to_world(x, y, ra[k], dec[k])) ra[k] = dec[k] = NAN;
    }
  }
  std::vector<double> num(npix, 0), den(npix, 0);
  const std::size_t total = 2 * inputs.size();
  std::size_t done = 0;
  for (const auto& in : inputs) {
    if (progress) progress(done, total, "convolving " + in.name);
    fits::Beam kernel;
    const auto conv = convolve_to_beam(in.apparent, in.nx, in.ny, *in.wcs, in.beam, beam,
                                       o.kernel_radius_sigma, in.name, &kernel);
    r.kernels.push_back(kernel);
    double sigma = 0;
    if (in.sigma_jy) {
      sigma = *in.sigma_jy;
    } else {
      validation::BackgroundOptions bo = o.noise;
      bo.box = std::max(3, std::min(bo.box, std::min(in.nx, in.ny) / 2));
      bo.step = std::max(1, std::min(bo.step, bo.box / 4));
      const auto maps = validation::estimate_background(conv.data(), in.nx, in.ny, bo);
      std::vector<float> rms;
      for (float v : maps.rms) {
        if (std::isfinite(v)) rms.push_back(v);
      }
      if (rms.empty()) throw InputError(fmt::format("{}: no finite pixel for the noise", in.name));
      std::nth_element(rms.begin(), rms.begin() + rms.size() / 2, rms.end());
      sigma = rms[rms.size() / 2];
    }
    if (!(sigma > 0))
      throw InputError(fmt::format("{}: noise {} Jy/beam is not positive", in.name, sigma));
    r.sigma_jy.push_back(sigma);
    ++done;
    if (progress) progress(done, total, "reprojecting " + in.name);
    const double w = 1 / (sigma * sigma);
    for (std::size_t k = 0; k < npix; ++k) {
      if (std::isnan(ra[k])) continue;
      double px, py;
      if (!in.wcs->world_to_pixel(ra[k], dec[k], px, py)) continue;
      if (!(px >= 0 && py >= 0 && px <= in.nx - 1 && py <= in.ny - 1)) continue;
      const float a = bilinear(in.pb, in.nx, in.ny, px, py);
      if (!(a >= o.pb_cutoff)) continue;
      float v = bicubic(conv, in.nx, in.ny, px, py);
      if (std::isnan(v)) v = bilinear(conv, in.nx, in.ny, px, py);  // at a border or a blank
      if (std::isnan(v)) continue;                                  // a blank neighbour: no value
      num[k] += w * a * v;
      den[k] += w * a * a;
    }
    ++done;
  }
  if (progress) progress(done, total, "done");
  r.image.assign(npix, NAN);
  r.weight.assign(npix, NAN);
  r.noise.assign(npix, NAN);
  for (std::size_t k = 0; k < npix; ++k) {
    if (den[k] <= 0) continue;
    r.image[k] = static_cast<float>(num[k] / den[k]);
    r.weight[k] = static_cast<float>(den[k]);
    r.noise[k] = static_cast<float>(1 / std::sqrt(den[k]));
  }
  return r;
}

}  // namespace contimg::mosaic
