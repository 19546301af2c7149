#include "astro/astrometry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "astro/time.h"
#include "common/error.h"
#include "support/tiny_uvh5.h"

namespace contimg::astro {
namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kDeg = kPi / 180.0;
constexpr double kArcsec = kDeg / 3600.0;
const std::filesystem::path kData = std::filesystem::path(CONTIMG_SOURCE_DIR) / "data";

double wrap(double a) { return std::remainder(a, 2 * kPi); }
double norm(const Vec3& v) { return std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]); }

std::vector<std::string> read_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

void write_lines(const std::filesystem::path& p, const std::vector<std::string>& lines) {
  std::ofstream out(p);
  for (const auto& l : lines) out << l << "\n";
}

// The InputError message of f(), or "" when it does not throw one.
template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const std::vector<Station>& stations() {
  static const auto s = load_stations(kData / "DSA110_Station_Coordinates.csv");
  return s;
}

const Observatory& observatory() {
  static const Observatory o(kDsa110Location,
                             EarthOrientation::load(kData / "iers" / "finals2000A.all"));
  return o;
}

// 2025-06-20T03:00:00 UTC.
constexpr double kJd2025 = 2460846.625;

TEST(Stations, TableHas117StationsInOrderWithItrfPositions) {
  const auto& s = stations();
  ASSERT_EQ(s.size(), 117u);
  for (std::size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i].number, static_cast<int>(i) + 1);
  EXPECT_EQ(s[0].name, "DSA-001");
  EXPECT_EQ(s[116].name, "DSA-117");
  EXPECT_DOUBLE_EQ(s[0].geodetic.lat_deg, 37.2333752);
  EXPECT_DOUBLE_EQ(s[0].geodetic.lon_deg, -118.2856408);
  // DSA-001 (conversion.md §3), within 5 cm.
  EXPECT_NEAR(s[0].itrf[0], -2409761.23, 0.05);
  EXPECT_NEAR(s[0].itrf[1], -4478100.50, 0.05);
  EXPECT_NEAR(s[0].itrf[2], 3838761.52, 0.05);
  // DSA-117's blank height.
  EXPECT_DOUBLE_EQ(s[116].geodetic.height_m, 1182.6);
  EXPECT_DOUBLE_EQ(s[115].geodetic.height_m, 1178.1);
  // The longest baseline, 108-117, is about 2.71 km.
  const Vec3 b{s[116].itrf[0] - s[107].itrf[0], s[116].itrf[1] - s[107].itrf[1],
               s[116].itrf[2] - s[107].itrf[2]};
  EXPECT_NEAR(norm(b), 2707.2, 0.5);
}

TEST(Stations, GeodeticToItrf) {
  const Vec3 site = geodetic_to_itrf(kDsa110Location);
  EXPECT_NEAR(site[0], -2409530.94, 0.01);
  EXPECT_NEAR(site[1], -4478410.68, 0.01);
  EXPECT_NEAR(site[2], 3838610.79, 0.01);
  // WGS84 axes: equator at Greenwich, and the pole.
  const Vec3 eq = geodetic_to_itrf({0, 0, 100});
  EXPECT_NEAR(eq[0], 6378137.0 + 100, 1e-6);
  EXPECT_NEAR(eq[1], 0, 1e-6);
  EXPECT_NEAR(eq[2], 0, 1e-6);
  const Vec3 pole = geodetic_to_itrf({90, 0, 0});
  EXPECT_NEAR(pole[2], 6356752.314245, 1e-5);
}

TEST(Stations, MalformedTablesAreInputErrorsNamingFileAndLine) {
  test::TempDir dir;
  const auto good = read_lines(kData / "DSA110_Station_Coordinates.csv");
  ASSERT_EQ(good[7].substr(0, 9), ",DSA-002,");  // line 8

  auto bad = good;
  bad[7] = ",DSA-002,37.23x,-118.2855760,1182.6";
  write_lines(dir / "bad_lat.csv", bad);
  std::string msg = input_error([&] { load_stations(dir / "bad_lat.csv"); });
  EXPECT_NE(msg, "");
  EXPECT_NE(msg.find("bad_lat.csv:8:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("latitude"), std::string::npos) << msg;

  bad = good;
  bad[7] = ",DSA-001,37.2333752,-118.2855760,1182.6";
  write_lines(dir / "dup.csv", bad);
  msg = input_error([&] { load_stations(dir / "dup.csv"); });
  EXPECT_NE(msg.find("dup.csv:8:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("twice"), std::string::npos) << msg;

  bad = good;
  bad[7] = ",DSA-X,37.2333752,-118.2855760,1182.6";
  write_lines(dir / "name.csv", bad);
  EXPECT_NE(input_error([&] { load_stations(dir / "name.csv"); }).find("name.csv:8:"),
            std::string::npos);

  bad = std::vector<std::string>(good.begin(), good.begin() + 20);
  write_lines(dir / "short.csv", bad);
  msg = input_error([&] { load_stations(dir / "short.csv"); });
  EXPECT_NE(msg.find("14 stations"), std::string::npos) << msg;

  write_lines(dir / "no_header.csv", {",DSA-001,37.2,-118.2,1182.6"});
  EXPECT_NE(input_error([&] { load_stations(dir / "no_header.csv"); }).find("header"),
            std::string::npos);

  EXPECT_NE(input_error([&] { load_stations(dir / "missing.csv"); }).find("missing.csv"),
            std::string::npos);
}

TEST(EarthOrientation, InterpolatesTheTableLinearlyPreferringBulletinB) {
  const auto& eop = observatory().earth_orientation();
  EXPECT_DOUBLE_EQ(eop.first_mjd(), 41684.0);
  EXPECT_DOUBLE_EQ(eop.last_mjd(), 61638.0);  // the last predicted row; later rows are empty
  // 2025-06-20 (MJD 60846) and 06-21, Bulletin B columns, read by hand:
  //   PM_X_B 0.143562 / 0.145216, PM_Y_B 0.442673 / 0.442560, UT1_UTC_B 0.0349179 / 0.0348913.
  auto v = eop.at(60846.0);
  EXPECT_NEAR(v.dut1_s, 0.0349179, 1e-12);
  EXPECT_NEAR(v.xp_rad, 0.143562 * kArcsec, 1e-15);
  EXPECT_NEAR(v.yp_rad, 0.442673 * kArcsec, 1e-15);
  v = eop.at(60846.25);
  EXPECT_NEAR(v.dut1_s, 0.0349179 + 0.25 * (0.0348913 - 0.0349179), 1e-12);
  EXPECT_NEAR(v.xp_rad, (0.143562 + 0.25 * (0.145216 - 0.143562)) * kArcsec, 1e-15);
  EXPECT_NEAR(v.yp_rad, (0.442673 + 0.25 * (0.442560 - 0.442673)) * kArcsec, 1e-15);
  // 2026-07-02 has Bulletin A only (PM 0.205440 0.388553, UT1-UTC 0.0148546).
  v = eop.at(61223.0);
  EXPECT_NEAR(v.dut1_s, 0.0148546, 1e-12);
  EXPECT_NEAR(v.xp_rad, 0.205440 * kArcsec, 1e-15);
  // A prediction (P) row: 2027-08-20.
  EXPECT_NEAR(eop.at(61637.0).dut1_s, -0.0687860, 1e-12);
  // Across the 2017-01-01 leap second UT1-UTC jumps by +1 s: no half-second
  // mid-interval (B: -0.4077600 on 2016-12-31, 0.5912975 on 2017-01-01).
  EXPECT_NEAR(eop.at(57753.5).dut1_s, -0.4077600 + 0.5 * (0.5912975 - 1.0 + 0.4077600), 1e-12);
  EXPECT_NEAR(eop.at(57754.0).dut1_s, 0.5912975, 1e-12);
}

TEST(EarthOrientation, DatesOutsideTheTableAreInputErrors) {
  const auto& eop = observatory().earth_orientation();
  std::string msg = input_error([&] { eop.at(41000.0); });
  EXPECT_NE(msg.find("finals2000A.all"), std::string::npos) << msg;
  EXPECT_NE(msg.find("outside"), std::string::npos) << msg;
  EXPECT_NE(input_error([&] { eop.at(61700.0); }), "");
  // ... and so are observatory computations at such dates.
  EXPECT_NE(input_error([&] { observatory().meridian_icrs(2400000.5 + 70000.0, 0.5); }), "");
  EXPECT_NE(input_error([&] { observatory().local_apparent_sidereal_time(2440000.5); }), "");
}

TEST(EarthOrientation, MalformedTableIsAnInputErrorNamingFileAndLine) {
  test::TempDir dir;
  const auto all = read_lines(kData / "iers" / "finals2000A.all");
  std::vector<std::string> lines(all.begin() + 19160, all.begin() + 19165);
  ASSERT_EQ(lines[3].substr(0, 6), "25 621");
  lines[3].replace(60, 3, "x.y");  // inside UT1_UTC_A (bytes 59-68)
  write_lines(dir / "finals.all", lines);
  const std::string msg = input_error([&] { EarthOrientation::load(dir / "finals.all"); });
  EXPECT_NE(msg.find("finals.all:4:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("UT1_UTC_A"), std::string::npos) << msg;

  std::vector<std::string> unordered(all.begin() + 19160, all.begin() + 19163);
  std::swap(unordered[1], unordered[2]);
  write_lines(dir / "unordered.all", unordered);
  EXPECT_NE(input_error([&] { EarthOrientation::load(dir / "unordered.all"); })
                .find("unordered.all:3:"),
            std::string::npos);

  write_lines(dir / "empty.all", {all.back()});
  EXPECT_NE(input_error([&] { EarthOrientation::load(dir / "empty.all"); }), "");
  EXPECT_NE(input_error([&] { EarthOrientation::load(dir / "nope.all"); }).find("nope.all"),
            std::string::npos);
}

TEST(EarthOrientation, LeapSecondFileAgreesWithErfa) {
  EXPECT_NO_THROW(verify_leap_seconds(kData / "iers" / "Leap_Second.dat"));
  test::TempDir dir;
  auto lines = read_lines(kData / "iers" / "Leap_Second.dat");
  lines.push_back("    61222.0    1  7 2026       38");
  write_lines(dir / "Leap_Second.dat", lines);
  const std::string msg = input_error([&] { verify_leap_seconds(dir / "Leap_Second.dat"); });
  EXPECT_NE(msg.find("Leap_Second.dat:" + std::to_string(lines.size()) + ":"), std::string::npos)
      << msg;
}

TEST(Observatory, SiderealTimeAgreesWithASimpleGmstFormula) {
  // GMST ~ 18.697374558 h + 24.06570982441908 h x (JD - 2451545.0); LAST - GMST - lon is the
  // equation of the equinoxes (< 1.2 s) plus UT1-UTC (0.035 s here): < 20 arcsec in all.
  for (double jd : {kJd2025, kJd2025 + 0.3, 2460000.1}) {
    const double gmst_h = 18.697374558 + 24.06570982441908 * (jd - 2451545.0);
    const double approx = gmst_h * 15.0 * kDeg + kDsa110Location.lon_deg * kDeg;
    const double last = observatory().local_apparent_sidereal_time(jd);
    EXPECT_GE(last, 0.0);
    EXPECT_LT(last, 2 * kPi);
    EXPECT_LT(std::abs(wrap(last - approx)), 20 * kArcsec) << jd;
  }
}

TEST(Observatory, MeridianCentreIsLastMinusPrecessionAndRoundTrips) {
  const auto& obs = observatory();
  // Dec 0: ICRS RA ~ LAST - m (J2000 -> date), m = 46.124"/yr, give or take nutation
  // (< 17") and aberration (< 21"). Not the raw LAST (the original's rejected ~1200").
  const double years = (kJd2025 - 2451545.0) / 365.25;
  const SkyDirection c0 = obs.meridian_icrs(kJd2025, 0.0);
  const double last = obs.local_apparent_sidereal_time(kJd2025);
  EXPECT_LT(std::abs(wrap(c0.ra_rad - (last - 46.124 * kArcsec * years))), 40 * kArcsec);
  EXPECT_GT(std::abs(wrap(c0.ra_rad - last)), 1000 * kArcsec);
  EXPECT_GE(c0.ra_rad, 0.0);

  for (double dec_deg : {-30.0, -10.0, 0.0, 20.0, 37.2314, 54.6, 71.0, 89.0}) {
    for (double jd : {kJd2025, kJd2025 + 12.884902 / 86400.0, 2460995.2370486}) {
      const SkyDirection c = obs.meridian_icrs(jd, dec_deg * kDeg);
      const SkyDirection hd = obs.observed_hadec(c, jd);
      EXPECT_LT(std::abs(hd.ra_rad) * std::cos(dec_deg * kDeg), 1e-3 * kArcsec) << dec_deg;
      EXPECT_LT(std::abs(hd.dec_rad - dec_deg * kDeg), 1e-3 * kArcsec) << dec_deg;
      // Precession etc. move the centre by well under a degree, but measurably.
      EXPECT_LT(std::abs(c.dec_rad - dec_deg * kDeg), 0.5 * kDeg);
    }
  }
  // 12.884902 s later the meridian has moved 12.884902 sidereal-rate seconds east (to
  // 0.05": the aberration's change over those 193" of RA is ~0.02").
  const SkyDirection c1 = obs.meridian_icrs(kJd2025 + 12.884902 / 86400.0, 0.0);
  EXPECT_NEAR(wrap(c1.ra_rad - c0.ra_rad), 12.884902 * 1.00273781191 * 15 * kArcsec,
              0.05 * kArcsec);
}

TEST(Observatory, UvwIsARotationWithPyuvdataAxes) {
  const auto& obs = observatory();
  const double lat = kDsa110Location.lat_deg * kDeg, lon = kDsa110Location.lon_deg * kDeg;
  const Vec3 east{-std::sin(lon), std::cos(lon), 0.0};
  const Vec3 north{-std::sin(lat) * std::cos(lon), -std::sin(lat) * std::sin(lon),
                   std::cos(lat)};
  for (double dec_deg : {-10.0, 20.0, 54.6, 71.0}) {
    const double dec = dec_deg * kDeg;
    const SkyDirection centre = obs.meridian_icrs(kJd2025, dec);
    const UvwFrame f = obs.uvw_frame(centre, kJd2025);
    EXPECT_DOUBLE_EQ(f.last, obs.local_apparent_sidereal_time(kJd2025));
    // The ICRS north differs from apparent north by precession: a small position angle.
    EXPECT_LT(std::abs(f.frame_pa), 0.5 * kDeg);
    EXPECT_GT(std::abs(f.frame_pa), 1.0 * kArcsec);
    // Apparent direction: on the meridian (HA = LAST - app_ra = 0) at the observed Dec.
    EXPECT_LT(std::abs(wrap(f.last - f.app_ra)), 1 * kArcsec);
    EXPECT_NEAR(f.app_dec, dec, 1e-3 * kArcsec);

    EXPECT_EQ(obs.uvw(f, {0, 0, 0}), (Vec3{0, 0, 0}));
    // East-west 100 m at transit: w ~ 0, u = +100 m rotated by frame_pa.
    const Vec3 ew = obs.uvw(f, {100 * east[0], 100 * east[1], 100 * east[2]});
    EXPECT_NEAR(ew[2], 0.0, 1e-3) << dec_deg;
    EXPECT_NEAR(ew[0], 100 * std::cos(f.frame_pa), 1e-3);
    EXPECT_NEAR(ew[1], 100 * std::sin(f.frame_pa), 1e-3);
    EXPECT_GT(ew[0], 99.9);
    // North 100 m: v = 100 cos(dec - lat), w = 100 sin(dec - lat) (w toward the source).
    const Vec3 ns = obs.uvw(f, {100 * north[0], 100 * north[1], 100 * north[2]});
    const double v0 = 100 * std::cos(dec - lat);
    EXPECT_NEAR(ns[2], 100 * std::sin(dec - lat), 1e-3) << dec_deg;
    EXPECT_NEAR(ns[0], -std::sin(f.frame_pa) * v0, 1e-3);
    EXPECT_NEAR(ns[1], std::cos(f.frame_pa) * v0, 1e-3);
    // Real baselines keep their length, and swapping antennas negates uvw.
    const auto& s = stations();
    for (auto [a1, a2] : {std::pair{0, 1}, std::pair{0, 50}, std::pair{51, 101},
                          std::pair{107, 116}, std::pair{102, 3}}) {
      const auto& p1 = s[static_cast<std::size_t>(a1)].itrf;
      const auto& p2 = s[static_cast<std::size_t>(a2)].itrf;
      const Vec3 b{p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]};
      const Vec3 uvw = obs.uvw(f, b);
      EXPECT_NEAR(norm(uvw), norm(b), 1e-9);
      const Vec3 neg = obs.uvw(f, {-b[0], -b[1], -b[2]});
      for (int k = 0; k < 3; ++k) EXPECT_DOUBLE_EQ(neg[k], -uvw[k]);
    }
  }
}

TEST(Observatory, MatchesPinnedAstropyPyuvdataValues) {
  // Computed by tests/tools/astro_astropy_check.py's independent route (astropy 5.2 HADec ->
  // ICRS; pyuvdata 3.x's ERFA app coords, frame PA, LST and calc_uvw re-implemented on
  // pyERFA), same IERS table, 2025-06-20T03:00:00 UTC, Dec 54.6 deg. Pins the conventions
  // (signs, axis order) that the self-consistency tests above cannot see.
  const auto& obs = observatory();
  const SkyDirection c = obs.meridian_icrs(kJd2025, 54.6 * kDeg);
  EXPECT_NEAR(c.ra_rad, 3.403760541684487, 1e-3 * kArcsec);
  EXPECT_NEAR(c.dec_rad, 0.9552781541747125, 1e-3 * kArcsec);
  const UvwFrame f = obs.uvw_frame(c, kJd2025);
  EXPECT_NEAR(f.app_ra, 3.4086588044506914, 1e-3 * kArcsec);
  EXPECT_NEAR(f.app_dec, 0.9529497715891302, 1e-3 * kArcsec);
  EXPECT_NEAR(f.frame_pa, -0.0009955260645349274, 1e-3 * kArcsec);
  EXPECT_NEAR(f.last, 3.408658804452549, 1e-3 * kArcsec);
  const auto& s = stations();
  auto baseline = [&](int a1, int a2) {
    const auto& p1 = s[static_cast<std::size_t>(a1 - 1)].itrf;
    const auto& p2 = s[static_cast<std::size_t>(a2 - 1)].itrf;
    return Vec3{p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]};
  };
  const Vec3 longest = obs.uvw(f, baseline(108, 117));
  EXPECT_NEAR(longest[0], -1770.58839, 1e-4);
  EXPECT_NEAR(longest[1], -1953.25979, 1e-4);
  EXPECT_NEAR(longest[2], -615.354077, 1e-4);
  const Vec3 shortest = obs.uvw(f, baseline(1, 2));
  EXPECT_NEAR(shortest[0], 5.75134198, 1e-6);
  EXPECT_NEAR(shortest[1], -6.04540796e-03, 1e-6);
  EXPECT_NEAR(shortest[2], 2.27266521e-04, 1e-6);
}

TEST(Observatory, FramePositionAngleHandlesThePole) {
  // pyuvdata's 0.5 deg offsets wrap over the pole: the result stays finite and sane.
  const auto& obs = observatory();
  const SkyDirection centre = obs.meridian_icrs(kJd2025, 89.8 * kDeg);
  const UvwFrame f = obs.uvw_frame(centre, kJd2025);
  EXPECT_TRUE(std::isfinite(f.frame_pa));
  EXPECT_LT(std::abs(f.frame_pa), 20 * kDeg);
  const Vec3 b{30.0, -40.0, 120.0};
  EXPECT_NEAR(norm(obs.uvw(f, b)), norm(b), 1e-9);
}

}  // namespace
}  // namespace contimg::astro
