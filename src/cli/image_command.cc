// `contimg image MS [--out DIR]`: one group's MS to image products (SPEC §6):
// re-phase to a common centre, WSClean, primary beam, QA (docs/imaging.md).

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "chain/chain_runner.h"
#include "cli/app.h"
#include "cli/single_stage.h"
#include "state/state_db.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "imaging/image_stage.h"
#include "io/ms/casa_table.h"
#include "pipeline/runner.h"

namespace contimg::cli {
namespace fs = std::filesystem;
namespace {

struct ImageOptions {
  std::string ms, out, group_id;
};

nlohmann::json result_json(const imaging::ImagerResult& r, const pipeline::StageRecord& st) {
  const auto& m = r.rephase;
  nlohmann::json products = {{"image", r.products.image},     {"residual", r.products.residual},
                             {"model", r.products.model},     {"psf", r.products.psf},
                             {"pb", r.products.pb},           {"pbcor", r.products.pbcor},
                             {"quicklook", r.products.quicklook}, {"wsclean_log", r.products.log}};
  nlohmann::json j = {
      {"products", products},
      {"rephase",
       {{"rows", m.rows},
        {"data_column", m.source_column},
        {"centre_ra_deg", m.centre.ra_rad * 180 / M_PI},
        {"centre_dec_deg", m.centre.dec_rad * 180 / M_PI},
        {"integrations", m.pointings.size()},
        {"max_uv_m", m.max_uv_m},
        {"max_freq_hz", m.max_freq_hz},
        {"seconds", m.seconds_total},
        {"seconds_read", m.seconds_read},
        {"seconds_apply", m.seconds_apply},
        {"seconds_write_back", m.seconds_write_back},
        {"seconds_rephase", m.seconds_rephase},
        {"seconds_write", m.seconds_write},
        {"bytes_read", m.bytes_read},
        {"bytes_written", m.bytes_written}}},
      {"wsclean",
       {{"cell_arcsec", r.cell_arcsec}, {"size_px", r.size_px}, {"seconds", r.seconds_wsclean}}},
      {"drift",
       {{"components", r.drift.components},
        {"seconds_bright_pass", r.seconds_bright_pass},
        {"seconds_subtract", r.seconds_drift},
        {"restored", r.drift_restored},
        {"seconds_restore", r.seconds_restore},
        {"bytes_read", r.drift.bytes_read},
        {"bytes_written", r.drift.bytes_written}}},
      {"qa",
       {{"rms_jy", r.stats.rms},
        {"peak_jy", r.stats.peak},
        {"dynamic_range", r.stats.dynamic_range},
        {"noise_pixels", r.stats.noise_pixels}}},
      {"seconds_pb", r.seconds_pb},
      {"seconds_products", r.seconds_products},
      {"seconds_total", r.seconds_total},
      {"peak_rss_bytes", st.peak_rss}};
  if (r.products.imaging_ms.empty() == false && fs::exists(r.products.imaging_ms)) {
    j["products"]["imaging_ms"] = r.products.imaging_ms;
  }
  if (r.bmaj_deg) j["qa"]["bmaj_arcsec"] = *r.bmaj_deg * 3600;
  if (r.bmin_deg) j["qa"]["bmin_arcsec"] = *r.bmin_deg * 3600;
  if (r.bpa_deg) j["qa"]["bpa_deg"] = *r.bpa_deg;
  if (r.freq_hz) j["qa"]["freq_hz"] = *r.freq_hz;
  if (const auto& b = m.predicted_beam) {
    j["wsclean"]["predicted_beam"] = {{"bmaj_arcsec", b->bmaj_rad * 180 / M_PI * 3600},
                                      {"bmin_arcsec", b->bmin_rad * 180 / M_PI * 3600},
                                      {"bpa_deg", b->bpa_deg}};
  }
  return j;
}

// A path that exists but is no Measurement Set is bad input (InputError, exit
// 3); one that cannot be read (permissions, a failing disk) is the
// environment's (IoError, exit 4). Checked before imaging so that casacore's
// "cannot open" is never the only classification.
void check_is_ms(const fs::path& ms) {
  std::error_code ec;
  const auto st = fs::status(ms, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw IoError(fmt::format("{}: cannot access: {}", ms.string(), ec.message()));
  }
  if (!fs::exists(st)) throw InputError(fmt::format("{}: no such Measurement Set", ms.string()));
  if (!fs::is_directory(st)) {
    throw InputError(fmt::format("{}: not a Measurement Set (a file, not a table directory)", ms.string()));
  }
  auto readable = [](const fs::path& p, int mode) {
    if (::access(p.c_str(), mode) == 0) return;
    throw IoError(fmt::format("{}: cannot read: {}", p.string(), std::strerror(errno)));
  };
  readable(ms, R_OK | X_OK);
  const fs::path dat = ms / "table.dat";
  const auto dat_st = fs::status(dat, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    throw IoError(fmt::format("{}: cannot access: {}", dat.string(), ec.message()));
  }
  if (!fs::exists(dat_st)) {
    throw InputError(fmt::format("{}: not a Measurement Set (no table.dat)", ms.string()));
  }
  readable(dat, R_OK);
  // False also for a table.dat casacore cannot parse.
  if (!ms::CasaTable::is_readable(ms.string())) {
    throw InputError(fmt::format("{}: not a Measurement Set (table.dat is not a casacore table)", ms.string()));
  }
}


}  // namespace

void register_image_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<ImageOptions>();
  auto* cmd = app.add_subcommand("image", "Image one group's MS: common phase centre, WSClean, primary beam, QA");
  cmd->add_option("ms", o->ms, "The group's Measurement Set")->required();
  cmd->add_option("--out", o->out,
                  "Products go to OUT/<group_id>/ (default: the output tree's products/<group_id>/ for an MS the "
                  "pipeline made, else the MS's directory)");
  cmd->add_option("--group", o->group_id,
                  "Group id of an MS the pipeline did not make (default: the indexed group of its first integration)");
  auto set = [&ctx](const char* key, const char* flag) {
    return [&ctx, key, flag](const std::string& v) { ctx.command_overrides.push_back({key, v, flag}); };
  };
  cmd->add_option_function<std::string>("--data-column", set("imaging.data_column", "--data-column"),
                                        "auto, DATA or CORRECTED_DATA");
  cmd->add_option_function<std::string>("--phase-centre", set("imaging.phase_centre", "--phase-centre"),
                                        "Common phase centre RA,DEC (deg, ICRS)");
  cmd->add_option_function<std::string>("--niter", set("imaging.niter", "--niter"), "CLEAN iterations");
  cmd->add_option_function<std::string>("--cell", set("imaging.cell_arcsec", "--cell"), "Pixel size, arcsec (0 = auto)");
  cmd->add_option_function<std::string>("--field", set("imaging.field_deg", "--field"), "Image size, deg");
  cmd->add_option_function<std::string>("--threads", set("imaging.threads", "--threads"), "WSClean threads");
  cmd->add_flag_callback("--keep-ms", [&ctx] { ctx.command_overrides.push_back({"imaging.keep_ms", "true", "--keep-ms"}); },
                         "Keep the re-phased imaging MS beside the products");
  cmd->callback([&ctx, o] {
    ctx.action = [&ctx, o] {
      fs::path ms = fs::path(o->ms);
      while (!ms.empty() && !ms.has_filename()) ms = ms.parent_path();  // "x.ms/" -> "x.ms"
      check_is_ms(ms);
      ms = fs::absolute(ms).lexically_normal();
      state::StateDb db(state::StateDb::resolve_path(ctx.config()));
      const auto job = job_for_ms(db, ms, o->group_id);
      const std::string& group_id = job.group_id;
      // The job's tree is where its products go: the MS's tree (its chain
      // layout) unless --out names another.
      fs::path tree = job.out_root;
      fs::path products_dir = job.registered ? chain::ChainLayout{tree}.products_dir(group_id) : tree / group_id;
      if (!o->out.empty()) {
        tree = fs::absolute(o->out).lexically_normal();
        products_dir = tree / group_id;
      }
      imaging::ImageStage stage(ctx.config());
      const pipeline::Context start(ctx.shared_config(), group_id,
                                    {{"ms_path", ms.string()}, {"products_dir", products_dir.string()}},
                                    &ctx.interrupts());
      // An explicit image command always images again.
      const auto res = run_stage_job(ctx, db, stage, start, tree, /*force=*/true, "image " + ms.string());
      const auto& st = res.record;
      if (!stage.last_result()) throw Error("image " + ms.string() + ": the stage returned no result");
      const auto& r = *stage.last_result();
      auto j = result_json(r, st);
      j["group_id"] = group_id;
      j["ms"] = ms.string();
      if (ctx.json()) {
        std::cout << j.dump(2) << "\n";
      } else {
        std::cout << fmt::format(
            "image {}: {} rows of {} re-phased to RA {:.5f} Dec {:.5f} deg ({} integrations)\n"
            "  {} x {} px of {:.1f}\", beam {:.1f}\" x {:.1f}\" PA {:.1f} deg\n"
            "  rms {:.4g} mJy/beam, peak {:.4g} Jy/beam, dynamic range {:.0f}\n"
            "  drift correction: {} component(s), bright-source pass {:.1f} s, subtraction {:.1f} s\n"
            "  times: re-phase {:.1f} s, WSClean {:.1f} s, PB {:.1f} s, total {:.1f} s; peak RSS {:.0f} MB\n"
            "  products in {}\n",
            group_id, r.rephase.rows, r.rephase.source_column, r.rephase.centre.ra_rad * 180 / M_PI,
            r.rephase.centre.dec_rad * 180 / M_PI, r.rephase.pointings.size(), r.size_px, r.size_px, r.cell_arcsec,
            r.bmaj_deg.value_or(0) * 3600, r.bmin_deg.value_or(0) * 3600, r.bpa_deg.value_or(0), r.stats.rms * 1e3,
            r.stats.peak, r.stats.dynamic_range, r.drift.components, r.seconds_bright_pass, r.seconds_drift,
            r.rephase.seconds_total, r.seconds_wsclean, r.seconds_pb,
            r.seconds_total, st.peak_rss / 1e6, products_dir.string());
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
