#!/usr/bin/env python3
"""Validation end to end (issue 6) with independent clients: astropy reads the
catalogue (units; positions recomputed with astropy.wcs from the pixel columns),
sqlite3 reads the state DB, headless Chromium renders the report.
Exit 0 pass, 1 fail, 77 skip (no chromium)."""
import argparse
import csv
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import time

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def run(cmd, **kw):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    print(f"$ {' '.join(map(str, cmd))}  -> {p.returncode} ({time.time() - t0:.1f} s)", flush=True)
    return p


def sexagesimal(deg, hours):
    v = deg / 15 if hours else deg
    sign = "-" if v < 0 else "+"
    v = abs(v)
    d = int(v)
    m = int((v - d) * 60)
    s = (v - d - m / 60) * 3600
    return (f"{d:02d} {m:02d} {s:05.2f}" if hours else f"{sign}{d:02d} {m:02d} {s:04.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--make-image", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    w = a.workdir
    db = os.path.join(w, "state.sqlite3")
    common = ["--set", f"paths.state_db={db}", "--set", f"paths.scratch_dir={w}/scratch"]

    from astropy.table import Table
    from astropy.io import fits
    from astropy.wcs import WCS
    import astropy.units as u

    # 1. A correct image: pass, catalogue with units, positions agree with astropy.wcs.
    img = run([a.make_image, w, "good"]).stdout.strip()
    p = run([a.contimg, "--json", *common, "validate", img, "--reference", f"{w}/good.truth.json", "--out", f"{w}/out"])
    check(p.returncode == 0, f"validate exits 0 for a good image (stderr: {p.stderr[-500:]})")
    res = json.loads(p.stdout) if p.returncode == 0 else {}
    check(res.get("verdict") == "pass", f"verdict pass: {res.get('verdict')} {res.get('reasons')}")
    t = Table.read(res["catalogue_fits"])
    check(len(t) >= 20, f"catalogue has >= 20 rows ({len(t)})")
    for col, unit in [("RA", u.deg), ("DEC", u.deg), ("RA_ERR", u.arcsec), ("DEC_ERR", u.arcsec),
                      ("PEAK_FLUX", u.Jy / u.beam), ("INT_FLUX", u.Jy), ("MAJOR", u.arcsec), ("PA", u.deg)]:
        check(t[col].unit == unit, f"column {col} unit {t[col].unit} == {unit}")
    wcs = WCS(fits.getheader(img)).celestial
    ra, dec = wcs.all_pix2world(t["X_PIX"], t["Y_PIX"], 0)
    dmax = max(math.hypot((r - r0) * math.cos(math.radians(d0)), d - d0) * 3600
               for r, d, r0, d0 in zip(ra, dec, t["RA"], t["DEC"]))
    check(dmax < 0.01, f"catalogue RA/Dec agree with astropy.wcs at X_PIX/Y_PIX (max {dmax:.2e} arcsec)")
    with open(res["catalogue_csv"]) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) == len(t), f"CSV has the same {len(t)} rows")
    truth = json.load(open(f"{w}/good.truth.json"))["sky"]["sources"]
    print(f"     metrics: {json.dumps(res.get('metrics'))}")

    # 2. State DB: one validation row, detections; a rerun gives the same rows, no duplicates.
    def db_rows():
        c = sqlite3.connect(db)
        v = c.execute("SELECT verdict, n_detections FROM validations WHERE group_id='good'").fetchall()
        n = c.execute("SELECT COUNT(*) FROM detections WHERE group_id='good'").fetchone()[0]
        c.close()
        return v, n
    v1, n1 = db_rows()
    check(v1 == [("pass", len(t))] and n1 == len(t), f"state DB: {v1}, {n1} detections")
    p = run([a.contimg, "--json", *common, "validate", img, "--reference", f"{w}/good.truth.json", "--out", f"{w}/out"])
    v2, n2 = db_rows()
    check(p.returncode == 0 and (v2, n2) == (v1, n1), "a rerun leaves the same rows (idempotent)")
    leftovers = [f for f in os.listdir(f"{w}/out") if "staging" in f or f.startswith(".")]
    check(not leftovers, f"no staging files left ({leftovers})")

    # 3. Wrong flux scale: exit 1, fail for flux.
    bad = run([a.make_image, w, "dim", "--flux-scale", "0.7"]).stdout.strip()
    p = run([a.contimg, "--json", *common, "validate", bad, "--reference", f"{w}/dim.truth.json", "--out", f"{w}/out"])
    r = json.loads(p.stdout) if p.stdout.strip() else {}
    check(p.returncode == 1 and r.get("verdict") == "fail", f"flux x0.7: exit {p.returncode}, verdict {r.get('verdict')}")
    check(any(s.startswith("fail: flux scale") for s in r.get("reasons", [])), f"flux x0.7 fails for flux: {r.get('reasons')}")

    # 4. An NVSS-style TSV (VizieR: sexagesimal RA/Dec, S1.4 in mJy, a units line) through the store.
    tsv = f"{w}/nvss.tsv"
    with open(tsv, "w") as f:
        f.write("# VizieR-like export\nNVSS\tRAJ2000\tDEJ2000\tS1.4\te_S1.4\tMajAxis\tMinAxis\tPA\n")
        f.write("\t\"h:m:s\"\t\"d:m:s\"\tmJy\tmJy\tarcsec\tarcsec\tdeg\n")
        f.write("-----\t-----\t-----\t-----\t-----\t-----\t-----\t-----\n")
        for s in truth:
            # Stored at 1.4 GHz; the image is at 1.4 GHz too, so no spectral scaling.
            f.write(f"{s['name']}\t{sexagesimal(s['ra_deg'], True)}\t{sexagesimal(s['dec_deg'], False)}\t"
                    f"{s['flux_jy'] * 1e3:.3f}\t0.5\t\t\t\n")
    store = f"{w}/refs.sqlite3"
    p = run([a.contimg, "--json", *common, "catalog", "import", tsv, "--store", store, "--name", "nvss"])
    imp = json.loads(p.stdout) if p.returncode == 0 else {}
    check(imp.get("imported") == len(truth), f"catalog import: {imp} (stderr {p.stderr[-300:]})")
    p = run([a.contimg, "--json", *common, "catalog", "import", tsv, "--store", store, "--name", "nvss"])
    check(json.loads(p.stdout).get("total") == len(truth), "re-import replaces, no duplicates")
    s0 = truth[0]
    p = run([a.contimg, "--json", *common, "catalog", "cone", str(s0["ra_deg"]), str(s0["dec_deg"]), "0.001", "--store", store])
    cone = json.loads(p.stdout) if p.returncode == 0 else {}
    check(cone.get("count") == 1 and abs(cone["sources"][0]["ra_deg"] - s0["ra_deg"]) < 1e-5,
          f"cone finds the source (sexagesimal round trip): {cone.get('sources')}")
    p = run([a.contimg, "--json", *common, "validate", img, "--reference", store, "--out", f"{w}/out_store",
             "--group", "good_nvss"])
    r = json.loads(p.stdout) if p.stdout.strip() else {}
    check(p.returncode == 0 and r.get("verdict") == "pass", f"validate against the store: {r.get('verdict')} {r.get('reasons')}")

    # 5. The report in headless Chromium: no console errors, every image decoded.
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("SKIP chromium not installed (scripts/setup.sh installs it)")
        return 77 if not FAILURES else 1
    html = res["report_html"]
    p = run([chromium, "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={w}/chromium-profile", "--virtual-time-budget=5000", "--dump-dom", "file://" + html],
            timeout=120)
    dom = p.stdout
    marker = [l for l in dom.splitlines() if '<div id="contimg-images-check">' in l]
    check(p.returncode == 0, f"chromium exit {p.returncode}")
    check(bool(marker) and "images:3 broken:0" in marker[0], f"all report images decoded: {marker}")
    console = [l for l in p.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
    check(not console, f"no console messages: {console}")
    check("Verdict: <b>pass</b>" in dom, "the report shows the pass verdict")
    check("http://" not in open(html).read() and "https://" not in open(html).read(), "no network references")

    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
