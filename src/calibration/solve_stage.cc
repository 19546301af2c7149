#include "calibration/solve_stage.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "calibration/calibrate.h"
#include "calibration/caltable.h"
#include "calibration/ms_access.h"
#include "calibration/transit_policy.h"
#include "catalog/calibrator_models.h"
#include "catalog/vla_calibrators.h"
#include "common/durable.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "common/logging.h"
#include "pipeline/state_view.h"
#include "plot/plot.h"
#include "state/records.h"

namespace contimg::calibration {
namespace fs = std::filesystem;
namespace {

constexpr double kSecondsPerHour = 3600.0;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}


void remove_path(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
  if (ec) throw IoError(fmt::format("cannot remove {}: {}", p.string(), ec.message()));
}

// Renames a staged file or table over `to`.
void publish(const fs::path& from, const fs::path& to) {
  remove_path(to);
  durable::rename_into_place(from, to);
}

fs::path caltable_dir(const config::Config& cfg, const fs::path& ms) {
  const auto dir = cfg.get_path("calibration.caltables_dir");
  return dir.empty() ? fs::absolute(ms).parent_path() : fs::absolute(dir);
}

// Bandpass amplitude and phase against frequency (every antenna and
// polarization with data; flagged channels are gaps) and gains against time.
std::vector<fs::path> write_plots(const fs::path& stem, const CalSolution& s, const MsMeta& meta) {
  const auto& bp = s.bandpass;
  plot::Panel amp{"Bandpass amplitude (all antennas, XX and YY)", "frequency (MHz)", "|B|", {}, {}, {}};
  plot::Panel ph{"Bandpass phase (reference " + (s.refant >= 0 ? meta.antenna_names[static_cast<std::size_t>(s.refant)] : std::string("none")) + ")",
                 "frequency (MHz)", "phase (deg)", {}, {}, std::pair<double, double>(-180, 180)};
  for (int a = 0; a < bp.nant; ++a) {
    if (!s.antenna_has_data[static_cast<std::size_t>(a)]) continue;
    for (int p = 0; p < bp.npol; ++p) {
      plot::Series sa, sp;
      sp.style = plot::Series::Style::kMarkers;  // phases wrap: lines would cross the panel
      for (std::size_t spw = 0; spw < bp.freqs.size(); ++spw) {
        for (std::size_t c = 0; c < bp.freqs[spw].size(); ++c) {
          const auto i = bp.index(static_cast<int>(spw), a, p, c);
          const bool f = bp.flag[spw][i] != 0;
          sa.x.push_back(bp.freqs[spw][c] / 1e6);
          sp.x.push_back(bp.freqs[spw][c] / 1e6);
          sa.y.push_back(f ? NAN : std::abs(bp.gain[spw][i]));
          sp.y.push_back(f ? NAN : std::arg(bp.gain[spw][i]) * 180 / M_PI);
        }
      }
      amp.series.push_back(std::move(sa));
      ph.series.push_back(std::move(sp));
    }
  }
  const auto& g = s.gains;
  plot::Panel gamp{"Gain amplitude (bandpass divided out)", "time (min from first)", "|G|", {}, {}, {}};
  plot::Panel gph{"Gain phase", "time (min from first)", "phase (deg)", {}, {}, std::pair<double, double>(-180, 180)};
  for (int a = 0; a < g.nant; ++a) {
    if (!s.antenna_has_data[static_cast<std::size_t>(a)]) continue;
    for (int p = 0; p < g.npol; ++p) {
      plot::Series sa, sp;
      sa.style = sp.style = plot::Series::Style::kMarkers;
      for (std::size_t t = 0; t < g.time.size(); ++t) {
        const auto i = g.index(t, a, p);
        const double x = (g.time[t] - g.time.front()) / 60;
        sa.x.push_back(x);
        sp.x.push_back(x);
        sa.y.push_back(g.flag[i] ? NAN : std::abs(g.gain[i]));
        sp.y.push_back(g.flag[i] ? NAN : std::arg(g.gain[i]) * 180 / M_PI);
      }
      gamp.series.push_back(std::move(sa));
      gph.series.push_back(std::move(sp));
    }
  }
  const fs::path bpng = stem.string() + ".bandpass.png", gpng = stem.string() + ".gains.png";
  plot::write_panels_png(bpng, {amp, ph}, 1, 1200, 800);
  plot::write_panels_png(gpng, {gamp, gph}, 1, 1000, 700);
  return {bpng, gpng};
}

}  // namespace

std::optional<std::string> calibrator_from_fields(const std::vector<std::string>& names) {
  static const std::regex cal_field(R"(^(.+)_t[0-9]+$)");
  for (const auto& n : names) {
    if (n.rfind("meridian_icrs_t", 0) == 0) continue;
    std::smatch m;
    if (std::regex_match(n, m, cal_field)) return m[1].str();
  }
  return std::nullopt;
}

sky::SkyModel load_model_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open the sky model", path.string()));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not JSON: {}", path.string(), e.what()));
  }
  try {
    auto m = sky::sky_model_from_json(j.contains("sky") ? j.at("sky") : j);
    if (m.sources.empty()) throw InputError("no sources");
    return m;
  } catch (const Error& e) {
    throw InputError(fmt::format("{}: not a sky model: {}", path.string(), e.what()));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not a sky model: {}", path.string(), e.what()));
  }
}

SolveOutcome solve_ms(const config::Config& cfg, const SolveRequest& req) {
  MsVisibilities vis(fs::absolute(req.ms));
  return solve_ms(cfg, req, vis);
}

SolveOutcome solve_ms(const config::Config& cfg, const SolveRequest& req, MsVisibilities& vis) {
  const auto t0 = std::chrono::steady_clock::now();
  SolveOutcome out;
  const fs::path ms = fs::absolute(req.ms);
  // The group is the job's, never guessed from the file name.
  if (req.group_id.empty()) throw ConfigError(fmt::format("solve {}: no group id given", ms.string()));
  out.group_id = req.group_id;
  auto log = logging::group_logger(out.group_id);
  const auto& meta = vis.meta();

  // The model: explicit JSON, else the calibrator the converter named.
  std::vector<sky::Source> model;
  const auto field_cal = calibrator_from_fields(meta.field_names);
  if (!req.model_json.empty()) {
    model = load_model_json(req.model_json).sources;
    out.calibrator = field_cal.value_or(std::max_element(model.begin(), model.end(), [](const auto& a, const auto& b) {
                                          return a.flux_at(1.4e9) < b.flux_at(1.4e9);
                                        })->name);
  } else {
    if (!field_cal) {
      throw InputError(fmt::format("{}: no calibrator field (every FIELD is meridian_icrs_t*) and no --model: "
                                   "nothing to calibrate on",
                                   ms.string()));
    }
    const auto list = catalog::load_vla_calibrators(catalog::vla_calibrator_path(cfg.get_path("paths.data_dir")));
    const auto c = catalog::find_calibrator(list, *field_cal);
    if (!c) {
      throw InputError(fmt::format("{}: calibrator field names {}, which is not in the VLA calibrator list",
                                   ms.string(), *field_cal));
    }
    model.push_back(catalog::calibrator_source(*c));
    out.calibrator = *field_cal;
  }
  model.insert(model.end(), req.field_model.begin(), req.field_model.end());
  for (const auto& s : model) {
    log->info("model source {} at ({:.5f}, {:.5f}) deg, {:.3f} Jy at 1.4 GHz", s.name, s.ra_rad * 180 / M_PI,
              s.dec_rad * 180 / M_PI, s.flux_at(1.4e9));
  }

  CalibrateOptions opt;
  opt.min_snr = cfg.get_double("calibration.min_snr");
  opt.gain_interval_s = cfg.get_double("calibration.gain_interval_s");
  opt.refant = req.refant.empty() ? cfg.get_string("calibration.refant") : req.refant;
  opt.stefcal.max_iterations = static_cast<int>(cfg.get_int("calibration.max_iterations"));
  opt.stefcal.tolerance = cfg.get_double("calibration.tolerance");
  opt.check_interrupt = req.check_interrupt;
  opt.threads = req.threads;
  const auto sol = calibrate(
      meta, [&](int spw) { return vis.has_rows(spw); }, [&](int spw) { return vis.read_spw(spw); }, model, opt);
  out.bytes_read = vis.bytes_read();
  out.seconds_read_solve = seconds_since(t0);
  out.refant = sol.refant >= 0 ? meta.antenna_names[static_cast<std::size_t>(sol.refant)] : "";

  out.qa = assess(sol, qa_thresholds(cfg));
  add_history(out.qa, sol, fmt::format("{}_{}", out.group_id, out.calibrator), req.history,
              history_thresholds(cfg),
              antenna_plane_uv(meta.antenna_positions,
                               meta.field_dir.at(static_cast<std::size_t>(sol.bandpass.field)).dec_rad));
  out.status = out.qa.passed ? "passed" : "failed";

  // Tables and plots are written into one temporary directory beside their
  // final paths, then renamed into place with the bandpass table last: it
  // marks a complete set, so a kill at any moment never leaves a lone .bcal
  // (at worst a .gcal and plots, which the rerun replaces), and what a kill
  // left in the temporary directory is swept by the next run.
  const auto t1 = std::chrono::steady_clock::now();
  const auto dir = caltable_dir(cfg, ms);
  fs::create_directories(dir);
  const auto stem = dir / fmt::format("{}.{}", out.group_id, out.calibrator);
  out.bandpass_table = stem.string() + ".bcal";
  out.gain_table = stem.string() + ".gcal";
  const CaltableInfo info{ms, sol.refant, req.command_line};
  {
    sweep_stale_temp_dirs(dir);  // what a killed solve left here
    ScopedTempDir stage(dir, "solve-" + out.group_id, req.interrupts);
    const auto staged_stem = stage.path() / stem.filename();
    const fs::path staged_b = staged_stem.string() + ".bcal", staged_g = staged_stem.string() + ".gcal";
    // The plots (cairo, ~0.5 s on a full group) are drawn on a second thread
    // of the stage's budget while the tables are written.
    auto plots = std::async(req.threads > 1 ? std::launch::async : std::launch::deferred,
                            [&] { return write_plots(staged_stem, sol, meta); });
    write_bandpass_table(staged_b, sol.bandpass, info);
    write_gain_table(staged_g, sol.gains, meta.nspw(), info);
    const auto staged_plots = plots.get();
    if (req.check_interrupt) req.check_interrupt();
    // The previous set's marker goes first: an old B beside a new G would
    // look complete.
    remove_path(out.bandpass_table);
    publish(staged_g, out.gain_table);
    for (const auto& p : staged_plots) {
      out.plots.push_back(dir / p.filename());
      publish(p, out.plots.back());
    }
    publish(staged_b, out.bandpass_table);
  }
  out.seconds_write = seconds_since(t1);

  const double hours = cfg.get_double("calibration.validity_hours");
  out.valid_from_s = meta.time_first - 0.5 * meta.interval - hours * kSecondsPerHour;
  out.valid_to_s = meta.time_last + 0.5 * meta.interval + hours * kSecondsPerHour;
  out.calset_id = fmt::format("{}_{}", out.group_id, out.calibrator);
  state::CalsetRecord& rec = out.record;
  rec.id = out.calset_id;
  rec.group_id = out.group_id;
  rec.ms_path = ms.string();
  rec.calibrator = out.calibrator;
  rec.refant = out.refant;
  rec.bandpass_table = out.bandpass_table.string();
  rec.gain_table = out.gain_table.string();
  rec.mid_time_s = 0.5 * (meta.time_first + meta.time_last);
  rec.valid_from_s = out.valid_from_s;
  rec.valid_to_s = out.valid_to_s;
  rec.status = out.status;
  rec.grade = out.qa.grade;
  for (const auto& r : out.qa.reasons) rec.reasons += (rec.reasons.empty() ? "" : "; ") + r;
  rec.qa_json = to_json(out.qa).dump();
  out.event.level = out.qa.passed ? state::EventLevel::kInfo : state::EventLevel::kWarn;
  out.event.message = fmt::format("calset {} {} (grade {}){}", out.calset_id, out.status, out.qa.grade,
                                  rec.reasons.empty() ? "" : ": " + rec.reasons);
  out.seconds = seconds_since(t0);
  if (out.qa.passed) {
    log->info("calset {} passed (grade {}): {} antennas solved, {:.1f}% bandpass flagged, median SNR {:.1f}",
              out.calset_id, out.qa.grade, out.qa.antennas_solved, 100 * out.qa.bandpass_flagged_fraction,
              out.qa.median_snr);
  } else {
    log->warn("calset {} FAILED QA: {}", out.calset_id, rec.reasons);
  }
  for (const auto& w : out.qa.warnings) log->warn("calset {}: {}", out.calset_id, w);
  return out;
}

nlohmann::json to_json(const SolveOutcome& o) {
  nlohmann::json plots = nlohmann::json::array();
  for (const auto& p : o.plots) plots.push_back(p.string());
  return {{"group_id", o.group_id},
          {"calset_id", o.calset_id},
          {"status", o.status},
          {"calibrator", o.calibrator},
          {"refant", o.refant},
          {"qa", to_json(o.qa)},
          {"bandpass_table", o.bandpass_table.string()},
          {"gain_table", o.gain_table.string()},
          {"plots", plots},
          {"valid_from_mjd_s", o.valid_from_s},
          {"valid_to_mjd_s", o.valid_to_s},
          {"seconds", o.seconds},
          {"seconds_read_solve", o.seconds_read_solve},
          {"seconds_write", o.seconds_write},
          {"bytes_read", o.bytes_read},
          {"mb_per_s", o.seconds > 0 ? o.bytes_read / 1e6 / o.seconds : 0.0}};
}

namespace {

// The set this stage registered for the group with both tables present, if any.
std::optional<state::CalsetRecord> registered_set(const pipeline::Context& ctx, const std::string& calibrator) {
  if (!ctx.state()) return std::nullopt;
  auto c = ctx.state()->calset(fmt::format("{}_{}", ctx.group_id(), calibrator));
  if (c && fs::exists(c->bandpass_table) && fs::exists(c->gain_table)) return c;
  return std::nullopt;
}

std::optional<std::string> field_calibrator(const pipeline::Context& ctx) {
  return calibrator_from_fields(MsVisibilities(ctx.get(pipeline::keys::kMsPath)).meta().field_names);
}

pipeline::Context with_set(const pipeline::Context& ctx, const std::string& id, const std::string& status,
                           const std::string& reasons, const std::string& bandpass, const std::string& gain) {
  return ctx.with(pipeline::keys::kCalsetId, id)
      .with(pipeline::keys::kCalsetStatus, status)
      .with(pipeline::keys::kCalsetReason, reasons)
      .with(pipeline::keys::kBandpassTable, bandpass)
      .with(pipeline::keys::kGainTable, gain);
}

}  // namespace

bool SolveStage::is_done(const pipeline::Context& ctx) const {
  // No calibrator field: nothing for this stage to do.
  const auto cal = field_calibrator(ctx);
  if (!cal) return request_.model_json.empty();
  return registered_set(ctx, *cal).has_value();
}

pipeline::Context SolveStage::restore(const pipeline::Context& ctx) const {
  const auto cal = field_calibrator(ctx);
  if (!cal) return ctx;  // no calibrator field: no set of this group
  const auto set = registered_set(ctx, *cal);
  if (!set) throw InputError(fmt::format("solve: no calibration set of group {} registered", ctx.group_id()));
  return with_set(ctx, set->id, set->status, set->reasons, set->bandpass_table, set->gain_table);
}

std::vector<pipeline::ProductRef> SolveStage::products(const pipeline::Context& out) const {
  if (!out.has(pipeline::keys::kBandpassTable)) return {};
  return {{out.get(pipeline::keys::kBandpassTable), "caltable"}, {out.get(pipeline::keys::kGainTable), "caltable"}};
}

void SolveStage::validate(const pipeline::Context& ctx) const {
  if (!fs::exists(ctx.get(pipeline::keys::kMsPath))) {
    throw InputError(ctx.get(pipeline::keys::kMsPath) + ": no such MS");
  }
}

pipeline::Context SolveStage::execute(const pipeline::Context& ctx) {
  SolveRequest req = request_;
  req.ms = ctx.get(pipeline::keys::kMsPath);
  // Opened once: the policy below and the solve read the same metadata.
  MsVisibilities vis(fs::absolute(req.ms));
  const auto& meta = vis.meta();
  const auto cal = calibrator_from_fields(meta.field_names);
  // No calibrator field and no model: nothing to solve (done, with no product).
  if (request_.model_json.empty() && !require_calibrator_ && !cal) return ctx;
  if (cal && request_.model_json.empty() && !require_calibrator_) {
    // In a chain only a calibrator that dominates its field is solved on
    // (issue 16); the decision reads catalogues and the MS's metadata, not its data.
    const fs::path reference = ctx.has(pipeline::keys::kReferenceCatalogue)
                                   ? fs::path(ctx.get(pipeline::keys::kReferenceCatalogue))
                                   : cfg_.get_path("validation.reference_catalogue");
    const auto policy = transit_policy_for(cfg_, meta, *cal, reference);
    if (!policy.solve) {
      logging::group_logger(ctx.group_id())->info("solve: {}", policy.reason);
      return ctx.with(pipeline::keys::kCalsetStatus, std::string("not_solved"))
          .with(pipeline::keys::kCalsetReason, policy.reason);
    }
    req.field_model = policy.field_model;
  }
  // The history QA compares with the most recent earlier passed sets of the
  // same array (compare_with_history's choice), read newest first through the
  // orchestrator's view and only as far as needed: the registry grows by a
  // few sets a day and each carries its summary.
  if (ctx.state()) {
    const auto max_sets = static_cast<std::size_t>(std::max<std::int64_t>(1, cfg_.get_int("calibration.history_sets")));
    ctx.state()->visit_passed_calsets_before(
        0.5 * (meta.time_first + meta.time_last), [&](const state::CalsetRecord& c) {
          if (c.group_id == ctx.group_id()) return true;  // its own earlier set
          for (auto& s : history_from_qa_json({{c.status, c.qa_json}})) {
            if (s.antenna_amp.size() == static_cast<std::size_t>(meta.nant()) &&
                s.spw_shape.size() == static_cast<std::size_t>(meta.nspw())) {
              req.history.push_back(std::move(s));
            }
          }
          return req.history.size() < max_sets;
        });
  }
  req.group_id = ctx.group_id();
  if (req.command_line.empty()) req.command_line = "contimg run (solve stage)";
  req.check_interrupt = [&ctx] { ctx.throw_if_interrupted(); };
  req.interrupts = ctx.interrupts();
  req.threads = ctx.resources().threads_for(0);
  outcome_ = solve_ms(cfg_, req, vis);
  const auto& o = *outcome_;
  return with_set(ctx, o.calset_id, o.status, o.record.reasons, o.bandpass_table.string(), o.gain_table.string())
      .with_io(o.bytes_read, 0)
      .with_record(state::DomainRecord{o.record})
      .with_record(state::DomainRecord{o.event});
}

}  // namespace contimg::calibration
