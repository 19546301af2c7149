#pragma once
// The main lobe of the PSF WSClean will make, predicted before WSClean runs,
// so that the automatic cell can be a fixed number of pixels across it
// (docs/imaging.md, "Cell"). Not WSClean's restoring-beam fit, which for
// DSA-110 takes in the sidelobe ridges beside the lobe (50″ × 30″ against a
// ~31″ × 16″ lobe on a full group), and not λ/B_max: after Briggs weighting
// the short baselines dominate.
//
// The algorithm on plain numbers: the visibilities' natural weights are
// gridded on the uv grid WSClean weights on (cell 1/field), Briggs weights are
// formed from that density exactly as WSClean does (f² = (5·10^-R)² /
// (ΣW_k²/Σw)), the weighted density is Fourier transformed into the PSF, and a
// Gaussian is fitted to its main lobe (log-quadratic least squares over the
// pixels above 35 % of the peak reached from it downhill).
#include <cmath>
#include <cstddef>
#include <vector>

namespace contimg::imaging {

struct BeamShape {
  double bmaj_rad = 0;  // FWHM
  double bmin_rad = 0;  // FWHM
  double bpa_deg = 0;   // major axis, east of north, [0, 180)
};

class UvCoverage {
 public:
  // `field_rad`: the image width (sets the weighting cell, as WSClean's
  // -size × -scale does); `max_uv_lambda`: a bound on |u|, |v| (points beyond
  // it are counted in dropped()). The grid is at most ~4096 cells a side:
  // beyond, the cell grows (a coarser density, the same beam to ~1 %).
  UvCoverage(double field_rad, double max_uv_lambda);

  // One visibility (or a channel of one): u, v in wavelengths, its natural
  // (thermal) weight. Its conjugate (-u, -v) is counted too.
  void add(double u_lambda, double v_lambda, double weight) {
    if (!(weight > 0)) return;
    const long iu = std::lround(u_lambda / du_);
    const long iv = std::lround(v_lambda / du_);
    if (iu < -half_ || iu > half_ || iv < -half_ || iv > half_) {
      ++dropped_;
      return;
    }
    w_[index(iu, iv)] += weight;
    w_[index(-iu, -iv)] += weight;
    sum_w_ += 2 * weight;
  }
  double cell_lambda() const { return du_; }
  std::size_t dropped() const { return dropped_; }
  bool empty() const { return !(sum_w_ > 0); }

  // The beam under Briggs weighting with robustness `robust` (-2 ≈ uniform,
  // +2 ≈ natural). Throws InputError when nothing was added or no main lobe
  // can be fitted.
  BeamShape predicted_beam(double robust) const;

 private:
  std::size_t index(long iu, long iv) const {
    return static_cast<std::size_t>(iv + half_) * n_ + static_cast<std::size_t>(iu + half_);
  }
  double du_ = 0;
  long half_ = 0;
  std::size_t n_ = 0;
  std::vector<double> w_;
  double sum_w_ = 0;
  std::size_t dropped_ = 0;
};

}  // namespace contimg::imaging
