#include "calibration/transit_policy.h"

#include <cmath>

#include "catalog/calibrator_models.h"
#include "catalog/vla_calibrators.h"
#include "sky/primary_beam.h"
#include "validation/reference.h"

namespace contimg::calibration {
namespace {

constexpr double kDeg = M_PI / 180;
constexpr double kFreqHz = 1.4e9;
constexpr double kSearchRadiusDeg = catalog::kFieldRadiusDeg;
constexpr double kSameSourceRad = 30.0 / 3600 * kDeg;

}  // namespace

catalog::TransitPolicy transit_policy_for(const config::Config& cfg, const MsMeta& meta,
                                          const std::string& name,
                                          const std::filesystem::path& reference) {
  catalog::TransitPolicy always;
  always.solve = true;
  always.reason = "calibration.transit_policy = all";
  if (cfg.get_string("calibration.transit_policy") == "all") return always;
  const auto list =
      catalog::load_vla_calibrators(catalog::vla_calibrator_path(cfg.get_path("paths.data_dir")));
  const auto cal = catalog::find_calibrator(list, name);
  if (!cal || !cal->flux_20cm_jy) {
    always.reason = name + " is not a VLA calibrator with a 20 cm flux: solve_ms decides";
    return always;
  }
  // The calibrator field (<name>_t<i>) is where the dish pointed at its transit.
  Direction centre{cal->ra_rad, cal->dec_rad};
  for (std::size_t f = 0; f < meta.field_names.size() && f < meta.field_dir.size(); ++f) {
    if (meta.field_names[f].rfind(name + "_t", 0) == 0) centre = meta.field_dir[f];
  }
  std::vector<sky::Source> catalogue =
      catalog::calibrator_sources_within(list, centre.ra_rad, centre.dec_rad, kSearchRadiusDeg * kDeg);
  if (!reference.empty()) {
    validation::ReferenceQuery q;
    q.freq_hz = kFreqHz;
    q.spectral_index = cfg.get_double("validation.reference_spectral_index");
    q.ra_deg = centre.ra_rad / kDeg;
    q.dec_deg = centre.dec_rad / kDeg;
    q.radius_deg = kSearchRadiusDeg;
    const std::size_t nvla = catalogue.size();
    for (const auto& r : validation::load_reference(reference, q)) {
      sky::Source s;
      s.name = r.name;
      s.ra_rad = r.ra_deg * kDeg;
      s.dec_rad = r.dec_deg * kDeg;
      if (sky::angular_distance(centre.ra_rad, centre.dec_rad, s.ra_rad, s.dec_rad) >
          kSearchRadiusDeg * kDeg)
        continue;
      s.flux_jy = r.flux_jy;
      s.ref_freq_hz = r.freq_hz;
      s.spectral_index = q.spectral_index;
      bool duplicate = false;  // a VLA calibrator the reference lists too
      for (std::size_t i = 0; i < nvla && !duplicate; ++i) {
        duplicate = sky::angular_distance(catalogue[i].ra_rad, catalogue[i].dec_rad, s.ra_rad,
                                          s.dec_rad) < kSameSourceRad;
      }
      if (!duplicate) catalogue.push_back(s);
    }
  }
  catalog::TransitPolicyOptions o;
  o.min_fraction = cfg.get_double("calibration.transit_min_fraction");
  o.field_model_min_jy = cfg.get_double("calibration.field_model_min_jy");
  const bool primary = catalog::perley_butler_2017(cal->alt_name).has_value() ||
                       catalog::perley_butler_2017(cal->name).has_value();
  auto p = catalog::decide_transit(catalog::calibrator_source(*cal), primary, centre.ra_rad,
                                   centre.dec_rad, catalogue, o);
  if (reference.empty()) p.field_model.clear();
  return p;
}

}  // namespace contimg::calibration
