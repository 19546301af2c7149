#pragma once
// Re-phasing visibilities to a common phase centre (SPEC §6), on plain
// buffers. Derivation in docs/imaging.md: with uvw = ant2 − ant1 and
// V = S exp(+2πi b·(s − s0)/λ), moving the phase centre from s0 to s1 gives
//   V' = V · exp(+2πi (w0 − w1) ν / c),   w_k = b·s_k,
// where w0 is the row's W toward its own field and w1 its W toward the new
// centre, both in the converter's frame (astro::Observatory::uvw_frame).
#include <complex>
#include <cstddef>
#include <span>
#include <vector>

#include "astro/astrometry.h"

namespace contimg::imaging {

// data: [row][chan][corr]; w_old_m / w_new_m: one per row; freq_hz: one per
// channel. Multiplies in place. Throws InputError on inconsistent sizes.
void rephase_visibilities(std::span<std::complex<float>> data, std::size_t ncorr,
                          std::span<const double> freq_hz, std::span<const double> w_old_m,
                          std::span<const double> w_new_m);

// UVW (m, [row][3]) of rows (ant1, ant2) at one time toward `centre`, from
// ITRF antenna positions: the converter's computation (pyuvdata convention).
class UvwCalculator {
 public:
  UvwCalculator(const astro::Observatory& observatory, std::vector<astro::Vec3> antenna_itrf)
      : observatory_(observatory), antennas_(std::move(antenna_itrf)) {}

  // Throws InputError when an antenna index is out of range.
  void compute(const astro::SkyDirection& centre, double jd_utc, std::span<const int> ant1,
               std::span<const int> ant2, std::span<double> uvw_out) const;

 private:
  const astro::Observatory& observatory_;
  std::vector<astro::Vec3> antennas_;
};

// The pointing declination (observed, HA = 0) a meridian field was made for:
// the observed Dec of its ICRS centre at its epoch.
double pointing_dec(const astro::Observatory& observatory, const astro::SkyDirection& field_icrs,
                    double field_jd_utc);

}  // namespace contimg::imaging
