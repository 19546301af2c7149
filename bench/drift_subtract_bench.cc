// The drift correction's subtraction alone (imaging::DriftCorrection::subtract,
// docs/imaging.md 3a) on the shape of a full-size group's imaging MS: 486
// components (the 3C286 field's bright-source model), 24 integrations, 48
// channels, two integrations' rows (9312) per call. Prints a JSON line with the
// best of --repeat calls. Used to compare compiler flags (docs/perf.md "-O3"):
// the per-call time, not the chain, is what a flag changes.
//
//   drift_subtract_bench [--repeat N]
#include <algorithm>
#include <chrono>
#include <complex>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "imaging/drift_correction.h"

int main(int argc, char** argv) {
  int repeat = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: drift_subtract_bench [--repeat N]\n");
      return 2;
    }
  }
  using namespace contimg;
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-0.02, 0.02);
  const double ra0 = 3.5, dec0 = 0.53;
  std::vector<imaging::DriftComponent> comps;
  for (int i = 0; i < 486; ++i) {
    imaging::DriftComponent c;
    c.ra_rad = ra0 + u(rng);
    c.dec_rad = dec0 + u(rng);
    c.flux_jy = 0.1 + i * 0.001;
    comps.push_back(c);
  }
  std::vector<astro::SkyDirection> pointings;
  for (int k = 0; k < 24; ++k) pointings.push_back({ra0 - 0.011 + k * 0.001, dec0});
  const std::size_t nchan = 48, ncorr = 2, nrow = 4656 * 2;
  std::vector<double> freq(nchan), beam_freqs{1.31e9, 1.5e9};
  for (std::size_t c = 0; c < nchan; ++c) freq[c] = 1.31e9 + c * 0.19e9 / nchan;
  const imaging::DriftCorrection dc(comps, {ra0, dec0}, pointings, freq, beam_freqs, 0.0);
  std::vector<std::complex<float>> data(nrow * nchan * ncorr);
  std::vector<double> uvw(nrow * 3);
  std::vector<std::size_t> integration(nrow);
  for (std::size_t r = 0; r < nrow; ++r) {
    uvw[3 * r] = u(rng) * 5e4;
    uvw[3 * r + 1] = u(rng) * 5e4;
    uvw[3 * r + 2] = u(rng) * 1e3;
    integration[r] = r / 4656;
  }
  const std::size_t hands[2] = {0, 1};
  double best = 1e300;
  for (int i = 0; i < repeat; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    dc.subtract(data.data(), nrow, nchan, 0, ncorr, hands, uvw.data(), integration.data());
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  // The checksum ties runs of different builds to the same arithmetic.
  double sum = 0;
  for (const auto& v : data) sum += std::abs(v);
  std::printf(
      "{\"components\":%zu,\"rows\":%zu,\"channels\":%zu,\"repeat\":%d,\"best_s\":%.4f,"
      "\"checksum\":%.9g}\n",
      dc.components(), nrow, nchan, repeat, best, sum);
  return 0;
}
