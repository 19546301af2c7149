#pragma once
// Model-consistency QA of a calibration solve (issue 16, docs/calibration.md
// "Model-consistency QA"), on plain buffers. StefCal always finds gains that
// map a model onto data holding enough flux, so the flagged fraction and SNR
// gates cannot tell a right model from a wrong one; the residuals can.
//
// For every SPW block, once its bandpass is solved, each unflagged
// cross-correlation sample gives
//   r = V - B_p M conj(B_q)        (the residual of the fitted model)
// and, where both XX and YY are usable, the calibrated polarization difference
//   d = V_XX / (B_pX conj(B_qX)) - V_YY / (B_pY conj(B_qY)),
// which for an unpolarized sky holds only noise whatever the model: it gives
// the noise per unit weight s^2 without trusting the weights' absolute scale
// (the converter's weights are sample counts, not 1/sigma^2). Per antenna and
// SPW:
//   reduced chi^2 = sum w|r|^2 / (n s^2 (1 - p/n))   (p bandpass parameters)
//   explained     = 1 - sum w|r|^2 / sum w|V|^2       (raw, as the issue defines)
//   signal explained = 1 - (sum w|r|^2 - n s^2 (1 - p/n)) / (sum w|V|^2 - n s^2)
// The last is the fraction of the data's sky power (noise power removed) that
// the model accounts for: ~1 for a right model at any SNR, low when the model
// is absent from the data. The residual is against the bandpass solved over
// the transit (which holds the mean gain); gain changes within the transit
// count as residual, which makes the figures conservative.
#include <complex>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "calibration/ms_access.h"
#include "calibration/solution.h"

namespace contimg::calibration {

// Sums of one antenna and SPW (each baseline counts for both its antennas).
struct ModelQaCell {
  double resid = 0;    // sum w |r|^2
  double power = 0;    // sum w |V|^2
  double samples = 0;  // complex samples in resid/power
  double noise = 0;  // sum |d|^2 / (1/(w_X|BB_X|^2) + 1/(w_Y|BB_Y|^2)): n_noise s^2 in expectation
  double noise_samples = 0;
};

// ModelQaFigures (the result) is in solution.h: CalSolution carries it.

// Accumulates the sums, SPW block by SPW block, inside calibrate().
class ModelQaAccumulator {
 public:
  ModelQaAccumulator(int nant, int nspw);
  // `model` is [row][chan] (Stokes I, as predict_block gives); the block's
  // SPW bandpass in `bp` must be solved. Pols 0 and npol-1 are taken as XX
  // and YY for the noise reference.
  void add_block(const VisBlock& block, std::span<const std::complex<float>> model,
                 const BandpassSolution& bp);
  ModelQaFigures figures() const;
  // Adds another accumulator's sums (same antennas and SPWs): one per SPW
  // solved in parallel, merged in SPW order.
  void merge(const ModelQaAccumulator& other);

 private:
  int nant_, nspw_;
  std::vector<ModelQaCell> cells_;  // [ant * nspw + spw]
  double params_ = 0, samples_ = 0;
};

// Reduced chi^2 and signal-explained fraction of a set of cells sharing a
// noise variance s2 (exposed for the tests).
double reduced_chi2(const ModelQaCell& c, double s2, double dof_fraction);
double signal_explained(const ModelQaCell& c, double s2, double dof_fraction);

struct ModelQaThresholds {
  double min_signal_explained = 0.75;  // fail below (docs/calibration.md: measured)
  double min_signal_to_noise = 0.02;   // below: the fraction is not measurable, not gated
  double warn_chi2 = 1.5;              // warn above: unmodelled structure or wrong gains
  double max_chi2 = 0;                 // fail above; 0 = not a failure gate
};

// Appends failure reasons / warnings naming the figures.
void gate_model_qa(const ModelQaFigures& f, const ModelQaThresholds& t,
                   std::vector<std::string>& failures, std::vector<std::string>& warnings);

nlohmann::json to_json(const ModelQaFigures& f);

}  // namespace contimg::calibration
