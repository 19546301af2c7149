#!/usr/bin/env python3
"""The whole chain as users run it: `contimg demo DIR --size tiny --json`
simulates a calibrator transit and a science group, runs convert, flag,
solve, applycal, image and validate, and must pass astrometry, flux scale and
completeness on the science group; a second run must resume (every stage skipped) and give
the same verdict. Checks the products with real clients (astropy, sqlite3).

usage: demo_check.py CONTIMG WORKDIR
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run_demo(contimg, work):
    p = subprocess.run([contimg, "--json", "--progress", "quiet", "demo", work, "--size", "tiny"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-4000:])
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else {})


def main():
    contimg, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    code, s = run_demo(contimg, work)
    check(code == 0, f"demo exits 0 (got {code})")
    groups = s.get("groups", [])
    check(len(groups) == 2 and all(g["status"] == "processed" for g in groups),
          "both groups processed: " + ", ".join(f"{g['group_id']}={g['status']}" for g in groups))
    if len(groups) != 2:
        return
    cal, sci = groups
    stages = [st["stage"] for st in sci["stages"]]
    check(stages == ["convert", "flag", "solve", "applycal", "image", "validate"],
          f"the chain's stages in order: {stages}")
    check(cal["outputs"].get("calset_status") == "passed",
          f"the calibrator group's set passed QA ({cal['outputs'].get('calset_reason', '')})")
    check(sci["outputs"].get("calibrated") is True, "the science group was calibrated")
    check(sci["outputs"].get("applied_calset_id") == cal["outputs"].get("calset_id"),
          "with the calibrator group's set")
    # The science verdict: astrometry, flux scale and completeness must pass. The
    # overall verdict is reported; it is "warn" today because of the
    # false-detection rate (issue 6 stays open on that; docs/chain.md).
    reasons = sci["outputs"].get("verdict_reasons", [])
    print("science verdict:", sci["outputs"].get("verdict"), reasons)
    check(sci["outputs"].get("verdict") in ("pass", "warn"), f"science verdict is not fail ({sci['outputs'].get('verdict')})")
    for what in ("astrometry", "flux scale", "completeness"):
        check(any(r.startswith("pass: " + what) for r in reasons), f"science {what} passes")
    check(s.get("real_time_factor", 0) > 0, f"real-time factor reported ({s.get('real_time_factor')})")

    out = sci["outputs"]
    for key in ["image_fits", "pbcor_fits", "pb_fits", "residual_fits", "model_fits", "psf_fits",
                "quicklook_png", "catalogue_fits", "catalogue_csv", "report_html"]:
        check(os.path.isfile(out.get(key, "")), f"{key} exists")
    from astropy.table import Table
    t = Table.read(out["catalogue_fits"])
    check(len(t) > 0 and str(t["RA"].unit) == "deg", f"catalogue opens in astropy: {len(t)} rows")
    html = open(out["report_html"]).read()
    check("http://" not in html and "https://" not in html, "report is self-contained")

    db = sqlite3.connect(os.path.join(work, "contimg.sqlite"))
    n_val = db.execute("SELECT COUNT(*) FROM validations").fetchone()[0]
    n_img = db.execute("SELECT COUNT(*) FROM images").fetchone()[0]
    n_cal = db.execute("SELECT COUNT(*) FROM calsets WHERE status = 'passed'").fetchone()[0]
    check((n_val, n_img, n_cal) == (2, 2, 1), f"state DB: validations, images, passed calsets = {(n_val, n_img, n_cal)}")
    db.close()

    # Resume: everything is done, so every stage is skipped and nothing changes.
    code2, s2 = run_demo(contimg, work)
    check(code2 == 0, "second run exits 0")
    outcomes = {(g["group_id"], st["stage"]): st["outcome"] for g in s2.get("groups", []) for st in g["stages"]}
    not_skipped = [k for k, v in outcomes.items() if v != "skipped"]
    check(outcomes and not not_skipped, f"second run skips every stage (not skipped: {not_skipped})")
    sci2 = [g for g in s2.get("groups", []) if g["group_id"] == sci["group_id"]]
    check(sci2 and sci2[0]["outputs"].get("verdict") == sci["outputs"].get("verdict"),
          "resumed run restores the verdict")
    db = sqlite3.connect(os.path.join(work, "contimg.sqlite"))
    check(db.execute("SELECT COUNT(*) FROM validations").fetchone()[0] == 2, "no duplicate rows after the rerun")
    db.close()


main()
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
