#include "simulation/simulation_spec.h"

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace contimg::simulation {

void SimulationSpec::validate() const {
  auto require = [](bool ok, const std::string& what) {
    if (!ok) throw ConfigError("simulate: " + what);
  };
  require(nants >= 2 && nants <= 117, "--nants must be 2..117");
  require(ntimes >= 1, "--ntimes must be >= 1");
  require(nsubbands >= 1 && nsubbands <= 16, "--nsubbands must be 1..16");
  require(nchan >= 1 && nchan <= 48, "--nchan must be 1..48");
  require(pointing_dec_deg > -50 && pointing_dec_deg < 90, "--dec must be within the sky seen from OVRO");
  require(noise_jy >= 0 && gain_amp_rms >= 0 && bandpass_ripple >= 0, "noise and gain scatter must be >= 0");
  require(random_sources >= 0 && random_min_jy > 0 && random_max_jy >= random_min_jy && random_count_slope > 0,
          "random sources: need count >= 0, 0 < min <= max Jy and count slope > 0");
  for (int k : subbands) require(k >= 0 && k < nsubbands, "subband " + std::to_string(k) + " out of range");
  for (int s : dead_stations) require(s >= 1 && s <= 117, "dead station " + std::to_string(s) + " is not 1..117");
}

nlohmann::json to_json(const SimulationSpec& s) {
  return {{"start_utc", s.start_utc},
          {"pointing_dec_deg", s.pointing_dec_deg},
          {"nants", s.nants},
          {"ntimes", s.ntimes},
          {"nsubbands", s.nsubbands},
          {"nchan", s.nchan},
          {"subbands", s.subbands},
          {"integration_s", s.integration_s},
          {"jitter_s", s.jitter_s},
          {"gain_amp_rms", s.gain_amp_rms},
          {"gain_phase_rms_deg", s.gain_phase_rms_deg},
          {"bandpass_ripple", s.bandpass_ripple},
          {"delay_rms_ns", s.delay_rms_ns},
          {"apply_gains", s.apply_gains},
          {"dead_stations", s.dead_stations},
          {"noise_jy", s.noise_jy},
          {"auto_sefd_jy", s.auto_sefd_jy},
          {"rfi_bursts", s.rfi_bursts},
          {"rfi_amplitude_jy", s.rfi_amplitude_jy},
          {"calibrator_at_transit", s.calibrator_at_transit},
          {"calibrator_flux_jy", s.calibrator_flux_jy},
          {"random_sources", s.random_sources},
          {"random_min_jy", s.random_min_jy},
          {"random_max_jy", s.random_max_jy},
          {"random_count_slope", s.random_count_slope},
          {"compression", uvh5::to_string(s.compression)},
          {"chunk_rows", s.chunk_rows},
          {"seed", s.seed},
          {"instrument_seed", s.instrument_seed ? s.instrument_seed : s.seed}};
}

}  // namespace contimg::simulation
