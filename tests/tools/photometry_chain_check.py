#!/usr/bin/env python3
"""Forced photometry as a stage of the chain (issue 15; docs/science-products.md):
`contimg run` on three tiny simulated groups of the same field on consecutive
sidereal days (one sky model given with --sky: six sources in the 1 deg image,
two outside it; unit gains, so the uncalibrated data image correctly),
with photometry.in_chain at its default. Checks, from the program's outputs
and the state database read with sqlite3 and astropy only:

  - every group ran `photometry` after `validate` (the default stage list);
  - the measurements table holds a forced measurement at every reference
    source whose position falls on a finite pixel of that group's image
    (astropy's WCS), and none at a reference outside it;
  - the bright sources' forced fluxes are near the truth (a unit error such
    as a beam-area factor would be off by many times);
  - `contimg lightcurve NAME --json` of a source inside all three images
    returns one point per group, and by position too;
  - a rerun skips the photometry stage (done) and adds no measurement.

usage: photometry_chain_check.py --contimg EXE --data DATA --workdir DIR
"""
import argparse
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contimg_harness import Checker, Contimg, describe  # noqa: E402

C = Checker()
# Keep WSClean to a few seconds: a 1 deg field of 10" pixels (as the other chain tests).
QUICK = ["--set", "imaging.field_deg=1", "--set", "imaging.cell_arcsec=10", "--set", "imaging.niter=1000"]
START = "2025-03-20T05:37:42"
SIDEREAL_DAY_S = 86164.0905  # the same field transits this much earlier each day
SIM = ["--size", "tiny", "--nants", "12", "--noise", "2.8", "--no-gains", "--instrument-seed", "7",
       "--threads", "1"]


def footprint_names(pbcor, sources):
    """Names of the sources whose position is on a finite pixel of the image (nearest pixel)."""
    import numpy as np
    from astropy.io import fits
    from astropy.wcs import WCS
    with fits.open(pbcor) as h:
        data = np.squeeze(h[0].data)
        w = WCS(h[0].header).celestial
    inside = set()
    for s in sources:
        x, y = w.all_world2pix([[s["ra_deg"], s["dec_deg"]]], 0)[0]
        xi, yi = int(round(float(x))), int(round(float(y)))
        if 0 <= xi < data.shape[1] and 0 <= yi < data.shape[0] and np.isfinite(data[yi, xi]):
            inside.add(s["name"])
    return inside


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    w = os.path.abspath(a.workdir)
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    ci = Contimg(a.contimg, a.data, w)
    raw, out = os.path.join(w, "raw"), os.path.join(w, "out")

    # The field: six sources inside the 1 deg image (S/N 15-60 at this noise) and two outside it,
    # about the meridian of the first group; the same sky on the next two sidereal days.
    probe = os.path.join(w, "probe")
    p = ci.run("simulate", [probe, *SIM, "--start", START, "--random-sources", "1", "--seed", "8"])
    if not C.check("the field's centre (a probe simulation)", p.returncode == 0 and p.json, describe(p)):
        return C.summary()
    ra0, dec0 = json.load(open(p.json["truth"]))["pointing"]["meridian_icrs_mid_deg"]
    shutil.rmtree(probe)
    layout = [(0.10, 0, 5.0), (0.25, 60, 4.0), (0.35, 130, 3.0), (0.30, 200, 2.5), (0.20, 270, 2.0),
              (0.38, 320, 1.5), (0.80, 20, 1.0), (0.95, 160, 1.0)]  # (offset deg, PA deg, Jy)
    sources = []
    for k, (r, pa, flux) in enumerate(layout):
        dec = dec0 + r * math.cos(math.radians(pa))
        sources.append({"name": f"FIELD{k}", "ra_deg": ra0 + r * math.sin(math.radians(pa)) / math.cos(math.radians(dec)),
                        "dec_deg": dec, "flux_jy": flux, "spectral_index": 0.0})
    sky = os.path.join(w, "sky.json")
    with open(sky, "w") as f:
        json.dump({"sources": sources}, f)
    groups = []
    t0 = datetime.fromisoformat(START)
    for k in range(3):
        start = (t0 + timedelta(seconds=round(k * SIDEREAL_DAY_S))).isoformat(timespec="seconds")
        p = ci.run("simulate", [raw, *SIM, "--start", start, "--sky", sky, "--seed", str(8 + k)])
        if not C.check(f"group {k + 1} simulated ({start})", p.returncode == 0 and p.json, describe(p)):
            return C.summary()
        groups.append(p.json["group_id"])
    print("groups:", groups, "sources:", [(s["name"], round(s["flux_jy"], 3)) for s in sources], flush=True)

    ci.globals += QUICK
    p = ci.run("run", [raw, "2025-03-20", "2025-03-22", "--out", out])
    s = p.json or {}
    C.check("run exits 0, the three groups processed",
            p.returncode == 0 and s.get("counts", {}).get("processed") == 3, describe(p)[-3000:])
    by_group = {g["group_id"]: g for g in s.get("groups", [])}
    for gid in groups:
        stages = [st["stage"] for st in (by_group.get(gid) or {}).get("stages", [])]
        C.check(f"{gid}: photometry runs after validate by default", stages[-2:] == ["validate", "photometry"],
                str(stages))

    db_path = os.path.join(out, "contimg.sqlite")
    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT s.name, i.group_id, m.flux_jy, m.flux_err_jy, m.blind FROM measurements m "
                      "JOIN sources s USING (source_id) JOIN photometry_images i USING (phot_image_id)").fetchall()
    n_meas = len(rows)
    last_id = db.execute("SELECT max(measurement_id) FROM measurements").fetchone()[0]
    # The reference flux at the image frequency, as the stage read it.
    ref_flux = dict(db.execute("SELECT name, ref_flux_jy FROM sources WHERE origin = 'reference'").fetchall())
    measured = {}
    for name, gid, flux, err, blind in rows:
        measured.setdefault(gid, {})[name] = (flux, err, blind)
    truth_flux = {src["name"]: src["flux_jy"] for src in sources}
    in_all = None
    ratios = []
    for gid in groups:
        pbcor = ((by_group.get(gid) or {}).get("outputs") or {}).get("pbcor_fits", "")
        if not C.check(f"{gid}: PB-corrected image exists", os.path.isfile(pbcor), pbcor):
            continue
        inside = footprint_names(pbcor, sources)
        mine = measured.get(gid, {})
        forced = {n for n, v in mine.items() if n in truth_flux and not v[2]}
        C.check(f"{gid}: a forced measurement at each of the {len(inside)} reference sources in the footprint",
                inside and inside <= forced, f"missing {sorted(inside - forced)}")
        C.check(f"{gid}: no measurement at a reference source outside it",
                not (set(mine) & (set(truth_flux) - inside)), str(sorted(set(mine) & (set(truth_flux) - inside))))
        C.check(f"{gid}: the two sources placed outside the image are outside it",
                not inside & {"FIELD6", "FIELD7"}, str(sorted(inside)))
        in_all = inside if in_all is None else in_all & inside
        for n in inside & forced:
            flux, err, _ = mine[n]
            if err > 0 and flux / err > 10 and ref_flux.get(n):
                ratios.append(flux / ref_flux[n])
    ratios.sort()
    print("forced / truth of the S/N > 10 measurements:", [round(r, 3) for r in ratios], flush=True)
    med = ratios[len(ratios) // 2] if ratios else math.nan
    C.check("bright forced fluxes near the truth (median ratio within 0.6-1.4)", 0.6 < med < 1.4,
            f"median {med}")

    # One point per group in the light curve of a source inside every image, by name and by position.
    if C.check("a reference source lies inside every image", bool(in_all), str(in_all)):
        name = max(in_all, key=lambda n: truth_flux[n])
        ci_db = ["--set", "paths.state_db=" + db_path]
        lc = Contimg(a.contimg, a.data, w)
        lc.globals += ci_db
        p = lc.run("lightcurve", [name])
        pts = (p.json or {}).get("points", [])
        C.check(f"lightcurve {name}: one point per group",
                p.returncode == 0 and sorted(pt["group_id"] for pt in pts) == sorted(groups), describe(p)[-1500:])
        src = next(x for x in sources if x["name"] == name)
        p = lc.run("lightcurve", [repr(src["ra_deg"]), repr(src["dec_deg"])])
        C.check("lightcurve RA DEC: the same source and points",
                p.returncode == 0 and (p.json or {}).get("source", {}).get("name") == name
                and len((p.json or {}).get("points", [])) == len(groups), describe(p)[-1500:])

    # A rerun: photometry is done, so it is skipped, and nothing is measured again.
    p = ci.run("run", [raw, "2025-03-20", "2025-03-22", "--out", out])
    s2 = p.json or {}
    outcomes = [st["outcome"] for g in s2.get("groups", []) for st in g.get("stages", [])
                if st["stage"] == "photometry"]
    C.check("rerun: photometry skipped (done) for every group",
            p.returncode == 0 and outcomes == ["skipped"] * len(groups), f"{outcomes} {describe(p)[-1500:]}")
    n2, last2 = db.execute("SELECT count(*), max(measurement_id) FROM measurements").fetchone()
    C.check("rerun: no measurement added or replaced", (n2, last2) == (n_meas, last_id),
            f"{(n_meas, last_id)} -> {(n2, last2)}")
    db.close()
    return C.summary()


if __name__ == "__main__":
    sys.exit(main())
