#include "io/uvh5/uvh5_header.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace contimg::uvh5 {

const char* to_string(Layout l) { return l == Layout::kV1 ? "uvh5-1.x" : "legacy"; }

const char* to_string(VisType t) {
  switch (t) {
    case VisType::kFloat32: return "complex-float32";
    case VisType::kFloat64: return "complex-float64";
    case VisType::kInt32: return "complex-int32";
  }
  return "?";
}

std::optional<double> Uvh5Header::pointing_dec_rad() const {
  if (auto it = extra_keywords.find("phase_center_dec");
      it != extra_keywords.end() && it->is_number()) {
    return it->get<double>();
  }
  constexpr double kDeg = std::numbers::pi / 180.0;
  if (phase_centers.size() == 1) {
    const auto& pc = phase_centers.front();
    // A zenith drift (unprojected, alt-az at the pole) points at the latitude.
    if (pc.type == "unprojected" || pc.type == "driftscan") {
      if (pc.frame == "altaz" && std::abs(pc.lat_rad - std::numbers::pi / 2) < 1e-9) {
        return latitude_deg * kDeg;
      }
      return std::nullopt;
    }
    return pc.lat_rad;
  }
  // Old-style "drift" files without a declared Dec are zenith drifts.
  if (layout == Layout::kLegacy && phase_type == "drift") return latitude_deg * kDeg;
  return std::nullopt;
}

double Uvh5Header::freq_min_hz() const {
  return freq_hz.empty() ? 0 : *std::min_element(freq_hz.begin(), freq_hz.end());
}

double Uvh5Header::freq_max_hz() const {
  return freq_hz.empty() ? 0 : *std::max_element(freq_hz.begin(), freq_hz.end());
}

std::uint64_t Uvh5Header::bytes_per_row() const {
  return static_cast<std::uint64_t>(nfreqs * npols) * (8 + 1 + 4);
}

namespace {

nlohmann::json layout_json(const DatasetLayout& l) {
  return {{"shape", l.shape},
          {"chunks", l.chunks},
          {"filters", l.filters},
          {"storage_bytes", l.storage_bytes}};
}

template <typename V>
nlohmann::json array_or_shape(const V& v, bool with_arrays) {
  if (with_arrays) return v;
  return nlohmann::json{{"shape", {v.size()}}};
}

}  // namespace

nlohmann::json to_json(const Uvh5Header& h, bool with_arrays) {
  nlohmann::json j;
  j["path"] = h.path.string();
  j["file_bytes"] = h.file_bytes;
  j["layout"] = to_string(h.layout);
  j["version"] = h.version;
  j["latitude"] = h.latitude_deg;
  j["longitude"] = h.longitude_deg;
  j["altitude"] = h.altitude_m;
  j["telescope_name"] = h.telescope_name;
  j["instrument"] = h.instrument;
  j["object_name"] = h.object_name;
  j["history"] = h.history;
  j["phase_type"] = h.phase_type;
  j["vis_units"] = h.vis_units;
  j["x_orientation"] = h.x_orientation;
  j["Nants_data"] = h.nants_data;
  j["Nants_telescope"] = h.nants_telescope;
  j["Nbls"] = h.nbls;
  j["Nblts"] = h.nblts;
  j["Nfreqs"] = h.nfreqs;
  j["Npols"] = h.npols;
  j["Nspws"] = h.nspws;
  j["Ntimes"] = h.ntimes;
  j["Nphase"] = h.nphase;
  j["freq_array"] = h.freq_hz;
  j["channel_width"] = h.channel_width_scalar ? nlohmann::json(h.channel_width_hz.at(0))
                                              : nlohmann::json(h.channel_width_hz);
  j["spw_array"] = h.spw;
  j["flex_spw_id_array"] = h.flex_spw_id;
  j["polarization_array"] = h.polarization;
  j["extra_keywords"] = h.extra_keywords;
  nlohmann::json pcs = nlohmann::json::array();
  for (const auto& pc : h.phase_centers) {
    pcs.push_back({{"id", pc.id},
                   {"cat_name", pc.name},
                   {"cat_type", pc.type},
                   {"cat_frame", pc.frame},
                   {"cat_lon", pc.lon_rad},
                   {"cat_lat", pc.lat_rad},
                   {"cat_epoch", pc.epoch ? nlohmann::json(*pc.epoch) : nlohmann::json(nullptr)}});
  }
  j["phase_center_catalog"] = pcs;
  j["time_range_jd"] = {h.time_min_jd, h.time_max_jd};
  j["integration_time_s"] = h.integration_time_s;
  j["freq_range_hz"] = {h.freq_min_hz(), h.freq_max_hz()};
  j["freq_order"] = h.freq_descending() ? "descending" : "ascending";
  const auto dec = h.pointing_dec_rad();
  j["pointing_dec_rad"] = dec ? nlohmann::json(*dec) : nlohmann::json(nullptr);
  j["pointing_dec_deg"] = dec ? nlohmann::json(*dec * 180.0 / std::numbers::pi) : nlohmann::json(nullptr);
  j["visdata_type"] = to_string(h.vis_type);
  j["data_layout"] = {{"visdata", layout_json(h.visdata)},
                      {"flags", layout_json(h.flags)},
                      {"nsamples", layout_json(h.nsamples)}};
  j["arrays_loaded"] = h.arrays_loaded;
  if (h.arrays_loaded) {
    j["antenna_names"] = array_or_shape(h.antenna_names, with_arrays);
    j["antenna_numbers"] = array_or_shape(h.antenna_numbers, with_arrays);
    j["antenna_positions"] = array_or_shape(h.antenna_positions, with_arrays);
    j["antenna_diameters"] = array_or_shape(h.antenna_diameters, with_arrays);
    j["ant_1_array"] = array_or_shape(h.ant_1, with_arrays);
    j["ant_2_array"] = array_or_shape(h.ant_2, with_arrays);
    j["time_array"] = array_or_shape(h.time_jd, with_arrays);
    j["integration_time"] = array_or_shape(h.integration_time, with_arrays);
    j["lst_array"] = array_or_shape(h.lst_rad, with_arrays);
    j["uvw_array"] = array_or_shape(h.uvw_m, with_arrays);
    j["phase_center_id_array"] = array_or_shape(h.phase_center_id, with_arrays);
    j["phase_center_app_ra"] = array_or_shape(h.phase_center_app_ra, with_arrays);
    j["phase_center_app_dec"] = array_or_shape(h.phase_center_app_dec, with_arrays);
    j["phase_center_frame_pa"] = array_or_shape(h.phase_center_frame_pa, with_arrays);
  }
  return j;
}

}  // namespace contimg::uvh5
