#!/usr/bin/env python3
"""Issue 14 item 4: `contimg run` with calibration.write_corrected_data = false
applies the calibration set while the imaging MS is written from DATA (one
pass over the visibilities fewer). Simulates a tiny 0834+555 transit and a
science group an hour later and runs the chain twice into two output trees:
with the default (applycal writes CORRECTED_DATA) and with the setting off.
With it off: no group MS gets CORRECTED_DATA, the images table records the
same calibration set and "DATA calibrated while imaging", the images equal the
default run's (the imaging MS is bit-identical), and a rerun resumes (the
image stage is found done). Checks behaviour only: exit codes, the --json
summary, the MSs (python-casacore), the images (astropy) and the state
database.

usage: apply_while_imaging_check.py CONTIMG WORKDIR
"""
import json
import os
import shutil
import sqlite3
import sys

import numpy as np
from astropy.io import fits
from casacore.tables import table

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contimg_harness import Checker, Contimg, describe  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data")
# Keep WSClean to a few seconds: a 1 deg field of 10" pixels, one thread.
QUICK = ["--set", "imaging.field_deg=1", "--set", "imaging.cell_arcsec=10", "--set", "imaging.niter=1000",
         "--set", "imaging.threads=1"]
FUSED = ["--set", "calibration.write_corrected_data=false"]


def has_corrected(ms):
    t = table(ms, ack=False)
    try:
        return "CORRECTED_DATA" in t.colnames()
    finally:
        t.close()


def images(out):
    db = sqlite3.connect(os.path.join(out, "contimg.sqlite"))
    try:
        return {r[0]: r[1:] for r in db.execute("SELECT group_id, data_column, calset_id FROM images")}
    finally:
        db.close()


def main():
    exe, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    c, ok = Contimg(exe, DATA, work), Checker()
    raw = os.path.join(work, "raw")
    common = ["--size", "tiny", "--nants", "12", "--noise", "2.8", "--instrument-seed", "7", "--threads", "1"]
    p = c.run("simulate", [raw, "--calibrator", "0834+555", "--date", "2025-03-20", "--seed", "7", *common])
    cal = p.json or {}
    ok.check("calibrator group simulated", p.returncode == 0 and cal.get("group_id"), describe(p))
    dec = None
    if p.returncode == 0:
        dec = json.load(open(cal["truth"]))["pointing"]["dec_deg"]
    # An hour after the transit (as no_reference_check.py): the set is valid for it.
    p = c.run("simulate", [raw, "--start", "2025-03-20T05:37:42", "--dec", repr(dec), "--random-sources", "5",
                           "--random-min", "0.3", "--random-max", "2", "--seed", "8", *common])
    sci = p.json or {}
    ok.check("science group simulated", p.returncode == 0 and sci.get("group_id"), describe(p))
    if ok.failed:
        return ok.summary()

    runs = {}
    for name, extra in (("default", []), ("fused", FUSED)):
        out = os.path.join(work, name)
        p = c.run("run", [raw, "2025-03-20", "2025-03-20", "--out", out] + QUICK + extra)
        counts = (p.json or {}).get("counts", {})
        ok.check(f"{name}: run exits 0, both groups processed",
                 p.returncode == 0 and counts.get("processed") == 2 and counts.get("failed") == 0,
                 f"{describe(p)} {counts}")
        runs[name] = (out, {g["group_id"]: g for g in (p.json or {}).get("groups", [])})
    if ok.failed:
        return ok.summary()

    (out_a, ga), (out_b, gb) = runs["default"], runs["fused"]
    ia, ib = images(out_a), images(out_b)
    for gid in (cal["group_id"], sci["group_id"]):
        oa, ob = ga[gid].get("outputs") or {}, gb[gid].get("outputs") or {}
        ok.check(f"{gid}: calibrated in both runs", oa.get("calibrated") is True and ob.get("calibrated") is True,
                 f"{oa.get('calibrated')}, {ob.get('calibrated')}")
        ok.check(f"{gid}: the same set", oa.get("applied_calset_id") and
                 oa.get("applied_calset_id") == ob.get("applied_calset_id"),
                 f"{oa.get('applied_calset_id')}, {ob.get('applied_calset_id')}")
        ok.check(f"{gid}: the default run wrote CORRECTED_DATA", has_corrected(oa["ms_path"]))
        ok.check(f"{gid}: write_corrected_data=false wrote no CORRECTED_DATA", not has_corrected(ob["ms_path"]))
        ok.check(f"{gid}: the default run imaged CORRECTED_DATA", ia[gid][0] == "CORRECTED_DATA", str(ia[gid]))
        ok.check(f"{gid}: the fused run imaged DATA calibrated while imaging, with the same set",
                 ib[gid][0] == "DATA calibrated while imaging" and ib[gid][1] == ia[gid][1], f"{ib[gid]} {ia[gid]}")
        a = fits.getdata(oa["image_fits"]).astype(np.float64)
        b = fits.getdata(ob["image_fits"]).astype(np.float64)
        rms = float(np.sqrt(np.mean(np.square(a - np.median(a)))))
        diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
        ok.check(f"{gid}: the images are equal", diff <= 1e-3 * rms,
                 f"max |difference| {diff:.3g} Jy/beam, rms {rms:.3g}")

    # A rerun of the fused tree resumes: the image stage is done (same set), nothing is redone.
    p = c.run("run", [raw, "2025-03-20", "2025-03-20", "--out", out_b] + QUICK + FUSED)
    ok.check("fused rerun exits 0", p.returncode == 0 and (p.json or {}).get("counts", {}).get("processed") == 2,
             describe(p))
    for g in (p.json or {}).get("groups", []):
        outcome = {st["stage"]: st["outcome"] for st in g["stages"]}
        ok.check(f"rerun {g['group_id']}: image skipped", outcome.get("image") == "skipped", str(outcome.get("image")))
    return ok.summary()


sys.exit(main())
