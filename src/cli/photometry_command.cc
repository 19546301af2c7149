// Science-product commands (issue 15; docs/science-products.md):
//   contimg photometry IMAGE... [--reference REF] [--out DIR] [--pb FILE|none]
//   contimg lightcurve (NAME | RA DEC) [--radius ARCSEC] [--csv] [--png FILE]
//   contimg variables [--all]
// `photometry` runs the chain's PhotometryStage on each image (in DATE-OBS
// order, so "earlier images" mean earlier observations) as a job of the
// orchestrator; the measurements, the running catalogue and the statistics go
// to the state database. The other two read it.
#include <algorithm>
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.h"
#include "cli/single_stage.h"
#include "common/error.h"
#include "imaging/fits_image.h"
#include "photometry/lightcurve_stats.h"
#include "photometry/photometry_stage.h"
#include "plot/plot.h"
#include "state/photometry_store.h"
#include "state/state_db.h"

namespace contimg::cli {
namespace fs = std::filesystem;
namespace {

struct PhotometryOptions {
  std::vector<std::string> images;
  std::string reference, out_dir, pb;
};

std::string group_of(const fs::path& image) {
  auto name = image.filename().string();
  for (const char* suffix : {".pbcor.fits", "-pbcor.fits", ".fits"}) {
    if (name.size() > std::string(suffix).size() && name.ends_with(suffix)) {
      return name.substr(0, name.size() - std::string(suffix).size());
    }
  }
  return image.stem().string();
}

photometry::CandidateOptions candidate_options(const config::Config& c) {
  photometry::CandidateOptions o;
  o.min_measurements = static_cast<int>(c.get_int("photometry.min_measurements"));
  o.eta_sigma = c.get_double("photometry.eta_sigma");
  o.v_sigma = c.get_double("photometry.v_sigma");
  o.vs_min = c.get_double("photometry.vs_min");
  o.m_min = c.get_double("photometry.m_min");
  return o;
}

nlohmann::json source_json(const state::SourceRow& s) {
  nlohmann::json j = {{"source_id", s.source_id}, {"name", s.name},       {"origin", s.origin},
                      {"ra_deg", s.ra_deg},       {"dec_deg", s.dec_deg}, {"is_new", s.is_new}};
  if (s.ref_flux_jy > 0) j["ref_flux_jy"] = s.ref_flux_jy;
  if (s.new_sigma) j["new_sigma"] = *s.new_sigma;
  return j;
}

nlohmann::json metrics_json(const photometry::VariabilityMetrics& m) {
  return {{"n", m.n},      {"mean_flux_jy", m.mean_flux},
          {"xi_jy", m.xi}, {"xi_err_jy", m.xi_err},
          {"eta", m.eta},  {"v", m.v},
          {"vs", m.vs},    {"m", m.m}};
}

}  // namespace

void register_photometry_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<PhotometryOptions>();
  auto* cmd = app.add_subcommand(
      "photometry",
      "Forced photometry of PB-corrected images at every reference and catalogue source and every "
      "blind detection; measurements, associations, new sources and light-curve statistics go to "
      "the state database");
  cmd->add_option("images", o->images, "PB-corrected FITS images (measured in DATE-OBS order)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--reference", o->reference,
                  "Reference catalogue: sky-model/truth JSON, NVSS FITS/CSV or a catalogue store "
                  "(default: validation.reference_catalogue)");
  cmd->add_option("--out", o->out_dir,
                  "Directory for the per-image measurement CSVs (default: beside each image)");
  cmd->add_option(
      "--pb", o->pb,
      "Primary-beam FITS of every image; \"none\" for flat-noise images (default: <group>.pb.fits "
      "beside each image, else the primary-beam model about the image centre)");
  cmd->callback([&ctx, o] {
    ctx.action = [&ctx, o] {
      state::StateDb db(state::StateDb::resolve_path(ctx.config()));
      std::vector<std::pair<std::string, fs::path>> order;
      for (const auto& i : o->images) {
        const fs::path p = fs::absolute(i).lexically_normal();
        order.emplace_back(imaging::header_string(p, "DATE-OBS").value_or(""), p);
      }
      std::stable_sort(order.begin(), order.end());
      nlohmann::json results = nlohmann::json::array();
      auto progress = ctx.progress("photometry", order.size(), "images");
      for (const auto& [date, image] : order) {
        const auto reg = registered_job(db, image);
        const std::string group = reg ? reg->group_id : group_of(image);
        const fs::path out =
            o->out_dir.empty() ? image.parent_path() : fs::absolute(o->out_dir).lexically_normal();
        const fs::path tree = reg && o->out_dir.empty() ? reg->out_root : out;
        std::map<std::string, pipeline::Value> inputs = {{"pbcor_fits", image.string()},
                                                         {"products_dir", out.string()}};
        if (!o->reference.empty())
          inputs["reference_catalogue"] = fs::absolute(o->reference).string();
        if (o->pb == "none") {
          inputs["pb_fits"] = std::string("none");
        } else if (!o->pb.empty()) {
          inputs["pb_fits"] = fs::absolute(o->pb).string();
        } else if (fs::exists(image.parent_path() / (group + ".pb.fits"))) {
          inputs["pb_fits"] = (image.parent_path() / (group + ".pb.fits")).string();
        }
        pipeline::Context initial(ctx.shared_config(), group, inputs, &ctx.interrupts());
        photometry::PhotometryStage stage(ctx.config());
        const auto res = run_stage_job(ctx, db, stage, initial, tree, /*force=*/true,
                                       "photometry " + image.string());
        const auto& c = *res.context;
        results.push_back({{"image", image.string()},
                           {"group_id", group},
                           {"date_obs", date},
                           {"n_measured", c.get_int("n_measured")},
                           {"n_blind", c.get_int("n_blind")},
                           {"photometry_csv", c.get_string("photometry_csv")},
                           {"seconds", res.record.seconds}});
        if (!ctx.json()) {
          std::cout << fmt::format("photometry {}: {} measured ({} blind) in {:.1f} s -> {}\n",
                                   group, c.get_int("n_measured"), c.get_int("n_blind"),
                                   res.record.seconds, c.get_string("photometry_csv"));
        }
        if (progress) progress->advance(1);
      }
      if (ctx.json()) std::cout << nlohmann::json{{"images", results}}.dump(2) << "\n";
      return 0;
    };
  });
}

namespace {
struct LightcurveOptions {
  std::vector<std::string> target;
  double radius_arcsec = 10;
  bool csv = false;
  std::string png;
};

// Flux against MJD with 1-sigma error bars (lines broken by NaN) and the weighted mean.
void write_lightcurve_png(const fs::path& png, const state::SourceRow& src,
                          const std::vector<state::LightcurvePoint>& lc,
                          const photometry::VariabilityMetrics& m) {
  plot::Series bars{{}, {}, "1 sigma", plot::Series::Style::kLine};
  plot::Series det{{}, {}, "detected", plot::Series::Style::kMarkers};
  plot::Series forced{{}, {}, "forced only", plot::Series::Style::kMarkers};
  for (const auto& p : lc) {
    bars.x.insert(bars.x.end(), {p.mjd, p.mjd, NAN});
    bars.y.insert(bars.y.end(),
                  {1e3 * (p.flux_jy - p.flux_err_jy), 1e3 * (p.flux_jy + p.flux_err_jy), NAN});
    auto& s = p.detected ? det : forced;
    s.x.push_back(p.mjd);
    s.y.push_back(1e3 * p.flux_jy);
  }
  plot::Series mean{{}, {}, "weighted mean", plot::Series::Style::kLine};
  if (!lc.empty())
    mean = {{lc.front().mjd, lc.back().mjd},
            {1e3 * m.xi, 1e3 * m.xi},
            "weighted mean",
            plot::Series::Style::kLine};
  plot::Panel panel;
  panel.title =
      fmt::format("{}  eta {:.3g}  V {:.3g}  Vs {:.3g}  m {:.3g}", src.name, m.eta, m.v, m.vs, m.m);
  panel.xlabel = "MJD";
  panel.ylabel = "flux density (mJy)";
  panel.series = {bars, det, forced, mean};
  plot::write_panels_png(png, {panel});
}
}  // namespace

void register_lightcurve_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<LightcurveOptions>();
  auto* cmd = app.add_subcommand("lightcurve",
                                 "The light curve of a catalogue source, by name or by position");
  cmd->add_option("target", o->target, "NAME, or RA DEC in degrees")->required()->expected(1, 2);
  cmd->add_option("--radius", o->radius_arcsec,
                  "Search radius for RA DEC (arcsec; the nearest source wins)");
  cmd->add_flag("--csv", o->csv, "CSV on stdout (mjd, flux, error, ...)");
  cmd->add_option("--png", o->png, "Also write the light curve as a PNG plot to this file");
  cmd->callback([&ctx, o] {
    ctx.action = [&ctx, o] {
      state::StateDb db(state::StateDb::resolve_path(ctx.config()));
      std::optional<state::SourceRow> src;
      if (o->target.size() == 1) {
        src = state::source_by_name(db.database(), o->target[0]);
        if (!src)
          throw InputError(
              fmt::format("lightcurve: no source named \"{}\" in the catalogue", o->target[0]));
      } else {
        double ra = 0, dec = 0;
        try {
          ra = std::stod(o->target[0]);
          dec = std::stod(o->target[1]);
        } catch (const std::exception&) {
          throw ConfigError(fmt::format("lightcurve: \"{} {}\" is not RA DEC in degrees",
                                        o->target[0], o->target[1]));
        }
        double best = INFINITY;
        for (const auto& s :
             state::sources_in_cone(db.database(), ra, dec, o->radius_arcsec / 3600)) {
          const double d =
              photometry::distance_arcsec({ra, dec, 0, 0}, {s.ra_deg, s.dec_deg, 0, 0});
          if (d < best) best = d, src = s;
        }
        if (!src) {
          throw InputError(fmt::format("lightcurve: no catalogue source within {} arcsec of {} {}",
                                       o->radius_arcsec, ra, dec));
        }
      }
      const auto lc = state::lightcurve(db.database(), src->source_id);
      if (!o->png.empty()) {
        photometry::LightcurveAggregate agg;
        for (const auto& p : lc) agg.add(p.flux_jy, p.flux_err_jy);
        write_lightcurve_png(o->png, *src, lc, photometry::metrics(agg));
      }
      if (o->csv) {
        std::cout << "mjd,flux_jy,flux_err_jy,local_rms_jy,detected,blind,group_id,image\n";
        for (const auto& p : lc) {
          std::cout << fmt::format("{:.6f},{:.8g},{:.8g},{:.8g},{},{},{},{}\n", p.mjd, p.flux_jy,
                                   p.flux_err_jy, p.local_rms_jy, p.detected ? 1 : 0,
                                   p.blind ? 1 : 0, p.group_id, p.image_path);
        }
        return 0;
      }
      photometry::LightcurveAggregate a;
      for (const auto& p : lc) a.add(p.flux_jy, p.flux_err_jy);
      const auto m = photometry::metrics(a);
      if (ctx.json()) {
        nlohmann::json pts = nlohmann::json::array();
        for (const auto& p : lc) {
          pts.push_back({{"mjd", p.mjd},
                         {"flux_jy", p.flux_jy},
                         {"flux_err_jy", p.flux_err_jy},
                         {"local_rms_jy", p.local_rms_jy},
                         {"detected", p.detected},
                         {"blind", p.blind},
                         {"group_id", p.group_id},
                         {"image", p.image_path}});
        }
        std::cout << nlohmann::json{{"source", source_json(*src)},
                                    {"metrics", metrics_json(m)},
                                    {"points", pts}}
                         .dump(2)
                  << "\n";
        return 0;
      }
      std::cout << fmt::format(
          "{} ({}) RA {:.5f} Dec {:.5f}: {} measurements, xi {:.4g} +- {:.2g} Jy, eta {:.3g}, "
          "V {:.3g}, Vs {:.3g}, m {:.3g}{}\n",
          src->name, src->origin, src->ra_deg, src->dec_deg, m.n, m.xi, m.xi_err, m.eta, m.v, m.vs,
          m.m, src->is_new ? " [new]" : "");
      for (const auto& p : lc) {
        std::cout << fmt::format("  {:.5f}  {:10.5f} +- {:.5f} Jy  {}  {}\n", p.mjd, p.flux_jy,
                                 p.flux_err_jy, p.detected ? "det " : "    ", p.image_path);
      }
      return 0;
    };
  });
}

namespace {
struct VariablesOptions {
  bool all = false;
};
}  // namespace

void register_variables_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<VariablesOptions>();
  auto* cmd = app.add_subcommand(
      "variables",
      "Variability candidates (eta and V above the field's clipped spread, or a significant "
      "two-epoch pair) and new sources, with their metrics and images");
  cmd->add_flag("--all", o->all, "List every source with its metrics, candidates or not");
  cmd->callback([&ctx, o] {
    ctx.action = [&ctx, o] {
      state::StateDb db(state::StateDb::resolve_path(ctx.config()));
      const auto opts = candidate_options(ctx.config());
      const auto stats = state::all_source_stats(db.database(), 1);
      std::vector<photometry::VariabilityMetrics> field;
      for (const auto& s : stats) field.push_back(s.metrics);
      const auto t = photometry::candidate_thresholds(field, opts);
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& s : stats) {
        const auto why = photometry::candidate_reason(s.metrics, t, opts);
        if (!o->all && why.empty() && !s.source.is_new) continue;
        auto j = source_json(s.source);
        j["metrics"] = metrics_json(s.metrics);
        j["variable"] = !why.empty();
        j["reason"] = why;
        j["brightest_image"] = s.max_image_path;
        j["faintest_image"] = s.min_image_path;
        rows.push_back(std::move(j));
      }
      if (ctx.json()) {
        std::cout << nlohmann::json{{"thresholds",
                                     {{"eta", t.eta_cut},
                                      {"v", t.v_cut},
                                      {"n_field", t.n_field},
                                      {"min_measurements", opts.min_measurements},
                                      {"vs_min", opts.vs_min},
                                      {"m_min", opts.m_min}}},
                                    {"sources", rows}}
                         .dump(2)
                  << "\n";
        return 0;
      }
      std::cout << fmt::format(
          "thresholds: eta > {:.3g} and V > {:.3g} (from {} sources), or |Vs| >= {} and |m| >= "
          "{}\n",
          t.eta_cut, t.v_cut, t.n_field, opts.vs_min, opts.m_min);
      for (const auto& r : rows) {
        const auto& m = r["metrics"];
        std::cout << fmt::format(
            "{:28s} n {:3d} xi {:9.5f} eta {:9.3g} V {:7.3g} Vs {:7.3g} m {:6.3g} {}{}\n",
            r["name"].get<std::string>(), m["n"].get<int>(), m["xi_jy"].get<double>(),
            m["eta"].get<double>(), m["v"].get<double>(), m["vs"].get<double>(),
            m["m"].get<double>(),
            r["variable"].get<bool>() ? "variable(" + r["reason"].get<std::string>() + ") " : "",
            r["is_new"].get<bool>() ? "new" : "");
      }
      return 0;
    };
  });
}

}  // namespace contimg::cli
