#!/usr/bin/env python3
"""Issue 14 item 4: applycal, re-phasing and channel averaging in one pass.
Simulates a tiny 0834+555 transit and a science group an hour later and runs
the chain three times into three output trees:
- default: applycal only chooses the set; the image stage applies it in its
  pass over DATA and writes CORRECTED_DATA and FLAG in that same pass
  (calibration.apply_in_image_pass);
- separate: calibration.apply_in_image_pass = false, applycal writes
  CORRECTED_DATA in its own pass and the image stage reads it (the two-pass
  route of before);
- fused: calibration.write_corrected_data = false, no CORRECTED_DATA at all.
The default's CORRECTED_DATA and FLAG equal the separate run's bit for bit and
carry the set's keyword; every run records the same set; the images are equal;
a rerun of the default tree finds applycal and image done. Checks behaviour
only: exit codes, the --json summary, the MSs (python-casacore), the images
(astropy) and the state database.

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
SEPARATE = ["--set", "calibration.apply_in_image_pass=false"]
IN_PASS = "DATA calibrated while imaging, also written to CORRECTED_DATA"


def column(ms, name):
    t = table(ms, ack=False)
    try:
        return t.getcol(name)
    finally:
        t.close()


def applied_keyword(ms):
    if not ms or not os.path.isdir(ms):
        return None
    t = table(ms, ack=False)
    try:
        return t.getkeyword("CONTIMG_APPLIED_CALSET") if "CONTIMG_APPLIED_CALSET" in t.keywordnames() else None
    finally:
        t.close()


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
    for name, extra in (("default", []), ("separate", SEPARATE), ("fused", FUSED)):
        out = os.path.join(work, name)
        p = c.run("run", [raw, "2025-03-20", "2025-03-20", "--out", out] + QUICK + extra)
        counts = (p.json or {}).get("counts", {})
        ok.check(f"{name}: run exits 0, both groups processed",
                 p.returncode == 0 and counts.get("processed") == 2 and counts.get("failed") == 0,
                 f"{describe(p)} {counts}")
        runs[name] = (out, {g["group_id"]: g for g in (p.json or {}).get("groups", [])})
    if ok.failed:
        return ok.summary()

    (out_d, gd), (out_s, gs), (out_f, gf) = runs["default"], runs["separate"], runs["fused"]
    idb, isb, ifb = images(out_d), images(out_s), images(out_f)
    for gid in (cal["group_id"], sci["group_id"]):
        od, os_, of = (g[gid].get("outputs") or {} for g in (gd, gs, gf))
        ok.check(f"{gid}: calibrated in every run", all(o.get("calibrated") is True for o in (od, os_, of)),
                 f"{od.get('calibrated')}, {os_.get('calibrated')}, {of.get('calibrated')}")
        sets = {o.get("applied_calset_id") for o in (od, os_, of)}
        ok.check(f"{gid}: the same set in every run", len(sets) == 1 and None not in sets and "" not in sets,
                 str(sets))
        calset = od.get("applied_calset_id")
        ok.check(f"{gid}: default: the image stage applied the set in its pass and wrote CORRECTED_DATA",
                 idb[gid][0] == IN_PASS and idb[gid][1] == calset, str(idb[gid]))
        ok.check(f"{gid}: default: the MS records the set it holds", applied_keyword(od["ms_path"]) == calset,
                 str(applied_keyword(od["ms_path"])))
        ok.check(f"{gid}: separate: the image stage read applycal's CORRECTED_DATA",
                 isb[gid][0] == "CORRECTED_DATA" and isb[gid][1] == calset, str(isb[gid]))
        ok.check(f"{gid}: fused: DATA calibrated while imaging, no CORRECTED_DATA",
                 ifb[gid][0] == "DATA calibrated while imaging" and ifb[gid][1] == calset
                 and not has_corrected(of["ms_path"]), str(ifb[gid]))
        if has_corrected(od["ms_path"]) and has_corrected(os_["ms_path"]):
            for col in ("CORRECTED_DATA", "FLAG"):
                a, b = column(od["ms_path"], col), column(os_["ms_path"], col)
                same = a.shape == b.shape and bool(np.array_equal(a, b))
                ok.check(f"{gid}: {col} written in the image pass equals applycal's, bit for bit", same,
                         f"shapes {a.shape} {b.shape}; differing values "
                         f"{int(np.sum(a != b)) if a.shape == b.shape else 'n/a'}")
        else:
            ok.check(f"{gid}: CORRECTED_DATA in the default and separate runs", False)
        a = fits.getdata(od["image_fits"]).astype(np.float64)
        rms = float(np.sqrt(np.mean(np.square(a - np.median(a)))))
        for name, o in (("separate", os_), ("fused", of)):
            b = fits.getdata(o["image_fits"]).astype(np.float64)
            diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
            ok.check(f"{gid}: the default's image equals the {name} run's", diff <= 1e-3 * rms,
                     f"max |difference| {diff:.3g} Jy/beam, rms {rms:.3g}")

    # A stage that fails after its pass (a WSClean that answers --version, as
    # the preflight asks, and fails every imaging run) leaves CORRECTED_DATA
    # written but the MS unmarked; the rerun applies again and marks it, with
    # the same CORRECTED_DATA as applycal's own pass.
    out_x = os.path.join(work, "wsclean_fails")
    failing = os.path.join(work, "failing-wsclean")
    with open(failing, "w") as f:
        f.write('#!/bin/sh\n[ "$1" = --version ] && exec wsclean --version\n'
                'echo "simulated WSClean failure" >&2\nexit 1\n')
    os.chmod(failing, 0o755)
    p = c.run("run", [raw, "2025-03-20", "2025-03-20", "--out", out_x] + QUICK + ["--set", "imaging.wsclean=" + failing])
    gx = {g["group_id"]: g for g in (p.json or {}).get("groups", [])}
    ok.check("WSClean failing: the run fails its groups", p.returncode != 0 and
             all(g.get("status") == "failed" for g in gx.values()) and len(gx) == 2, describe(p))
    for gid, g in gx.items():
        ms = (g.get("outputs") or {}).get("ms_path") or gd[gid]["outputs"]["ms_path"].replace(out_d, out_x)
        ok.check(f"{gid}: after the failed image stage CORRECTED_DATA is there but the MS is not marked",
                 has_corrected(ms) and not applied_keyword(ms), str(applied_keyword(ms)))
    p = c.run("run", [raw, "2025-03-20", "2025-03-20", "--out", out_x] + QUICK)
    for g in (p.json or {}).get("groups", []):
        gid, o = g["group_id"], g.get("outputs") or {}
        outcome = {st["stage"]: st["outcome"] for st in g["stages"]}
        ok.check(f"{gid}: the rerun applies in the image pass again and marks the MS",
                 outcome.get("image") == "completed" and applied_keyword(o.get("ms_path", "")) ==
                 gd[gid]["outputs"]["applied_calset_id"], f"{outcome} {applied_keyword(o.get('ms_path', ''))}")
        if o.get("ms_path"):
            a, b = column(o["ms_path"], "CORRECTED_DATA"), column(gs[gid]["outputs"]["ms_path"], "CORRECTED_DATA")
            ok.check(f"{gid}: the rerun's CORRECTED_DATA equals applycal's", a.shape == b.shape and
                     bool(np.array_equal(a, b)))

    # Reruns resume: the default tree finds applycal (the MS holds the set) and
    # image done; the fused tree finds image done (same set).
    for name, out, extra, done in (("default", out_d, [], ("applycal", "image")), ("fused", out_f, FUSED, ("image",))):
        p = c.run("run", [raw, "2025-03-20", "2025-03-20", "--out", out] + QUICK + extra)
        ok.check(f"{name} rerun exits 0",
                 p.returncode == 0 and (p.json or {}).get("counts", {}).get("processed") == 2, describe(p))
        for g in (p.json or {}).get("groups", []):
            outcome = {st["stage"]: st["outcome"] for st in g["stages"]}
            for stage in done:
                ok.check(f"{name} rerun {g['group_id']}: {stage} skipped", outcome.get(stage) == "skipped",
                         str(outcome.get(stage)))
    return ok.summary()


sys.exit(main())
