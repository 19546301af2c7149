#pragma once
// Astrometry for DSA-110 on ERFA: station positions, Earth orientation (IERS),
// the meridian field centres, observed directions, and UVW in pyuvdata's
// convention (SPEC §4). One implementation used by the simulator and the
// converter alike. Conventions and the ERFA routines behind each function are
// recorded in docs/astrometry.md.
//
// Times are UTC Julian dates (double: ~40 µs resolution, 1e-8 m of UVW on the
// longest DSA-110 baseline). Angles are radians unless a name says _deg.
#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace contimg::astro {

struct Geodetic {
  double lat_deg = 0;
  double lon_deg = 0;  // east positive
  double height_m = 0;
};

using Vec3 = std::array<double, 3>;

// WGS84 geodetic -> ITRF (geocentric Cartesian, m), eraGd2gc.
Vec3 geodetic_to_itrf(const Geodetic& g);

// The telescope reference location of SPEC §2 (WGS84).
inline constexpr Geodetic kDsa110Location{37.2314, -118.2817, 1222.0};
inline constexpr double kDishDiameterM = 4.65;
inline constexpr double kDsa117Height = 1182.6;  // the station table leaves it blank

struct Station {
  int number = 0;        // 1..117; ANTENNA table row = number - 1
  std::string name;      // "DSA-001"
  Geodetic geodetic;
  Vec3 itrf{};
};

// Parses data/DSA110_Station_Coordinates.csv (117 stations, sorted by number):
// lines before the "Station Number" header row are ignored, a blank elevation
// becomes kDsa117Height, legacy "200…" stations are dropped. Throws InputError
// naming the file and line on malformed rows, duplicates or missing stations.
std::vector<Station> load_stations(const std::filesystem::path& csv);

struct EarthOrientationValues {
  double dut1_s = 0;  // UT1 - UTC
  double xp_rad = 0;  // polar motion
  double yp_rad = 0;
};

// IERS finals2000A table (data/iers/finals2000A.all): Bulletin B values where
// present, else Bulletin A (final or predicted); rows without a Bulletin A
// UT1-UTC are ignored. at() interpolates linearly in MJD(UTC), removing a leap
// second step from UT1-UTC (as astropy does). Throws InputError outside the
// table's span, or (load) on an unreadable or malformed table.
class EarthOrientation {
 public:
  static EarthOrientation load(const std::filesystem::path& finals2000a);
  EarthOrientationValues at(double mjd_utc) const;
  double first_mjd() const;
  double last_mjd() const;

 private:
  std::filesystem::path source_;
  std::vector<double> mjd_, dut1_, xp_, yp_;
};

// Checks ERFA's built-in leap seconds (eraDat) against an IERS Leap_Second.dat:
// throws InputError naming the file and line when the file lists a TAI-UTC that
// ERFA does not know (a leap second newer than the library).
void verify_leap_seconds(const std::filesystem::path& leap_second_dat);

struct SkyDirection {
  double ra_rad = 0;   // RA, or the hour angle where a function says so
  double dec_rad = 0;
};

using Mat3 = std::array<Vec3, 3>;

// The apparent frame of one direction at one time, as pyuvdata uses it for UVW.
struct UvwFrame {
  double app_ra = 0;    // apparent RA (true equinox of date, topocentric), rad
  double app_dec = 0;   // apparent (observed, unrefracted) Dec, rad
  double frame_pa = 0;  // position angle of ICRS north in the apparent frame, rad
  double last = 0;      // local apparent sidereal time, rad
  Mat3 ecef_to_uvw{};   // rows u, v, w: uvw = ecef_to_uvw · baseline_itrf
};

class Observatory {
 public:
  Observatory(Geodetic site, EarthOrientation eop);

  const Geodetic& site() const { return site_; }
  const EarthOrientation& earth_orientation() const { return eop_; }

  // ICRS direction of (HA = 0, Dec = dec) seen from the site at jd_utc: the
  // observed topocentric direction (no refraction) converted to ICRS with
  // precession, nutation, aberration (annual and diurnal), light deflection,
  // UT1-UTC and polar motion (eraAtoc13 "H" route; astropy HADec -> ICRS).
  SkyDirection meridian_icrs(double jd_utc, double dec_rad) const;

  // Observed (topocentric, no refraction) hour angle and declination of an
  // ICRS direction (eraAtco13): ra_rad holds the hour angle, in (-pi, pi].
  SkyDirection observed_hadec(const SkyDirection& icrs, double jd_utc) const;

  // LAST = GAST (eraGst06a, UT1 and TT) + s' (eraSp00) + east longitude, in
  // [0, 2pi): pyuvdata's get_lst_for_time.
  double local_apparent_sidereal_time(double jd_utc) const;

  // pyuvdata's calc_app_coords (ERFA route) + calc_frame_pos_angle for an ICRS
  // direction, and the resulting ITRF -> uvw rotation of calc_uvw.
  UvwFrame uvw_frame(const SkyDirection& icrs, double jd_utc) const;

  // UVW (m) of an ITRF baseline (antenna 2 - antenna 1) toward the frame's
  // direction, in the J2000-aligned frame (pyuvdata's calc_uvw convention:
  // u east, v north, w toward the source).
  Vec3 uvw(const UvwFrame& frame, const Vec3& baseline_itrf) const;

 private:
  Geodetic site_;
  EarthOrientation eop_;
};

}  // namespace contimg::astro
