#pragma once
// Driving WSClean (SPEC §6): its parameters (from imaging.* configuration),
// the cell size rule, the argv (no shell: paths are passed as they are) and
// running it with a time-out and its log kept in a file.
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace contimg::config {
class Config;
}

namespace contimg::imaging {

struct WscleanSettings {
  std::string program = "wsclean";
  double field_deg = 3.5;
  double cell_arcsec = 0;          // 0: from the predicted beam (cell_from_beam_arcsec)
  double pixels_per_beam = 4;      // across the minor axis, when the cell is automatic
  // Baseline-dependent averaging, in units of the uv track the longest
  // baseline covers in one integration (baseline_averaging_lambda); 0 = off.
  double baseline_averaging = 0.5;
  double briggs = 0;
  long niter = 100000;
  double auto_mask = 5;            // SPEC §6 says 3; docs/imaging.md §2 "Auto-mask"; 0 = none
  double auto_threshold = 0.5;
  double mgain = 0.8;
  double wgridder_accuracy = 1e-3;  // WSClean -wgridder-accuracy (its default 1e-4); docs/imaging.md
  // > 1: wideband deconvolution, -channels-out N -join-channels
  // -fit-spectral-pol 2; the products are WSClean's MFS images.
  int channels_out = 1;
  int threads = 0;                 // 0: WSClean's default (all cores)
  double abs_mem_gb = 0;           // 0: WSClean's default
  std::chrono::seconds timeout{7200};

  // Reads the imaging.* keys; throws ConfigError on out-of-range values.
  static WscleanSettings from_config(const config::Config& cfg);
};

// The PSF main lobe's minor axis (FWHM, radians) / pixels_per_beam in
// arcsec, rounded down to 0.1″ (so the beam keeps at least that many pixels).
// Throws InputError when a value is not positive.
double cell_from_beam_arcsec(double bmin_rad, double pixels_per_beam);

// WSClean's -baseline-averaging size (wavelengths): `factor` times the uv
// track of the longest baseline in one integration, 2π B_max/λ_min t_int /
// 1 sidereal day. With factor 1 no baseline is averaged over more uv
// distance (hence more time smearing) than the longest already is within
// one integration of the data; a baseline of a tenth of B_max is averaged
// over ten integrations. 0 when `factor` or an input is not positive.
double baseline_averaging_lambda(double factor, double max_uv_m, double max_freq_hz, double integration_s);

// Pixels across field_deg at cell_arcsec, rounded up to an even number.
int image_size_px(double field_deg, double cell_arcsec);

// The WSClean command line: Stokes I, Briggs, w-gridder, auto-masking, the
// multi-SPW -reorder, DATA of `ms` (the imaging MS holds the re-phased
// CORRECTED_DATA or DATA there), products named `prefix`-image.fits etc.
std::vector<std::string> wsclean_argv(const WscleanSettings& s, const std::filesystem::path& ms,
                                      const std::filesystem::path& prefix, const std::filesystem::path& temp_dir,
                                      double cell_arcsec, int size_px, double averaging_lambda = 0);

// WSClean's file name for an image `kind` ("image", "model", …) of `prefix`:
// prefix-kind.fits, or prefix-MFS-kind.fits with channels_out > 1.
std::filesystem::path wsclean_output(const std::filesystem::path& prefix, int channels_out, const std::string& kind);

// Runs argv with the settings' time-out, output into `log`. Throws IoError
// (WSClean missing from PATH; a failure whose log says the disk is full),
// Cancelled (`cancel` turned true: WSClean and its process group are stopped
// first) or Error (non-zero exit, signal, time-out) whose message ends with
// the last lines of the log.
void run_wsclean(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                 const std::filesystem::path& log, const std::function<bool()>& cancel = {});

// True when a log or message reports a full disk (ENOSPC, "No space left on
// device"; also "Disk quota exceeded").
bool says_disk_full(const std::string& text);

// The last `lines` lines of a text file ("" when unreadable).
std::string tail_of_file(const std::filesystem::path& path, int lines);

}  // namespace contimg::imaging
