#pragma once

#include <cmath>

namespace contimg {

// Right ascension in [0, 360) deg: WCS libraries and casacore hand back
// (-180, 180], catalogues and users expect the conventional range.
inline double wrap_ra_deg(double ra_deg) {
  const double r = std::fmod(ra_deg, 360.0);
  return r < 0 ? r + 360.0 : r;
}

}  // namespace contimg
