#pragma once
// The drift correction (drift_correction.h) applied to a Measurement Set's
// DATA column in place: the imaging MS, between WSClean's bright-source pass
// and its full run (docs/imaging.md §3a). One pass over DATA, in blocks of
// rows that share a spectral window; the sum over components runs on
// `threads` workers.
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "astro/astrometry.h"
#include "imaging/drift_correction.h"

namespace contimg::imaging {

struct DriftCorrectionStats {
  std::size_t components = 0;     // corrected
  std::vector<std::size_t> kept;  // their indices in the components given (DriftCorrection::kept)
  std::size_t left_out = 0;       // negligible (DriftCorrection)
  double left_out_error_jy = 0;
  std::uint64_t rows = 0;
  std::uint64_t bytes_read = 0, bytes_written = 0;
  double seconds = 0, seconds_compute = 0;  // all, and the sum over components alone
};

// `pointings`: one per integration, in time order (the MS's distinct TIME
// values must be as many); `beam_freqs_hz` as for DriftCorrection. Throws
// InputError when the MS does not match (integrations, SPWs, DDIDs) and
// IoError when it cannot be read or written.
DriftCorrectionStats correct_drift_in_ms(const std::filesystem::path& ms,
                                         std::span<const DriftComponent> components,
                                         const astro::SkyDirection& centre,
                                         std::span<const astro::SkyDirection> pointings,
                                         std::span<const double> beam_freqs_hz,
                                         double negligible_jy, int threads);

}  // namespace contimg::imaging
