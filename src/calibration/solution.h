#pragma once
// A calibration solution in memory: the bandpass (per SPW, antenna,
// polarization, channel; one solution over the transit) and the gains (per
// solution interval, antenna, polarization; the bandpass divided out). The
// caltable writer/reader and apply use this; no casacore here.
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

namespace contimg::calibration {

struct BandpassSolution {
  int nant = 0, npol = 0;
  double time = 0, interval = 0;           // MJD s mid and span of the data solved
  int field = 0;                           // FIELD row the solution refers to (the calibrator's)
  std::vector<std::vector<double>> freqs;  // per SPW
  // Per SPW, index (ant * npol + pol) * nchan + chan.
  std::vector<std::vector<std::complex<float>>> gain;
  std::vector<std::vector<std::uint8_t>> flag;
  std::vector<std::vector<float>> snr;

  std::size_t index(int spw, int ant, int pol, std::size_t chan) const {
    return (static_cast<std::size_t>(ant) * npol + pol) *
               freqs[static_cast<std::size_t>(spw)].size() +
           chan;
  }
};

struct GainSolution {
  int nant = 0, npol = 0;
  double interval = 0;       // solution interval, s
  std::vector<double> time;  // MJD s, ascending, one per interval
  std::vector<int> field;    // FIELD row of each interval
  // Index (t * nant + ant) * npol + pol.
  std::vector<std::complex<float>> gain;
  std::vector<std::uint8_t> flag;
  std::vector<float> snr;

  std::size_t index(std::size_t t, int ant, int pol) const {
    return (t * static_cast<std::size_t>(nant) + static_cast<std::size_t>(ant)) * npol + pol;
  }
};

// Model-consistency QA figures of a solve (calibration/model_qa.h computes them).
// One model source's flux as the calibrated data measure it, as a fraction
// of its model flux (model_qa.h, "per-source check").
struct SourceFraction {
  std::string name;
  double fraction = 0;  // least-squares scale of its model visibilities in the data
  double sigma = 0;     // its noise; 0 when the noise is unknown
};

struct ModelQaFigures {
  int nant = 0, nspw = 0;
  bool noise_known = false;          // XX-YY pairs existed (npol >= 2)
  double noise_var = 0;              // s^2: noise variance per unit weight per complex sample
  double dof_fraction = 1;           // 1 - bandpass parameters / samples
  double reduced_chi2 = 0;           // over all cells; 0 when the noise is unknown
  double explained = 0;              // raw
  double signal_explained = 0;       // noise-corrected; meaningful when signal_to_noise > ~0.01
  double signal_to_noise = 0;        // (sum w|V|^2 - n s^2) / (n s^2): sky power per noise power
  std::vector<double> antenna_chi2;  // per antenna over its SPWs (0: no data)
  std::vector<double> spw_chi2;      // per SPW over its antennas (0: no data)
  std::vector<double> antenna_signal_explained;  // per antenna (NaN-free: 0 when no data)
  // Per model source, in the model's order (empty for a solution not from
  // calibrate()); a source with no model power in the data is left out.
  std::vector<SourceFraction> sources;
};

struct CalSolution {
  BandpassSolution bandpass;
  GainSolution gains;
  int refant = -1;
  std::vector<std::uint8_t> antenna_has_data;  // per antenna: had unflagged cross-correlations
  ModelQaFigures model_qa;
};

}  // namespace contimg::calibration
