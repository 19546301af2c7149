#include "simulation/instrument_model.h"

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

namespace contimg::simulation {

InstrumentModel InstrumentModel::make(int nstations, int npols, const std::vector<double>& freqs_hz,
                                      double amp_rms, double phase_rms, double ripple,
                                      double delay_rms_s, const std::vector<int>& dead_stations,
                                      bool apply, std::uint64_t seed) {
  InstrumentModel m;
  m.nstations = nstations;
  m.npols = npols;
  m.nchan_total = static_cast<int>(freqs_hz.size());
  m.gain.assign(static_cast<std::size_t>(nstations * npols), 1.0);
  m.bandpass.assign(static_cast<std::size_t>(nstations * npols) * freqs_hz.size(), 1.0);
  m.dead.assign(static_cast<std::size_t>(nstations), false);
  for (int s : dead_stations) m.dead.at(static_cast<std::size_t>(s)) = true;
  if (!apply) return m;
  std::mt19937_64 rng(seed * 7919 + 17);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 2 * M_PI);
  const double f0 = freqs_hz.empty() ? 1.4e9 : freqs_hz.front();
  for (int a = 0; a < nstations; ++a) {
    for (int p = 0; p < npols; ++p) {
      const double amp = std::max(0.2, 1.0 + amp_rms * normal(rng));
      m.gain[static_cast<std::size_t>(a * npols + p)] = std::polar(amp, phase_rms * normal(rng));
      // Bandpass: a smooth ripple (a standing wave) and a residual delay.
      const double ripple_phase = uniform(rng);
      const double ripple_period = 40e6 + 20e6 * uniform(rng) / (2 * M_PI);
      const double delay = delay_rms_s * normal(rng);
      for (std::size_t c = 0; c < freqs_hz.size(); ++c) {
        const double df = freqs_hz[c] - f0;
        const double a_c = 1.0 + ripple * std::sin(2 * M_PI * df / ripple_period + ripple_phase);
        m.bandpass[(static_cast<std::size_t>(a) * npols + p) * freqs_hz.size() + c] =
            std::polar(a_c, 2 * M_PI * df * delay);
      }
    }
  }
  return m;
}

nlohmann::json to_json(const InstrumentModel& m) {
  nlohmann::json gains = nlohmann::json::array(), bps = nlohmann::json::array();
  for (int a = 0; a < m.nstations; ++a) {
    nlohmann::json ga = nlohmann::json::array(), ba = nlohmann::json::array();
    for (int p = 0; p < m.npols; ++p) {
      const auto g = m.g(a, p);
      ga.push_back({g.real(), g.imag()});
      nlohmann::json chans = nlohmann::json::array();
      for (int c = 0; c < m.nchan_total; ++c) {
        const auto b = m.bp(a, p, c);
        chans.push_back({b.real(), b.imag()});
      }
      ba.push_back(chans);
    }
    gains.push_back(ga);
    bps.push_back(ba);
  }
  nlohmann::json dead = nlohmann::json::array();
  for (int a = 0; a < m.nstations; ++a) {
    if (m.dead[static_cast<std::size_t>(a)]) dead.push_back(a + 1);
  }
  return {{"convention",
           "V_obs(a1,a2) = g[a1] conj(g[a2]) bp[a1] conj(bp[a2]) V_true; index [station-1][pol]"
           "[global channel = 48*subband + file channel]"},
          {"gain", gains},
          {"bandpass", bps},
          {"dead_stations", dead}};
}

}  // namespace contimg::simulation
