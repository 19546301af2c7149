#include "chain/chain_runner.h"

#include <chrono>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "astro/site_data.h"
#include "catalog/vla_calibrators.h"
#include "chain/group_processor.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "common/logging.h"
#include "conversion/conversion_settings.h"
#include "grouping/group_selection.h"
#include "orchestration/orchestrator.h"
#include "orchestration/provenance.h"
#include "state/calsets.h"
#include "state/state_db.h"

namespace contimg::chain {
namespace fs = std::filesystem;
namespace {

fs::path reference_for(const ChainOptions& o, const std::string& group_id) {
  if (!o.reference.empty()) return o.reference;
  const fs::path truth = o.input_dir / (group_id + ".truth.json");
  return fs::exists(truth) ? truth : fs::path();
}

}  // namespace

int ChainSummary::count(std::string_view status) const {
  int n = 0;
  for (const auto& g : groups) n += g.status == status;
  return n;
}

std::map<std::string, double> ChainSummary::stage_seconds() const {
  std::map<std::string, double> out;
  for (const auto& g : groups) {
    for (const auto& s : g.stages) {
      if (s.outcome == pipeline::Outcome::kCompleted) out[s.stage] += s.seconds;
    }
  }
  return out;
}

double ChainSummary::real_time_factor() const {
  return wall_seconds > 0 ? kGroupCadenceS * processed() / wall_seconds : 0.0;
}

nlohmann::json ChainSummary::to_json() const {
  nlohmann::json groups_json = nlohmann::json::array();
  for (const auto& g : groups) {
    nlohmann::json stages = nlohmann::json::array();
    for (const auto& s : g.stages) {
      stages.push_back({{"stage", s.stage},
                        {"outcome", pipeline::to_string(s.outcome)},
                        {"seconds", s.seconds},
                        {"mb_per_s", s.mb_per_s()},
                        {"peak_rss_bytes", s.peak_rss},
                        {"error", s.error}});
    }
    nlohmann::json e = {{"group_id", g.group_id}, {"status", g.status}, {"stages", stages},
                        {"outputs", g.outputs}};
    if (!g.reason.empty()) e["reason"] = g.reason;
    if (!g.missing_subbands.empty()) {
      nlohmann::json m = nlohmann::json::array();
      for (const auto& [k, why] : g.missing_subbands) m.push_back({{"subband", k}, {"reason", why}});
      e["missing_subbands"] = m;
    }
    groups_json.push_back(e);
  }
  return {{"groups", groups_json},
          {"counts", {{"processed", processed()}, {"failed", failed()}, {"skipped", skipped()}}},
          {"stage_seconds", stage_seconds()},
          {"wall_seconds", wall_seconds},
          {"preflight", chain::to_json(preflight)},
          {"warnings", warnings},
          {"flux_scale", flux_scale.to_json()},
          {"real_time_factor", real_time_factor()}};
}

ChainSummary ChainRunner::run(const ChainOptions& o) const {
  const auto t0 = std::chrono::steady_clock::now();
  const auto& cfg = *config_;
  auto check = [this] {
    if (interrupts_) interrupts_->throw_if_interrupted();
  };
  const auto gs = grouping::GroupingSettings::from_config(cfg);
  state::StateDb db(state::StateDb::resolve_path(cfg));
  grouping::index_directory(db, o.input_dir, gs, uvh5::CacheProfiles::from_config(cfg), check);

  const auto selected =
      grouping::select_groups(db, o.first_epoch, o.last_epoch, gs, o.allow_incomplete, o.input_dir);
  ChainSummary summary;

  // Preflight: what the run cannot do is said before its first stage (D9).
  std::optional<astro::SiteData> site;
  {
    PreflightRequest req;
    req.input_dir = o.input_dir;
    req.out_dir = o.layout.out_dir;
    if (!o.reference.empty()) req.reference = o.reference;
    // Loaded once here and kept for the converter below.
    std::optional<catalog::VlaCalibratorCatalog> calibrators;
    try {
      site = astro::load_site_data(cfg.get_path("paths.data_dir"));
      calibrators = catalog::VlaCalibratorCatalog::load(
          catalog::vla_calibrator_path(cfg.get_path("paths.data_dir")));
    } catch (const std::exception&) {
      // preflight itself reports unreadable run-time data as an error
    }
    for (const auto& sel : selected) {
      if (sel.decision != grouping::SelectedGroup::Decision::kProcess) continue;
      ++req.n_groups;
      if (o.reference.empty() && !reference_for(o, sel.group.group_id).empty()) ++req.n_groups_with_reference;
      for (const auto& [k, path] : sel.subband_files) {
        std::error_code ec;
        const auto size = fs::file_size(path, ec);
        if (!ec) req.input_bytes += size;
      }
      if (calibrators && site && !req.any_calibrator_transit) {
        req.any_calibrator_transit =
            holds_calibrator_transit(sel.group, site->observatory, *calibrators, cfg);
      }
    }
    // Any tree's set can calibrate this run's groups (its own are preferred).
    for (const auto& c : state::list_calsets(db)) req.calset_available |= c.status == "passed";
    summary.preflight = preflight(cfg, req);
    for (const auto& f : summary.preflight) {
      if (f.severity == Finding::Severity::kWarning) spdlog::warn("preflight: {}", to_string(f));
    }
    throw_if_errors(summary.preflight);
  }

  if (!site) site = astro::load_site_data(cfg.get_path("paths.data_dir"));  // throws the reason
  const conversion::GroupConverter converter(
      *site, conversion::calibrator_refs_from_config(cfg),
      conversion::options_from_config(cfg, o.allow_incomplete, o.command_line));
  fs::create_directories(o.layout.ms_dir());
  // What killed runs left behind, under every tier this run writes into.
  auto settings = orchestration::OrchestratorSettings::from_config(cfg);
  settings.temporary_roots =
      orchestration::temporary_roots(cfg, {o.layout.ms_dir(), o.layout.out_dir / "products"});
  orchestration::sweep_temporaries(settings.temporary_roots);
  orchestration::Orchestrator orch(db, o.layout.out_dir, settings, interrupts_);
  const GroupProcessor processor(config_, interrupts_, converter, o.layout);

  struct Pending {
    std::size_t index;  // into summary.groups
    pipeline::Context context;
  };
  std::vector<Pending> pending;

  // Pass 1: convert, flag, solve.
  for (const auto& sel : selected) {
    check();
    GroupResult gr;
    gr.group_id = sel.group.group_id;
    gr.missing_subbands = sel.missing_reasons;
    using Decision = grouping::SelectedGroup::Decision;
    if (sel.decision != Decision::kProcess) {
      gr.status = sel.decision == Decision::kFailInvalid ? "failed" : "skipped";
      gr.reason = sel.reason;
      db.set_group_state(gr.group_id,
                         sel.decision == Decision::kFailInvalid ? state::GroupState::kFailed
                                                                : state::GroupState::kSkipped,
                         sel.reason);
      logging::group_logger(gr.group_id)->warn("{}: {}", gr.status, gr.reason);
      summary.groups.push_back(std::move(gr));
      continue;
    }
    const pipeline::Context start = processor.start_context(sel, reference_for(o, gr.group_id));
    const auto report = processor.run_first(orch, sel, start).report;
    gr.stages = report.stages;
    if (!report.ok) {
      gr.status = "failed";
      gr.reason = failure_of(report);
      logging::group_logger(gr.group_id)->error("{}", gr.reason);
      summary.groups.push_back(std::move(gr));
      continue;
    }
    pending.push_back({summary.groups.size(), *report.final_context});
    summary.groups.push_back(std::move(gr));
  }

  // Pass 2: apply the nearest valid calibration, image, validate.
  for (auto& p : pending) {
    check();
    auto& gr = summary.groups[p.index];
    const auto report = processor.run_second(orch, p.context).report;
    gr.stages.insert(gr.stages.end(), report.stages.begin(), report.stages.end());
    if (!report.ok) {
      gr.status = "failed";
      gr.reason = failure_of(report);
      logging::group_logger(gr.group_id)->error("{}", gr.reason);
      continue;
    }
    gr.status = "processed";
    gr.outputs = report.final_context->to_json().value("outputs", nlohmann::json::object());
  }
  summary.flux_scale = check_flux_scale(summary.groups, orch.state_view(), cfg.get_path("paths.data_dir"),
                                        cfg.get_double("calibration.flux_scale_tolerance"));
  if (summary.flux_scale.ran) {
    spdlog::info("{}", summary.flux_scale.report.summary);
    if (!summary.flux_scale.report.ok) summary.warnings.push_back(summary.flux_scale.report.summary);
    for (const auto& u : summary.flux_scale.unchecked) spdlog::info("flux scale not checked: {}", u);
  }
  summary.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace contimg::chain
