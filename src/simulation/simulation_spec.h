#pragma once
// What `contimg simulate` makes: one group of subband files in the SPEC §2
// layout, from a sky model, the Airy beam, the true drift-scan geometry,
// per-antenna gains and bandpasses, noise, optional RFI and dead antennas.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "io/uvh5/uvh5_writer.h"
#include "sky/sky_model.h"

namespace contimg::simulation {

struct SimulationSpec {
  std::string start_utc = "2025-01-01T12:00:00";  // sb00 file name = group id
  double pointing_dec_deg = 54.6;
  int nants = 96;        // active stations (of 117), spread over the array
  int ntimes = 24;
  int nsubbands = 16;
  int nchan = 48;        // per subband
  std::vector<int> subbands;  // which to write; empty = 0..nsubbands-1
  double integration_s = 12.884902;
  int jitter_s = 3;      // filename timestamps of sb01..15 differ by up to this

  // Instrument.
  double gain_amp_rms = 0.1;        // fractional
  double gain_phase_rms_deg = 30;
  double bandpass_ripple = 0.05;    // fractional amplitude ripple
  double delay_rms_ns = 1.0;        // residual delays: bandpass phase slopes
  bool apply_gains = true;
  std::vector<int> dead_stations;   // station numbers whose signal is absent

  // Noise and interference.
  double noise_jy = 0.0;            // rms of each of re, im per visibility
  double auto_sefd_jy = 5000.0;     // autocorrelation level
  int rfi_bursts = 0;
  double rfi_amplitude_jy = 500.0;

  // Sky.
  sky::SkyModel sky;
  bool calibrator_at_transit = false;  // a point source on the meridian at mid-group
  double calibrator_flux_jy = 10.0;
  std::string calibrator_name = "SIMCAL";
  int random_sources = 0;              // extra point sources in the primary beam
  double random_min_jy = 0.05, random_max_jy = 1.0;
  // Their fluxes follow dN/dS ∝ S^-slope between min and max: 1 = log-uniform
  // (every decade equally filled), 2.5 = Euclidean counts, close to the real
  // sky's at 0.05–2 Jy at 1.4 GHz (few bright sources).
  double random_count_slope = 1.0;

  // Output.
  uvh5::Compression compression = uvh5::Compression::kNone;
  std::uint64_t chunk_rows = 0;  // 0 = contiguous when uncompressed, else ~3 MB chunks
  std::uint64_t seed = 1;  // sky, noise, RFI, file-name jitter
  // The instrument's gains and bandpasses; 0 = `seed`. Groups that share it
  // share the instrument (a calibrator and a science group hours later) while
  // their noise stays independent.
  std::uint64_t instrument_seed = 0;
  int threads = 0;  // 0 = hardware concurrency

  void validate() const;  // throws ConfigError
};

nlohmann::json to_json(const SimulationSpec& s);

}  // namespace contimg::simulation
