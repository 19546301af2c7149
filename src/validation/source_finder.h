#pragma once
// Source finding on a (primary-beam corrected) image (SPEC §7; docs/validation.md):
// background and noise maps (background.h), islands of pixels above
// detect_sigma grown to island_sigma (8-connected flood fill), one elliptical
// Gaussian per significant local maximum fitted jointly per island, never
// smaller than the restoring beam, with errors per Condon (1997, PASP 109, 166).
#include <memory>
#include <vector>

#include "io/fits/fits_image.h"
#include "validation/background.h"
#include "validation/gaussian_fit.h"

namespace contimg::validation {

struct FinderOptions {
  double detect_sigma = 5;   // island seeds: (I - background) / rms >= this
  double island_sigma = 3;   // islands grow over pixels >= this
  int max_components = 4;    // Gaussians per island at most
  double box_beams = 20;     // rms box side in restoring-beam major FWHMs
  double step_fraction = 0.25;  // grid step as a fraction of the box
  int threads = 1;  // workers for the box statistics and the per-island fits (results do not depend on it)
};

// The restoring beam in the pixel frame (sigmas in pixels, theta as Gaussian2D).
struct PixelBeam {
  double sigma_major = 0, sigma_minor = 0, theta = 0;
};

struct Island {
  int id = 0;
  std::vector<int> pixels;  // linear indices y*nx + x
  float peak_snr = 0;
};

// Islands in scan order (ids 0, 1, ...). `snr` = (I - background) / rms, NaN when blank.
std::vector<Island> find_islands(const std::vector<float>& snr, int nx, int ny, double detect_sigma,
                                 double island_sigma);

// A fitted component in the pixel frame with Condon (1997) 1-sigma errors.
struct PixelComponent {
  int island = 0;
  Gaussian2D g;
  bool fit_converged = false;
  double local_rms = 0;  // Jy/beam at the peak
  double err_amp = 0;    // Jy/beam
  double err_major_axis_pos = 0, err_minor_axis_pos = 0;  // pixels, along the axes
  double err_fwhm_major = 0, err_fwhm_minor = 0;           // pixels
  double err_theta = 0;                                     // rad
};

// Condon (1997) errors for a component `g` (pixels) on noise `rms`, beam FWHMs
// (pixels) `beam_major`/`beam_minor` (the noise correlation length is their
// geometric mean). Fills the err_* fields.
void condon_errors(PixelComponent& c, double beam_major_fwhm, double beam_minor_fwhm);

// Everything in the pixel frame: the maps (returned) and the components.
struct PixelCatalogue {
  BackgroundMaps maps;
  std::vector<Island> islands;
  std::vector<PixelComponent> components;
};
// `pb` (optional, same shape; any normalisation): the primary beam the image
// was divided by. The noise of a PB-corrected image grows as 1/PB, faster than
// a box can follow at the field's edge, so the maps are then estimated on the
// flat-noise image (pixels x PB) and divided by the PB.
PixelCatalogue find_components(const std::vector<float>& pixels, int nx, int ny,
                               const PixelBeam& beam, const FinderOptions& o,
                               const std::vector<float>* pb = nullptr);

// A catalogue row (SPEC §7): sky positions and sizes.
struct Detection {
  int island = 0, component = 0;
  double x = 0, y = 0;  // pixel (0-based)
  double ra_deg = 0, dec_deg = 0, ra_err_arcsec = 0, dec_err_arcsec = 0;
  double peak_jy = 0, peak_err_jy = 0;          // Jy/beam
  double flux_jy = 0, flux_err_jy = 0;          // integrated, Jy
  double major_arcsec = 0, minor_arcsec = 0, pa_deg = 0;  // FWHM; PA east of north
  double major_err_arcsec = 0, minor_err_arcsec = 0, pa_err_deg = 0;
  double local_rms_jy = 0, snr = 0;
  bool fit_converged = false;
};

struct SourceFinderResult {
  PixelCatalogue pixel;
  std::vector<Detection> detections;
};

// The image's restoring beam in its pixel frame (at the image centre); `parity`
// (optional) gets +1 when east is 90 deg from north towards -x. Throws
// InputError when the header has no beam.
PixelBeam pixel_beam(const fits::Image& image, double* parity = nullptr);

// The whole finder on an image with its WCS and restoring beam; `beam_map`: the PB, as
// `pb` of find_components (must match the image's shape). Throws InputError when the
// image has no beam or the PB's shape differs.
SourceFinderResult find_sources(const fits::Image& image, const FinderOptions& o,
                                const fits::Image* beam_map = nullptr);

// find_sources that hands its result from one caller to the next in this
// process: `keep` stores it (one entry, replacing the last); a call with the
// same pixels, header, PB and options (threads aside: results do not depend
// on them) takes the stored result instead of finding again, and frees the
// entry. In one `contimg run` validate keeps and photometry takes: the maps
// and fits of one image are made once (~2.5 s of a full-size group).
// The result is shared, not copied (its maps are 8 bytes per pixel).
std::shared_ptr<const SourceFinderResult> find_sources_shared(const fits::Image& image,
                                                              const FinderOptions& o,
                                                              const fits::Image* beam_map,
                                                              bool keep);

}  // namespace contimg::validation
