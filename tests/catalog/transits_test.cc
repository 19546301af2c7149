#include "catalog/transits.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numbers>

#include "astro/site_data.h"
#include "astro/time.h"
#include "catalog/calibrator_models.h"
#include "common/build_info.h"
#include "sky/primary_beam.h"
#include "state/state_db.h"

namespace contimg::catalog {
namespace {

constexpr double kDeg = std::numbers::pi / 180.0;

const astro::SiteData& site() {
  static const astro::SiteData s = astro::load_site_data(build::kDataDir);
  return s;
}

const VlaCalibratorCatalog& cat() {
  static const VlaCalibratorCatalog c = VlaCalibratorCatalog::load(vla_calibrator_path(build::kDataDir));
  return c;
}

double wrap(double a) { return std::remainder(a, 2 * std::numbers::pi); }

TEST(Transits, TransitIsWhereLastEqualsApparentRa) {
  const auto& obs = site().observatory;
  const auto c = *find_calibrator(cat().calibrators(), "3C286");
  const astro::SkyDirection dir{c.ra_rad, c.dec_rad};
  const double day0 = astro::iso_to_jd_utc("2025-01-01T00:00:00");
  const auto ts = transits_between(obs, dir, day0, day0 + 1);
  ASSERT_EQ(ts.size(), 1u);
  const double t = ts[0];
  EXPECT_LT(std::abs(obs.observed_hadec(dir, t).ra_rad), 1e-7);
  // Independent of the hour angle route: LAST = apparent RA at transit (to
  // diurnal aberration, ~1e-6 rad).
  EXPECT_LT(std::abs(wrap(obs.local_apparent_sidereal_time(t) - obs.uvw_frame(dir, t).app_ra)), 2e-5);
  // 3C286 (RA 13.52 h) transits at LST 13.52 h. On 2025-01-01 GMST at 0h UT
  // is 6.71 h, so LST(0h UT) at 118.28 W is 6.71 - 7.885 = 22.83 h and
  // transit comes (13.52 - 22.83 + 24) / 1.00274 = 14.65 h UT later.
  EXPECT_NEAR((t - day0) * 24.0, 14.65, 0.05);
  // The next transit one sidereal day later.
  const double next = transit_jd_utc(obs, dir, t + 0.997);
  EXPECT_NEAR((next - t) * 86400.0, 86164.09, 0.5);
}

TEST(Transits, CalibratorsAtPointingIncludeTheOnesOnThatDec) {
  const auto& obs = site().observatory;
  TransitQuery q;
  q.day_start_jd_utc = astro::iso_to_jd_utc("2025-01-01T00:00:00");
  q.dec_rad = 30.5 * kDeg;
  const auto list = calibrator_transits(obs, cat(), q);
  ASSERT_FALSE(list.empty());
  bool found = false;
  double prev = 0;
  for (const auto& t : list) {
    EXPECT_LE(t.separation_rad, default_transit_radius_rad());
    EXPECT_GE(t.transit_jd_utc, q.day_start_jd_utc);
    EXPECT_LT(t.transit_jd_utc, q.day_start_jd_utc + 1);
    EXPECT_GE(t.transit_jd_utc, prev);
    prev = t.transit_jd_utc;
    EXPECT_NEAR(t.pb_power, sky::airy_power(t.separation_rad, kBandCentreHz), 1e-12);
    if (t.calibrator->alt_name == "3C286") {
      found = true;
      EXPECT_LT(t.separation_rad, 0.2 * kDeg);  // the J2000 Dec is 30.509
      EXPECT_GT(t.pb_power, 0.98);
      EXPECT_NEAR(t.flux_1400_jy, 15.08, 0.05);
    }
  }
  EXPECT_TRUE(found);
  // A tighter radius keeps a subset.
  q.radius_rad = 0.2 * kDeg;
  EXPECT_LT(calibrator_transits(obs, cat(), q).size(), list.size());
  EXPECT_NEAR(default_transit_radius_rad() / kDeg, 0.5 * 1.029 * 299792458.0 / 1.405e9 / 4.65 / kDeg, 0.01);
}

TEST(Transits, GroupStartPutsTransitMidGroup) {
  const double t = astro::iso_to_jd_utc("2025-01-01T13:10:21.7");
  const std::string start = group_start_for_transit(t, 24, 12.884902);
  // 24 x 12.884902 s / 2 = 154.6 s before: 13:07:47.1 -> rounded 13:07:47.
  EXPECT_EQ(start, "2025-01-01T13:07:47");
}

TEST(Transits, GroupContainingFromIndex) {
  const auto dir = std::filesystem::temp_directory_path() / "contimg_transits_test";
  std::filesystem::remove_all(dir);
  state::StateDb db(dir / "state.sqlite3");
  state::GroupRecord g;
  g.group_id = "2025-01-01T13:07:47";
  g.start_epoch = 1735736867;
  g.start_mjd = 60676.0 + (13 * 3600 + 7 * 60 + 47) / 86400.0;
  g.first_file_epoch = g.last_file_epoch = g.start_epoch;
  g.time_first_mjd = g.start_mjd + 6.44 / 86400.0;
  g.time_last_mjd = g.start_mjd + (23.5 * 12.884902) / 86400.0;
  db.upsert_group(g);
  const double inside = g.start_mjd + 150.0 / 86400.0 + astro::kMjdOffset;
  EXPECT_EQ(group_containing(db, inside).value_or(""), g.group_id);
  EXPECT_FALSE(group_containing(db, inside + 400.0 / 86400.0));
  EXPECT_FALSE(group_containing(db, inside - 200.0 / 86400.0));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace contimg::catalog
