"""pyuvdata 3.x's astrometry (utils/phasing.py, utils/times.py), re-implemented on
astropy + pyERFA, as the independent reference our C++ is checked against
(SPEC §4: field directions and UVW in pyuvdata's convention). pyuvdata itself is
not in Debian. Shared by astro_astropy_check.py and convert_check.py."""
import csv
import math
import os

import erfa
import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation
from astropy.utils import iers

DSA117_HEIGHT = 1182.6  # SPEC §2: the station table leaves DSA-117 blank


def configure_astropy(data_dir):
    """Use our IERS and leap-second files only; never download."""
    iers.conf.auto_download = False
    iers.conf.auto_max_age = None
    iers.conf.iers_degraded_accuracy = "error"
    table = iers.IERS_A.open(os.path.join(data_dir, "iers", "finals2000A.all"))
    iers.earth_orientation_table.set(table)
    leap = iers.LeapSeconds.from_iers_leap_seconds(
        os.path.join(data_dir, "iers", "Leap_Second.dat"))
    erfa.leap_seconds.update(leap)
    return table


def pm_rad(t):
    xp, yp = iers.earth_orientation_table.get().pm_xy(t)
    return xp.to_value(u.rad), yp.to_value(u.rad)


def lst_pyuvdata(t, site):
    """get_lst_for_time: GAST (gst06a on UT1, TT) + s' + east longitude."""
    gast = erfa.gst06a(t.ut1.jd1, t.ut1.jd2, t.tt.jd1, t.tt.jd2)
    sp = erfa.sp00(t.tt.jd1, t.tt.jd2)
    return np.mod(gast + sp + site.lon.rad, 2 * np.pi)


def icrs_to_app(t, ra, dec, site):
    """transform_icrs_to_app: atco13 observed Dec, and observed (CIO) RA minus eo."""
    xp, yp = pm_rad(t)
    _, _, _, app_dec, app_ra, eo = erfa.atco13(
        ra, dec, 0.0, 0.0, 0.0, 0.0, t.utc.jd1, t.utc.jd2, t.delta_ut1_utc,
        site.lon.rad, site.lat.rad, site.height.to_value(u.m), xp, yp, 0, 0, 0, 0)
    return np.mod(app_ra - eo, 2 * np.pi), app_dec


def app_to_icrs(t, app_ra, app_dec, site):
    """transform_app_to_icrs: atoc13 'r' on app RA + eo (eo from pnm06a / s06)."""
    xp, yp = pm_rad(t)
    bpn = erfa.pnm06a(t.tt.jd1, t.tt.jd2)
    x, y = erfa.bpn2xy(bpn)
    s = erfa.s06(t.tt.jd1, t.tt.jd2, x, y)
    eo = erfa.eors(bpn, s)
    return erfa.atoc13("r", app_ra + eo, app_dec, t.utc.jd1, t.utc.jd2, t.delta_ut1_utc,
                       site.lon.rad, site.lat.rad, site.height.value, xp, yp, 0, 0, 0, 0)


def frame_pos_angle(t, app_ra, app_dec, site, offset=np.pi / 360.0):
    """calc_frame_pos_angle for ref_frame icrs."""
    up_dec, dn_dec = app_dec + offset, app_dec - offset
    up_ra, dn_ra = np.array(app_ra, dtype=float), np.array(app_ra, dtype=float)
    m = up_dec > np.pi / 2
    up_ra[m] = np.mod(up_ra[m] + np.pi, 2 * np.pi)
    up_dec[m] = np.pi - up_dec[m]
    m = dn_dec < -np.pi / 2
    dn_ra[m] = np.mod(dn_ra[m] + np.pi, 2 * np.pi)
    dn_dec[m] = -np.pi - dn_dec[m]
    ra_dn, dec_dn = app_to_icrs(t, dn_ra, dn_dec, site)
    ra_up, dec_up = app_to_icrs(t, up_ra, up_dec, site)
    return -erfa.pas(ra_dn, dec_dn, ra_up, dec_up)


def rotate_one_axis(amount, axis):
    """The matrix of pyuvdata's _rotate_one_axis (right-handed, active)."""
    m = np.zeros((3, 3))
    j, i = (axis + 1) % 3, (axis + 2) % 3
    m[axis, axis] = 1.0
    m[i, i] = m[j, j] = math.cos(amount)
    m[i, j] = math.sin(amount)
    m[j, i] = -m[i, j]
    return m


def rotate_two_axis(amount1, amount2, axis1, axis2):
    """The matrix of pyuvdata's _rotate_two_axis, filled by its own index rules."""
    if amount1 == 0.0:
        return rotate_one_axis(amount2, axis2)
    if amount2 == 0.0:
        return rotate_one_axis(amount1, axis1)
    lhd = int(((axis2 - axis1) % 3) != 1)
    idx = [(axis1 - lhd) % 3, (axis1 + 1 - lhd) % 3, (axis1 + 2 - lhd) % 3]
    sin_lo, cos_lo = math.sin(amount2 if lhd else amount1), math.cos(amount2 if lhd else amount1)
    sin_hi, cos_hi = math.sin(amount1 if lhd else amount2), math.cos(amount1 if lhd else amount2)
    m = np.empty((3, 3))
    m[idx[0], idx[0]] = cos_hi
    m[idx[1], idx[1]] = cos_lo
    m[idx[2], idx[2]] = cos_lo * cos_hi
    m[idx[0 + lhd], idx[1 - lhd]] = sin_lo * sin_hi
    m[idx[0 - lhd], idx[lhd - 1]] = cos_lo * sin_hi * (-1.0) ** lhd
    m[idx[1 - lhd], idx[0 + lhd]] = 0.0
    m[idx[1 + lhd], idx[2 - lhd]] = sin_lo * (-1.0) ** (1 + lhd)
    m[idx[lhd - 1], idx[0 - lhd]] = sin_hi * (-1.0) ** (1 + lhd)
    m[idx[2 - lhd], idx[1 + lhd]] = sin_lo * cos_hi * (-1.0) ** lhd
    return m


def calc_uvw(app_ra, app_dec, frame_pa, lst, site_lon, rel_pos, ant1, ant2):
    """calc_uvw(use_ant_pos=True): rotate antenna offsets, difference, reorder (y, z, x)."""
    gha = (lst - app_ra) - site_lon
    rot = rotate_one_axis(frame_pa, 0) @ rotate_two_axis(gha, app_dec, 2, 1)
    rotated = {a: rot @ p for a, p in rel_pos.items()}
    return np.array([(rotated[a2] - rotated[a1])[[1, 2, 0]] for a1, a2 in zip(ant1, ant2)])


# ---- the station table, parsed independently of our C++ ------------------------------------

def read_stations(path):
    """Independent parse of data/DSA110_Station_Coordinates.csv: rows after the 'Station Number' header, blank height -> 1182.6."""
    stations = {}
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = next(i for i, r in enumerate(rows) if "Station Number" in [c.strip() for c in r])
    cols = [c.strip() for c in rows[header]]
    iname, ilat = cols.index("Station Number"), cols.index("Latitude")
    ilon = cols.index("Longitude")
    ih = next(i for i, c in enumerate(cols) if c.startswith("Elevation"))
    for r in rows[header + 1:]:
        if not any(c.strip() for c in r):
            continue
        name = r[iname].strip()
        if name.startswith("200"):
            continue
        h = r[ih].strip() if ih < len(r) else ""
        stations[int(name.split("-")[-1])] = (float(r[ilat]), float(r[ilon]),
                                              float(h) if h else DSA117_HEIGHT)
    return stations


def itrf(lat, lon, h):
    loc = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, h * u.m, ellipsoid="WGS84")
    return np.array([loc.x.to_value(u.m), loc.y.to_value(u.m), loc.z.to_value(u.m)])
