#pragma once
// Applying a solution to visibilities (SPEC §5), on plain buffers:
// V_corrected = V / (g_1 conj(g_2)) with g = bandpass(SPW, channel) x
// gain(time), the gain interpolated linearly in time (amplitude and phase
// separately, so a phase wrap does not shrink the amplitude) and held at the
// first/last solution outside their span. Solution flags are OR-ed into the
// data flags (never unflagging). Computed from DATA every time: idempotent.
#include <complex>
#include <cstdint>
#include <span>
#include <vector>

#include "calibration/ms_access.h"
#include "calibration/solution.h"

namespace contimg::calibration {

struct ApplyStats {
  std::uint64_t samples = 0;
  std::uint64_t flagged_before = 0;
  std::uint64_t flagged_by_solutions = 0;  // newly flagged
};

// Antenna gain (all antennas, one pol) at time t: fills g and flag (size nant).
void interpolate_gains(const GainSolution& s, double t, int pol, std::span<std::complex<double>> g,
                       std::span<std::uint8_t> flag);

// Rows of one SPW in the caller's memory, [row][chan][pol] (a VisBlock's, or
// a block another pass is reading: the imaging MS applies a solution while it
// re-phases DATA when CORRECTED_DATA is not written).
struct VisRows {
  int spw = 0;
  std::size_t nrows = 0, nchan = 0, npol = 0;
  std::span<const double> time;  // MJD s, one per row
  std::span<const int> ant1, ant2;
  std::span<std::complex<float>> data;
  std::span<std::uint8_t> flag;
};

// Corrects rows.data in place and updates rows.flag (flagged samples zeroed).
void apply_solution(const CalSolution& solution, const VisRows& rows, ApplyStats& stats);
// The same on a whole VisBlock.
void apply_solution(const CalSolution& solution, VisBlock& block, ApplyStats& stats);

// Calibrated data against a model (Stokes I, [row][chan]): per SPW the flux
// ratio Re(sum w conj(M) V) / sum w |M|^2, and the rms of V - M.
struct ModelComparison {
  double vm = 0, mm = 0, rr = 0, w = 0;
  void add(const VisBlock& corrected, std::span<const std::complex<float>> model);
  double ratio() const { return mm > 0 ? vm / mm : 0; }
  double residual_rms() const;  // per complex sample (sqrt(<|V-M|^2>)), Jy
};

}  // namespace contimg::calibration
