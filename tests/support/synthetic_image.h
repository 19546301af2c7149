#pragma once
// Synthetic PB-corrected images for the validation tests: point sources at
// known positions and fluxes convolved with a known beam (rendered directly as
// the beam Gaussian), Gaussian noise growing as 1/PB, blank (NaN) outside a
// primary-beam cut, in a WSClean-like SIN 4-axis FITS.
#include <filesystem>
#include <string>
#include <vector>

#include "io/fits/fits_image.h"
#include "sky/sky_model.h"

namespace contimg::testing {

struct SyntheticImage {
  fits::ImageSpec spec;
  std::vector<float> pixels;
  sky::SkyModel truth;       // the sources as placed (flux at spec.freq_hz)
  double noise_jy = 0;       // rms at the centre (Jy/beam)
};

struct SyntheticOptions {
  int n = 512;
  double cell_arcsec = 5;
  double ra0_deg = 150, dec0_deg = 37.2;
  double beam_major_arcsec = 30, beam_minor_arcsec = 20, beam_pa_deg = 30;
  double freq_hz = 1.4e9;
  double noise_jy = 1e-3;
  double pb_cut = 0.9;  // blank where airy_power < this (keeps a round footprint)
  unsigned seed = 1;
  double flux_scale = 1;            // multiplies the rendered fluxes (not the truth)
  double shift_ra_arcsec = 0;       // moves the rendered sources (not the truth)
  // Multi-epoch images (issue 15): per-source factors on the rendered flux
  // (missing = 1; not the truth), sources rendered but left out of the truth,
  // the noise from its own seed (0: the positions' generator) and the date.
  std::vector<double> render_factors;
  std::vector<int> hidden;
  unsigned noise_seed = 0;
  std::string date_obs = "2025-01-01T06:00:00.0";
  // SNRs of the sources (peak / noise); positions are spread on a jittered grid.
  std::vector<double> snrs = {5.5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80,
                              100, 150, 200, 300, 400, 500, 700, 1000};
};

SyntheticImage make_synthetic_image(const SyntheticOptions& o);

// Writes the image FITS and the truth JSON ({"sky": ...}); returns the image path.
std::filesystem::path write_synthetic(const SyntheticImage& img, const std::filesystem::path& dir,
                                      const std::string& stem);

}  // namespace contimg::testing

namespace contimg::testing {

// Mosaic tests (issue 15): a PB-corrected image of given sources on `spec`
// (SIN; spec.beam required; each source is the beam Gaussian with peak = flux,
// drawn with its PA in the pixel frame), noise correlated over the beam (white
// noise smoothed by a circular Gaussian of the minor axis, rescaled) of
// `noise_jy` at the centre growing as 1/PB (the one beam model about the
// centre), NaN where PB < pb_cut.
struct PlacedSource {
  double ra_deg = 0, dec_deg = 0, flux_jy = 0;
};
std::vector<float> render_pbcor(const fits::ImageSpec& spec, const std::vector<PlacedSource>& sources,
                                double noise_jy, double pb_cut, unsigned seed);
// The model PB of `spec` (airy_power about its centre at spec.freq_hz).
std::vector<float> model_pb(const fits::ImageSpec& spec);

}  // namespace contimg::testing
