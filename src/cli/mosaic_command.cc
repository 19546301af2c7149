// contimg mosaic START END --out FILE (issue 15; docs/science-products.md "Mosaics"):
// the group images of the images table in [START, END] combined by the
// mosaicking library (src/mosaic) into a primary-beam-weighted linear mosaic,
// with its weight and noise maps beside it. Reads the state database; writes
// only the three FITS files (each to a temporary name, then renamed).
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "common/error.h"
#include "common/resources.h"
#include "grouping/utc_time.h"
#include "io/fits/fits_image.h"
#include "mosaic/mosaic.h"
#include "photometry/photometry_stage.h"
#include "state/images.h"
#include "state/state_db.h"

namespace contimg::cli {
namespace fs = std::filesystem;
namespace {

struct MosaicOptions {
  std::string start, end, out, db;
};

struct Loaded {
  std::string group_id;
  fs::path path, pb_path;
  bool pb_corrected = true;
  fits::Image image, pb;
  std::vector<float> apparent;
};

// "<stem>.weight.fits" / "<stem>.noise.fits" beside "<stem>.fits".
fs::path sibling(const fs::path& out, const std::string& what) {
  std::string name = out.filename().string();
  if (name.size() > 5 && name.ends_with(".fits")) name.resize(name.size() - 5);
  return out.parent_path() / (name + "." + what + ".fits");
}

Loaded load(const state::ImageRecord& r) {
  Loaded l;
  l.group_id = r.group_id;
  l.pb_corrected = !r.pbcor_path.empty() && fs::exists(r.pbcor_path);
  l.path = l.pb_corrected ? fs::path(r.pbcor_path) : fs::path(r.image_path);
  if (!fs::exists(l.path)) {
    throw InputError(fmt::format("group {}: its image {} (images table) does not exist", r.group_id,
                                 l.path.string()));
  }
  l.image = fits::read_image(l.path);
  if (!l.image.beam && r.bmaj_arcsec && r.bmin_arcsec) {
    l.image.beam = fits::Beam{*r.bmaj_arcsec / 3600, *r.bmin_arcsec / 3600, r.bpa_deg.value_or(0)};
  }
  if (!l.image.beam)
    throw InputError(fmt::format("{}: no restoring beam (BMAJ/BMIN)", l.path.string()));
  // The imaging stage's PB beside the image, else the one beam model about the centre.
  const fs::path pb_file = l.path.parent_path() / (r.group_id + ".pb.fits");
  if (fs::exists(pb_file)) {
    l.pb = fits::read_image(pb_file);
    l.pb_path = pb_file;
    if (l.pb.nx != l.image.nx || l.pb.ny != l.image.ny) {
      throw InputError(fmt::format("{}: {} x {} pixels, its image {} has {} x {}", pb_file.string(),
                                   l.pb.nx, l.pb.ny, l.path.string(), l.image.nx, l.image.ny));
    }
  } else {
    l.pb = photometry::model_primary_beam(l.image);
  }
  // The library takes the apparent image (before PB correction): pbcor × PB.
  l.apparent = l.image.pixels;
  if (l.pb_corrected) {
    for (std::size_t k = 0; k < l.apparent.size(); ++k) l.apparent[k] *= l.pb.pixels[k];
  }
  return l;
}

nlohmann::json beam_json(const fits::Beam& b) {
  return {{"bmaj_arcsec", b.major_deg * 3600},
          {"bmin_arcsec", b.minor_deg * 3600},
          {"bpa_deg", b.pa_deg}};
}

}  // namespace

void register_mosaic_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<MosaicOptions>();
  auto* cmd = app.add_subcommand(
      "mosaic",
      "Primary-beam-weighted linear mosaic of the group images in [START, END] (images table), "
      "convolved to a common restoring beam, with weight and noise maps beside it");
  cmd->add_option("start", o->start, "First group time (UTC, e.g. 2025-01-01 or 2025-01-01T06:00)")
      ->required();
  cmd->add_option("end", o->end, "Last group time (UTC; a date alone means the whole day)")
      ->required();
  cmd->add_option("--out", o->out, "Mosaic FITS; FILE.weight.fits and FILE.noise.fits go beside it")
      ->required();
  cmd->add_option("--db", o->db, "State database file (= paths.state_db)");
  cmd->footer(
      "Config keys: mosaic.pb_cutoff (0.1), mosaic.cell_arcsec (0 = the inputs' pixel). "
      "Exit 0 written; 2 bad arguments or configuration; 3 no image in the range or an unusable "
      "image; 4 disk or permissions (nothing written for 2 and 3).");
  cmd->callback([&ctx, o] {
    if (!o->db.empty()) ctx.command_overrides.push_back({"paths.state_db", o->db, "--db"});
    ctx.action = [&ctx, o] {
      const auto t0 = std::chrono::steady_clock::now();
      const auto& cfg = ctx.config();
      const std::int64_t first = grouping::parse_utc_bound(o->start, false, "START");
      const std::int64_t last = grouping::parse_utc_bound(o->end, true, "END");
      if (last < first) {
        throw ConfigError(fmt::format("END ({}) is before START ({})", grouping::epoch_to_iso(last),
                                      grouping::epoch_to_iso(first)));
      }
      const fs::path out = fs::absolute(o->out).lexically_normal();
      if (!fs::is_directory(out.parent_path())) {
        throw ConfigError(fmt::format("--out {}: directory {} does not exist", out.string(),
                                      out.parent_path().string()));
      }
      std::vector<state::ImageRecord> records;
      {
        state::StateDb::Options dbo;
        dbo.create = false;
        state::StateDb db(state::StateDb::resolve_path(cfg), dbo);
        for (const auto& g : state::imaged_groups_in_range(db, grouping::epoch_to_iso(first),
                                                           grouping::epoch_to_iso(last))) {
          if (auto r = state::image_record(db, g)) records.push_back(std::move(*r));
        }
      }
      if (records.empty()) {
        throw InputError(fmt::format("mosaic: no group image in the images table between {} and {}",
                                     grouping::epoch_to_iso(first), grouping::epoch_to_iso(last)));
      }
      auto progress = ctx.progress("mosaic", 3 * records.size() + 1, "steps");
      std::vector<Loaded> loaded;
      loaded.reserve(records.size());
      for (const auto& r : records) {
        loaded.push_back(load(r));
        if (progress) progress->advance(1);
      }
      std::vector<mosaic::Input> inputs;
      for (const auto& l : loaded) {
        inputs.push_back({l.path.string(), l.image.nx, l.image.ny, l.apparent, l.pb.pixels,
                          l.image.wcs.get(), *l.image.beam, std::nullopt});
      }
      mosaic::Options mo;
      mo.pb_cutoff = cfg.get_double("mosaic.pb_cutoff");
      mo.cell_deg = cfg.get_double("mosaic.cell_arcsec") / 3600;
      mo.noise.threads = Resources::from_config(cfg).threads;  // the noise maps' box statistics
      const auto m =
          mosaic::make_mosaic(inputs, mo, [&](std::size_t, std::size_t, const std::string& what) {
            if (progress && what != "done") progress->advance(1);
          });
      // One frequency and date for the header: the inputs' mean and the first.
      double fsum = 0;
      int fn = 0;
      for (const auto& l : loaded) {
        if (l.image.freq_hz) fsum += *l.image.freq_hz, ++fn;
      }
      auto spec = m.grid;
      spec.freq_hz = fn ? fsum / fn : 1.4e9;
      spec.date_obs = loaded.front().image.date_obs;
      spec.extra_keys = {{"ORIGIN", "contimg mosaic"},
                         {"MOSFIRST", records.front().group_id},
                         {"MOSLAST", records.back().group_id},
                         {"MOSNIMG", std::to_string(records.size())}};
      const fs::path weight_path = sibling(out, "weight"), noise_path = sibling(out, "noise");
      auto wspec = spec;
      wspec.bunit = "1/(JY/BEAM)**2";
      wspec.beam.reset();
      fits::write_image(weight_path, m.weight, wspec);
      fits::write_image(noise_path, m.noise, spec);
      fits::write_image(out, m.image,
                        spec);  // last: the mosaic appears with its maps already beside it
      if (progress) progress->advance(1);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

      if (ctx.json()) {
        nlohmann::json in = nlohmann::json::array();
        for (std::size_t i = 0; i < loaded.size(); ++i) {
          in.push_back(
              {{"group_id", loaded[i].group_id},
               {"image", loaded[i].path.string()},
               {"pb_corrected", loaded[i].pb_corrected},
               {"pb", loaded[i].pb_path.empty() ? nlohmann::json("model")
                                                : nlohmann::json(loaded[i].pb_path.string())},
               {"beam", beam_json(*loaded[i].image.beam)},
               {"kernel", beam_json(m.kernels[i])},
               {"sigma_jy", m.sigma_jy[i]}});
        }
        std::cout << nlohmann::json{{"mosaic", out.string()},
                                    {"weight", weight_path.string()},
                                    {"noise", noise_path.string()},
                                    {"beam", beam_json(*m.grid.beam)},
                                    {"grid",
                                     {{"nx", m.grid.nx},
                                      {"ny", m.grid.ny},
                                      {"ra_deg", m.grid.ra0_deg},
                                      {"dec_deg", m.grid.dec0_deg},
                                      {"cell_arcsec", m.grid.cell_deg * 3600},
                                      {"projection", "SIN"}}},
                                    {"pb_cutoff", mo.pb_cutoff},
                                    {"inputs", in},
                                    {"seconds", seconds}}
                         .dump(2)
                  << "\n";
      } else {
        std::cout << fmt::format(
            "mosaic of {} images ({} .. {}): {} x {} pixels of {:.2f}\", beam {:.1f}\" x {:.1f}\" "
            "PA {:.1f} "
            "in {:.1f} s\n  {}\n  {}\n  {}\n",
            records.size(), records.front().group_id, records.back().group_id, m.grid.nx, m.grid.ny,
            m.grid.cell_deg * 3600, m.grid.beam->major_deg * 3600, m.grid.beam->minor_deg * 3600,
            m.grid.beam->pa_deg, seconds, out.string(), weight_path.string(), noise_path.string());
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
