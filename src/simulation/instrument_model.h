#pragma once
// Per-antenna complex gains and bandpasses of a simulated instrument: the
// truth that calibration must recover. Deterministic in the seed.
#include <complex>
#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace contimg::simulation {

struct InstrumentModel {
  int nstations = 117;
  int npols = 2;
  int nchan_total = 768;
  // gain[station][pol]; bandpass[(station * npols + pol) * nchan_total + global_channel]
  // where global_channel = 48 * subband + channel-in-file (descending frequency).
  std::vector<std::complex<double>> gain;
  std::vector<std::complex<double>> bandpass;
  std::vector<bool> dead;  // per station

  std::complex<double> g(int station_index, int pol) const {
    return gain[static_cast<std::size_t>(station_index * npols + pol)];
  }
  std::complex<double> bp(int station_index, int pol, int global_channel) const {
    return bandpass[(static_cast<std::size_t>(station_index) * npols + pol) * nchan_total +
                    global_channel];
  }

  // amp_rms fractional, phase_rms in rad, ripple fractional, delays in s; the
  // frequencies are those of the global channels.
  static InstrumentModel make(int nstations, int npols, const std::vector<double>& freqs_hz,
                              double amp_rms, double phase_rms, double ripple, double delay_rms_s,
                              const std::vector<int>& dead_station_indices, bool apply,
                              std::uint64_t seed);
};

nlohmann::json to_json(const InstrumentModel& m);

}  // namespace contimg::simulation
