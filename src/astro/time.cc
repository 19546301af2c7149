#include "astro/time.h"

#include <erfa.h>

#include <cmath>

#include <fmt/format.h>

#include <cstdio>

#include "common/error.h"

namespace contimg::astro {

double iso_to_jd_utc(const std::string& iso) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, n = 0;
  double s = 0;
  char sep = 0;
  const int got = std::sscanf(iso.c_str(), "%4d-%2d-%2d%c%2d:%2d:%lf%n", &y, &mo, &d, &sep, &h, &mi, &s, &n);
  const bool tail_ok = got == 7 && (static_cast<std::size_t>(n) == iso.size() ||
                                    (static_cast<std::size_t>(n) + 1 == iso.size() && iso.back() == 'Z'));
  double jd1 = 0, jd2 = 0;
  if (!tail_ok || (sep != 'T' && sep != ' ') ||
      eraDtf2d("UTC", y, mo, d, h, mi, s, &jd1, &jd2) < 0) {  // +1 = "dubious year": fine
    throw ConfigError("not a UTC time YYYY-MM-DDTHH:MM:SS: \"" + iso + "\"");
  }
  return jd1 + jd2;
}

std::string jd_utc_to_iso(double jd_utc, int decimals) {
  int y = 0, m = 0, d = 0, hmsf[4] = {0, 0, 0, 0};
  // Split the date for precision: integer-and-a-half day plus fraction.
  const double jd1 = std::floor(jd_utc - 0.5) + 0.5;
  const double jd2 = jd_utc - jd1;
  if (eraD2dtf("UTC", decimals, jd1, jd2, &y, &m, &d, hmsf) < 0) {
    return fmt::format("JD{:.6f}", jd_utc);
  }
  std::string out = fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}", y, m, d, hmsf[0],
                                hmsf[1], hmsf[2]);
  if (decimals > 0) out += fmt::format(".{:0{}d}", hmsf[3], decimals);
  return out;
}

}  // namespace contimg::astro
