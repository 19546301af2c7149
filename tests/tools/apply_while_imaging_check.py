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
import subprocess
import sys

import numpy as np
from astropy.io import fits
from casacore.tables import table

failures = []
QUICK = ["--set", "imaging.field_deg=1", "--set", "imaging.cell_arcsec=10", "--set", "imaging.niter=1000",
         "--set", "imaging.threads=1"]


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def env():
    return {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}


def contimg(exe, *args):
    p = subprocess.run([exe, "--json", "--progress", "quiet", *args], capture_output=True, text=True, env=env())
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else {}
    except json.JSONDecodeError:
        out = {}
    return p.returncode, out


def has_corrected(ms):
    t = table(ms, ack=False)
    try:
        return "CORRECTED_DATA" in t.colnames()
    finally:
        t.close()


def images(out):
    db = sqlite3.connect(os.path.join(out, "contimg.sqlite"))
    rows = db.execute("SELECT group_id, data_column, calset_id, image_path FROM images").fetchall()
    db.close()
    return {r[0]: r[1:] for r in rows}


def main():
    exe, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    raw = os.path.join(work, "raw")
    code, cal = contimg(exe, "simulate", raw, "--size", "tiny", "--nants", "12", "--calibrator", "0834+555",
                        "--date", "2025-03-20", "--noise", "2.8", "--seed", "7", "--instrument-seed", "7",
                        "--threads", "1")
    check(code == 0 and cal.get("group_id"), f"calibrator group simulated ({code})")
    if failures:
        return
    truth = json.load(open(cal["truth"]))
    # An hour after the transit (as no_reference_check.py): the set is valid for it.
    code, sci = contimg(exe, "simulate", raw, "--size", "tiny", "--nants", "12", "--start", "2025-03-20T05:37:42",
                        "--dec", repr(truth["pointing"]["dec_deg"]), "--random-sources", "5", "--random-min", "0.3",
                        "--random-max", "2", "--noise", "2.8", "--seed", "8", "--instrument-seed", "7",
                        "--threads", "1")
    check(code == 0 and sci.get("group_id"), f"science group simulated ({code})")
    if failures:
        return

    runs = {}
    for name, extra in (("default", []), ("fused", ["--set", "calibration.write_corrected_data=false"])):
        out = os.path.join(work, name)
        code, s = contimg(exe, *QUICK, *extra, "run", raw, "2025-03-20", "2025-03-20", "--out", out)
        counts = s.get("counts", {})
        check(code == 0 and counts.get("processed") == 2 and counts.get("failed") == 0,
              f"{name}: run exits 0, both groups processed ({code}, {counts})")
        runs[name] = (out, {g["group_id"]: g for g in s.get("groups", [])})
    if failures:
        return

    (out_a, ga), (out_b, gb) = runs["default"], runs["fused"]
    ia, ib = images(out_a), images(out_b)
    for gid in (cal["group_id"], sci["group_id"]):
        oa, ob = ga[gid].get("outputs") or {}, gb[gid].get("outputs") or {}
        check(oa.get("calibrated") is True and ob.get("calibrated") is True,
              f"{gid}: calibrated in both runs ({oa.get('calibrated')}, {ob.get('calibrated')})")
        check(oa.get("applied_calset_id") and oa.get("applied_calset_id") == ob.get("applied_calset_id"),
              f"{gid}: the same set ({oa.get('applied_calset_id')}, {ob.get('applied_calset_id')})")
        check(has_corrected(oa["ms_path"]), f"{gid}: default run wrote CORRECTED_DATA")
        check(not has_corrected(ob["ms_path"]), f"{gid}: write_corrected_data=false wrote no CORRECTED_DATA")
        check(ia[gid][0] == "CORRECTED_DATA", f"{gid}: default run imaged {ia[gid][0]}")
        check(ib[gid][0] == "DATA calibrated while imaging" and ib[gid][1] == ia[gid][1],
              f"{gid}: fused run imaged {ib[gid][0]!r} with set {ib[gid][1]!r} (default: {ia[gid][1]!r})")
        a = fits.getdata(oa["image_fits"]).astype(np.float64)
        b = fits.getdata(ob["image_fits"]).astype(np.float64)
        rms = float(np.sqrt(np.mean(np.square(a - np.median(a)))))
        diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
        check(diff <= 1e-3 * rms, f"{gid}: images equal (max |difference| {diff:.3g} Jy/beam, rms {rms:.3g})")

    # A rerun of the fused tree resumes: the image stage is done (same set), nothing is redone.
    code, s = contimg(exe, *QUICK, "--set", "calibration.write_corrected_data=false", "run", raw, "2025-03-20",
                      "2025-03-20", "--out", out_b)
    check(code == 0 and s.get("counts", {}).get("processed") == 2, f"fused rerun exits 0 ({code})")
    for g in s.get("groups", []):
        outcome = {st["stage"]: st["outcome"] for st in g["stages"]}
        check(outcome.get("image") == "skipped", f"rerun {g['group_id']}: image skipped ({outcome.get('image')})")


main()
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
