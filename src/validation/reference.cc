#include "validation/reference.h"

#include <cmath>
#include <fstream>
#include <numbers>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "sky/primary_beam.h"
#include "sky/sky_model.h"

namespace contimg::validation {
namespace fs = std::filesystem;
namespace {
constexpr double kDeg = std::numbers::pi / 180;
}

std::vector<catalog::RefSource> load_reference(const fs::path& path, const ReferenceQuery& q) {
  if (!fs::exists(path)) throw InputError(fmt::format("{}: no such reference catalogue", path.string()));
  std::vector<catalog::RefSource> all;
  if (path.extension() == ".json") {
    std::ifstream in(path);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw InputError(fmt::format("{}: not JSON: {}", path.string(), e.what()));
    }
    // A truth file holds the sky model under "sky".
    sky::SkyModel model;
    try {
      model = sky::sky_model_from_json(j.contains("sky") ? j.at("sky") : j);
    } catch (const Error& e) {
      throw InputError(fmt::format("{}: {}", path.string(), e.what()));
    }
    for (const auto& s : model.sources) {
      catalog::RefSource r;
      r.name = s.name;
      r.ra_deg = s.ra_rad / kDeg;
      r.dec_deg = s.dec_rad / kDeg;
      r.flux_jy = s.flux_at(q.freq_hz);
      r.freq_hz = q.freq_hz;
      r.major_arcsec = s.major_fwhm_rad / kDeg * 3600;
      r.minor_arcsec = s.minor_fwhm_rad / kDeg * 3600;
      r.pa_deg = s.pa_rad / kDeg;
      all.push_back(r);
    }
    return all;  // already at the image frequency
  }
  if (catalog::is_sqlite_file(path)) {
    all = catalog::ReferenceStore(path, false).cone(q.ra_deg, q.dec_deg, q.radius_deg);
  } else {
    for (auto& s : catalog::read_nvss(path)) {
      if (sky::angular_distance(q.ra_deg * kDeg, q.dec_deg * kDeg, s.ra_deg * kDeg, s.dec_deg * kDeg) <=
          q.radius_deg * kDeg) {
        all.push_back(std::move(s));
      }
    }
  }
  for (auto& s : all) {
    const double scale = std::pow(q.freq_hz / s.freq_hz, q.spectral_index);
    s.flux_jy *= scale;
    s.flux_err_jy *= scale;
    s.freq_hz = q.freq_hz;
  }
  return all;
}

ReferenceQuery query_for_image(const fits::Image& image, double spectral_index) {
  ReferenceQuery q;
  q.spectral_index = spectral_index;
  if (!image.freq_hz) {
    throw InputError(fmt::format("{}: no frequency (CRVAL of a FREQ axis, RESTFRQ) in the header", image.path.string()));
  }
  q.freq_hz = *image.freq_hz;
  if (!image.wcs->pixel_to_world(image.nx / 2.0, image.ny / 2.0, q.ra_deg, q.dec_deg)) {
    throw InputError(fmt::format("{}: the image centre has no sky position", image.path.string()));
  }
  q.radius_deg = 0;
  for (double x : {0.0, image.nx - 1.0}) {
    for (double y : {0.0, image.ny - 1.0}) {
      double ra, dec;
      if (image.wcs->pixel_to_world(x, y, ra, dec)) {
        q.radius_deg = std::max(q.radius_deg, sky::angular_distance(q.ra_deg * kDeg, q.dec_deg * kDeg, ra * kDeg, dec * kDeg) / kDeg);
      } else {
        q.radius_deg = 90;  // a corner off the projection: be generous
      }
    }
  }
  q.radius_deg *= 1.01;
  return q;
}

std::vector<catalog::RefSource> in_footprint(const std::vector<catalog::RefSource>& refs, const fits::Image& image) {
  std::vector<catalog::RefSource> out;
  for (const auto& s : refs) {
    double x, y;
    if (!image.wcs->world_to_pixel(s.ra_deg, s.dec_deg, x, y)) continue;
    const long xi = std::lround(x), yi = std::lround(y);
    if (xi < 0 || yi < 0 || xi >= image.nx || yi >= image.ny) continue;
    if (!std::isfinite(image.at(static_cast<int>(xi), static_cast<int>(yi)))) continue;
    out.push_back(s);
  }
  return out;
}

}  // namespace contimg::validation
