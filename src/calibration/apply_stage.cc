#include "calibration/apply_stage.h"

#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "calibration/calibrate.h"
#include "calibration/calset_history.h"
#include "calibration/caltable.h"
#include "calibration/corrected_update.h"
#include "calibration/ms_access.h"
#include "calibration/solve_stage.h"
#include "common/error.h"
#include "common/logging.h"
#include "pipeline/state_view.h"
#include "state/records.h"

namespace contimg::calibration {
namespace fs = std::filesystem;

CalSolution load_solution(const state::CalsetRecord& set, const MsMeta& meta) {
  const std::string ms = meta.path.string();
  CalSolution sol;
  sol.bandpass = read_bandpass_table(set.bandpass_table);
  sol.gains = read_gain_table(set.gain_table);
  if (sol.bandpass.nant != meta.nant() || sol.bandpass.freqs.size() != meta.chan_freq.size()) {
    throw InputError(fmt::format("{}: calset {} has {} antennas and {} SPWs, the MS {} and {}", ms,
                                 set.id, sol.bandpass.nant, sol.bandpass.freqs.size(), meta.nant(),
                                 meta.chan_freq.size()));
  }
  for (std::size_t s = 0; s < meta.chan_freq.size(); ++s) {
    const auto& a = sol.bandpass.freqs[s];
    const auto& b = meta.chan_freq[s];
    if (a.size() != b.size() || (!a.empty() && std::abs(a.front() - b.front()) > 1.0)) {
      throw InputError(
          fmt::format("{}: SPW {} of calset {} has other channels than the MS", ms, s, set.id));
    }
  }
  return sol;
}

ApplyOutcome apply_ms(const config::Config& cfg, const ApplyRequest& req, const pipeline::StateView* state) {
  const auto t0 = std::chrono::steady_clock::now();
  ApplyOutcome out;
  const fs::path ms = fs::absolute(req.ms);
  // The group is the job's, never guessed from the file name.
  if (req.group_id.empty()) throw ConfigError(fmt::format("applycal {}: no group id given", ms.string()));
  out.group_id = req.group_id;
  auto log = logging::group_logger(out.group_id);
  const auto when = cfg.get_string("calibration.when_uncalibrated");
  if (when != "skip" && when != "fail") {
    throw ConfigError("calibration.when_uncalibrated must be skip or fail, got \"" + when + "\"");
  }
  std::optional<MsVisibilities> vis;
  vis.emplace(ms, req.write_corrected);
  const auto& meta = vis->meta();
  const double mid = 0.5 * (meta.time_first + meta.time_last);

  std::optional<state::CalsetRecord> set;
  if (!req.calset_id.empty()) {
    if (state) set = state->calset(req.calset_id);
    if (!set) throw InputError(fmt::format("{}: no calibration set {} in the registry", ms.string(), req.calset_id));
    if (set->status != "passed") {
      throw InputError(fmt::format("{}: calibration set {} failed QA ({}): it is never applied", ms.string(),
                                   set->id, set->reasons));
    }
  } else {
    if (state) set = choose_applicable(state->valid_calsets(mid), mid);
  }
  if (!set) {
    out.reason = "no valid passed calibration set covers the MS's time";
    out.events.push_back({state::EventLevel::kWarn, out.reason});
    if (when == "fail") throw InputError(ms.string() + ": " + out.reason + " (calibration.when_uncalibrated = fail)");
    log->warn("{}: {}; not calibrated (calibration.when_uncalibrated = skip)", ms.string(), out.reason);
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
  }
  out.hours_from_calset = std::abs(mid - set->mid_time_s) / 3600;
  if (out.hours_from_calset > cfg.get_double("calibration.warn_hours")) {
    log->warn("calset {} is {:.1f} h from {} (calibration.warn_hours = {})", set->id, out.hours_from_calset,
              out.group_id, cfg.get_double("calibration.warn_hours"));
  }
  const CalSolution sol = load_solution(*set, meta);
  out.calset_id = set->id;
  if (!req.write_corrected) {
    if (!req.check_model.empty())
      throw ConfigError("applycal: a model check needs CORRECTED_DATA written");
    out.calibrated = true;
    out.deferred = true;
    out.events.push_back(
        {state::EventLevel::kInfo,
         fmt::format("calset {} ({:.1f} h away) to be applied in the image stage's pass", set->id,
                     out.hours_from_calset)});
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log->info("calset {} chosen for {}; applied in the image stage's pass", set->id, ms.string());
    return out;
  }
  std::vector<sky::Source> model;
  if (!req.check_model.empty()) model = load_model_json(req.check_model).sources;
  ModelComparison total;
  // CORRECTED_DATA is written in place and recorded as applied once this
  // returns: on disk first, then marked (CorrectedDataUpdate).
  CorrectedDataUpdate update(*vis, ms);
  for (int spw = 0; spw < meta.nspw(); ++spw) {
    if (req.check_interrupt) req.check_interrupt();
    if (!vis->has_rows(spw)) continue;
    auto b = vis->read_spw(spw, /*weights=*/!model.empty());  // only the model check weighs
    apply_solution(sol, b, out.stats);
    vis->write_corrected(b);
    if (!model.empty()) {
      ModelComparison cmp;
      const auto m = predict_block(meta, b, model);
      cmp.add(b, m);
      total.add(b, m);
      out.model_ratio.push_back(cmp.ratio());
    }
  }
  update.end_writes(*vis);
  out.residual_rms = total.residual_rms();
  out.bytes_read = vis->bytes_read();
  out.bytes_written = vis->bytes_written();
  vis.reset();
  out.seconds_sync = update.commit(set->id);
  out.calibrated = true;
  out.events.push_back({state::EventLevel::kInfo,
                        fmt::format("applied calset {} ({:.1f} h away); {} samples newly flagged by solutions",
                                    set->id, out.hours_from_calset, out.stats.flagged_by_solutions)});
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log->info("applied calset {} to {} in {:.1f} s", set->id, ms.string(), out.seconds);
  return out;
}

nlohmann::json to_json(const ApplyOutcome& o) {
  nlohmann::json j = {{"group_id", o.group_id},
                      {"calibrated", o.calibrated},
                      {"deferred_to_imaging", o.deferred},
                      {"calset_id", o.calset_id},
                      {"reason", o.reason},
                      {"hours_from_calset", o.hours_from_calset},
                      {"samples", o.stats.samples},
                      {"flagged_before", o.stats.flagged_before},
                      {"flagged_by_solutions", o.stats.flagged_by_solutions},
                      {"seconds", o.seconds},
                      {"seconds_sync", o.seconds_sync},
                      {"bytes_read", o.bytes_read},
                      {"bytes_written", o.bytes_written},
                      {"mb_per_s", o.seconds > 0 ? o.bytes_read / 1e6 / o.seconds : 0.0}};
  if (!o.model_ratio.empty()) {
    j["model_ratio_per_spw"] = o.model_ratio;
    j["residual_rms_jy"] = o.residual_rms;
  }
  return j;
}

void ApplyStage::validate(const pipeline::Context& ctx) const {
  if (!fs::exists(ctx.get(pipeline::keys::kMsPath))) {
    throw InputError(ctx.get(pipeline::keys::kMsPath) + ": no such MS");
  }
}

namespace {

// A set solved from this MS by the chain's solve stage, applied only when it
// passed; empty otherwise (then the registry chooses).
std::string solved_here(const pipeline::Context& ctx) {
  using namespace pipeline::keys;
  if (ctx.has(kCalsetId) && ctx.has(kCalsetStatus) && ctx.get(kCalsetStatus) == "passed") return ctx.get(kCalsetId);
  return {};
}

// The set this stage would apply: solved_here, else the valid passed set
// nearest in time (as apply_ms chooses); empty when none.
std::string wanted_calset(const std::string& requested, const pipeline::Context& ctx, const MsMeta& meta) {
  if (!requested.empty()) return requested;
  if (auto id = solved_here(ctx); !id.empty()) return id;
  if (!ctx.state()) return {};
  const double mid = 0.5 * (meta.time_first + meta.time_last);
  const auto set = choose_applicable(ctx.state()->valid_calsets(mid), mid);
  return set ? set->id : std::string();
}

}  // namespace

ApplyStage::ApplyStage(const config::Config& cfg) : cfg_(cfg) {
  // Imaging DATA as it is (a diagnostic) leaves nobody to apply the set in
  // the image stage's pass: then this stage writes CORRECTED_DATA itself.
  const bool image_pass_applies = cfg.get_string("imaging.data_column") != "DATA";
  request_.write_corrected =
      cfg.get_bool("calibration.write_corrected_data") &&
      !(cfg.get_bool("calibration.apply_in_image_pass") && image_pass_applies);
}

bool ApplyStage::is_done(const pipeline::Context& ctx) const {
  if (!request_.write_corrected) return true;  // deferred: restore() chooses again
  if (!ctx.has(pipeline::keys::kMsPath) || !fs::exists(ctx.get(pipeline::keys::kMsPath))) return false;
  const MsVisibilities vis(ctx.get(pipeline::keys::kMsPath));
  // Done when the MS holds the set the stage would apply now — also when there
  // is none to apply and none was (an uncalibrated group is not redone on
  // every run).
  return vis.applied_calset() == wanted_calset(request_.calset_id, ctx, vis.meta());
}

pipeline::Context ApplyStage::restore(const pipeline::Context& ctx) const {
  const MsVisibilities vis(ctx.get(pipeline::keys::kMsPath));
  if (!request_.write_corrected) {
    // Deferred: the set it would choose now, as execute chooses.
    const std::string id = wanted_calset(request_.calset_id, ctx, vis.meta());
    if (id.empty() && cfg_.get_string("calibration.when_uncalibrated") == "fail") {
      // Execute says why, and fails the group.
      throw InputError(ctx.get(pipeline::keys::kMsPath) + ": no valid passed calibration set now");
    }
    return ctx.with(pipeline::keys::kCalibrated, !id.empty())
        .with(pipeline::keys::kAppliedCalsetId, id);
  }
  return ctx.with(pipeline::keys::kCalibrated, !vis.applied_calset().empty())
      .with(pipeline::keys::kAppliedCalsetId, vis.applied_calset());
}

pipeline::Context ApplyStage::execute(const pipeline::Context& ctx) {
  ApplyRequest req = request_;
  req.ms = ctx.get(pipeline::keys::kMsPath);
  req.group_id = ctx.group_id();
  if (req.calset_id.empty()) req.calset_id = solved_here(ctx);
  req.check_interrupt = [&ctx] { ctx.throw_if_interrupted(); };
  outcome_ = apply_ms(cfg_, req, ctx.state());
  const auto& o = *outcome_;
  auto out = ctx.with(pipeline::keys::kCalibrated, o.calibrated)
                 .with(pipeline::keys::kAppliedCalsetId, o.calset_id)
                 .with_io(o.bytes_read, o.bytes_written);
  for (const auto& e : o.events) out = out.with_record(state::DomainRecord{e});
  return out;
}

}  // namespace contimg::calibration
