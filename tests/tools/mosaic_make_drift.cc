// Writes the mosaic acceptance test's inputs (issue 15):
//   mosaic_make_drift OUT_DIR STATE_DB
// 5 consecutive synthetic PB-corrected group images along a drift at Dec
// 37.2° (the real cadence: 309 s = 1.2875° of RA apart; tiny 160² images of
// 40" cells, so the PB falls to ~0.55 at the corners), each with its own
// restoring beam and noise (beam-correlated, 1 mJy at the centre growing as
// 1/PB), sources in the overlaps and in single coverage
// (tests/support/synthetic_image.h). Each is registered in STATE_DB's images
// table as its group's image, as the imaging stage would. OUT_DIR/truth.json
// lists the sources, the group ids and the noise. The inputs are synthetic
// images, not imaged visibilities.
#include <fstream>
#include <iostream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "grouping/utc_time.h"
#include "state/images.h"
#include "state/state_db.h"
#include "support/synthetic_image.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: mosaic_make_drift OUT_DIR STATE_DB\n";
    return 2;
  }
  namespace t = contimg::testing;
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  constexpr int kImages = 5, kN = 160;
  constexpr double kCell = 40, kDec = 37.2, kRa0 = 150, kStep = 309.0 / 240, kNoise = 1e-3;
  const contimg::fits::Beam beams[kImages] = {{200 / 3600., 140 / 3600., 0},
                                              {190 / 3600., 150 / 3600., 30},
                                              {210 / 3600., 140 / 3600., -20},
                                              {200 / 3600., 145 / 3600., 60},
                                              {195 / 3600., 140 / 3600., 10}};
  // Midpoints of two overlaps and single-coverage sources; S/N ≥ 150 so that
  // 3 % is several times the forced-flux error (beam-correlated noise).
  const std::vector<t::PlacedSource> sky = {{kRa0 + 2.5 * kStep, kDec + 0.1, 0.3},
                                            {kRa0 + 1.5 * kStep, kDec - 0.2, 0.2},
                                            {kRa0 + 3.5 * kStep, kDec + 0.25, 0.25},
                                            {kRa0, kDec - 0.3, 0.2},
                                            {kRa0 + 4 * kStep, kDec + 0.05, 0.15}};
  contimg::state::StateDb db(argv[2]);
  const std::int64_t t0 = *contimg::grouping::civil_to_epoch(2025, 1, 1, 6, 0, 0);
  nlohmann::json groups = nlohmann::json::array();
  for (int i = 0; i < kImages; ++i) {
    contimg::fits::ImageSpec s;
    s.nx = s.ny = kN;
    s.ra0_deg = kRa0 + i * kStep;
    s.dec0_deg = kDec;
    s.cell_deg = kCell / 3600;
    s.beam = beams[i];
    s.bandwidth_hz = 187.5e6;
    const std::int64_t epoch = t0 + 309 * i;
    const std::string group = contimg::grouping::epoch_to_iso(epoch);
    s.date_obs = group + ".0";
    const auto pixels = t::render_pbcor(s, sky, kNoise, 0.3, 100 + i);
    const auto path = dir / fmt::format("{}.pbcor.fits", group);
    contimg::fits::write_image(path, pixels, s);
    contimg::state::ImageRecord r;
    r.group_id = group;
    r.ms_path = (dir / (group + ".ms")).string();
    r.data_column = "CORRECTED_DATA";
    r.image_path = (dir / (group + ".image.fits")).string();  // not written: the pbcor is used
    r.pbcor_path = std::filesystem::absolute(path).string();
    r.centre_ra_deg = s.ra0_deg;
    r.centre_dec_deg = s.dec0_deg;
    r.freq_hz = s.freq_hz;
    r.cell_arcsec = kCell;
    r.size_px = kN;
    r.rms_jy = kNoise;
    r.bmaj_arcsec = beams[i].major_deg * 3600;
    r.bmin_arcsec = beams[i].minor_deg * 3600;
    r.bpa_deg = beams[i].pa_deg;
    r.contimg_version = "synthetic";
    contimg::state::upsert_image(db, r);
    groups.push_back(group);
  }
  nlohmann::json src = nlohmann::json::array();
  for (const auto& s : sky)
    src.push_back({{"ra_deg", s.ra_deg}, {"dec_deg", s.dec_deg}, {"flux_jy", s.flux_jy}});
  std::ofstream(dir / "truth.json")
      << nlohmann::json{{"groups", groups}, {"sources", src}, {"noise_jy", kNoise}}.dump(1);
  std::cout << dir.string() << "\n";
  return 0;
}
