#include "imaging/imager.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <cmath>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "astro/time.h"
#include "common/angles.h"
#include "common/build_info.h"
#include "common/durable.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "common/subprocess.h"
#include "config/config.h"
#include "imaging/drift_correction.h"
#include "imaging/drift_correction_ms.h"
#include "imaging/fits_image.h"
#include "imaging/primary_beam_image.h"
#include "io/fits/fits_image.h"
#include "plot/plot.h"

namespace contimg::imaging {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
constexpr double kDeg = M_PI / 180.0;

void rename_into(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  if (fs::is_directory(to)) fs::remove_all(to, ec);
  durable::rename_into_place(from, to);
}

}  // namespace

astro::SkyDirection parse_phase_centre(const std::string& text) {
  std::istringstream in(text);
  double ra = 0, dec = 0;
  char comma = 0;
  if (!(in >> ra >> comma >> dec) || comma != ',' || !(in >> std::ws).eof() || !std::isfinite(ra) ||
      !std::isfinite(dec) || dec < -90 || dec > 90) {
    throw ConfigError(fmt::format("phase centre must be \"RA,DEC\" in degrees (Dec within ±90), got \"{}\"", text));
  }
  return {wrap_ra_deg(ra) * kDeg, dec * kDeg};
}

ImagerOptions ImagerOptions::from_config(const config::Config& cfg) {
  ImagerOptions o;
  o.wsclean = WscleanSettings::from_config(cfg);
  o.data_column = cfg.get_string("imaging.data_column");
  if (o.data_column != "auto" && o.data_column != "DATA" && o.data_column != "CORRECTED_DATA") {
    throw ConfigError(fmt::format("imaging.data_column must be auto, DATA or CORRECTED_DATA, got \"{}\"", o.data_column));
  }
  const auto centre = cfg.get_string("imaging.phase_centre");
  if (!centre.empty()) o.centre = parse_phase_centre(centre);
  o.pb_cutoff = cfg.get_double("imaging.pb_cutoff");
  if (!(o.pb_cutoff > 0 && o.pb_cutoff < 1)) throw ConfigError("imaging.pb_cutoff must be in (0, 1)");
  o.keep_ms = cfg.get_bool("imaging.keep_ms");
  o.max_channel_width_hz = 1e3 * cfg.get_double("imaging.max_channel_width_khz");
  o.merge_spws = cfg.get_bool("imaging.merge_spws");
  o.drift_correction = cfg.get_bool("imaging.drift_correction");
  o.drift_subtract = cfg.get_bool("imaging.drift_subtract");
  o.drift_threshold_sigma = cfg.get_double("imaging.drift_threshold");
  if (!(o.drift_threshold_sigma > 0)) throw ConfigError("imaging.drift_threshold must be > 0");
  const auto max_comp = cfg.get_int("imaging.drift_max_components");
  if (max_comp < 1) throw ConfigError("imaging.drift_max_components must be >= 1");
  o.drift_max_components = static_cast<std::size_t>(max_comp);
  if (!(o.max_channel_width_hz >= 0)) throw ConfigError("imaging.max_channel_width_khz must be >= 0");
  return o;
}

ImageProducts ImageProducts::in(const fs::path& dir, const std::string& g) {
  return {dir / (g + ".image.fits"), dir / (g + ".residual.fits"), dir / (g + ".model.fits"),
          dir / (g + ".psf.fits"),   dir / (g + ".pb.fits"),       dir / (g + ".pbcor.fits"),
          dir / (g + ".quicklook.png"), dir / (g + ".wsclean.log"), dir / (g + ".imaging.ms")};
}

std::vector<ModelPixel> Imager::correct_drift(ImagerResult& res, const fs::path& imaging_ms,
                                              const fs::path& staging, const fs::path& wsclean_tmp,
                                              double averaging, const std::string& group_id,
                                              const InterruptGuard* interrupts) const {
  const auto t0 = Clock::now();
  // The bright-source pass: the same imaging, cleaned only to
  // drift_threshold_sigma and without the auto-mask stage.
  WscleanSettings bright = options_.wsclean;
  bright.auto_mask = 0;
  bright.auto_threshold = options_.drift_threshold_sigma;
  // Only the bright sources' models are needed, to a few per cent (their
  // errors enter the correction at second order): major cycles that clean
  // 95 % of the peak and a coarser gridder take the pass from 26 to 15 s on
  // a full-size 3C286 group with the same model flux (docs/imaging.md 3a).
  bright.mgain = 0.95;
  bright.wgridder_accuracy = 1e-2;
  // Joined channels give each component its apparent spectrum, which the
  // correction flattens too (a 1.5 Jy source with α = −0.7 otherwise leaves
  // ±4.5 % of itself over the band: docs/imaging.md 3a).
  bright.channels_out = std::max(2, options_.wsclean.channels_out);
  const fs::path prefix = staging / "bright";
  run_wsclean(wsclean_argv(bright, imaging_ms, prefix, wsclean_tmp, res.cell_arcsec, res.size_px,
                           averaging),
              options_.wsclean.timeout, res.products.log, cancel_on(interrupts));
  res.seconds_bright_pass = since(t0);
  // Its log went to the products' log path (kept if this pass fails); the
  // full run writes that path anew and this copy is appended after it.
  fs::copy_file(res.products.log, staging / "bright.wsclean.log", fs::copy_options::overwrite_existing);

  const auto t1 = Clock::now();
  const fs::path model_path = wsclean_output(prefix, bright.channels_out, "model");
  if (!fs::exists(model_path)) {
    throw Error(fmt::format("WSClean exited 0 but wrote no {}; log {}", model_path.string(),
                            res.products.log.string()));
  }
  const FitsPlane model = read_fits_plane(model_path);
  // The pass's residual noise: components whose drift errors add up to less
  // are not worth their cost (DriftCorrection's negligible_jy).
  const fs::path residual_path = wsclean_output(prefix, bright.channels_out, "residual");
  const FitsPlane residual = read_fits_plane(residual_path);
  const double noise = image_stats(residual.pixels, residual.nx, residual.ny).rms;
  const auto bright_pixels =
      brightest_model_pixels(model.pixels, model.nx, 0.0, options_.drift_max_components);
  std::vector<std::pair<double, double>> pix;
  pix.reserve(bright_pixels.size());
  for (const auto& p : bright_pixels)
    pix.emplace_back(static_cast<double>(p.x), static_cast<double>(p.y));
  const auto world =
      pix.empty() ? std::vector<std::pair<double, double>>{} : pixel_to_world(model_path, pix);
  // The per-channel models at their frequencies: each component's spectrum.
  std::vector<std::pair<double, FitsPlane>> channel_models;
  for (int j = 0; j < bright.channels_out; ++j) {
    const fs::path p = prefix.string() + fmt::format("-{:04d}-model.fits", j);
    const auto f = header_double(p, "CRVAL3");
    if (!f)
      throw Error(fmt::format("{}: WSClean's channel model has no CRVAL3 (frequency)", p.string()));
    channel_models.emplace_back(*f, read_fits_plane(p));
    if (channel_models.back().second.pixels.size() != model.pixels.size()) {
      throw Error(fmt::format("{}: {} pixels where the MFS model has {}", p.string(),
                              channel_models.back().second.pixels.size(), model.pixels.size()));
    }
  }
  std::sort(channel_models.begin(), channel_models.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // Components subtracted whole (drift_subtract): those in the inner half of
  // the image. Nearer the edge the pass's gridder (accuracy 1e-2) places and
  // weighs components less well; subtracted whole, those errors became the
  // full run's to clean and its masked stage diverged there (a 3 Jy source
  // 1.5 deg out on the test sky, docs/imaging.md 3a); drift-corrected only,
  // they enter at second order.
  const double cx = 0.5 * model.nx, cy = 0.5 * model.ny, whole_radius_px = 0.5 * cx;
  std::vector<DriftComponent> components;
  components.reserve(world.size());
  for (std::size_t i = 0; i < world.size(); ++i) {
    DriftComponent c{world[i].first * kDeg, world[i].second * kDeg, bright_pixels[i].flux_jy, {}};
    c.whole = options_.drift_subtract &&
              std::hypot(static_cast<double>(bright_pixels[i].x) - cx,
                         static_cast<double>(bright_pixels[i].y) - cy) <= whole_radius_px;
    const auto at = static_cast<std::size_t>(bright_pixels[i].y * model.nx + bright_pixels[i].x);
    for (const auto& [freq, plane] : channel_models)
      c.spectrum.emplace_back(freq, plane.pixels[at]);
    components.push_back(std::move(c));
  }
  // WSClean's products of the pass are not needed again (the staging
  // directory would drop them at the end anyway; this frees the space now).
  for (const auto& entry : fs::directory_iterator(staging)) {
    std::error_code ec;
    const std::string name = entry.path().filename().string();
    if (name.starts_with("bright-") && name.ends_with(".fits")) fs::remove(entry.path(), ec);
  }
  // A drift error e leaves artifacts of ~6 % of e in the image (a rough estimate,
  // docs/imaging.md 3a); components whose errors add up to 5 sigma leave
  // < 0.3 sigma even if their artifacts fell on one pixel.
  constexpr double kNegligibleSigmas = 5;
  const auto st = correct_drift_in_ms(imaging_ms, components, res.rephase.centre,
                                      res.rephase.pointings, res.rephase.spw_centre_hz,
                                      kNegligibleSigmas * noise, options_.wsclean.threads);
  res.drift = st;
  std::vector<ModelPixel> restore;
  for (std::size_t i : st.kept) {
    if (components.at(i).whole) restore.push_back(bright_pixels.at(i));
  }
  res.seconds_drift = since(t1);
  spdlog::info(
      "image {}: drift correction: bright-source pass {:.1f} s (residual noise {:.3g} mJy/beam), "
      "{} component(s) corrected, {} of them subtracted whole to be restored (brightest {:.3g} "
      "Jy), {} left out (drift error {:.3g} mJy together), {} rows in {:.1f} s ({:.1f} s "
      "computing)",
      group_id, res.seconds_bright_pass, noise * 1e3, st.components, restore.size(),
      bright_pixels.empty() ? 0.0 : bright_pixels.front().flux_jy, st.left_out,
      st.left_out_error_jy * 1e3, st.rows, res.seconds_drift, st.seconds_compute);
  return restore;
}

ImagerResult Imager::run(const fs::path& ms, const fs::path& products_dir, const std::string& group_id,
                         const InterruptGuard* interrupts) const {
  const auto t_start = Clock::now();
  ImagerResult res;
  res.products = ImageProducts::in(products_dir, group_id);
  sweep_stale_temp_dirs(products_dir);  // what a killed imaging left here
  ScopedTempDir staging(products_dir, "image-" + group_id, interrupts);
  const ImageProducts staged = ImageProducts::in(staging.path(), group_id);

  ImagingMsOptions mo;
  mo.data_column = options_.data_column;
  mo.centre = options_.centre;
  mo.command_line = options_.command_line;
  mo.max_channel_width_hz = options_.max_channel_width_hz;
  mo.merge_spws = options_.merge_spws;
  mo.weighting_field_rad = options_.wsclean.field_deg * kDeg;
  mo.briggs = options_.wsclean.briggs;
  mo.correct = options_.correct;
  mo.correct_label = options_.correct_label;
  mo.write_back = options_.write_back;
  mo.write_back_done = options_.write_back_done;
  mo.threads = options_.wsclean.threads;
  res.rephase = make_imaging_ms(ms, staged.imaging_ms, observatory_, mo);
  spdlog::info(
      "image {}: re-phased {} rows of {}{} to RA {:.5f} Dec {:.5f} deg, {} channel(s) averaged "
      "into one, in {:.1f} s (reader: read {:.1f} s, calibrate {:.1f} s, CORRECTED_DATA {:.1f} s; "
      "writer: re-phase and average {:.1f} s, write {:.1f} s; {} thread(s))",
      group_id, res.rephase.rows, res.rephase.source_column,
      res.rephase.applied_in_pass.empty() ? "" : " calibrated with " + res.rephase.applied_in_pass,
      res.rephase.centre.ra_rad / kDeg, res.rephase.centre.dec_rad / kDeg,
      res.rephase.channel_average, res.rephase.seconds_total, res.rephase.seconds_read,
      res.rephase.seconds_apply, res.rephase.seconds_write_back, res.rephase.seconds_rephase,
      res.rephase.seconds_write, mo.threads);

  if (const auto& b = res.rephase.predicted_beam) {
    spdlog::info("image {}: predicted PSF main lobe {:.1f}\" x {:.1f}\" PA {:.0f} deg (Briggs {})", group_id,
                 b->bmaj_rad / kDeg * 3600, b->bmin_rad / kDeg * 3600, b->bpa_deg, options_.wsclean.briggs);
  }
  if (options_.wsclean.cell_arcsec > 0) {
    res.cell_arcsec = options_.wsclean.cell_arcsec;
  } else if (res.rephase.predicted_beam) {
    res.cell_arcsec = cell_from_beam_arcsec(res.rephase.predicted_beam->bmin_rad, options_.wsclean.pixels_per_beam);
  } else {
    throw InputError(fmt::format("{}: cannot predict the restoring beam for the automatic cell ({}); set "
                                 "imaging.cell_arcsec", ms.string(), res.rephase.beam_estimate_error));
  }
  res.size_px = image_size_px(options_.wsclean.field_deg, res.cell_arcsec);
  const fs::path prefix = staging.path() / group_id;
  const fs::path wsclean_tmp = staging.path() / "wsclean-tmp";
  fs::create_directories(wsclean_tmp);
  const double averaging =
      baseline_averaging_lambda(options_.wsclean.baseline_averaging, res.rephase.max_uv_m,
                                res.rephase.max_freq_hz, res.rephase.integration_s);
  const auto argv = wsclean_argv(options_.wsclean, staged.imaging_ms, prefix, wsclean_tmp,
                                 res.cell_arcsec, res.size_px, averaging);
  spdlog::info("image {}: {} x {} px of {}\" ({:.2f} deg): {}", group_id, res.size_px, res.size_px,
               res.cell_arcsec, options_.wsclean.field_deg, fmt::join(argv, " "));
  std::vector<ModelPixel> restore;
  if (options_.drift_correction && options_.wsclean.niter > 0) {
    restore = correct_drift(res, staged.imaging_ms, staging.path(), wsclean_tmp, averaging,
                            group_id, interrupts);
  }
  auto t0 = Clock::now();
  // The log goes straight to its final place: kept for diagnosis whatever
  // happens (it is not a product, so it cannot look like a complete set).
  run_wsclean(argv, options_.wsclean.timeout, res.products.log, cancel_on(interrupts));
  res.seconds_wsclean = since(t0);
  if (fs::exists(staging.path() / "bright.wsclean.log")) {  // the bright-source pass's log, kept after the run's
    std::ofstream out(res.products.log, std::ios::app);
    std::ifstream in(staging.path() / "bright.wsclean.log");
    out << "\n==== contimg: the bright-source pass before this run (docs/imaging.md 3a) ====\n" << in.rdbuf();
  }

  t0 = Clock::now();
  // Without CLEAN WSClean writes only the (dirty) image and the PSF.
  const bool no_clean = options_.wsclean.niter == 0;
  std::vector<std::pair<std::string, fs::path>> wsclean_products = {{"image", staged.image}, {"psf", staged.psf}};
  if (!no_clean) wsclean_products.insert(wsclean_products.end(), {{"residual", staged.residual}, {"model", staged.model}});
  for (const auto& [kind, to] : wsclean_products) {
    const fs::path from = wsclean_output(prefix, options_.wsclean.channels_out, kind);
    if (!fs::exists(from)) {
      throw Error(fmt::format("WSClean exited 0 but wrote no {}; log {}", from.string(), res.products.log.string()));
    }
    rename_into(from, to);
  }
  if (no_clean) {  // the residual of an empty model is the dirty image; the model is empty
    fs::copy_file(staged.image, staged.residual, fs::copy_options::overwrite_existing);
    write_fits_like(staged.image, staged.model, std::vector<float>(read_fits_plane(staged.image).pixels.size(), 0.0f));
  }
  if (!restore.empty()) {
    // The subtracted bright components go back into the model, and the image
    // is restored from the residual and that whole model by WSClean itself
    // (-restore: the run's beam, WSClean's own rendering; for a model it
    // cleaned, identical to its restored image).
    const auto t_restore = Clock::now();
    FitsPlane model = read_fits_plane(staged.model);
    for (const auto& p : restore) {
      if (p.x < 0 || p.y < 0 || p.x >= model.nx || p.y >= model.ny) {
        throw Error(fmt::format("{}: bright component at pixel ({}, {}) outside the {} x {} model",
                                staged.model.string(), p.x, p.y, model.nx, model.ny));
      }
      model.pixels[static_cast<std::size_t>(p.y * model.nx + p.x)] += static_cast<float>(p.flux_jy);
    }
    const fs::path whole_model = staging.path() / "whole-model.fits";
    const fs::path restored = staging.path() / "restored.fits";
    write_fits_like(staged.model, whole_model, model.pixels);
    run_wsclean({options_.wsclean.program, "-restore", staged.residual.string(),
                 whole_model.string(), restored.string()},
                options_.wsclean.timeout, staging.path() / "restore.wsclean.log",
                cancel_on(interrupts));
    if (!fs::exists(restored)) {
      throw Error(fmt::format("WSClean -restore exited 0 but wrote no {}", restored.string()));
    }
    rename_into(whole_model, staged.model);
    rename_into(restored, staged.image);
    res.seconds_restore = since(t_restore);
    res.drift_restored = restore.size();
  }
  res.bmaj_deg = header_double(staged.image, "BMAJ");
  res.bmin_deg = header_double(staged.image, "BMIN");
  res.bpa_deg = header_double(staged.image, "BPA");
  res.freq_hz = header_double(staged.image, "CRVAL3");
  const FitsPlane image = read_fits_plane(staged.image);
  res.stats = image_stats(image.pixels, image.nx, image.ny);

  const auto t_pb = Clock::now();
  const auto pb =
      effective_beam_on_grid(fits::read_wcs(staged.image), static_cast<std::size_t>(image.nx),
                             static_cast<std::size_t>(image.ny), res.rephase.pointings,
                             res.rephase.spw_centre_hz, options_.wsclean.threads);
  write_fits_like(staged.image, staged.pb, pb);
  write_fits_like(staged.image, staged.pbcor, pb_correct(image.pixels, pb, options_.pb_cutoff));
  res.seconds_pb = since(t_pb);

  std::vector<HeaderKey> keys = {
      {"GROUPID", group_id, "contimg group id"},
      {"CONTIMGV", std::string(build::kVersion), "contimg version"},
      {"DATCOL", res.rephase.source_column, "visibility column imaged"},
      {"PHCRA", res.rephase.centre.ra_rad / kDeg, "common phase centre RA (ICRS, deg)"},
      {"PHCDEC", res.rephase.centre.dec_rad / kDeg, "common phase centre Dec (ICRS, deg)"},
      {"NINTEG", static_cast<double>(res.rephase.pointings.size()), "integrations imaged"},
      {"DRIFTCMP", static_cast<double>(res.drift.components),
       "components corrected for the beam drift"},
      {"DRIFTRES", static_cast<double>(restore.size()),
       "of them subtracted, restored after the run"}};
  if (res.bmaj_deg) keys.push_back({"BMAJ", *res.bmaj_deg, "restoring beam major axis (deg)"});
  if (res.bmin_deg) keys.push_back({"BMIN", *res.bmin_deg, "restoring beam minor axis (deg)"});
  if (res.bpa_deg) keys.push_back({"BPA", *res.bpa_deg, "restoring beam position angle (deg)"});
  if (!header_string(staged.image, "DATE-OBS")) {  // WSClean writes it; our own if not
    keys.push_back({"DATE-OBS", astro::jd_utc_to_iso(res.rephase.first_mjd_s / 86400.0 + 2400000.5),
                    "start of the first integration (UTC)"});
  }
  for (const auto* p : {&staged.image, &staged.residual, &staged.model, &staged.psf, &staged.pb, &staged.pbcor}) {
    update_header(*p, keys);
  }
  update_header(staged.pb, {{"BUNIT", std::string(""), "primary beam power response"},
                            {"PBCUT", options_.pb_cutoff, ""}});
  update_header(staged.pbcor, {{"PBCUT", options_.pb_cutoff, "blank where PB < PBCUT x its peak"}});
  update_header(staged.image, {{"IMRMS", res.stats.rms, "robust noise (MAD x 1.4826), Jy/beam"},
                               {"IMPEAK", res.stats.peak, "peak, Jy/beam"},
                               {"IMDR", res.stats.dynamic_range, "peak / rms"}});

  plot::ImageView view;
  view.pixels = image.pixels.data();
  view.nx = static_cast<int>(image.nx);
  view.ny = static_cast<int>(image.ny);
  view.vmin = res.stats.median - 3 * res.stats.rms;
  view.vmax = std::max(res.stats.peak, view.vmin + 1e-6);
  view.asinh = true;
  view.title = fmt::format("{}  Stokes I  rms {:.3g} mJy/beam  peak {:.3g} Jy/beam", group_id, res.stats.rms * 1e3,
                           res.stats.peak);
  view.colourbar_label = "Jy/beam";
  const auto cdelt = header_double(staged.image, "CDELT2");
  if (res.bmaj_deg && res.bmin_deg && res.bpa_deg && cdelt && *cdelt != 0) {
    view.beam_px = std::array<double, 3>{*res.bmaj_deg / std::abs(*cdelt), *res.bmin_deg / std::abs(*cdelt),
                                         *res.bpa_deg * kDeg};
  }
  plot::write_image_png(staged.quicklook, view);

  // Every FITS product opens with a usable WCS before anything is published.
  for (const auto* p : {&staged.image, &staged.residual, &staged.model, &staged.psf, &staged.pb, &staged.pbcor}) {
    const auto w = pixel_to_world(*p, {{0.5 * static_cast<double>(image.nx), 0.5 * static_cast<double>(image.ny)}});
    if (!std::isfinite(w.at(0).first)) throw IoError(fmt::format("{}: WCS gives no sky position", p->string()));
  }
  for (const auto& [from, to] : std::vector<std::pair<fs::path, fs::path>>{
           {staged.residual, res.products.residual}, {staged.model, res.products.model},
           {staged.psf, res.products.psf}, {staged.pb, res.products.pb}, {staged.pbcor, res.products.pbcor},
           {staged.quicklook, res.products.quicklook}}) {
    rename_into(from, to);
  }
  if (options_.keep_ms) rename_into(staged.imaging_ms, res.products.imaging_ms);
  rename_into(staged.image, res.products.image);  // last: its presence marks a complete set
  res.seconds_products = since(t0) - res.seconds_pb;
  res.seconds_total = since(t_start);
  return res;
}

}  // namespace contimg::imaging
