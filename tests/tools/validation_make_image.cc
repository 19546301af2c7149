// Writes a synthetic PB-corrected image and its truth JSON (tests/support/
// synthetic_image.h) for the validation integration test:
//   validation_make_image OUT_DIR STEM [--flux-scale F] [--shift-ra ARCSEC] [--seed N]
//                         [--size PIXELS] [--cell ARCSEC] [--pb-cut F] [--sources N]
// --sources N: N sources, the default SNR list repeated (a crowded field for profiling).
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>

#include "support/synthetic_image.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: validation_make_image OUT_DIR STEM [--flux-scale F] [--shift-ra ARCSEC] [--seed N] [--size PIXELS] [--cell ARCSEC] [--pb-cut F] [--sources N]\n";
    return 2;
  }
  contimg::testing::SyntheticOptions o;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--flux-scale") o.flux_scale = std::atof(argv[i + 1]);
    else if (k == "--shift-ra") o.shift_ra_arcsec = std::atof(argv[i + 1]);
    else if (k == "--seed") o.seed = static_cast<unsigned>(std::atoi(argv[i + 1]));
    else if (k == "--size") o.n = std::atoi(argv[i + 1]);
    else if (k == "--cell") o.cell_arcsec = std::atof(argv[i + 1]);
    else if (k == "--pb-cut") o.pb_cut = std::atof(argv[i + 1]);
    else if (k == "--sources") {
      const auto base = o.snrs;
      o.snrs.resize(static_cast<std::size_t>(std::max(1, std::atoi(argv[i + 1]))));
      for (std::size_t s = 0; s < o.snrs.size(); ++s) o.snrs[s] = base[s % base.size()];
    }
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  const auto img = contimg::testing::make_synthetic_image(o);
  std::cout << contimg::testing::write_synthetic(img, argv[1], argv[2]).string() << "\n";
  return 0;
}
