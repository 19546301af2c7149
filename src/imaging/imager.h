#pragma once
// One group from MS to published image products (SPEC §6, docs/imaging.md):
// re-phase to the common centre (imaging MS) → WSClean → headers → effective
// primary beam and PB correction → QA → quick-look PNG, all in a staging
// directory inside the products directory, then renamed into place (the
// image last), so a failed run leaves nothing that looks complete.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "astro/astrometry.h"
#include "imaging/drift_correction_ms.h"
#include "imaging/image_qa.h"
#include "imaging/imaging_ms.h"
#include "imaging/wsclean_driver.h"

namespace contimg {
class InterruptGuard;
}

namespace contimg::config {
class Config;
}

namespace contimg::imaging {

struct ImagerOptions {
  WscleanSettings wsclean;
  std::string data_column = "auto";
  std::optional<astro::SkyDirection> centre;  // none: meridian at mid-group
  double pb_cutoff = 0.2;
  double max_channel_width_hz = 1e6;  // imaging MS channels at most this wide (0 = native)
  bool merge_spws = true;             // one SPW in the imaging MS
  bool keep_ms = false;
  // The drift of bright sources through the beam (docs/imaging.md §3a): a
  // first WSClean pass cleaned to drift_threshold_sigma finds them, their
  // beam drift is subtracted from the imaging MS, then the full run.
  bool drift_correction = true;
  // The corrected components in the inner half of the image are subtracted
  // whole from the imaging MS and added back to the run's model before
  // restoring (WSClean -restore): the full run starts below the bright
  // sources (fewer major cycles). Off by default: measured faster but less
  // faithful (docs/imaging.md 3a).
  bool drift_subtract = false;
  double drift_threshold_sigma = 10;
  std::size_t drift_max_components = 500;
  std::vector<std::string> command_line;
  // A calibration solution applied while the imaging MS is written from DATA
  // (set by the image stage, not configuration: ImagingMsOptions::correct).
  ImagingMsOptions::Corrector correct;
  std::string correct_label;
  ImagingMsOptions::Sink write_back;  // ImagingMsOptions::write_back (set by the image stage)
  std::function<void()> write_back_done;

  // imaging.* keys; throws ConfigError (e.g. a malformed imaging.phase_centre).
  static ImagerOptions from_config(const config::Config& cfg);
};

// "RA,DEC" in degrees -> radians; throws ConfigError.
astro::SkyDirection parse_phase_centre(const std::string& text);

// The product paths of a group in its products directory.
struct ImageProducts {
  std::filesystem::path image, residual, model, psf, pb, pbcor, quicklook, log, imaging_ms;
  static ImageProducts in(const std::filesystem::path& dir, const std::string& group_id);
};

struct ImagerResult {
  ImageProducts products;
  ImagingMsResult rephase;
  ImageStats stats;
  double cell_arcsec = 0;
  int size_px = 0;
  std::optional<double> bmaj_deg, bmin_deg, bpa_deg, freq_hz;
  double seconds_wsclean = 0, seconds_pb = 0, seconds_products = 0, seconds_total = 0;
  // The drift correction (all zero when it is off or there is no CLEAN): its
  // pass over the imaging MS, and the times of the bright-source pass and of
  // everything after it (reading its models, the subtraction); with
  // drift_subtract, restoring the components after the full run.
  DriftCorrectionStats drift;
  double seconds_bright_pass = 0, seconds_drift = 0, seconds_restore = 0;
  std::size_t drift_restored = 0;  // components subtracted whole and restored (drift_subtract)
};

class Imager {
 public:
  Imager(const astro::Observatory& observatory, ImagerOptions options)
      : observatory_(observatory), options_(std::move(options)) {}

  // Images `ms` into `products_dir` (created if needed). Throws on failure
  // (InputError: bad MS; IoError: WSClean missing, unreadable files; Error:
  // WSClean failed; Cancelled: `interrupts` saw a signal, WSClean is
  // stopped); the WSClean log is written to products.log in any case.
  ImagerResult run(const std::filesystem::path& ms, const std::filesystem::path& products_dir,
                   const std::string& group_id, const InterruptGuard* interrupts = nullptr) const;

 private:
  // The bright-source pass and the drift subtraction (docs/imaging.md §3a).
  // Returns the components to add back to the model (drift_subtract), else none.
  std::vector<ModelPixel> correct_drift(ImagerResult& res, const std::filesystem::path& imaging_ms,
                                        const std::filesystem::path& staging,
                                        const std::filesystem::path& wsclean_tmp, double averaging,
                                        const std::string& group_id,
                                        const InterruptGuard* interrupts) const;

  const astro::Observatory& observatory_;
  ImagerOptions options_;
};

}  // namespace contimg::imaging
