// `contimg calibrators --date YYYY-MM-DD --dec DEG`: the VLA calibrators that
// transit within the primary beam of that pointing declination on that UTC
// day, with transit times, beam attenuation and the indexed groups that
// contain the transits (docs/calibrators.md).
#include <filesystem>
#include <iostream>
#include <numbers>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "astro/site_data.h"
#include "astro/time.h"
#include "catalog/transits.h"
#include "cli/app.h"
#include "common/error.h"
#include "state/state_db.h"

namespace contimg::cli {
namespace {

constexpr double kDeg = std::numbers::pi / 180.0;

struct CalibratorsOptions {
  std::string date;
  double dec_deg = 0;
  double radius_deg = 0;
  double min_flux_jy = 0;
  std::string db;
};

std::string ra_hms(double rad) {
  double h = rad / kDeg / 15.0;
  if (h < 0) h += 24;
  const int hh = static_cast<int>(h);
  const int mm = static_cast<int>((h - hh) * 60);
  const double ss = ((h - hh) * 60 - mm) * 60;
  return fmt::format("{:02d}:{:02d}:{:05.2f}", hh, mm, ss);
}

std::string dec_dms(double rad) {
  const double d = std::abs(rad / kDeg);
  const int dd = static_cast<int>(d);
  const int mm = static_cast<int>((d - dd) * 60);
  const double ss = ((d - dd) * 60 - mm) * 60;
  return fmt::format("{}{:02d}:{:02d}:{:04.1f}", rad < 0 ? '-' : '+', dd, mm, ss);
}

}  // namespace

void register_calibrators_command(CLI::App& app, CommandContext& ctx) {
  auto o = std::make_shared<CalibratorsOptions>();
  auto* cmd = app.add_subcommand(
      "calibrators", "VLA calibrators transiting within the primary beam on a UTC day");
  cmd->add_option("--date", o->date, "UTC day, YYYY-MM-DD")->required();
  cmd->add_option("--dec", o->dec_deg, "Pointing declination, deg")->required();
  cmd->add_option("--radius", o->radius_deg,
                  "Search radius from the pointing, deg (default: half-power radius at 1.405 GHz)");
  cmd->add_option("--min-flux", o->min_flux_jy, "Minimum VLA 20 cm flux, Jy")->capture_default_str();
  cmd->add_option("--db", o->db, "State database for the containing groups (= paths.state_db)");
  cmd->callback([&ctx, o, cmd] {
    if (!o->db.empty()) ctx.command_overrides.push_back({"paths.state_db", o->db, "--db"});
    ctx.action = [&ctx, o, cmd] {
      if (o->date.size() != 10) {
        throw ConfigError(fmt::format("--date must be YYYY-MM-DD, got \"{}\"", o->date));
      }
      if (std::abs(o->dec_deg) > 90) throw ConfigError(fmt::format("--dec {} is not a declination", o->dec_deg));
      if (cmd->count("--radius") && !(o->radius_deg > 0)) throw ConfigError("--radius must be > 0");
      const double day0 = astro::iso_to_jd_utc(o->date + "T00:00:00");
      const auto& cfg = ctx.config();
      const auto data_dir = cfg.get_path("paths.data_dir");
      const auto site = astro::load_site_data(data_dir);
      const auto catalogue = catalog::VlaCalibratorCatalog::load(catalog::vla_calibrator_path(data_dir));
      catalog::TransitQuery q;
      q.day_start_jd_utc = day0;
      q.dec_rad = o->dec_deg * kDeg;
      q.radius_rad = o->radius_deg * kDeg;
      q.min_flux_20cm_jy = o->min_flux_jy;
      const auto transits = catalog::calibrator_transits(site.observatory, catalogue, q);

      // Groups only when an index exists: listing calibrators needs no database.
      std::optional<state::StateDb> db;
      const auto db_path = state::StateDb::resolve_path(cfg);
      if (state::is_postgres_url(db_path.string()) || std::filesystem::exists(db_path)) {
        state::StateDb::Options opt;
        opt.create = false;
        db.emplace(db_path, opt);
      }
      nlohmann::json out = nlohmann::json::array();
      if (!ctx.json()) {
        std::cout << fmt::format("{} calibrators transit within {:.2f} deg of Dec {:+.3f} on {}\n",
                                 transits.size(),
                                 (q.radius_rad > 0 ? q.radius_rad : catalog::default_transit_radius_rad()) / kDeg,
                                 o->dec_deg, o->date);
        std::cout << fmt::format("{:<11} {:<8} {:>11} {:>11} {:>8} {:>7} {:>6} {:<23} {}\n", "name", "alt",
                                 "RA", "Dec", "S1.4 Jy", "sep deg", "PB", "transit UTC", "group");
      }
      for (const auto& t : transits) {
        const auto& c = *t.calibrator;
        std::optional<std::string> group;
        if (db) group = catalog::group_containing(*db, t.transit_jd_utc);
        const std::string when = astro::jd_utc_to_iso(t.transit_jd_utc, 1);
        if (ctx.json()) {
          out.push_back({{"name", c.name},
                         {"alt_name", c.alt_name},
                         {"ra_deg", c.ra_rad / kDeg},
                         {"dec_deg", c.dec_rad / kDeg},
                         {"flux_1400_jy", t.flux_1400_jy},
                         {"flux_20cm_jy", c.flux_20cm_jy ? nlohmann::json(*c.flux_20cm_jy) : nlohmann::json()},
                         {"codes_20cm", c.codes_20cm},
                         {"separation_deg", t.separation_rad / kDeg},
                         {"pb_power", t.pb_power},
                         {"transit_utc", when},
                         {"transit_jd_utc", t.transit_jd_utc},
                         {"group_id", group ? nlohmann::json(*group) : nlohmann::json()}});
        } else {
          std::cout << fmt::format("{:<11} {:<8} {:>11} {:>11} {:>8.3f} {:>7.3f} {:>6.3f} {:<23} {}\n", c.name,
                                   c.alt_name, ra_hms(c.ra_rad), dec_dms(c.dec_rad), t.flux_1400_jy,
                                   t.separation_rad / kDeg, t.pb_power, when,
                                   group ? *group : (db ? "-" : "(no index)"));
        }
      }
      if (ctx.json()) std::cout << out.dump(2) << "\n";
      return 0;
    };
  });
}

}  // namespace contimg::cli
