#pragma once
// The imaging MS (SPEC §6, docs/imaging.md): a new Measurement Set holding a
// group's visibilities re-phased to one common centre, with one FIELD, so
// that WSClean images all integrations together. The casacore adapter around
// rephase.h: a streaming pass over the input, one (integration, SPW) block at
// a time (bounded memory), written with ms::MsWriter.
#include <complex>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "astro/astrometry.h"
#include "imaging/beam_estimate.h"

namespace contimg::imaging {

struct ImagingMsOptions {
  // "auto" (CORRECTED_DATA when present, else DATA), "DATA" or "CORRECTED_DATA".
  std::string data_column = "auto";
  // Calibrates each block of the source column in place before it is
  // re-phased: applycal fused into this pass when CORRECTED_DATA is not
  // written (calibration.write_corrected_data). A block is rows of one SPW and
  // one integration, [row][chan][corr]; the corrector may flag samples.
  // Arguments: spw, TIME per row, ANTENNA1, ANTENNA2, nchan, ncorr, data, flags.
  using Corrector = std::function<void(int, std::span<const double>, std::span<const int>,
                                       std::span<const int>, std::size_t, std::size_t,
                                       std::span<std::complex<float>>, std::span<std::uint8_t>)>;
  Corrector correct;
  std::string correct_label;  // what `correct` applies ("calset <id>"), for the record and HISTORY
  // With `correct`: receives each block as soon as it is calibrated, before
  // it is re-phased (rows [row0, row0 + n) of the input MS, [row][chan][corr],
  // and their flags), so that the caller writes the input MS's CORRECTED_DATA
  // in this same pass (issue 14 item 4: applycal, re-phasing and channel
  // averaging in one pass). `write_back_done` is called once after the last
  // block, before the imaging MS is finished.
  using Sink =
      std::function<void(std::uint64_t row0, std::size_t n, std::size_t nchan, std::size_t ncorr,
                         std::span<const std::complex<float>>, std::span<const std::uint8_t>)>;
  Sink write_back;
  std::function<void()> write_back_done;
  // The common phase centre (ICRS); none = the meridian at the group's mid time.
  std::optional<astro::SkyDirection> centre;
  std::vector<std::string> command_line;  // for HISTORY
  // Average channels (after re-phasing) to at most this width; 0 = keep them.
  double max_channel_width_hz = 0;
  // One spectral window holding every SPW's channels in frequency order, one
  // row per (integration, baseline): WSClean 3.1 grids each SPW as a
  // separate part (a gridder run and FFTs each), so 16 SPWs cost ~2.5x one.
  bool merge_spws = false;
  // When > 0: the uv coverage is gathered on WSClean's weighting grid for an
  // image this wide (radians) and the restoring beam predicted for Briggs
  // robustness `briggs` (ImagingMsResult::predicted_beam).
  double weighting_field_rad = 0;
  double briggs = 0;
  // From the stage's budget: with 2 or more, reading and calibrating run on a
  // second thread, one block ahead of re-phasing and writing.
  int threads = 1;
};

struct ImagingMsResult {
  std::filesystem::path path;
  std::string source_column;             // the input column re-phased into DATA
  std::string applied_in_pass;           // ImagingMsOptions::correct_label when a corrector ran
  astro::SkyDirection centre;            // ICRS
  double mid_jd_utc = 0;
  double pointing_dec_rad = 0;           // observed Dec of the meridian fields
  std::vector<astro::SkyDirection> pointings;  // ICRS field centre of each integration
  std::vector<double> spw_centre_hz;     // centre of each SPW holding unflagged data
  double max_freq_hz = 0;                // highest unflagged channel
  double max_uv_m = 0;                   // longest unflagged projected baseline
  std::optional<BeamShape> predicted_beam;  // see ImagingMsOptions::weighting_field_rad
  std::string beam_estimate_error;          // why there is none, when one was asked for
  double mid_mjd_s = 0;
  double integration_s = 0;              // INTERVAL of the rows
  double first_mjd_s = 0;                // start of the first integration (DATE-OBS)
  std::uint64_t rows = 0;
  std::size_t channel_average = 1;       // input channels per imaging-MS channel (first SPW)
  bool merged_spws = false;              // the imaging MS holds one SPW (ImagingMsOptions::merge_spws)
  std::uint64_t bytes_read = 0, bytes_written = 0;
  // Per side of the pass; with 2 threads the sides overlap and their sum
  // exceeds seconds_total. Reader: read, apply (the corrector) and
  // write_back + write_back_done (CORRECTED_DATA). Writer: rephase (re-phase,
  // average, uv coverage) and write (the imaging MS).
  double seconds_read = 0, seconds_apply = 0, seconds_write_back = 0;
  double seconds_rephase = 0, seconds_write = 0, seconds_total = 0;
};

// True when the MS main table has the column.
bool ms_has_column(const std::filesystem::path& ms, const std::string& column);

// Writes `out_ms` (must not exist) from `in_ms`. Throws InputError for an MS
// with no rows, a missing requested column or an unsupported layout, IoError
// when a table cannot be read or written; `out_ms` is then incomplete and
// the caller removes it (it is always written into a staging directory).
ImagingMsResult make_imaging_ms(const std::filesystem::path& in_ms, const std::filesystem::path& out_ms,
                                const astro::Observatory& observatory, const ImagingMsOptions& options);

}  // namespace contimg::imaging
