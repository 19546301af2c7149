#!/usr/bin/python3
"""Bright sources drifting through the primary beam (issue 14 item 3, docs/imaging.md 3a).

  /usr/bin/python3 drift_check.py --contimg BIN --workdir DIR [--data DATA_DIR] [--size tiny|full]
                                  [--nants N] [--reuse] [--only on|off]

A science sky with three bright sources (1.9, 1.7, 1.5 Jy) 0.5-0.9 deg off the meridian, where
the beam changes most during the group, and twelve fainter ones (50-300 mJy, log-uniform), no
gains (so the only error left is the imaging's): `contimg simulate --sky`, `convert-files`, then
`contimg image` three times -- with the drift correction (the default), with
imaging.drift_correction=false, and (without --only) with the opt-in imaging.drift_subtract=true
-- and `contimg validate` of each against the truth.

Checks: with the correction at most 1 unmatched (spurious) 5-sigma detection, every source
found, the median flux ratio within 5 % (the same with the whole subtraction, which must have
restored some components); without it at least 3 unmatched (the scenario shows the defect, so
the first check can fail). Prints one JSON line per image with the figures, then
"N passed, M failed"; exit 1 when a check failed, 77 when wsclean is not installed.
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contimg_harness import Checker, Contimg  # noqa: E402

START = "2025-01-01T12:00:00"
DEC_DEG = 54.6
# name, RA offset x cos(Dec) (deg), Dec offset (deg), flux (Jy): off the meridian in RA, where a
# source's beam changes most from the first integration to the last.
BRIGHT = [("B1", -0.9, 0.25, 1.9), ("B2", 0.8, -0.35, 1.7), ("B3", 0.5, 0.7, 1.5)]


def must(p, what):
    if p.returncode != 0 or p.json is None:
        raise RuntimeError("%s: exit %d\n%s" % (what, p.returncode, p.stderr.strip()[-3000:]))
    return p.json


def prepare(c, work, size, nants, alpha):
    probe = must(c.run("simulate", [os.path.join(work, "probe"), "--size", "tiny", "--start", START, "--dec",
                                    str(DEC_DEG), "--nants", "6", "--subbands", "0"]), "probe")
    with open(probe["truth"]) as f:
        ra0, dec0 = json.load(f)["pointing"]["meridian_icrs_mid_deg"]
    rng = random.Random(5)
    sources = []
    for name, dra, ddec, flux in BRIGHT:
        dec = dec0 + ddec
        sources.append({"name": name, "ra_deg": ra0 + dra / math.cos(math.radians(dec)), "dec_deg": dec,
                        "flux_jy": flux, "spectral_index": alpha})
    for k in range(12):
        r, phi = 1.1 * math.sqrt(rng.random()), 2 * math.pi * rng.random()
        dec = dec0 + r * math.cos(phi)
        sources.append({"name": "F%02d" % k, "ra_deg": ra0 + r * math.sin(phi) / math.cos(math.radians(dec)),
                        "dec_deg": dec, "flux_jy": 0.05 * 6 ** rng.random(), "spectral_index": alpha})
    sky = os.path.join(work, "sky.json")
    with open(sky, "w") as f:
        json.dump({"sources": sources}, f)
    sim = must(c.run("simulate", [os.path.join(work, "in"), "--size", size, "--start", START, "--dec",
                                  str(DEC_DEG), "--nants", str(nants), "--ntimes", "24", "--no-gains", "--noise",
                                  "2.8", "--sky", sky, "--seed", "11"]), "simulate")
    conv = must(c.run("convert-files", [os.path.join(work, "ms")] + sorted(sim["files"])), "convert-files")
    return {"ms": conv["converted"][0]["ms"], "truth": sim["truth"]}


def image_and_validate(c, work, st, label, drift_on, image_args, extra):
    out = os.path.join(work, "products-" + label)
    shutil.rmtree(out, ignore_errors=True)
    saved = c.globals
    c.globals = saved + ([] if drift_on else ["--set", "imaging.drift_correction=false"]) + extra
    try:
        t0 = time.time()
        img = must(c.run("image", [st["ms"], "--out", out] + image_args), "image " + label)
        secs = time.time() - t0
        val_p = c.run("validate", [img["products"]["pbcor"], "--reference", st["truth"]])
    finally:
        c.globals = saved
    val = json.loads(val_p.stdout)
    m = val["metrics"]
    fig = {"image": label, "seconds": round(secs, 1), "drift_components": img.get("drift", {}).get("components"),
           "restored": img.get("drift", {}).get("restored"),
           "rms_mjy": round(img["qa"]["rms_jy"] * 1e3, 4), "detections": m["n_detections"],
           "unmatched": m["false_detections"]["n_unmatched"], "found": m["completeness"]["n_found"],
           "reference": m["completeness"]["n_reference"], "flux_ratio": m.get("flux_ratio", {}).get("median"),
           "astrometry_rms_arcsec": m.get("astrometry", {}).get("rms_arcsec")}
    print(json.dumps(fig), flush=True)
    return fig


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--data", default="")
    ap.add_argument("--size", default="tiny", choices=["tiny", "full"])
    ap.add_argument("--nants", type=int, default=48)
    ap.add_argument("--alpha", type=float, default=-0.7, help="spectral index of every source")
    ap.add_argument("--reuse", action="store_true", help="keep the simulated MS of an earlier run")
    ap.add_argument("--only", choices=["on", "off"], default=None, help="image only with / without the correction")
    ap.add_argument("--image-set", action="append", default=[], metavar="KEY=VALUE",
                    help="a configuration override for both images (e.g. imaging.drift_threshold=30)")
    args = ap.parse_args()
    if shutil.which("wsclean") is None:
        print("wsclean not installed: skipped")
        return 77
    work = os.path.abspath(args.workdir)
    if not args.reuse:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    data = args.data or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data")
    c = Contimg(os.path.abspath(args.contimg), os.path.abspath(data), work, timeout=1800)
    c.globals += ["--set", "paths.state_db=" + os.path.join(work, "state.sqlite3")]
    stash = os.path.join(work, "prepared.json")
    if args.reuse and os.path.exists(stash):
        st = json.load(open(stash))
    else:
        st = prepare(c, work, args.size, args.nants, args.alpha)
        json.dump(st, open(stash, "w"))
    # Tiny: a test that runs in a few minutes on 2 cores (the sources are cleaned within 3000
    # iterations); full: the defaults, as users run them.
    image_args = ["--niter", "3000", "--field", "3.0", "--threads", "2"] if args.size == "tiny" else []
    extra = [a for kv in args.image_set for a in ("--set", kv)]
    checker = Checker()
    check = checker.check
    figs = {}
    if args.only != "off":
        figs["on"] = image_and_validate(c, work, st, "on", True, image_args, extra)
    if args.only != "on":
        figs["off"] = image_and_validate(c, work, st, "off", False, image_args, extra)
    if args.only is None:  # the opt-in whole subtraction (imaging.drift_subtract) must hold too
        figs["subtract"] = image_and_validate(c, work, st, "subtract", True, image_args,
                                              extra + ["--set", "imaging.drift_subtract=true"])
    if "on" in figs:
        on = figs["on"]
        check("drift corrected: spurious detections", on["unmatched"] <= 1,
              "%d unmatched of %d detections (<= 1)" % (on["unmatched"], on["detections"]))
        check("drift corrected: completeness", on["found"] == on["reference"],
              "%d of %d reference sources found" % (on["found"], on["reference"]))
        check("drift corrected: flux scale", on["flux_ratio"] is not None and abs(on["flux_ratio"] - 1) <= 0.05,
              "median flux ratio %s (within 5 %%)" % on["flux_ratio"])
        check("drift corrected: components", (on["drift_components"] or 0) >= 3,
              "%s CLEAN components corrected (>= 3: the three bright sources)" % on["drift_components"])
    if "subtract" in figs:
        sub = figs["subtract"]
        check("bright sources subtracted whole and restored: spurious detections", sub["unmatched"] <= 1,
              "%d unmatched of %d detections (<= 1)" % (sub["unmatched"], sub["detections"]))
        check("bright sources subtracted whole and restored: completeness and flux scale",
              sub["found"] == sub["reference"] and sub["flux_ratio"] is not None
              and abs(sub["flux_ratio"] - 1) <= 0.05,
              "%d of %d found, median flux ratio %s" % (sub["found"], sub["reference"], sub["flux_ratio"]))
        check("bright sources subtracted whole and restored: some were", (sub["restored"] or 0) >= 1,
              "%s component(s) restored" % sub["restored"])
    if "off" in figs:
        off = figs["off"]
        check("without the correction the scenario shows the drift", off["unmatched"] >= 3,
              "%d unmatched of %d detections (>= 3)" % (off["unmatched"], off["detections"]))
    return checker.summary()


if __name__ == "__main__":
    sys.exit(main())
