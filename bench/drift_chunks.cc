// The chunked route to the drifting beam (issue 14 Deliver 3; docs/imaging.md
// 3a "K time chunks, measured"): combines K time-chunk images of one group
// (WSClean -intervals-out K, apparent, not PB-corrected) into the group image
// with a primary-beam-weighted linear mosaic (mosaic::make_mosaic, the one
// mosaicking code), each chunk with its own beam: the Airy beam averaged over
// the chunk's integrations (imaging::effective_beam, the one beam model).
//
//   drift_chunks GROUP_MS OUT_PREFIX CHUNK_0.fits ... CHUNK_K-1.fits
//
// GROUP_MS: the group's MS (its FIELD table: one field per integration, in
// time order; its SPWs: the beam's frequencies). Writes OUT_PREFIX.image.fits
// (the mosaic: a PB-corrected estimate of the sky), OUT_PREFIX.pb.fits
// (sqrt(W / max W): the noise map of the mosaic is the central noise over it,
// as `contimg validate --pb` expects), OUT_PREFIX.weight.fits and a JSON line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "astro/astrometry.h"
#include "imaging/primary_beam_image.h"
#include "io/fits/fits_image.h"
#include "io/ms/casa_table.h"
#include "mosaic/mosaic.h"

namespace {

using namespace contimg;

struct GroupBeamInputs {
  std::vector<astro::SkyDirection> pointings;  // per integration, time order
  std::vector<double> freqs_hz;                // SPW centres, as the imager takes them
};

GroupBeamInputs read_group(const std::string& ms_path) {
  GroupBeamInputs g;
  const ms::CasaTable main(ms_path);
  const auto field = main.subtable("FIELD");
  std::vector<std::pair<double, astro::SkyDirection>> rows;
  for (std::uint64_t r = 0; r < field.nrow(); ++r) {
    const auto v = field.get_cell<double>("PHASE_DIR", r).values;
    rows.push_back({field.get<double>("TIME", r), {v.at(0), v.at(1)}});
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& r : rows) g.pointings.push_back(r.second);
  const auto spw = main.subtable("SPECTRAL_WINDOW");
  for (std::uint64_t r = 0; r < spw.nrow(); ++r) {
    const auto f = spw.get_cell<double>("CHAN_FREQ", r).values;
    if (!f.empty()) g.freqs_hz.push_back(0.5 * (f.front() + f.back()));
  }
  return g;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: drift_chunks GROUP_MS OUT_PREFIX CHUNK_0.fits ... CHUNK_K-1.fits\n");
    return 2;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string prefix = argv[2];
    const auto group = read_group(argv[1]);
    const std::size_t K = static_cast<std::size_t>(argc - 3), n = group.pointings.size();
    if (n % K != 0) {
      std::fprintf(stderr, "%zu integrations do not split into %zu equal chunks\n", n, K);
      return 2;
    }
    std::vector<fits::Image> images;
    std::vector<std::vector<float>> beams;
    std::vector<mosaic::Input> inputs;
    for (std::size_t k = 0; k < K; ++k) images.push_back(fits::read_image(argv[3 + k]));
    for (std::size_t k = 0; k < K; ++k) {
      const std::span<const astro::SkyDirection> chunk(group.pointings.data() + k * n / K, n / K);
      beams.push_back(imaging::effective_beam_on_grid(
          *images[k].wcs, static_cast<std::size_t>(images[k].nx),
          static_cast<std::size_t>(images[k].ny), chunk, group.freqs_hz));
    }
    for (std::size_t k = 0; k < K; ++k) {
      const auto& im = images[k];
      if (!im.beam) throw std::runtime_error(im.path.string() + ": no restoring beam");
      mosaic::Input in;
      in.name = im.path.filename().string();
      in.nx = im.nx;
      in.ny = im.ny;
      in.apparent = im.pixels;
      in.pb = beams[k];
      in.wcs = im.wcs.get();
      in.beam = *im.beam;
      inputs.push_back(in);
    }
    mosaic::Options opt;
    opt.pb_cutoff = 0.1;
    const auto res = mosaic::make_mosaic(inputs, opt);
    const std::size_t npix = res.image.size();
    float wmax = 0;
    for (float w : res.weight)
      if (std::isfinite(w)) wmax = std::max(wmax, w);
    std::vector<float> pb(npix);
    for (std::size_t i = 0; i < npix; ++i)
      pb[i] = std::isfinite(res.weight[i]) && wmax > 0 ? std::sqrt(res.weight[i] / wmax) : NAN;
    auto spec = res.grid;
    spec.freq_hz = images[0].freq_hz.value_or(spec.freq_hz);
    spec.date_obs = images[0].date_obs;
    fits::write_image(prefix + ".image.fits", res.image, spec);
    spec.bunit = "";
    fits::write_image(prefix + ".pb.fits", pb, spec);
    fits::write_image(prefix + ".weight.fits", res.weight, spec);
    nlohmann::json j = {
        {"chunks", K},
        {"integrations_per_chunk", n / K},
        {"sigma_jy", res.sigma_jy},
        {"beam_arcsec", {res.grid.beam->major_deg * 3600, res.grid.beam->minor_deg * 3600}},
        {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drift_chunks: %s\n", e.what());
    return 1;
  }
}
