#pragma once
// Model visibilities of point sources for calibration (SPEC §5), on plain
// buffers: V = S(nu) A(theta, nu) exp(+2 pi i (u l + v m + w (n - 1)) / lambda),
// the simulator's and the MS's convention (uvw = ant2 - ant1, metres, in the
// ICRS frame of the row's field; l, m, n of the source relative to that
// field's phase centre). A is sky::airy_power at the source's distance from
// the field direction, which for DSA-110 is the meridian at the pointing
// declination at that integration. Unpolarised: XX = YY = I (CASA).
#include <complex>
#include <cstddef>
#include <span>
#include <vector>

#include "calibration/direction.h"
#include "sky/sky_model.h"

namespace contimg::calibration {

// Direction cosines of `src` relative to `centre` (SIN projection).
struct Lmn {
  double l = 0, m = 0, n = 1;
};
Lmn direction_cosines(const Direction& centre, const Direction& src);

// Adds the sources' visibilities to model[row * nchan + chan] for `nrows`
// rows that share the field `centre`. uvw[row * 3 + k] in metres.
void add_point_sources(std::span<const sky::Source> sources, const Direction& centre,
                       std::span<const double> freqs_hz, std::span<const double> uvw,
                       std::size_t nrows, std::span<std::complex<float>> model);

}  // namespace contimg::calibration
