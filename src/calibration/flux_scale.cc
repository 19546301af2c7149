#include "calibration/flux_scale.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "calibration/calibrate.h"
#include "calibration/caltable.h"
#include "calibration/solve_stage.h"
#include "catalog/calibrator_models.h"
#include "catalog/vla_calibrators.h"
#include "common/error.h"
#include "common/statistics.h"

namespace contimg::calibration {

void TransitFluxMeasurement::add(VisBlock b, std::span<const std::complex<float>> model) {
  ApplyStats st;
  apply_solution(solution_, b, st);
  cmp_.add(b, model);
}

TransitFlux measure_transit_flux(const std::filesystem::path& ms,
                                 const std::filesystem::path& data_dir,
                                 const std::string& calset_id, const std::filesystem::path& bcal,
                                 const std::filesystem::path& gcal) {
  MsVisibilities vis(ms);
  const auto& meta = vis.meta();
  const auto name = calibrator_from_fields(meta.field_names);
  if (!name)
    throw InputError(fmt::format("{}: no calibrator field: not a calibrator transit", ms.string()));
  const auto list = catalog::load_vla_calibrators(catalog::vla_calibrator_path(data_dir));
  const auto cal = catalog::find_calibrator(list, *name);
  if (!cal)
    throw InputError(
        fmt::format("{}: calibrator {} is not in the VLA calibrator list", ms.string(), *name));
  const std::vector<sky::Source> model{catalog::calibrator_source(*cal)};
  CalSolution sol;
  sol.bandpass = read_bandpass_table(bcal);
  sol.gains = read_gain_table(gcal);
  TransitFluxMeasurement m(sol);
  for (int spw = 0; spw < meta.nspw(); ++spw) {
    if (!vis.has_rows(spw)) continue;
    auto block = vis.read_spw(spw);
    const auto pred = predict_block(meta, block, model);
    m.add(std::move(block), pred);
  }
  TransitFlux t;
  t.group_id = ms.filename().stem().string();
  t.calibrator = *name;
  t.calset_id = calset_id;
  t.ratio = m.ratio();
  return t;
}

FluxScaleReport flux_scale_report(std::vector<TransitFlux> transits, double tolerance) {
  FluxScaleReport r;
  r.transits = std::move(transits);
  if (r.transits.empty()) {
    r.summary = "flux scale: no calibrator transit measured";
    return r;
  }
  std::vector<double> v;
  std::vector<std::string> bad;
  for (const auto& t : r.transits) {
    v.push_back(t.ratio);
    if (std::abs(t.ratio - 1) > std::abs(r.worst_ratio - 1) || r.worst_ratio == 0)
      r.worst_ratio = t.ratio;
    if (!(std::abs(t.ratio - 1) <= tolerance))
      bad.push_back(fmt::format("{} in {} ({:.3f})", t.calibrator, t.group_id, t.ratio));
  }
  r.median_ratio = median(std::move(v));
  r.ok = bad.empty();
  r.summary = fmt::format(
      "flux scale: calibrated / catalogue flux of {} calibrator transit(s): median {:.3f}, "
      "worst {:.3f}{}",
      r.transits.size(), r.median_ratio, r.worst_ratio,
      bad.empty() ? std::string()
                  : fmt::format("; beyond {:.0f}%: {}", 100 * tolerance, fmt::join(bad, ", ")));
  return r;
}

nlohmann::json to_json(const FluxScaleReport& r) {
  nlohmann::json t = nlohmann::json::array();
  for (const auto& x : r.transits) {
    t.push_back({{"group_id", x.group_id},
                 {"calibrator", x.calibrator},
                 {"calset_id", x.calset_id},
                 {"ratio", x.ratio},
                 {"own_set_status", x.own_set_status}});
  }
  return {{"transits", t},
          {"median_ratio", r.median_ratio},
          {"worst_ratio", r.worst_ratio},
          {"ok", r.ok},
          {"summary", r.summary}};
}

}  // namespace contimg::calibration
