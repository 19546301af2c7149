#pragma once
// Primary-beam-weighted linear mosaics (issue 15 Deliver 4, issue 14 Deliver 3;
// docs/science-products.md "Mosaics"), on plain buffers like
// calibration/stefcal.h: the caller reads the images, their primary beams and
// WCS and writes the result; nothing here knows about groups or the database.
//
//   I(θ) = Σ_p w_p A_p(θ) I_p(θ) / Σ_p w_p A_p(θ)²,  w_p = 1/σ_p²
//
// with I_p the apparent (not PB-corrected) image of input p after convolution
// to the common restoring beam, A_p its primary beam (pixels with A_p < cutoff
// do not contribute) and σ_p its noise (the one noise estimator,
// validation/background.h, on the convolved apparent image). Weight map
// W = Σ w_p A_p², noise map W^−½.
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io/fits/fits_image.h"
#include "validation/background.h"

namespace contimg::mosaic {

struct Input {
  std::string name;  // for errors and progress
  int nx = 0, ny = 0;
  std::span<const float> apparent;  // nx*ny, Jy/beam, not PB-corrected; NaN = blank
  std::span<const float> pb;        // nx*ny, primary beam (1 at the pointing centre)
  const fits::CelestialWcs* wcs = nullptr;
  fits::Beam beam;                 // restoring beam of `apparent`
  std::optional<double> sigma_jy;  // noise after convolution; estimated when absent
};

struct Options {
  double pb_cutoff = 0.1;          // A_p below this contributes nothing
  double cell_deg = 0;             // output pixel size; 0: the smallest input pixel
  std::optional<fits::Beam> beam;  // target beam; absent: the smallest containing every input's
  validation::BackgroundOptions noise;  // box/step clamped to each input's size
  double kernel_radius_sigma = 4;       // convolution kernel truncation
};

struct Result {
  fits::ImageSpec grid;  // SIN grid (centre at pixel nx/2, ny/2) with the common beam
  std::vector<float> image, weight, noise;  // grid.nx*grid.ny; NaN where nothing contributes
  std::vector<double> sigma_jy;             // per input, after convolution
  std::vector<fits::Beam> kernels;          // per input, the convolving Gaussian (FWHM)
};

using Progress = std::function<void(std::size_t done, std::size_t total, const std::string& what)>;

// Beam (FWHM, PA east of north) as a 2×2 covariance of FWHM² in (east, north)
// and back.
struct BeamCov {
  double ee = 0, en = 0, nn = 0;
};
BeamCov to_cov(const fits::Beam& b);
fits::Beam from_cov(const BeamCov& c);

// The Gaussian that convolves `from` into `to` (Gaussian deconvolution of `to`
// by `from`; a zero-width axis is allowed). InputError naming `what` when `to`
// does not contain `from`.
fits::Beam deconvolve(const fits::Beam& to, const fits::Beam& from, const std::string& what);

// The smallest-area beam containing every beam (one of them when it contains
// the others). InputError for an empty list.
fits::Beam common_beam(std::span<const fits::Beam> beams);

// Convolves `pixels` (Jy/beam of `from`) to the beam `to` and rescales to
// Jy/beam of `to` (by Ω_to/Ω_from), so a point source keeps its peak = flux.
// The kernel is built in the pixel frame through the WCS at the image centre.
// NaN pixels stay NaN and are left out of their neighbours' sums (the kernel is
// renormalised over the finite pixels). Returns the kernel in `kernel` if given.
std::vector<float> convolve_to_beam(std::span<const float> pixels, int nx, int ny,
                                    const fits::CelestialWcs& wcs, const fits::Beam& from,
                                    const fits::Beam& to, double radius_sigma,
                                    const std::string& what, fits::Beam* kernel = nullptr);

// A SIN grid covering every input: centred on the mean direction of their
// centres, pixel `cell_deg` (0: the smallest input pixel).
fits::ImageSpec common_grid(std::span<const Input> inputs, double cell_deg);

// The grid's WCS: fits::wcs_of (as fits::write_image writes it).

// The mosaic. InputError for no input, mismatched buffers or an impossible beam.
Result make_mosaic(std::span<const Input> inputs, const Options& options,
                   const Progress& progress = {});

}  // namespace contimg::mosaic
