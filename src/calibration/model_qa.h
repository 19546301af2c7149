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
//
// Per-source check. The figures above see the model as a whole: a model
// source that the data lack but that is a small part of the model's power
// (J1326+3154 beside 3C286: ~9 % of the apparent flux) leaves the signal
// explained near 1, and the gains absorb it into every other source
// (docs/calibration.md "Per-source check"). So each source's model
// visibilities M_s are also fitted to the calibrated data
//   u = V / (B_p conj(B_q)),   weight W = w |B_p B_q|^2,
// by least squares, u ~ sum_s a_s M_s:
//   A_st = sum W Re(conj(M_s) M_t),  y_s = sum W Re(conj(M_s) u),  a = A^-1 y,
// with noise cov(a) = s^2/2 A^-1 (s^2 from the XX-YY difference, as above).
// A source in the data measures a_s ~ 1; one the data lack, ~0.
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
  // `source_names`: the sources of the per-source check (none: no check);
  // `rest_term`: one more term, the rest of the model, fitted (so that it
  // does not bias them) and not reported.
  ModelQaAccumulator(int nant, int nspw, std::vector<std::string> source_names = {},
                     bool rest_term = false);
  // `model` is [row][chan] (Stokes I, as predict_block gives); the block's
  // SPW bandpass in `bp` must be solved. Pols 0 and npol-1 are taken as XX
  // and YY for the noise reference.
  void add_block(const VisBlock& block, std::span<const std::complex<float>> model,
                 const BandpassSolution& bp);
  // Rows [row0, row0 + nrows) of `block` for the per-source check:
  // models[s] is source s's model of those rows ([row][chan], Stokes I),
  // then the rest of the model's when there is a rest term.
  void add_source_models(const VisBlock& block, std::size_t row0, std::size_t nrows,
                         std::span<const std::vector<std::complex<float>>> models,
                         const BandpassSolution& bp);
  ModelQaFigures figures() const;
  // Adds another accumulator's sums (same antennas and SPWs): one per SPW
  // solved in parallel, merged in SPW order.
  void merge(const ModelQaAccumulator& other);

 private:
  int nant_, nspw_;
  std::vector<ModelQaCell> cells_;  // [ant * nspw + spw]
  double params_ = 0, samples_ = 0;
  std::vector<std::string> sources_;
  std::size_t nterms_;                // sources_, then the rest term if any
  std::vector<double> normal_, rhs_;  // A [s * nterms + t] and y of the per-source fit
};

// The per-source fit's solution a = A^-1 y and sigma = sqrt(s2/2 (A^-1)_ss)
// for the sources with model power (exposed for the tests); a singular set
// (two sources at one position) is not measurable: no entries. `rhs` may
// have more terms than `names`: the trailing ones are fitted, not reported.
std::vector<SourceFraction> solve_source_fractions(const std::vector<std::string>& names,
                                                   const std::vector<double>& normal,
                                                   const std::vector<double>& rhs, double s2);

// Reduced chi^2 and signal-explained fraction of a set of cells sharing a
// noise variance s2 (exposed for the tests).
double reduced_chi2(const ModelQaCell& c, double s2, double dof_fraction);
double signal_explained(const ModelQaCell& c, double s2, double dof_fraction);

struct ModelQaThresholds {
  double min_signal_explained = 0.75;  // fail below (docs/calibration.md: measured)
  double min_signal_to_noise = 0.02;   // below: the fraction is not measurable, not gated
  double warn_chi2 = 1.5;              // warn above: unmodelled structure or wrong gains
  double max_chi2 = 0;                 // fail above; 0 = not a failure gate
  // Per-source check: a source measured to sigma <= max_source_sigma fails
  // below min_source_fraction of its model flux or above its inverse.
  double min_source_fraction = 0.5;
  double max_source_sigma = 0.1;
};

// Appends failure reasons / warnings naming the figures.
void gate_model_qa(const ModelQaFigures& f, const ModelQaThresholds& t,
                   std::vector<std::string>& failures, std::vector<std::string>& warnings);

nlohmann::json to_json(const ModelQaFigures& f);

}  // namespace contimg::calibration
