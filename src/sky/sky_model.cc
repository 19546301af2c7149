#include "sky/sky_model.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace contimg::sky {
namespace {
constexpr double kDeg = M_PI / 180.0;
constexpr double kArcsec = kDeg / 3600.0;
}  // namespace

double Source::flux_at(double freq_hz) const {
  if (!log_poly.empty()) {
    const double x = std::log10(freq_hz / 1e9);
    double log_s = 0, xi = 1;
    for (double a : log_poly) {
      log_s += a * xi;
      xi *= x;
    }
    return std::pow(10.0, log_s);
  }
  return flux_jy * std::pow(freq_hz / ref_freq_hz, spectral_index);
}

// Angles are stored in degrees and arcseconds: what people write by hand.
nlohmann::json to_json(const Source& s) {
  nlohmann::json j = {{"name", s.name},
          {"ra_deg", s.ra_rad / kDeg},
          {"dec_deg", s.dec_rad / kDeg},
          {"flux_jy", s.flux_jy},
          {"ref_freq_hz", s.ref_freq_hz},
          {"spectral_index", s.spectral_index},
          {"major_fwhm_arcsec", s.major_fwhm_rad / kArcsec},
          {"minor_fwhm_arcsec", s.minor_fwhm_rad / kArcsec},
          {"pa_deg", s.pa_rad / kDeg}};
  if (!s.log_poly.empty()) j["log_poly"] = s.log_poly;
  return j;
}

Source source_from_json(const nlohmann::json& j) {
  try {
    Source s;
    s.name = j.value("name", std::string());
    s.ra_rad = j.at("ra_deg").get<double>() * kDeg;
    s.dec_rad = j.at("dec_deg").get<double>() * kDeg;
    s.flux_jy = j.at("flux_jy").get<double>();
    s.ref_freq_hz = j.value("ref_freq_hz", 1.4e9);
    s.spectral_index = j.value("spectral_index", 0.0);
    s.major_fwhm_rad = j.value("major_fwhm_arcsec", 0.0) * kArcsec;
    s.minor_fwhm_rad = j.value("minor_fwhm_arcsec", s.major_fwhm_rad / kArcsec) * kArcsec;
    s.pa_rad = j.value("pa_deg", 0.0) * kDeg;
    if (j.contains("log_poly")) s.log_poly = j.at("log_poly").get<std::vector<double>>();
    if (s.minor_fwhm_rad > s.major_fwhm_rad) std::swap(s.minor_fwhm_rad, s.major_fwhm_rad);
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw InputError("sky model source " + j.dump() + ": " + e.what());
  }
}

nlohmann::json to_json(const SkyModel& m) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& s : m.sources) arr.push_back(to_json(s));
  return {{"sources", arr}};
}

SkyModel sky_model_from_json(const nlohmann::json& j) {
  SkyModel m;
  if (!j.contains("sources") || !j["sources"].is_array()) {
    throw InputError("sky model: expected {\"sources\": [...]}");
  }
  for (const auto& s : j["sources"]) m.sources.push_back(source_from_json(s));
  return m;
}

}  // namespace contimg::sky
