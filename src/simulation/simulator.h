#pragma once
// Writes one simulated observation (a group of subband files) and its truth.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "astro/astrometry.h"
#include "simulation/simulation_spec.h"

namespace contimg {
class InterruptGuard;
class Progress;
}  // namespace contimg

namespace contimg::simulation {

struct SimulationResult {
  std::string group_id;                      // sb00 timestamp
  std::vector<std::filesystem::path> files;  // in subband order
  std::filesystem::path truth;               // <group_id>.truth.json
  std::uint64_t bytes_written = 0;
};

// The stations that carry data: `n` spread evenly over the 117 (so that small
// simulations still have core and outrigger baselines), as 0-based indices.
std::vector<int> active_station_indices(int n, int nstations = 117);

// A flux on [min_jy, max_jy] drawn from dN/dS ∝ S^-slope by the inverse CDF at u in [0, 1).
double power_law_flux(double min_jy, double max_jy, double slope, double u);

// Subband k, file channel j centre frequency (SPEC §2): descending.
double channel_frequency_hz(int subband, int channel, int nchan = 48);

class Simulator {
 public:
  Simulator(const astro::Observatory& observatory, std::vector<astro::Station> stations);

  // Writes the files into `out_dir` (each as <name>.part, then renamed, so a
  // watcher never sees a partial file). Polls `interrupts` between blocks.
  SimulationResult run(const SimulationSpec& spec, const std::filesystem::path& out_dir,
                       Progress* progress = nullptr,
                       const InterruptGuard* interrupts = nullptr) const;

 private:
  const astro::Observatory& observatory_;
  std::vector<astro::Station> stations_;
};

}  // namespace contimg::simulation
