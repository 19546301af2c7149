#pragma once
// The calibration algorithm (SPEC §5) on plain buffers, one SPW block at a
// time: predict the model, solve the bandpass per channel over the transit
// with StefCal, divide it out and accumulate per-interval gain sums over all
// channels, then solve the gains. Reads each SPW once.
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "calibration/ms_access.h"
#include "calibration/solution.h"
#include "calibration/stefcal.h"
#include "sky/sky_model.h"

namespace contimg::calibration {

struct CalibrateOptions {
  SolveOptions stefcal;
  double min_snr = 5;          // solutions below are flagged
  double gain_interval_s = 0;  // 0 = one integration
  std::string refant;          // antenna name or index; empty = automatic
  // SPWs solved at once (each holds its block in memory); the result is the
  // same for any count. `read` and `has_rows` are called under one lock;
  // check_interrupt from the workers.
  int threads = 1;
  std::function<void()> check_interrupt;
};

// Outriggers (distance from the median antenna position above this) are
// preferred as reference: DSA-110's core stations are within ~400 m of the
// centre, its outriggers 0.5-2 km away (data/DSA110_Station_Coordinates.csv).
inline constexpr double kOutriggerMinDistanceM = 450;

// The per-source model check (model_qa.h): the brightest sources (apparent
// flux at the mid-scan pointing) fitted apart; the rest of the model is one
// more term, fitted and not reported.
inline constexpr std::size_t kMaxSourcesChecked = 6;

// Reference priority: the given antenna (name or index) alone, else outriggers
// by unflagged samples (descending), then the other antennas the same way.
// Antennas without data are left out.
std::vector<int> reference_priority(const MsMeta& meta, std::span<const double> unflagged_samples,
                                    const std::string& requested);

// Model visibilities (Stokes I, [row][chan]) of `sources` for a block.
std::vector<std::complex<float>> predict_block(const MsMeta& meta, const VisBlock& block,
                                               std::span<const sky::Source> sources);

// The same for rows [row0, row0 + nrows) of the block, into out[(row - row0) * nchan + chan].
void predict_rows(const MsMeta& meta, const VisBlock& block, std::size_t row0, std::size_t nrows,
                  std::span<const sky::Source> sources, std::span<std::complex<float>> out);

// Solves bandpass and gains. `read(spw)` returns the SPW's rows (DATA);
// SPWs without rows are skipped. Throws InputError when no unflagged
// cross-correlation is left or the model is zero everywhere.
CalSolution calibrate(const MsMeta& meta, const std::function<bool(int)>& has_rows,
                      const std::function<VisBlock(int)>& read, std::span<const sky::Source> sources,
                      const CalibrateOptions& options);

}  // namespace contimg::calibration
