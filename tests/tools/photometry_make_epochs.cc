// Writes the multi-epoch field of the photometry acceptance test (issue 15):
//   photometry_make_epochs OUT_DIR
// 10 synthetic PB-corrected images of one field on consecutive days
// (tests/support/synthetic_image.h): steady sources, one 3x brighter in epoch
// 5 (index 4), one fading linearly to nothing (index 7), one transient present
// in the last 3 epochs only and absent from the reference (index 11).
// OUT_DIR/epoch_NN.pbcor.fits, OUT_DIR/reference.json (the truth without the
// transient), OUT_DIR/epochs.json (every source's rendered flux per epoch).
#include <fstream>
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "support/synthetic_image.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: photometry_make_epochs OUT_DIR\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  constexpr int kEpochs = 10, kFlare = 4, kFading = 7, kTransient = 11;
  contimg::testing::SyntheticOptions o;
  o.n = 256;
  o.cell_arcsec = 5;
  o.seed = 7;
  o.snrs = {8, 10, 12, 15, 25, 30, 40, 50, 60, 80, 100, 30, 150, 200, 300, 20};
  o.hidden = {kTransient};
  nlohmann::json epochs = nlohmann::json::array();
  for (int e = 0; e < kEpochs; ++e) {
    o.render_factors.assign(o.snrs.size(), 1.0);
    o.render_factors[kFlare] = e == 4 ? 3.0 : 1.0;
    o.render_factors[kFading] = (kEpochs - 1 - e) / double(kEpochs - 1);
    o.render_factors[kTransient] = e >= kEpochs - 3 ? 1.0 : 0.0;
    o.noise_seed = 1000 + e;
    o.date_obs = fmt::format("2025-03-{:02d}T06:00:00.0", 1 + e);
    const auto img = contimg::testing::make_synthetic_image(o);
    const auto path = dir / fmt::format("epoch_{:02d}.pbcor.fits", e);
    contimg::fits::write_image(path, img.pixels, img.spec);
    nlohmann::json fluxes = nlohmann::json::object();
    for (std::size_t k = 0; k < o.snrs.size(); ++k) {
      fluxes[fmt::format("S{}", k)] = o.snrs[k] * o.noise_jy * o.render_factors[k];
    }
    epochs.push_back({{"image", path.string()}, {"date_obs", o.date_obs}, {"flux_jy", fluxes}});
    if (e == 0) contimg::testing::write_synthetic(img, dir, "reference");
  }
  std::ofstream(dir / "epochs.json") << nlohmann::json{
      {"epochs", epochs},
      {"noise_jy", o.noise_jy},
      {"flare", "S4"},
      {"fading", "S7"},
      {"transient", "S11"}}.dump(1);
  std::cout << dir.string() << "\n";
  return 0;
}
