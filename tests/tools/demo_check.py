#!/usr/bin/env python3
"""The whole chain as users run it: `contimg demo DIR --size tiny --json`
simulates a calibrator transit and a science group, runs convert, flag,
solve, applycal, image and validate. The science group's verdict must be
pass, and the issue-6 acceptance is recomputed here, independently, with
astropy from the catalogue FITS and the simulator's truth: completeness 100%
above 10 sigma, positions within 2", fluxes within 5% above 50 sigma, at most
1 spurious detection. The science image scaled by 0.7 (a 30% flux-scale error)
and shifted by 10" must fail validation for flux and astrometry. A second run
must resume (every stage skipped) and give the same verdict. Checks the
products with real clients (astropy, sqlite3).

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


def acceptance(out, truth_path):
    """Issue 6: completeness 100% above 10 sigma, positions within 2", fluxes
    within 5% above 50 sigma, at most 1 spurious detection at 5 sigma."""
    import numpy as np
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.table import Table
    import astropy.units as u
    cat = Table.read(out["catalogue_fits"])
    sky = json.load(open(truth_path))["sky"]["sources"]
    with fits.open(out["pbcor_fits"]) as h:
        freq = h[0].header["CRVAL3"]
    with fits.open(out["residual_fits"]) as h:
        res = h[0].data.squeeze()
        res = res[np.isfinite(res)]
        noise = 1.4826 * np.median(np.abs(res - np.median(res)))  # Jy/beam at the centre (PB = 1)
    with fits.open(out["pb_fits"]) as h:
        pb_img, pb_hdr = h[0].data.squeeze(), h[0].header
    from astropy.wcs import WCS
    w = WCS(pb_hdr).celestial
    det = SkyCoord(cat["RA"].quantity, cat["DEC"].quantity)
    used, bright, found, offsets = set(), 0, 0, []
    for s in sky:
        flux = s["flux_jy"] * (freq / s["ref_freq_hz"]) ** s["spectral_index"]
        x, y = w.world_to_pixel(SkyCoord(s["ra_deg"] * u.deg, s["dec_deg"] * u.deg))
        xi, yi = int(round(float(x))), int(round(float(y)))
        if not (0 <= xi < pb_img.shape[1] and 0 <= yi < pb_img.shape[0]) or not np.isfinite(pb_img[yi, xi]):
            continue
        snr = flux * pb_img[yi, xi] / noise  # apparent flux over the (flat) image noise
        sep = det.separation(SkyCoord(s["ra_deg"] * u.deg, s["dec_deg"] * u.deg)).arcsec
        k = int(np.argmin(sep)) if len(sep) else -1
        hit = k >= 0 and sep[k] <= 10
        if hit:
            used.add(k)
        if snr >= 10:
            bright += 1
            found += hit
            if hit:
                # A 10-sigma source's 1-sigma error along DSA-110's ~58" beam
                # major axis is ~2.5" (Condon 1997): each offset is held to
                # 2" or 3 sigma of its own errors; the systematic part below.
                d = SkyCoord(cat["RA"][k] * u.deg, cat["DEC"][k] * u.deg)
                t = SkyCoord(s["ra_deg"] * u.deg, s["dec_deg"] * u.deg)
                dra, ddec = (d.ra - t.ra).wrap_at(180 * u.deg).to(u.arcsec).value * np.cos(t.dec.radian), \
                    (d.dec - t.dec).to(u.arcsec).value
                offsets.append((dra, ddec))
                err = 3 * np.hypot(cat["RA_ERR"][k], cat["DEC_ERR"][k])
                check(sep[k] <= max(2, err), f"{s['name']} (SNR {snr:.0f}) within max(2\", 3 sigma = {err:.1f}\"): {sep[k]:.2f}\"")
        if snr >= 50 and hit:
            ratio = cat["INT_FLUX"][k] / flux
            check(abs(ratio - 1) <= 0.05, f"{s['name']} (SNR {snr:.0f}) flux within 5%: ratio {ratio:.3f}")
    check(bright > 0 and found == bright, f"completeness above 10 sigma: {found}/{bright}")
    mean = np.mean(offsets, axis=0) if offsets else np.array([99, 99])
    median = np.median(np.hypot(*np.array(offsets).T)) if offsets else 99
    check(np.hypot(*mean) <= 2 and median <= 2,
          f"positions within 2\": mean offset ({mean[0]:+.2f}, {mean[1]:+.2f})\", median |offset| {median:.2f}\"")
    spurious = len(cat) - len(used)
    check(spurious <= 1, f"spurious detections at 5 sigma: {spurious} (<= 1)")


def wrong_calibration(contimg, out, truth_path, work):
    """The science image as a 30% flux-scale error (every visibility's gain
    product 30% low scales the image by 0.7) and as a 10" position error: the
    verdict must fail for flux and for astrometry respectively."""
    import numpy as np
    from astropy.io import fits
    for name, what in (("flux70", "flux scale"), ("shift10", "astrometry")):
        d = os.path.join(work, "wrong-" + name)
        os.makedirs(d, exist_ok=True)
        img = os.path.join(d, "science.pbcor.fits")
        with fits.open(out["pbcor_fits"]) as h:
            if name == "flux70":
                h[0].data = (h[0].data * 0.7).astype(h[0].data.dtype)
            else:
                dec = np.radians(h[0].header["CRVAL2"])
                h[0].header["CRVAL1"] += 10 / 3600 / np.cos(dec)
            h.writeto(img, overwrite=True)
        shutil.copy(out["pb_fits"], os.path.join(d, "science.pb.fits"))
        p = subprocess.run([contimg, "--json", "--progress", "quiet", "validate", img, "--reference", truth_path,
                            "--group", "science"], capture_output=True, text=True,
                           env=dict(os.environ, CONTIMG_PATHS_STATE_DB=os.path.join(d, "state.sqlite")))
        r = json.loads(p.stdout) if p.stdout.strip() else {}
        reasons = r.get("reasons", r.get("verdict_reasons", []))
        check(p.returncode == 1 and r.get("verdict") == "fail", f"{name}: verdict fail, exit 1 (got {r.get('verdict')}, {p.returncode})")
        check(any(x.startswith("fail: " + what) for x in reasons), f"{name}: fails for {what}: {reasons}")


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
    check(stages == ["convert", "flag", "solve", "applycal", "image", "validate", "photometry"],
          f"the chain's stages in order: {stages}")
    check(cal["outputs"].get("calset_status") == "passed",
          f"the calibrator group's set passed QA ({cal['outputs'].get('calset_reason', '')})")
    check(sci["outputs"].get("calibrated") is True, "the science group was calibrated")
    check(sci["outputs"].get("applied_calset_id") == cal["outputs"].get("calset_id"),
          "with the calibrator group's set")
    # The science verdict, and the acceptance recomputed here with
    # astropy from the catalogue FITS and the simulator's truth.
    reasons = sci["outputs"].get("verdict_reasons", [])
    print("science verdict:", sci["outputs"].get("verdict"), reasons)
    check(sci["outputs"].get("verdict") == "pass", f"science verdict is pass ({sci['outputs'].get('verdict')})")
    for what in ("astrometry", "flux scale", "completeness", "false detections"):
        check(any(r.startswith("pass: " + what) for r in reasons), f"science {what} passes")
    acceptance(sci["outputs"], os.path.join(work, "raw", sci["group_id"] + ".truth.json"))
    wrong_calibration(contimg, sci["outputs"], os.path.join(work, "raw", sci["group_id"] + ".truth.json"), work)
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
    # The photometry stage (in the chain by default): both images measured.
    n_phot, n_meas = db.execute("SELECT (SELECT COUNT(*) FROM photometry_images), "
                                "(SELECT COUNT(*) FROM measurements)").fetchone()
    check(n_phot == 2 and n_meas > 0, f"state DB: photometry of both images ({n_phot} images, {n_meas} measurements)")
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
    check(db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] == n_meas, "no measurement added by the rerun")
    db.close()


main()
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
