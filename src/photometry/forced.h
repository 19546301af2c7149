#pragma once
// Forced photometry on plain buffers (issue 15; docs/science-products.md): the
// amplitude of the restoring beam K at fixed positions, by the weighted
// matched filter F = sum(d K / s^2) / sum(K^2 / s^2) (Kaplan's forced_phot).
// Positions closer than `cluster_beams` restoring-beam FWHMs are solved
// jointly: with fixed positions and shape the model is linear in the
// amplitudes, so (K^T W K) a = K^T W d is solved exactly, with the amplitudes'
// covariance. One call measures every position of an image in one pass; the
// image is read by the caller (once).
//
// Units: d is in Jy/beam and K peaks at 1, so F is the peak brightness, equal
// to the flux density in Jy for an unresolved source.
//
// Errors: with white (pixel-independent) noise the covariance is (K^T W K)^-1.
// Real images have noise correlated over the beam; with NoiseCorrelation::kBeam
// the covariance is the sandwich (K^T W K)^-1 K^T W C W K (K^T W K)^-1 with
// C_jk = s_j s_k rho(j - k) and rho the beam shape (peak 1). For an isolated
// source on locally flat noise that gives sqrt(4/3) s, whatever the beam size.
#include <cstdint>
#include <vector>

namespace contimg::photometry {

// The restoring beam in the pixel frame: Gaussian sigmas (pixels) and theta,
// the major axis' angle from +y towards -x (validation::Gaussian2D's frame).
struct KernelBeam {
  double sigma_major = 0, sigma_minor = 0, theta = 0;
  double value(double dx, double dy) const;  // peak 1
  double fwhm_major() const;
};

enum class NoiseCorrelation { kWhite, kBeam };

struct ForcedOptions {
  double box_beams = 1.5;      // pixels within this many major FWHMs of a position enter its fit
  double cluster_beams = 2.0;  // positions closer than this many major FWHMs are solved jointly
  NoiseCorrelation correlation = NoiseCorrelation::kBeam;
};

struct ForcedPosition {
  double x = 0, y = 0;  // 0-based pixel
};

struct ForcedResult {
  bool ok = false;       // false: the position is off the image or on blank pixels
  double flux = 0;       // Jy (peak, Jy/beam)
  double error = 0;      // 1-sigma, Jy
  double chi2 = 0;       // weighted residual sum of the position's cluster
  int npix = 0;          // pixels in the cluster's fit
  int cluster = -1;      // index into ForcedSolution::clusters; -1 when alone
  double local_rms = 0;  // noise map at the position (Jy/beam)
};

// A jointly solved group: its members (indices into the positions) and the
// covariance of their amplitudes (row-major, members.size()^2, Jy^2).
struct Cluster {
  std::vector<int> members;
  std::vector<double> covariance;
};

struct ForcedSolution {
  std::vector<ForcedResult> results;  // one per position, in order
  std::vector<Cluster> clusters;
};

// `data` = image - background (NaN = blank), `rms` the noise map (Jy/beam;
// NaN or <= 0 = blank), both nx*ny row-major, x fastest. Throws InputError for
// a beam without positive axes.
ForcedSolution forced_photometry(const float* data, const float* rms, int nx, int ny,
                                 const KernelBeam& beam,
                                 const std::vector<ForcedPosition>& positions,
                                 const ForcedOptions& o);

}  // namespace contimg::photometry
