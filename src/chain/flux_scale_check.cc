#include "chain/flux_scale_check.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "calibration/calset_history.h"
#include "calibration/ms_access.h"
#include "chain/chain_runner.h"
#include "common/error.h"
#include "common/logging.h"
#include "pipeline/state_view.h"

namespace contimg::chain {
namespace fs = std::filesystem;
namespace {

std::string text(const nlohmann::json& o, const char* key) {
  const auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

nlohmann::json FluxScaleCheck::to_json() const {
  if (!ran) return {{"ran", false}, {"reason", reason}};
  auto j = calibration::to_json(report);
  j["ran"] = true;
  j["unchecked"] = unchecked;
  return j;
}

FluxScaleCheck check_flux_scale(const std::vector<GroupResult>& groups,
                                const pipeline::StateView& view, const fs::path& data_dir,
                                double tolerance) {
  FluxScaleCheck out;
  bool without_reference = false;
  for (const auto& g : groups) {
    if (g.status == "processed" && text(g.outputs, "crossmatch").starts_with("skipped"))
      without_reference = true;
  }
  if (!without_reference) {
    out.reason = "every validated group compared its fluxes with a reference catalogue";
    return out;
  }
  out.ran = true;
  std::vector<calibration::TransitFlux> measured;
  for (const auto& g : groups) {
    // A calibrator field is what gives a group a calset status (passed, failed, not_solved).
    if (g.status != "processed" || !g.outputs.contains("calset_status")) continue;
    const auto log = logging::group_logger(g.group_id);
    const fs::path ms = text(g.outputs, "ms_path");
    const std::string own_status = text(g.outputs, "calset_status");
    const std::string applied = text(g.outputs, "applied_calset_id");
    try {
      std::optional<state::CalsetRecord> set;
      if (!applied.empty()) set = view.calset(applied);
      if (!set || set->group_id == g.group_id) {
        // Its own set would reproduce the catalogue flux: choose among the others by the usual
        // rule.
        const calibration::MsVisibilities vis(ms);
        const double mid = 0.5 * (vis.meta().time_first + vis.meta().time_last);
        std::vector<state::CalsetRecord> others;
        for (auto& c : view.valid_calsets(mid)) {
          if (c.group_id != g.group_id) others.push_back(std::move(c));
        }
        set = calibration::choose_applicable(others, mid);
      }
      if (!set) {
        out.unchecked.push_back(
            fmt::format("{}: no passed set of another transit is valid at its time", g.group_id));
        continue;
      }
      auto t = calibration::measure_transit_flux(ms, data_dir, set->id, set->bandpass_table,
                                                 set->gain_table);
      t.group_id = g.group_id;
      t.own_set_status = own_status;
      log->info("flux scale: {} calibrated with {}: {:.4f} x its catalogue flux (own set {})",
                t.calibrator, set->id, t.ratio, own_status);
      measured.push_back(std::move(t));
    } catch (const Error& e) {
      out.unchecked.push_back(fmt::format("{}: {}", g.group_id, e.what()));
    }
  }
  out.report = calibration::flux_scale_report(std::move(measured), tolerance);
  return out;
}

}  // namespace contimg::chain
