#pragma once
// The UVH5 header model: every SPEC §2 field of the old DSA-110 layout plus the
// UVH5 1.x additions (phase-centre catalogue). Arrays are filled only by a full
// header read; a peek fills the scalars, the small per-channel arrays and the
// time range (what indexing and grouping need).
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace contimg::uvh5 {

enum class Layout {
  kLegacy,  // old-style UVH5 as the DSA-110 writer produces (phase_type, extra_keywords)
  kV1,      // UVH5 1.x with Header/phase_center_catalog
};
const char* to_string(Layout l);

enum class VisType { kFloat32, kFloat64, kInt32 };  // members of the {r, i} compound
const char* to_string(VisType t);

struct DatasetLayout {
  std::vector<std::uint64_t> shape;   // 3-D (Nblts, Nfreqs, Npols) or 4-D (Nblts, 1, Nfreqs, Npols)
  std::vector<std::uint64_t> chunks;  // empty when contiguous
  std::vector<std::string> filters;   // "gzip", "lzf", "bitshuffle", "shuffle", ...
  std::uint64_t storage_bytes = 0;
};

struct PhaseCenter {
  std::int64_t id = 0;
  std::string name, type, frame;
  double lon_rad = 0, lat_rad = 0;
  std::optional<double> epoch;
};

struct Uvh5Header {
  std::filesystem::path path;
  std::uint64_t file_bytes = 0;
  Layout layout = Layout::kLegacy;
  std::string version;  // Header/version (1.x files)
  bool arrays_loaded = false;  // false after a peek

  // Telescope and observation.
  double latitude_deg = 0, longitude_deg = 0, altitude_m = 0;
  std::string telescope_name, instrument, object_name, history, phase_type, vis_units,
      x_orientation;

  // Dimensions.
  std::int64_t nants_data = 0, nants_telescope = 0, nbls = 0, nblts = 0, nfreqs = 0, npols = 0,
               nspws = 0, ntimes = 0, nphase = 0;

  // Small arrays, present after a peek too.
  std::vector<double> freq_hz;           // in file order
  std::vector<double> channel_width_hz;  // one value when stored as a scalar
  bool channel_width_scalar = false;
  std::vector<std::int64_t> spw, flex_spw_id, polarization;
  std::vector<PhaseCenter> phase_centers;
  nlohmann::json extra_keywords = nlohmann::json::object();
  double time_min_jd = 0, time_max_jd = 0;  // over all rows
  double integration_time_s = 0;            // first row's

  // Per-antenna arrays (full read).
  std::vector<std::string> antenna_names;
  std::vector<std::int64_t> antenna_numbers;
  std::vector<std::array<double, 3>> antenna_positions;  // ECEF offsets from the telescope, m
  std::vector<double> antenna_diameters;

  // Per-row (Nblts) arrays (full read).
  std::vector<std::int64_t> ant_1, ant_2;
  std::vector<double> time_jd, integration_time, lst_rad;  // lst optional
  std::vector<std::array<double, 3>> uvw_m;                // float32 in DSA-110 files
  std::vector<std::int64_t> phase_center_id;
  std::vector<double> phase_center_app_ra, phase_center_app_dec, phase_center_frame_pa;

  // Data datasets.
  VisType vis_type = VisType::kFloat32;
  DatasetLayout visdata, flags, nsamples;

  // The pointing declination: extra_keywords/phase_center_dec (authoritative in
  // DSA-110 files), else the single phase centre's latitude in a 1.x file.
  std::optional<double> pointing_dec_rad() const;
  bool freq_descending() const { return freq_hz.size() > 1 && freq_hz.front() > freq_hz.back(); }
  double freq_min_hz() const;
  double freq_max_hz() const;
  std::uint64_t bytes_per_row() const;  // visdata+flags+nsamples in memory, all channels and pols
};

// Every field as JSON. Arrays appear in full when `with_arrays`, else as shapes.
nlohmann::json to_json(const Uvh5Header& h, bool with_arrays);

}  // namespace contimg::uvh5
