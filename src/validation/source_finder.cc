#include "validation/source_finder.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <numbers>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "common/error.h"
#include "common/parallel.h"

namespace contimg::validation {
namespace {

const double kFwhmPerSigma = std::sqrt(8 * std::log(2.0));
constexpr double kPi = std::numbers::pi;

}  // namespace

std::vector<Island> find_islands(const std::vector<float>& snr, int nx, int ny, double detect_sigma,
                                 double island_sigma) {
  std::vector<Island> out;
  std::vector<char> seen(snr.size(), 0);
  std::deque<int> queue;
  for (int k = 0; k < nx * ny; ++k) {
    if (seen[k] || !(snr[k] >= detect_sigma)) continue;
    Island isl;
    isl.id = static_cast<int>(out.size());
    seen[k] = 1;
    queue.push_back(k);
    while (!queue.empty()) {
      const int p = queue.front();
      queue.pop_front();
      isl.pixels.push_back(p);
      isl.peak_snr = std::max(isl.peak_snr, snr[p]);
      const int px = p % nx, py = p / nx;
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int qx = px + dx, qy = py + dy;
          if ((dx == 0 && dy == 0) || qx < 0 || qy < 0 || qx >= nx || qy >= ny) continue;
          const int q = qy * nx + qx;
          if (!seen[q] && snr[q] >= island_sigma) {
            seen[q] = 1;
            queue.push_back(q);
          }
        }
      }
    }
    std::sort(isl.pixels.begin(), isl.pixels.end());
    out.push_back(std::move(isl));
  }
  return out;
}

void condon_errors(PixelComponent& c, double beam_major_fwhm, double beam_minor_fwhm) {
  const auto& g = c.g;
  const double tM = g.sigma_major * kFwhmPerSigma, tm = g.sigma_minor * kFwhmPerSigma;
  const double tN2 = beam_major_fwhm * beam_minor_fwhm;  // noise correlation FWHM^2
  const double snr2 = (g.amp / c.local_rms) * (g.amp / c.local_rms);
  // Condon (1997) eq. 41: rho^2 with exponents (alpha_M, alpha_m).
  auto rho = [&](double aM, double am) {
    return std::sqrt(tM * tm / (4 * tN2) * std::pow(1 + tN2 / (tM * tM), aM) *
                     std::pow(1 + tN2 / (tm * tm), am) * snr2);
  };
  const double r_amp = rho(1.5, 1.5), r_maj = rho(2.5, 0.5), r_min = rho(0.5, 2.5);
  // Eq. 21: mu^2(A)/A^2 = mu^2(sigma_x)/sigma_x^2 = 2/rho^2, mu^2(x0) = 2 sigma_x^2/rho^2, and
  // mu^2(phi) = 2/rho^2 (sigma_x sigma_y / (sigma_x^2 - sigma_y^2))^2, each with its own rho.
  c.err_amp = g.amp * std::sqrt(2.0) / r_amp;
  c.err_major_axis_pos = g.sigma_major * std::sqrt(2.0) / r_maj;
  c.err_minor_axis_pos = g.sigma_minor * std::sqrt(2.0) / r_min;
  c.err_fwhm_major = tM * std::sqrt(2.0) / r_maj;
  c.err_fwhm_minor = tm * std::sqrt(2.0) / r_min;
  const double ell = tM * tM - tm * tm;
  c.err_theta = ell > 0 ? std::min(kPi / 2, std::sqrt(2.0) / r_min * tM * tm / ell) : kPi / 2;
}

PixelCatalogue find_components(const std::vector<float>& pixels, int nx, int ny,
                               const PixelBeam& beam, const FinderOptions& o, const std::vector<float>* pb) {
  if (beam.sigma_major <= 0 || beam.sigma_minor <= 0) {
    throw InputError("source finding needs a restoring beam with positive axes");
  }
  if (o.island_sigma > o.detect_sigma) {
    throw ConfigError(fmt::format("validation.island_sigma ({}) must not exceed validation.detect_sigma ({})",
                                  o.island_sigma, o.detect_sigma));
  }
  PixelCatalogue cat;
  const double beam_major_fwhm = beam.sigma_major * kFwhmPerSigma;
  const double beam_minor_fwhm = beam.sigma_minor * kFwhmPerSigma;
  BackgroundOptions bo;
  bo.box = std::clamp(static_cast<int>(std::lround(o.box_beams * beam_major_fwhm)), 20,
                      std::max(20, std::max(nx, ny)));
  bo.step = std::max(1, static_cast<int>(std::lround(bo.box * o.step_fraction)));
  bo.threads = o.threads;
  if (pb == nullptr) {
    cat.maps = estimate_background(pixels.data(), nx, ny, bo);
  } else {
    if (pb->size() != pixels.size()) {
      throw InputError(fmt::format("primary beam has {} pixels, the image {}", pb->size(), pixels.size()));
    }
    std::vector<float> flat(pixels.size());
    for (std::size_t k = 0; k < pixels.size(); ++k) flat[k] = pixels[k] * (*pb)[k];  // NaN stays NaN
    cat.maps = estimate_background(flat.data(), nx, ny, bo);
    for (std::size_t k = 0; k < pixels.size(); ++k) {
      cat.maps.background[k] /= (*pb)[k];
      cat.maps.rms[k] /= (*pb)[k];
    }
  }

  std::vector<float> snr(pixels.size());
  for (std::size_t k = 0; k < pixels.size(); ++k) {
    snr[k] = (pixels[k] - cat.maps.background[k]) / cat.maps.rms[k];  // NaN stays NaN
  }
  cat.islands = find_islands(snr, nx, ny, o.detect_sigma, o.island_sigma);

  // One work item per island: each fills its own slot, concatenated in island
  // order below, so the catalogue does not depend on the thread count.
  std::vector<std::vector<PixelComponent>> per_island(cat.islands.size());
  parallel_for(cat.islands.size(), o.threads, [&](std::size_t n_isl, std::size_t) {
    const Island& isl = cat.islands[n_isl];
    std::vector<FitPixel> fp;
    int x_lo = nx, x_hi = 0, y_lo = ny, y_hi = 0;
    for (int p : isl.pixels) {
      const int x = p % nx, y = p / nx;
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
      const double rms = cat.maps.rms[p];
      fp.push_back({double(x), double(y), pixels[p] - cat.maps.background[p], 1 / (rms * rms)});
    }
    // Seeds: local maxima above detect_sigma, brightest first, at least a beam apart.
    std::vector<int> maxima;
    for (int p : isl.pixels) {
      if (!(snr[p] >= o.detect_sigma)) continue;
      const int x = p % nx, y = p / nx;
      bool is_max = true;
      for (int dy = -1; dy <= 1 && is_max; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int qx = x + dx, qy = y + dy;
          if ((dx || dy) && qx >= 0 && qy >= 0 && qx < nx && qy < ny && snr[qy * nx + qx] > snr[p]) {
            is_max = false;
            break;
          }
        }
      }
      if (is_max) maxima.push_back(p);
    }
    std::sort(maxima.begin(), maxima.end(), [&](int a, int b) { return snr[a] > snr[b]; });
    std::vector<Gaussian2D> init;
    for (int p : maxima) {
      if (static_cast<int>(init.size()) >= o.max_components) break;
      const double x = p % nx, y = p / nx;
      const bool separate = std::all_of(init.begin(), init.end(), [&](const Gaussian2D& g) {
        return std::hypot(g.x0 - x, g.y0 - y) > beam_major_fwhm;
      });
      if (!separate) continue;
      init.push_back({pixels[p] - cat.maps.background[p], x, y, beam.sigma_major, beam.sigma_minor, beam.theta});
    }
    FitBounds bounds;
    bounds.min_sigma_major = beam.sigma_major;
    bounds.min_sigma_minor = beam.sigma_minor;
    bounds.x_min = x_lo - 1.0, bounds.x_max = x_hi + 1.0, bounds.y_min = y_lo - 1.0, bounds.y_max = y_hi + 1.0;
    auto fit = fit_gaussians(fp, init, bounds);
    for (std::size_t k = 0; k < init.size(); ++k) {
      PixelComponent c;
      c.island = isl.id;
      c.g = fit.components[k];
      c.fit_converged = fit.converged;
      const bool finite = std::isfinite(c.g.amp) && std::isfinite(c.g.x0) && std::isfinite(c.g.y0) &&
                          std::isfinite(c.g.sigma_major) && std::isfinite(c.g.sigma_minor) && c.g.amp > 0;
      if (!finite) {
        c.g = init[k];
        c.fit_converged = false;
      }
      const int xi = std::clamp(static_cast<int>(std::lround(c.g.x0)), 0, nx - 1);
      const int yi = std::clamp(static_cast<int>(std::lround(c.g.y0)), 0, ny - 1);
      c.local_rms = cat.maps.rms[static_cast<std::size_t>(yi) * nx + xi];
      if (!std::isfinite(c.local_rms)) c.local_rms = cat.maps.rms[static_cast<std::size_t>(init[k].y0) * nx + static_cast<std::size_t>(init[k].x0)];
      // A component is detected when its fitted peak, not just one noise-boosted
      // pixel of it, reaches the threshold (docs/validation.md, false detections).
      if (c.g.amp / c.local_rms < o.detect_sigma) continue;
      condon_errors(c, beam_major_fwhm, beam_minor_fwhm);
      per_island[n_isl].push_back(c);
    }
  });
  for (auto& comps : per_island) cat.components.insert(cat.components.end(), comps.begin(), comps.end());
  return cat;
}

PixelBeam pixel_beam(const fits::Image& image, double* parity_out) {
  if (!image.beam) {
    throw InputError(fmt::format("{}: no restoring beam (BMAJ/BMIN) in the header", image.path.string()));
  }
  const auto& wcs = *image.wcs;
  const double cx = image.nx / 2.0, cy = image.ny / 2.0;
  const double scale_deg = wcs.pixel_scale_deg(cx, cy);
  const double north = wcs.north_angle_rad(cx, cy);
  // Parity: +1 when east lies 90 deg from north towards -x (the usual sky-view image).
  double ra0, dec0, xe, ye;
  wcs.pixel_to_world(cx, cy, ra0, dec0);
  wcs.world_to_pixel(ra0 + scale_deg / std::max(1e-6, std::cos(dec0 * kPi / 180)), dec0, xe, ye);
  const double east = std::atan2(-(xe - cx), ye - cy);
  const double parity = std::remainder(east - north, 2 * kPi) > 0 ? 1.0 : -1.0;
  if (parity_out) *parity_out = parity;

  PixelBeam pb;
  pb.sigma_major = image.beam->major_deg / scale_deg / kFwhmPerSigma;
  pb.sigma_minor = image.beam->minor_deg / scale_deg / kFwhmPerSigma;
  pb.theta = north + parity * image.beam->pa_deg * kPi / 180;
  return pb;
}

SourceFinderResult find_sources(const fits::Image& image, const FinderOptions& o, const fits::Image* beam_map) {
  if (!image.beam) {
    throw InputError(fmt::format("{}: no restoring beam (BMAJ/BMIN) in the header", image.path.string()));
  }
  if (beam_map && (beam_map->nx != image.nx || beam_map->ny != image.ny)) {
    throw InputError(fmt::format("{}: primary beam {}x{} px does not match the image {} ({}x{} px)",
                                 beam_map->path.string(), beam_map->nx, beam_map->ny, image.path.string(), image.nx, image.ny));
  }
  const auto& wcs = *image.wcs;
  double parity = 1;
  const PixelBeam pb = pixel_beam(image, &parity);

  SourceFinderResult r;
  r.pixel = find_components(image.pixels, image.nx, image.ny, pb, o, beam_map ? &beam_map->pixels : nullptr);
  const double beam_ratio = 1 / (pb.sigma_major * pb.sigma_minor);
  int last_island = -1, comp = 0;
  for (const auto& c : r.pixel.components) {
    Detection d;
    d.island = c.island;
    comp = c.island == last_island ? comp + 1 : 0;
    last_island = c.island;
    d.component = comp;
    d.x = c.g.x0;
    d.y = c.g.y0;
    if (!wcs.pixel_to_world(d.x, d.y, d.ra_deg, d.dec_deg)) continue;
    const double px_arcsec = wcs.pixel_scale_deg(d.x, d.y) * 3600;
    const double pa = std::remainder(parity * (c.g.theta - wcs.north_angle_rad(d.x, d.y)), kPi);
    d.pa_deg = (pa < 0 ? pa + kPi : pa) * 180 / kPi;
    d.pa_err_deg = c.err_theta * 180 / kPi;
    d.major_arcsec = c.g.sigma_major * kFwhmPerSigma * px_arcsec;
    d.minor_arcsec = c.g.sigma_minor * kFwhmPerSigma * px_arcsec;
    d.major_err_arcsec = c.err_fwhm_major * px_arcsec;
    d.minor_err_arcsec = c.err_fwhm_minor * px_arcsec;
    // Position errors along the axes, projected on RA and Dec (Condon 1997 §5).
    const double s = std::sin(pa), co = std::cos(pa);
    const double emaj = c.err_major_axis_pos * px_arcsec, emin = c.err_minor_axis_pos * px_arcsec;
    d.ra_err_arcsec = std::sqrt(emaj * emaj * s * s + emin * emin * co * co);
    d.dec_err_arcsec = std::sqrt(emaj * emaj * co * co + emin * emin * s * s);
    d.peak_jy = c.g.amp;
    d.peak_err_jy = c.err_amp;
    // Integrated flux S = A theta_M theta_m / (b_maj b_min); Condon (1997) eq. 42 for its error.
    const double ratio = c.g.sigma_major * c.g.sigma_minor * beam_ratio;
    d.flux_jy = c.g.amp * ratio;
    const double tM = c.g.sigma_major * kFwhmPerSigma, tm = c.g.sigma_minor * kFwhmPerSigma;
    const double rel2 = (c.err_amp / c.g.amp) * (c.err_amp / c.g.amp) +
                        (1 / ratio) * ((c.err_fwhm_major / tM) * (c.err_fwhm_major / tM) +
                                       (c.err_fwhm_minor / tm) * (c.err_fwhm_minor / tm));
    d.flux_err_jy = d.flux_jy * std::sqrt(rel2);
    d.local_rms_jy = c.local_rms;
    d.snr = c.g.amp / c.local_rms;
    d.fit_converged = c.fit_converged;
    r.detections.push_back(d);
  }
  return r;
}

namespace {
// What identifies a find_sources call's result.
struct FinderKey {
  std::size_t pixels = 0, pb_pixels = 0;  // hashes of the pixel bytes
  int nx = 0, ny = 0;
  std::map<std::string, std::string> header, pb_header;
  double detect_sigma = 0, island_sigma = 0, box_beams = 0, step_fraction = 0;
  int max_components = 0;
  bool operator==(const FinderKey&) const = default;
};

std::size_t hash_pixels(const std::vector<float>& p) {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(p.data()), p.size() * sizeof(float)));
}

FinderKey key_of(const fits::Image& image, const FinderOptions& o, const fits::Image* pb) {
  FinderKey k;
  k.pixels = hash_pixels(image.pixels);
  k.nx = image.nx;
  k.ny = image.ny;
  k.header = image.keys;
  if (pb) {
    k.pb_pixels = hash_pixels(pb->pixels);
    k.pb_header = pb->keys;
  }
  k.detect_sigma = o.detect_sigma;
  k.island_sigma = o.island_sigma;
  k.box_beams = o.box_beams;
  k.step_fraction = o.step_fraction;
  k.max_components = o.max_components;
  return k;
}

std::mutex shared_mutex;
std::optional<std::pair<FinderKey, std::shared_ptr<const SourceFinderResult>>> shared_result;
}  // namespace

std::shared_ptr<const SourceFinderResult> find_sources_shared(const fits::Image& image,
                                                              const FinderOptions& o,
                                                              const fits::Image* beam_map,
                                                              bool keep) {
  FinderKey key = key_of(image, o, beam_map);
  {
    const std::lock_guard<std::mutex> lock(shared_mutex);
    if (shared_result && shared_result->first == key) {
      auto r = std::move(shared_result->second);
      shared_result.reset();
      return r;
    }
  }
  auto r = std::make_shared<const SourceFinderResult>(find_sources(image, o, beam_map));
  if (keep) {
    const std::lock_guard<std::mutex> lock(shared_mutex);
    shared_result.emplace(std::move(key), r);
  }
  return r;
}

}  // namespace contimg::validation
