#include "conversion/conversion_settings.h"

#include "catalog/vla_calibrators.h"
#include "common/error.h"
#include "grouping/settings.h"

namespace contimg::conversion {

ConversionOptions options_from_config(const config::Config& cfg, bool allow_incomplete,
                                      const std::vector<std::string>& command_line) {
  ConversionOptions o;
  const auto g = grouping::GroupingSettings::from_config(cfg);
  o.expected_subbands = g.expected_subbands;
  o.min_subbands = allow_incomplete ? g.min_subbands : g.expected_subbands;
  o.allow_incomplete = allow_incomplete;
  o.parallel_io = cfg.get_bool("conversion.parallel_io");
  o.io_batch_size = static_cast<int>(cfg.get_int("conversion.io_batch_size"));
  o.max_workers = static_cast<int>(cfg.get_int("conversion.max_workers"));
  if (o.io_batch_size < 1 || o.max_workers < 0) {
    throw ConfigError("conversion.io_batch_size must be >= 1 and conversion.max_workers >= 0");
  }
  o.merge_spws = cfg.get_bool("conversion.merge_spws");
  o.stage_dir = cfg.get_path("conversion.stage_dir");
  if (cfg.get_bool("conversion.stage_to_tmpfs")) o.tmpfs_dir = cfg.get_path("paths.tmpfs_dir");
  o.durable = cfg.get_bool("conversion.durable");
  o.storage.preallocate = cfg.get_bool("conversion.preallocate");
  o.calibrator_radius_deg = cfg.get_double("conversion.calibrator_radius_deg");
  o.cache_profiles = uvh5::CacheProfiles::from_config(cfg);
  o.command_line = command_line;
  return o;
}

std::vector<CalibratorRef> calibrator_refs_from_config(const config::Config& cfg) {
  std::vector<CalibratorRef> out;
  const double min_flux = cfg.get_double("conversion.calibrator_min_flux_jy");
  const auto list = catalog::load_vla_calibrators(cfg.get_path("paths.data_dir") / "catalogs" /
                                                  "vlacalibrators.txt");
  for (const auto& c : list) {
    if (c.flux_20cm_jy && *c.flux_20cm_jy >= min_flux) {
      const bool named = c.alt_name.rfind("3C", 0) == 0 || c.alt_name.rfind("4C", 0) == 0;
      out.push_back({named ? c.alt_name : c.name, c.ra_rad, c.dec_rad, *c.flux_20cm_jy});
    }
  }
  return out;
}

}  // namespace contimg::conversion
