#pragma once
// The effective primary beam of a drift-scan image (SPEC §6, docs/imaging.md)
// and primary-beam correction, on plain buffers. The dishes point at the
// meridian, so each integration sees the sky through the Airy beam
// (sky::airy_power, the one beam model) centred on that integration's
// meridian field; the image of all integrations sees their average:
//   PB(s) = mean over integrations k and frequencies f of airy_power(|s − p_k|, f).
#include <cstddef>
#include <span>
#include <vector>

#include "astro/astrometry.h"
#include "io/fits/fits_image.h"

namespace contimg::imaging {

// PB at one ICRS direction (rad); NaN when ra or dec is NaN. Throws
// InputError when pointings or frequencies are empty.
double effective_beam(double ra_rad, double dec_rad, std::span<const astro::SkyDirection> pointings,
                      std::span<const double> freqs_hz);

// Bilinear interpolation of a coarse grid (every `step` pixels from 0, ncx ×
// ncy values, row-major) onto nx × ny pixels; the coarse grid must reach
// past the last pixel (ncx ≥ (nx − 1) / step + 2 unless divisible).
std::vector<float> upsample_grid(const std::vector<float>& coarse, std::size_t ncx, std::size_t ncy, std::size_t step,
                                 std::size_t nx, std::size_t ny);

// Coarse grid size covering n pixels at `step`.
std::size_t coarse_points(std::size_t n, std::size_t step);

// effective_beam on every pixel of an nx × ny image with WCS `wcs`: evaluated
// every kBeamStep pixels and interpolated (upsample_grid); NaN where a sample
// falls outside the projection. `threads` from the caller's budget.
inline constexpr std::size_t kBeamStep = 16;
std::vector<float> effective_beam_on_grid(const fits::CelestialWcs& wcs, std::size_t nx,
                                          std::size_t ny,
                                          std::span<const astro::SkyDirection> pointings,
                                          std::span<const double> freqs_hz, int threads = 1);

// image / pb where pb ≥ cutoff × max(pb), NaN elsewhere (and where either is NaN).
std::vector<float> pb_correct(std::span<const float> image, std::span<const float> pb, double cutoff);

}  // namespace contimg::imaging
