#include "astro/time.h"

#include <erfa.h>

#include <cmath>

#include <fmt/format.h>

namespace contimg::astro {

std::string jd_utc_to_iso(double jd_utc, int decimals) {
  int y = 0, m = 0, d = 0, hmsf[4] = {0, 0, 0, 0};
  // Split the date for precision: integer-and-a-half day plus fraction.
  const double jd1 = std::floor(jd_utc - 0.5) + 0.5;
  const double jd2 = jd_utc - jd1;
  if (eraD2dtf("UTC", decimals, jd1, jd2, &y, &m, &d, hmsf) != 0) {
    return fmt::format("JD{:.6f}", jd_utc);
  }
  std::string out = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}", y, m, d, hmsf[0],
                                hmsf[1], hmsf[2]);
  if (decimals > 0) out += fmt::format(".{:0{}d}", hmsf[3], decimals);
  return out;
}

}  // namespace contimg::astro
