#!/usr/bin/python3
"""Issue 15 acceptance: `contimg mosaic START END --out FILE` over 5 consecutive
synthetic group images along a drift (tests/tools/mosaic_make_drift.cc; the
inputs are synthetic PB-corrected images registered in the images table, not
imaged visibilities).

Checks, reading the products with astropy only: the mosaic, weight and noise
FITS open with a celestial SIN WCS, BMAJ/BMIN/BPA of a beam containing every
input's, BUNIT; every source position (a quadratic fit to the log of the peak
pixels, converted by astropy.wcs) within 0.25 pixel of the truth; the source
in the overlap of images 3 and 4 (and every other) within 3 % of its true
flux (matched filter with the header beam at the true position); the noise
map against the measured rms of the source-free pixels within 10 % (over all,
in single coverage and in overlaps); weight = noise^-2; no staging files; the
error paths (empty range: exit 3 and a JSON error; --help).
"""
import argparse
import glob
import json
import math
import os
import shutil
import subprocess
import sys

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

failures = []


def check(what, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + what + (f": {detail}" if detail else ""))
    if not ok:
        failures.append(what)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p


def beam_cov(maj, mn, pa_deg):
    """FWHM² covariance in (east, north)."""
    t = math.radians(pa_deg)
    u = np.array([math.sin(t), math.cos(t)])
    v = np.array([math.cos(t), -math.sin(t)])
    return maj * maj * np.outer(u, u) + mn * mn * np.outer(v, v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--make-drift", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    w = a.workdir
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    db = os.path.join(w, "state.sqlite")
    data = os.path.join(w, "images")
    p = run([a.make_drift, data, db])
    if p.returncode != 0:
        print(p.stdout, p.stderr)
        return 1
    truth = json.load(open(os.path.join(data, "truth.json")))
    groups = truth["groups"]
    common = [a.contimg, "--set", f"paths.state_db={db}", "--progress", "quiet"]
    out = os.path.join(w, "drift.fits")

    p = run(common + ["--json", "mosaic", groups[0], groups[-1], "--out", out])
    check("mosaic exits 0", p.returncode == 0, p.stderr[-2000:])
    if p.returncode != 0:
        return 1
    rep = json.loads(p.stdout)
    check("the 5 groups in the range are the inputs", [i["group_id"] for i in rep["inputs"]] == groups,
          str([i["group_id"] for i in rep["inputs"]]))
    for suffix in ("", ".weight", ".noise"):
        check(f"drift{suffix}.fits written", os.path.exists(os.path.join(w, f"drift{suffix}.fits")))
    left = sorted(f for f in os.listdir(w) if not f.startswith("state.sqlite"))
    check("no staging files left", left == ["drift.fits", "drift.noise.fits", "drift.weight.fits", "images"],
          str(left))

    hdu = fits.open(out)[0]
    h = hdu.header
    img = hdu.data.squeeze().astype(float)
    noise = fits.open(os.path.join(w, "drift.noise.fits"))[0].data.squeeze().astype(float)
    weight = fits.open(os.path.join(w, "drift.weight.fits"))[0].data.squeeze().astype(float)
    wcs = WCS(h).celestial
    check("celestial SIN WCS", list(wcs.wcs.ctype) == ["RA---SIN", "DEC--SIN"], str(list(wcs.wcs.ctype)))
    check("BUNIT JY/BEAM", h.get("BUNIT") == "JY/BEAM", str(h.get("BUNIT")))
    ny, nx = img.shape
    cell = abs(wcs.wcs.cdelt[0])
    # The grid centre: CRPIX at (nx/2, ny/2) 0-based, on the drift's mean direction.
    c = wcs.pixel_to_world(nx // 2, ny // 2)
    check("grid centre on the middle of the drift",
          abs(c.ra.deg - (150 + 2 * 309 / 240)) < 1e-6 and abs(c.dec.deg - 37.2) < 0.05,
          f"{c.ra.deg:.6f} {c.dec.deg:.6f}")
    bmaj, bmin, bpa = h["BMAJ"] * 3600, h["BMIN"] * 3600, h["BPA"]
    target = beam_cov(bmaj, bmin, bpa)
    ok = True
    for i in rep["inputs"]:
        b = i["beam"]
        ev = np.linalg.eigvalsh(target - beam_cov(b["bmaj_arcsec"], b["bmin_arcsec"], b["bpa_deg"]))
        ok = ok and ev.min() > -1e-6 * bmaj * bmaj
    check("common beam contains every input's beam", ok, f"{bmaj:.1f}\" x {bmin:.1f}\" PA {bpa:.1f}")
    check("weight = noise^-2", np.nanmax(np.abs(weight * noise * noise - 1)) < 1e-4)
    print(f"grid {nx} x {ny} of {cell * 3600:.1f}\", beam {bmaj:.1f}\" x {bmin:.1f}\" PA {bpa:.1f}, "
          f"input noise {[round(i['sigma_jy'] * 1e3, 3) for i in rep['inputs']]} mJy")

    # Kernel of the header beam in the pixel frame (x = -east, y = north near the centre).
    s2 = 1 / (8 * math.log(2))
    cov = beam_cov(bmaj, bmin, bpa) * s2 / (cell * 3600) ** 2
    sxx, syy, sxy = cov[0, 0], cov[1, 1], -cov[0, 1]
    det = sxx * syy - sxy * sxy
    yy, xx = np.mgrid[0:ny, 0:nx]
    src_mask = np.zeros(img.shape, bool)
    for s in truth["sources"]:
        x0, y0 = wcs.world_to_pixel_values(s["ra_deg"], s["dec_deg"])
        x0, y0 = float(x0), float(y0)
        dx, dy = xx - x0, yy - y0
        r2 = dx * dx + dy * dy
        src_mask |= r2 < (3 * bmaj / (cell * 3600)) ** 2
        box = (r2 < (1.5 * bmaj / (cell * 3600)) ** 2) & np.isfinite(img)
        k = np.exp(-0.5 * (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / det)
        wgt = 1 / noise ** 2
        f = np.sum((wgt * k * img)[box]) / np.sum((wgt * k * k)[box])
        # Position: quadratic fit to log(I) over the pixels above 40 % of the peak near the source.
        near = (r2 < 4) & np.isfinite(img)
        py, px = np.unravel_index(np.argmax(np.where(near, img, -np.inf)), img.shape)
        sel = (np.hypot(xx - px, yy - py) < 3) & (img > 0.4 * img[py, px])
        X, Y, Z = xx[sel] - px, yy[sel] - py, np.log(img[sel])
        A = np.stack([np.ones_like(X), X, Y, X * X, X * Y, Y * Y], axis=1).astype(float)
        c0, cx, cy, cxx, cxy, cyy = np.linalg.lstsq(A, Z, rcond=None)[0]
        M = np.array([[2 * cxx, cxy], [cxy, 2 * cyy]])
        ox, oy = np.linalg.solve(M, [-cx, -cy])
        sky = wcs.pixel_to_world(px + ox, py + oy)
        sep = sky.separation(SkyCoord(s["ra_deg"] * u.deg, s["dec_deg"] * u.deg)).arcsec
        label = f"source {s['flux_jy'] * 1e3:.0f} mJy at RA {s['ra_deg']:.3f}"
        check(f"{label}: flux within 3 %", abs(f / s["flux_jy"] - 1) < 0.03,
              f"{f * 1e3:.2f} mJy (truth {s['flux_jy'] * 1e3:.0f}, noise map there "
              f"{noise[int(round(y0)), int(round(x0))] * 1e3:.2f} mJy/beam, "
              f"{100 * (f / s['flux_jy'] - 1):+.2f} %)")
        check(f"{label}: astropy position within 0.25 pixel", sep < 0.25 * cell * 3600,
              f"{sep:.2f}\" = {sep / (cell * 3600):.3f} pixel")

    # Noise map against the measured rms of the source-free pixels.
    ok_pix = np.isfinite(img) & ~src_mask
    r = (img / noise)[ok_pix]
    # Overlap: more than one input contributes. A single input's weight is at most
    # max 1/sigma^2 (PB <= 1), so W above that needs two.
    single_max = max(1 / i["sigma_jy"] ** 2 for i in rep["inputs"])
    ov = (weight > 1.05 * single_max)[ok_pix]
    for name, sel in (("all", np.ones_like(r, bool)), ("single coverage", ~ov), ("overlaps", ov)):
        rms = np.std(img[ok_pix][sel])
        pred = np.sqrt(np.mean(noise[ok_pix][sel] ** 2))
        check(f"noise map vs measured rms ({name}) within 10 %", abs(np.std(r[sel]) - 1) < 0.10 and sel.sum() > 500,
              f"std(image/noise) = {np.std(r[sel]):.3f}; measured rms {rms * 1e3:.3f} mJy vs noise map "
              f"{pred * 1e3:.3f} mJy over {sel.sum()} pixels")
    check("overlap deeper than the inputs", np.nanmin(noise) < min(i["sigma_jy"] for i in rep["inputs"]),
          f"min noise {np.nanmin(noise) * 1e3:.3f} mJy")

    # The configuration keys: a higher PB cutoff shrinks the footprint, a cell sets the pixel.
    out2 = os.path.join(w, "cut.fits")
    p = run(common + ["--set", "mosaic.pb_cutoff=0.85", "--set", "mosaic.cell_arcsec=60", "mosaic", groups[0],
                      groups[-1], "--out", out2])
    if p.returncode == 0:
        h2 = fits.open(out2)[0]
        n_all = np.isfinite(img).sum() * cell * cell
        n_cut = np.isfinite(h2.data.squeeze()).sum() * h2.header["CDELT2"] ** 2
        check("mosaic.cell_arcsec sets the pixel", abs(h2.header["CDELT2"] * 3600 - 60) < 1e-9,
              str(h2.header["CDELT2"] * 3600))
        check("mosaic.pb_cutoff=0.85 shrinks the footprint", n_cut < 0.9 * n_all,
              f"{n_cut:.3f} vs {n_all:.3f} deg^2")
    else:
        check("mosaic with --set mosaic.* exits 0", False, p.stderr[-1000:])

    # Errors: an empty range (exit 3, JSON error), --help.
    p = run(common + ["--json", "mosaic", "2030-01-01", "2030-01-02", "--out", os.path.join(w, "none.fits")])
    check("empty range exits 3", p.returncode == 3, f"{p.returncode} {p.stdout[-300:]} {p.stderr[-300:]}")
    try:
        err = json.loads(p.stdout or p.stderr)
        check("empty range JSON error names the range", "2030-01-01" in json.dumps(err), json.dumps(err)[:200])
    except ValueError:
        check("empty range JSON error", False, p.stdout[-300:] + p.stderr[-300:])
    check("nothing written for the empty range", not os.path.exists(os.path.join(w, "none.fits")))
    p = run([a.contimg, "mosaic", "--help"])
    check("mosaic --help", p.returncode == 0 and "--out" in p.stdout and "mosaic.pb_cutoff" in p.stdout)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
