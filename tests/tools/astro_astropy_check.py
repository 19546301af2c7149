#!/usr/bin/python3
"""Check contimg's astrometry against an independent astropy / pyERFA computation.

  /usr/bin/python3 astro_astropy_check.py --dump BUILD/tests/astro_dump --data REPO/data

astropy is pointed at OUR IERS table (data/iers/finals2000A.all, no downloads) and our
leap-second file. Then, for 24 integrations 12.884902 s apart on two 2025 dates and
several pointing declinations (SPEC §4, conversion.md §5.4):

  stations  the station table parsed here (csv module) and converted with astropy
            EarthLocation (WGS84) against ours; the telescope location likewise.
  eop       UT1-UTC and polar motion at each time: astropy's IERS interpolation vs ours.
  fields    the ICRS direction of (HA = 0, Dec) from DSA110_LOCATION: astropy SkyCoord in
            the HADec frame (pressure 0) transformed to ICRS, vs our meridian_icrs.
            Tolerance 0.01" (SPEC §4).
  observed  our observed_hadec of our centre: HA = 0, Dec = input (round trip).
  lst/app   pyuvdata 3.x's get_lst_for_time, transform_icrs_to_app and
            calc_frame_pos_angle (ERFA route), re-implemented here with pyERFA and astropy's
            IERS values, for the astropy centre, vs ours for our centre.
  uvw       pyuvdata's calc_uvw(use_ant_pos=True) re-implemented here (its rotation
            matrices, its axis order) on antenna positions relative to the telescope,
            uvw = rot(ant2) - rot(ant1), for a sample of baselines including the longest,
            vs ours. Tolerance 1 mm (SPEC §4).

One line per check, then "N passed, M failed". Exit status 1 when anything failed or no
check ran. The largest differences measured are printed with each check.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import traceback
import warnings

import erfa
import numpy as np
from astropy import units as u
from astropy.coordinates import ICRS, EarthLocation, HADec, SkyCoord
from astropy.time import Time
from pyuvdata_reference import (calc_uvw, configure_astropy, frame_pos_angle, icrs_to_app, itrf,
                                lst_pyuvdata, pm_rad, read_stations)

INTEGRATION_S = 12.884902
NTIMES = 24
START_DATES = ("2025-06-20T03:00:00", "2025-12-05T17:41:20.5")
DECS_DEG = (54.6, 20.0, -10.0, 71.0, 89.8)  # 89.8: pyuvdata's over-the-pole offset branch
SITE = dict(lat=37.2314, lon=-118.2817, height=1222.0)  # SPEC §2, WGS84

TOL_DIRECTION_ARCSEC = 0.01   # SPEC §4
TOL_UVW_M = 1e-3              # SPEC §4
TOL_INTERNAL_ARCSEC = 1e-3    # lst, app coords, frame PA, round trip: same algorithm
TOL_STATION_M = 1e-6          # same WGS84 formula both sides
RAD2ARCSEC = 180.0 / math.pi * 3600.0

RESULTS = {"passed": 0, "failed": 0}


def check(name, ok, detail):
    RESULTS["passed" if ok else "failed"] += 1
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)


# ---- the checks ------------------------------------------------------------------------------

def times_for(start):
    t0 = Time(start, format="isot", scale="utc").jd
    return [t0 + i * INTEGRATION_S / 86400.0 for i in range(NTIMES)]


def sep_arcsec(ra1, dec1, ra2, dec2):
    return erfa.seps(ra1, dec1, ra2, dec2) * RAD2ARCSEC


def wrap(a):
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def run(args):
    configure_astropy(args.data)
    site = EarthLocation.from_geodetic(SITE["lon"] * u.deg, SITE["lat"] * u.deg,
                                       SITE["height"] * u.m, ellipsoid="WGS84")
    stations = read_stations(os.path.join(args.data, "DSA110_Station_Coordinates.csv"))
    pos = {n: itrf(*v) for n, v in stations.items()}
    site_xyz = np.array([site.x.to_value(u.m), site.y.to_value(u.m), site.z.to_value(u.m)])
    rel_pos = {n: p - site_xyz for n, p in pos.items()}

    # Baselines: every station against DSA-001, the arms' ends, outriggers, the longest.
    nums = sorted(pos)
    longest = max(((a, b) for a in nums for b in nums if a < b),
                  key=lambda ab: np.linalg.norm(pos[ab[1]] - pos[ab[0]]))
    baselines = [(1, n) for n in nums if n != 1]
    baselines += [(52, 102), (103, 117), (110, 51), (117, 2), longest]
    ant1 = [a for a, _ in baselines]
    ant2 = [b for _, b in baselines]
    print(f"longest baseline: DSA-{longest[0]:03d} - DSA-{longest[1]:03d}, "
          f"{np.linalg.norm(pos[longest[1]] - pos[longest[0]]):.2f} m; "
          f"{len(baselines)} baselines")

    jds = [jd for start in START_DATES for jd in times_for(start)]
    request = {"jd_utc": jds, "dec_deg": list(DECS_DEG), "baselines": [list(b) for b in baselines]}
    proc = subprocess.run([args.dump, args.data], input=json.dumps(request), text=True,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        check("astro_dump runs", False, f"exit {proc.returncode}: {proc.stderr.strip()}")
        return
    ours = json.loads(proc.stdout)

    # Stations and telescope location.
    ours_st = {s["number"]: s for s in ours["stations"]}
    check("stations: same numbers", sorted(ours_st) == nums and len(nums) == 117,
          f"{len(ours_st)} ours, {len(nums)} here")
    d = max(np.abs(np.array(ours_st[n]["itrf"]) - pos[n]).max() for n in nums if n in ours_st)
    check("stations: ITRF vs astropy EarthLocation", d < TOL_STATION_M, f"max |d| {d * 1e3:.2e} mm")
    d = np.abs(np.array(ours["site_itrf"]) - site_xyz).max()
    check("telescope location ITRF", d < TOL_STATION_M, f"max |d| {d * 1e3:.2e} mm")

    # Earth orientation at every time.
    t_all = Time(jds, format="jd", scale="utc")
    dut1 = t_all.delta_ut1_utc
    xp, yp = pm_rad(t_all)
    e = ours["eop"]
    d_dut1 = np.abs(np.array([v["dut1_s"] for v in e]) - dut1).max()
    d_pm = max(np.abs(np.array([v["xp_rad"] for v in e]) - xp).max(),
               np.abs(np.array([v["yp_rad"] for v in e]) - yp).max()) * RAD2ARCSEC
    check("eop: UT1-UTC", d_dut1 < 1e-9, f"max |d| {d_dut1:.2e} s")
    check("eop: polar motion", d_pm < 1e-9, f"max |d| {d_pm:.2e} arcsec")
    lst_here = lst_pyuvdata(t_all, site)
    d = np.abs(wrap(np.array([v["last"] for v in e]) - lst_here)).max() * RAD2ARCSEC
    check("lst: pyuvdata get_lst_for_time", d < TOL_INTERNAL_ARCSEC, f"max |d| {d:.2e} arcsec")

    by_key = {(r["dec_deg"], r["jd_utc"]): r for r in ours["results"]}
    worst = {"field": 0.0, "uvw": 0.0}
    for start in START_DATES:
        jd_list = times_for(start)
        t = Time(jd_list, format="jd", scale="utc")
        lst = lst_pyuvdata(t, site)
        for dec in DECS_DEG:
            rows = [by_key[(dec, jd)] for jd in jd_list]
            label = f"{start} Dec {dec:+.1f}"
            # (a) fields: astropy HADec (pressure 0) -> ICRS.
            hadec = SkyCoord(ha=np.zeros(NTIMES) * u.hourangle, dec=np.full(NTIMES, dec) * u.deg,
                             frame=HADec(obstime=t, location=site, pressure=0 * u.hPa))
            icrs = hadec.transform_to(ICRS())
            ra_ap, dec_ap = icrs.ra.rad, icrs.dec.rad
            ra_us = np.array([r["meridian_ra"] for r in rows])
            dec_us = np.array([r["meridian_dec"] for r in rows])
            d = sep_arcsec(ra_ap, dec_ap, ra_us, dec_us).max()
            worst["field"] = max(worst["field"], d)
            shift = sep_arcsec(lst, np.radians(dec), ra_ap, dec_ap).mean()
            check(f"field {label}", d < TOL_DIRECTION_ARCSEC,
                  f"max separation {d:.2e} arcsec (centre is {shift:.0f} arcsec from LAST, Dec)")
            # Round trip through our observed_hadec.
            d_ha = np.abs(wrap([r["observed_ha"] for r in rows])).max()
            d_dec = np.abs(np.array([r["observed_dec"] for r in rows]) - np.radians(dec)).max()
            d = max(d_ha * math.cos(math.radians(dec)), d_dec) * RAD2ARCSEC
            check(f"observed round trip {label}", d < TOL_INTERNAL_ARCSEC,
                  f"max |d| {d:.2e} arcsec")
            # (b) pyuvdata app coords, frame PA and UVW for the astropy centre.
            app_ra, app_dec = icrs_to_app(t, ra_ap, dec_ap, site)
            pa = frame_pos_angle(t, app_ra, app_dec, site)
            d_app = sep_arcsec(app_ra, app_dec, np.array([r["app_ra"] for r in rows]),
                               np.array([r["app_dec"] for r in rows])).max()
            d_pa = np.abs(wrap(np.array([r["frame_pa"] for r in rows]) - pa)).max() * RAD2ARCSEC
            check(f"app coords {label}", d_app < TOL_DIRECTION_ARCSEC,
                  f"max separation {d_app:.2e} arcsec")
            check(f"frame_pa {label}", d_pa < TOL_DIRECTION_ARCSEC,
                  f"max |d| {d_pa:.2e} arcsec (pa {np.degrees(pa).min():+.4f}.."
                  f"{np.degrees(pa).max():+.4f} deg)")
            d_uvw = 0.0
            for i, r in enumerate(rows):
                want = calc_uvw(app_ra[i], app_dec[i], pa[i], lst[i], site.lon.rad, rel_pos,
                                ant1, ant2)
                got = np.array(r["uvw"])
                d_uvw = max(d_uvw, np.abs(got - want).max())
            worst["uvw"] = max(worst["uvw"], d_uvw)
            check(f"uvw {label}", d_uvw < TOL_UVW_M,
                  f"max |d| {d_uvw * 1e3:.3e} mm over {len(baselines)} baselines x {NTIMES}")
    print(f"largest differences: field direction {worst['field']:.3e} arcsec, "
          f"uvw {worst['uvw'] * 1e3:.3e} mm")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", required=True, help="the astro_dump executable")
    parser.add_argument("--data", required=True, help="the repository's data/ directory")
    args = parser.parse_args()
    warnings.simplefilter("ignore", category=erfa.ErfaWarning)
    try:
        run(args)
    except Exception:  # an exception is a failed check, not a crash without a summary
        traceback.print_exc()
        check("run", False, "exception (traceback above)")
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
