#pragma once
// The drift of bright sources through the primary beam (docs/imaging.md §3a),
// on plain buffers. DSA-110's dishes point at the meridian while the sky
// drifts 1.25° through the 2.7° beam in a group: integration k sees a source
// s at A_s(k, ν) = airy_power(|s − p_k|, ν), so its visibilities change from
// integration to integration, while a CLEAN model (one flux per component)
// is constant. What CLEAN cannot fit stays in the residual at ~0.2 % of the
// source and is cleaned into spurious sources along the PSF's arms.
//
// The correction makes every modelled source constant in time and frequency:
// with S_s(ν) the apparent spectrum of a component (what an image at ν
// shows: true flux × Ā_s(ν), the beam averaged over the integrations) and
// S_s its MFS model flux, it subtracts
//   D(row, ν) = Σ_s [S_s(ν) A_s(k(row), ν) / Ā_s(ν) − S_s] exp(+2πi ν/c (u l + v m + w (n − 1)))
// from the parallel hands. The data then hold S_s for every (integration,
// channel): one model flux fits them, as for a source that neither drifts
// nor has a spectrum, and image / pb.fits is the true flux. An error ε in
// the model enters only as ε (A / Ā − 1): second order.
//
// For a component marked `whole` it subtracts the whole apparent flux
// instead, S_s(ν) A_s(k, ν) / Ā_s(ν) (D + S_s): the data then hold nothing
// of it, the full deconvolution starts below it (fewer major cycles), and
// the caller adds it (flux S_s) back to its model before restoring.
#include <complex>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "astro/astrometry.h"

namespace contimg::imaging {

// A CLEAN component: ICRS direction, the apparent flux density it is made
// constant at (Jy; the MFS model), and optionally its apparent spectrum:
// (frequency, flux) points of the per-channel models, in frequency order,
// interpolated linearly (and extrapolated) to every channel. Without one the
// component is taken as flat in true flux (apparent = flux_jy × Ā(ν) / Ā).
struct DriftComponent {
  double ra_rad = 0, dec_rad = 0;
  double flux_jy = 0;
  std::vector<std::pair<double, double>> spectrum;
  bool whole = false;  // subtract S_s(ν) A / Ā, not only the drift
};

class DriftCorrection {
 public:
  // `centre`: the phase centre of the visibilities; `pointings`: the field
  // centre of each integration; `chan_freq_hz`: every channel the rows can
  // hold, all spectral windows concatenated; `beam_freqs_hz`: the
  // frequencies the effective beam averages (ImagingMsResult::spw_centre_hz).
  // Components where the effective beam is below 1e-3 are left out (their
  // true flux is not known), and so are the components of smallest drift
  // error |S| max |A / Ā − 1| whose errors add up to at most negligible_jy
  // (each costs as much to correct as a bright one; `whole` ones are never
  // left out). Throws InputError on empty pointings or frequencies.
  DriftCorrection(std::span<const DriftComponent> components, const astro::SkyDirection& centre,
                  std::span<const astro::SkyDirection> pointings,
                  std::span<const double> chan_freq_hz, std::span<const double> beam_freqs_hz,
                  double negligible_jy = 0);

  std::size_t components() const { return l_.size(); }
  // The indices (into the constructor's `components`) of those subtracted,
  // in order.
  const std::vector<std::size_t>& kept() const { return kept_; }
  std::size_t left_out() const { return left_out_; }
  double left_out_error_jy() const { return left_out_error_jy_; }
  std::size_t integrations() const { return nint_; }

  // Subtracts D from `data` ([row][chan][corr], `nrow` rows of `nchan`
  // channels that are channels chan0 … chan0 + nchan − 1 of chan_freq_hz,
  // `ncorr` correlations) at the correlations listed in `parallel_hands`.
  // `uvw`: 3 per row (metres); `integration`: the row's integration index.
  void subtract(std::complex<float>* data, std::size_t nrow, std::size_t nchan, std::size_t chan0,
                std::size_t ncorr, std::span<const std::size_t> parallel_hands, const double* uvw,
                const std::size_t* integration) const;

 private:
  std::vector<double> l_, m_, nm1_;  // direction cosines relative to the centre; n − 1
  std::vector<double> freq_;         // chan_freq_hz
  std::vector<float> gain_;  // [component][integration][channel]: S (A / Ā − 1), + S if whole
  std::vector<std::size_t> kept_;
  std::size_t nint_ = 0;
  std::size_t left_out_ = 0;
  double left_out_error_jy_ = 0;
};

// The CLEAN components of a model image worth correcting: its non-zero
// pixels with |flux| ≥ min_abs_jy, the brightest first, at most
// max_components of them. Pixels are row-major (nx per row); returns
// (x, y, flux) with 0-based pixel coordinates.
struct ModelPixel {
  long x = 0, y = 0;
  double flux_jy = 0;
};
std::vector<ModelPixel> brightest_model_pixels(std::span<const float> pixels, long nx,
                                               double min_abs_jy, std::size_t max_components);

}  // namespace contimg::imaging
