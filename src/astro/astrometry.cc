// Observatory: meridian field centres, observed directions, sidereal time and
// pyuvdata-convention UVW, all on ERFA (docs/astrometry.md).
#include "astro/astrometry.h"

#include <erfa.h>
#include <erfam.h>

#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "astro/time.h"
#include "common/error.h"

namespace contimg::astro {
namespace {

constexpr double kDegToRad = ERFA_DD2R;
// pyuvdata calc_frame_pos_angle's offset_pos: the frame PA is measured over a
// 1 deg arc of apparent declination centred on the source.
constexpr double kFramePaOffset = ERFA_DPI / 360.0;

// One instant on every time scale ERFA needs, with its Earth orientation.
struct Epoch {
  double utc1 = 0, utc2 = 0;  // UTC quasi-JD, split at midnight
  double tt1 = 0, tt2 = 0;
  double ut11 = 0, ut12 = 0;
  EarthOrientationValues eop;
};

Epoch make_epoch(const EarthOrientation& eop, double jd_utc) {
  Epoch e;
  e.utc1 = std::floor(jd_utc - 0.5) + 0.5;
  e.utc2 = jd_utc - e.utc1;
  e.eop = eop.at((e.utc1 - kMjdOffset) + e.utc2);
  double tai1 = 0, tai2 = 0;
  if (eraUtctai(e.utc1, e.utc2, &tai1, &tai2) < 0 || eraTaitt(tai1, tai2, &e.tt1, &e.tt2) != 0 ||
      eraUtcut1(e.utc1, e.utc2, e.eop.dut1_s, &e.ut11, &e.ut12) < 0) {
    throw InputError(fmt::format("JD {:.6f} (UTC) is not a usable date for ERFA", jd_utc));
  }
  return e;
}

// Star-independent ICRS <-> observed parameters for the site (eraApco13, no
// refraction: pressure 0). eo = equation of the origins (ERA - GAST).
struct Context {
  eraASTROM astrom{};
  double eo = 0;
};

Context make_context(const Epoch& e, const Geodetic& site) {
  Context c;
  const int status = eraApco13(e.utc1, e.utc2, e.eop.dut1_s, site.lon_deg * kDegToRad,
                               site.lat_deg * kDegToRad, site.height_m, e.eop.xp_rad,
                               e.eop.yp_rad, 0.0, 0.0, 0.0, 0.0, &c.astrom, &c.eo);
  if (status < 0) {
    throw InputError(fmt::format("JD {:.6f} (UTC) is not a usable date for ERFA",
                                 e.utc1 + e.utc2));
  }
  return c;
}

// eraAtoc13 with a prepared context (ERFA's API takes it non-const): observed ('H' HA/Dec or 'R' CIO-based
// RA/Dec) -> ICRS.
SkyDirection observed_to_icrs(Context& c, const char* type, double ob1, double ob2) {
  double ri = 0, di = 0, rc = 0, dc = 0;
  eraAtoiq(type, ob1, ob2, &c.astrom, &ri, &di);
  eraAticq(ri, di, &c.astrom, &rc, &dc);
  return {eraAnp(rc), dc};
}

struct Observed {
  double ha = 0, dec = 0, ra_cio = 0;
};

// eraAtco13 with a prepared context: ICRS -> observed.
Observed icrs_to_observed(Context& c, const SkyDirection& icrs) {
  double ri = 0, di = 0, aob = 0, zob = 0;
  Observed o;
  eraAtciq(icrs.ra_rad, icrs.dec_rad, 0.0, 0.0, 0.0, 0.0, &c.astrom, &ri, &di);
  eraAtioq(ri, di, &c.astrom, &aob, &zob, &o.ha, &o.dec, &o.ra_cio);
  return o;
}

double last_of(const Epoch& e, double elong) {
  return eraAnp(eraGst06a(e.ut11, e.ut12, e.tt1, e.tt2) + eraSp00(e.tt1, e.tt2) + elong);
}

// A point offset in apparent Dec by `offset`, wrapped over the pole as pyuvdata does.
std::pair<double, double> offset_dec(double ra, double dec, double offset) {
  double d = dec + offset;
  if (d > ERFA_DPI / 2) return {eraAnp(ra + ERFA_DPI), ERFA_DPI - d};
  if (d < -ERFA_DPI / 2) return {eraAnp(ra + ERFA_DPI), -ERFA_DPI - d};
  return {ra, d};
}

}  // namespace

Observatory::Observatory(Geodetic site, EarthOrientation eop)
    : site_(site), eop_(std::move(eop)) {}

SkyDirection Observatory::meridian_icrs(double jd_utc, double dec_rad) const {
  Context c = make_context(make_epoch(eop_, jd_utc), site_);
  return observed_to_icrs(c, "H", 0.0, dec_rad);
}

SkyDirection Observatory::observed_hadec(const SkyDirection& icrs, double jd_utc) const {
  Context c = make_context(make_epoch(eop_, jd_utc), site_);
  const Observed o = icrs_to_observed(c, icrs);
  return {eraAnpm(o.ha), o.dec};
}

double Observatory::local_apparent_sidereal_time(double jd_utc) const {
  return last_of(make_epoch(eop_, jd_utc), site_.lon_deg * kDegToRad);
}

UvwFrame Observatory::uvw_frame(const SkyDirection& icrs, double jd_utc) const {
  const double elong = site_.lon_deg * kDegToRad;
  const Epoch e = make_epoch(eop_, jd_utc);
  Context c = make_context(e, site_);
  UvwFrame f;

  // pyuvdata transform_icrs_to_app (ERFA route): observed Dec, and the
  // CIO-based observed RA moved to the true equinox by the equation of origins.
  const Observed o = icrs_to_observed(c, icrs);
  f.app_ra = eraAnp(o.ra_cio - c.eo);
  f.app_dec = o.dec;

  // pyuvdata calc_frame_pos_angle: apparent points 0.5 deg south and north,
  // back to ICRS (transform_app_to_icrs: eraAtoc13 'R' on app RA + eo), and the
  // negated position angle of the northern point seen from the southern one.
  const auto [dn_ra, dn_dec] = offset_dec(f.app_ra, f.app_dec, -kFramePaOffset);
  const auto [up_ra, up_dec] = offset_dec(f.app_ra, f.app_dec, kFramePaOffset);
  const SkyDirection dn = observed_to_icrs(c, "R", dn_ra + c.eo, dn_dec);
  const SkyDirection up = observed_to_icrs(c, "R", up_ra + c.eo, up_dec);
  f.frame_pa = -eraPas(dn.ra_rad, dn.dec_rad, up.ra_rad, up.dec_rad);

  f.last = last_of(e, elong);

  // pyuvdata calc_uvw (use_ant_pos): rotate ECEF by the Greenwich hour angle
  // about z, by the apparent Dec about y (x now toward the source), by frame_pa
  // about x, then (u, v, w) = (y, z, x). All rotations are active, right-handed.
  const double gha = f.last - f.app_ra - elong;
  const double cg = std::cos(gha), sg = std::sin(gha);
  const double cd = std::cos(f.app_dec), sd = std::sin(f.app_dec);
  const double cp = std::cos(f.frame_pa), sp = std::sin(f.frame_pa);
  const Vec3 x_row{cd * cg, -cd * sg, sd};  // R_y(dec) R_z(gha), row by row
  const Vec3 y_row{sg, cg, 0.0};
  const Vec3 z_row{-sd * cg, sd * sg, cd};
  for (int k = 0; k < 3; ++k) {
    const auto i = static_cast<std::size_t>(k);
    f.ecef_to_uvw[0][i] = cp * y_row[i] - sp * z_row[i];  // u: R_x(pa) row y
    f.ecef_to_uvw[1][i] = sp * y_row[i] + cp * z_row[i];  // v: R_x(pa) row z
    f.ecef_to_uvw[2][i] = x_row[i];                       // w
  }
  return f;
}

Vec3 Observatory::uvw(const UvwFrame& frame, const Vec3& b) const {
  Vec3 out{};
  for (std::size_t r = 0; r < 3; ++r) {
    const auto& m = frame.ecef_to_uvw[r];
    out[r] = m[0] * b[0] + m[1] * b[1] + m[2] * b[2];
  }
  return out;
}

}  // namespace contimg::astro
