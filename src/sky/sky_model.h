#pragma once
// Sky models: point and elliptical Gaussian sources with power-law spectra.
// Stored as JSON (the simulator's truth file holds one).
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace contimg::sky {

struct Source {
  std::string name;
  double ra_rad = 0;   // ICRS
  double dec_rad = 0;
  double flux_jy = 0;  // Stokes I at ref_freq_hz
  double ref_freq_hz = 1.4e9;
  double spectral_index = 0;  // S ~ nu^alpha
  // When non-empty, the spectrum is the polynomial of the Perley & Butler
  // (2017, ApJS 230, 7) form: log10(S/Jy) = sum_i a_i [log10(nu/GHz)]^i, and
  // flux_jy/ref_freq_hz/spectral_index are informative only.
  std::vector<double> log_poly;
  // Gaussian shape (FWHM); zero for a point source.
  double major_fwhm_rad = 0;
  double minor_fwhm_rad = 0;
  double pa_rad = 0;  // east of north

  double flux_at(double freq_hz) const;
  bool is_point() const { return major_fwhm_rad <= 0; }
};

struct SkyModel {
  std::vector<Source> sources;
};

nlohmann::json to_json(const Source& s);
Source source_from_json(const nlohmann::json& j);  // throws InputError on bad fields
nlohmann::json to_json(const SkyModel& m);
SkyModel sky_model_from_json(const nlohmann::json& j);

}  // namespace contimg::sky
