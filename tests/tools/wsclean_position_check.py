#!/usr/bin/python3
"""A real imager reads a converted group: WSClean puts a simulated point source where it is.

  /usr/bin/python3 wsclean_position_check.py --contimg BIN --workdir DIR [--reuse]

1. A quick one-subband simulation gives the mid-group meridian direction
   (truth pointing.meridian_icrs_mid_deg) for the chosen start time.
2. A sky model with one 5 Jy point source ~0.3 deg from that centre (+0.2 deg in Dec,
   +0.22 deg in RA cos Dec); `contimg simulate --size tiny --nants 24 --ntimes 24 --no-gains`
   with it; `contimg convert-files` to one MS (16 SPWs).
3. `wsclean -quiet -reorder -size 512 512 -scale 10asec -field 12 -niter 0` (field 12 alone:
   no imaging stage yet). The FITS image is read with astropy (WCS from the header, frame
   FK5/ICRS as the header says).
4. Checks: the image is centred on FIELD 12's PHASE_DIR; the brightest pixel lies within one
   pixel (10") of the true position, and so does the sub-pixel peak (parabola through the
   3x3 neighbourhood); the peak stands out (> 10 x the rms away from it) and its height is
   the source's beam-attenuated flux (Airy, 4.65 m dish) within 25 %; the mirrored position
   (what a UVW or conjugation sign error gives) is not bright.

--reuse re-images the MS already in DIR (e.g. after editing it by hand to see the checks
fail). One line per check, then "N passed, M failed" alone on the last line; exit status 1
when a check failed or none ran, 77 (CTest SKIP_RETURN_CODE) when wsclean is not installed.
"""
import argparse
import glob
import json
import math
import os
import shutil
import subprocess
import sys
import time
import traceback
import warnings

import numpy as np
import casacore.tables as ct
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

START = "2025-03-20T08:00:00"
DEC_DEG = 54.6
OFFSET_DEC_DEG = 0.20
OFFSET_RA_COSDEC_DEG = 0.22
FLUX_JY = 5.0
PIXEL_ARCSEC = 10.0
NPIX = 512
FIELD = 12
DISH_M = 4.65

RESULTS = {"passed": 0, "failed": 0}


def check(name, ok, detail):
    RESULTS["passed" if ok else "failed"] += 1
    print("%s %s: %s" % ("PASS" if ok else "FAIL", name, detail), flush=True)
    return ok


def run(cmd, cwd=None, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
    env.pop("HDF5_PLUGIN_PATH", None)
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, env=env,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(map(str, cmd[:3])), p.returncode,
                                                p.stderr.strip()[-3000:]))
    return p


def airy_power(theta_rad, freq_hz):
    """Primary-beam power of a uniformly illuminated 4.65 m dish: (2 J1(x) / x)^2."""
    x = math.pi * DISH_M * math.sin(theta_rad) * freq_hz / 299792458.0
    if x == 0:
        return 1.0
    tau = np.linspace(0.0, math.pi, 4001)  # J1(x) = 1/pi int_0^pi cos(tau - x sin tau) dtau
    f = np.cos(tau - x * np.sin(tau))
    j1 = float(np.sum((f[1:] + f[:-1]) * 0.5 * np.diff(tau))) / math.pi
    return (2 * j1 / x) ** 2


def simulate_and_convert(contimg, work, sets):
    base = [contimg, "--progress", "quiet"] + sets + ["--json"]
    # 1. The mid-group meridian for this start time (one subband is enough).
    probe = json.loads(run(base + ["simulate", os.path.join(work, "probe"), "--size", "tiny",
                                   "--start", START, "--dec", DEC_DEG, "--nants", 24,
                                   "--ntimes", 24, "--subbands", 0]).stdout)
    with open(probe["truth"]) as f:
        ra0, dec0 = json.load(f)["pointing"]["meridian_icrs_mid_deg"]
    src_dec = dec0 + OFFSET_DEC_DEG
    src_ra = ra0 + OFFSET_RA_COSDEC_DEG / math.cos(math.radians(src_dec))
    sky = os.path.join(work, "sky.json")
    with open(sky, "w") as f:
        json.dump({"sources": [{"name": "probe", "ra_deg": src_ra, "dec_deg": src_dec,
                                "flux_jy": FLUX_JY, "spectral_index": 0.0}]}, f)
    # 2. The group and its MS.
    sim = json.loads(run(base + ["simulate", os.path.join(work, "in"), "--size", "tiny",
                                 "--start", START, "--dec", DEC_DEG, "--nants", 24,
                                 "--ntimes", 24, "--no-gains", "--sky", sky, "--seed", 7]).stdout)
    conv = json.loads(run(base + ["convert-files", os.path.join(work, "out")] +
                          sorted(sim["files"])).stdout)
    ms = conv["converted"][0]["ms"]
    state = {"ms": ms, "truth": sim["truth"], "source": [src_ra, src_dec],
             "centre": [ra0, dec0]}
    with open(os.path.join(work, "state.json"), "w") as f:
        json.dump(state, f)
    return state


def parabola_offset(a, b, c):
    d = a - 2 * b + c
    return 0.0 if d >= 0 else 0.5 * (a - c) / d


def run_checks(args):
    work = os.path.abspath(args.workdir)
    state_file = os.path.join(work, "state.json")
    if args.reuse and os.path.exists(state_file):
        with open(state_file) as f:
            st = json.load(f)
        print("reusing %s" % st["ms"])
    else:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        sets = []
        if args.data:
            sets = ["--set", "paths.data_dir=" + os.path.abspath(args.data)]
        t0 = time.time()
        st = simulate_and_convert(os.path.abspath(args.contimg), work, sets)
        print("simulated and converted in %.1f s: %s" % (time.time() - t0, st["ms"]))
    ms = st["ms"]
    src = SkyCoord(st["source"][0] * u.deg, st["source"][1] * u.deg, frame="icrs")
    with open(st["truth"]) as f:
        truth = json.load(f)
    tsrc = [s for s in truth["sky"]["sources"] if s.get("name") == "probe"]
    check("truth: the simulated sky holds the probe source", len(tsrc) == 1 and
          abs(tsrc[0]["ra_deg"] - st["source"][0]) < 1e-9 and
          abs(tsrc[0]["dec_deg"] - st["source"][1]) < 1e-9,
          "%s" % (tsrc[0] if tsrc else truth["sky"]))

    field = ct.table(os.path.join(ms, "FIELD"), ack=False)
    pd = field.getcell("PHASE_DIR", FIELD)[0]
    centre = SkyCoord(pd[0] * u.rad, pd[1] * u.rad, frame="icrs")
    sep_centre = centre.separation(src).deg
    spw = ct.table(os.path.join(ms, "SPECTRAL_WINDOW"), ack=False)
    freq = float(np.mean(spw.getcol("CHAN_FREQ")))

    # 3. WSClean.
    img_dir = os.path.join(work, "image")
    shutil.rmtree(img_dir, ignore_errors=True)
    os.makedirs(img_dir)
    t0 = time.time()
    run(["wsclean", "-quiet", "-reorder", "-size", NPIX, NPIX, "-scale", "%gasec" % PIXEL_ARCSEC,
         "-field", FIELD, "-niter", 0, "-j", 2, "-name", os.path.join(img_dir, "IMG"), ms],
        cwd=img_dir)
    fits_path = os.path.join(img_dir, "IMG-image.fits")
    if not os.path.exists(fits_path):
        fits_path = sorted(glob.glob(os.path.join(img_dir, "*-image.fits")) +
                           glob.glob(os.path.join(img_dir, "*-dirty.fits")))[0]
    print("wsclean %.1f s -> %s" % (time.time() - t0, fits_path))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        with fits.open(fits_path) as hdul:
            header = hdul[0].header
            data = np.squeeze(hdul[0].data).astype(np.float64)
        wcs = WCS(header).celestial
    frame = header.get("RADESYS", "FK5").strip().lower()

    # The image centre is FIELD 12's direction.
    cx, cy = header["CRPIX1"] - 1, header["CRPIX2"] - 1
    img_centre = wcs.pixel_to_world(cx, cy)
    d = img_centre.separation(centre).arcsec
    check("image centre = FIELD %d PHASE_DIR" % FIELD, d < 0.5,
          "%.3f\" apart (source %.3f deg from the field centre)" % (d, sep_centre))

    # 4. The brightest pixel and the sub-pixel peak.
    iy, ix = np.unravel_index(np.nanargmax(data), data.shape)
    peak = data[iy, ix]
    pix_world = wcs.pixel_to_world(ix, iy)
    sep_pix = pix_world.separation(src).arcsec
    check("brightest pixel within one pixel (%g\") of the true position" % PIXEL_ARCSEC,
          sep_pix <= PIXEL_ARCSEC,
          "pixel (%d, %d) is %.2f\" from the source (%s frame)" % (ix, iy, sep_pix, frame))
    ok_interior = 0 < ix < data.shape[1] - 1 and 0 < iy < data.shape[0] - 1
    if ok_interior:
        dx = parabola_offset(data[iy, ix - 1], peak, data[iy, ix + 1])
        dy = parabola_offset(data[iy - 1, ix], peak, data[iy + 1, ix])
    else:
        dx = dy = 0.0
    sub = wcs.pixel_to_world(ix + dx, iy + dy)
    sep_sub = sub.separation(src).arcsec
    want_x, want_y = wcs.world_to_pixel(src)
    check("sub-pixel peak within one pixel of the true position", ok_interior and
          sep_sub <= PIXEL_ARCSEC,
          "%.2f\" from the source (%.2f px; peak at x %.2f y %.2f, true x %.2f y %.2f)" % (
              sep_sub, sep_sub / PIXEL_ARCSEC, ix + dx, iy + dy, want_x, want_y))

    yy, xx = np.mgrid[0:data.shape[0], 0:data.shape[1]]
    far = (xx - ix) ** 2 + (yy - iy) ** 2 > 30 ** 2
    rms = float(np.sqrt(np.nanmean(data[far] ** 2)))
    check("the source stands out", peak > 10 * rms,
          "peak %.3f Jy/beam, rms away from it %.4f (%.0f sigma)" % (peak, rms, peak / rms))
    expected = FLUX_JY * airy_power(math.radians(sep_centre), freq)
    peak_fit = peak
    if ok_interior:  # height of the 2-D parabola at the sub-pixel peak
        peak_fit = peak - 0.25 * ((data[iy, ix - 1] - data[iy, ix + 1]) * dx +
                                  (data[iy - 1, ix] - data[iy + 1, ix]) * dy)
    check("peak height = beam-attenuated flux within 25 %",
          abs(peak_fit / expected - 1) < 0.25,
          "%.3f Jy/beam (interpolated), expected %.3f = %.1f Jy x beam %.3f at %.3f deg, %.1f MHz"
          % (peak_fit, expected, FLUX_JY, expected / FLUX_JY, sep_centre, freq / 1e6))
    # A sign error (UVW negated, DATA conjugated) puts the source at the mirror point.
    mx, my = 2 * cx - want_x, 2 * cy - want_y
    mi, mj = int(round(mx)), int(round(my))
    mirror = float(np.nanmax(data[max(mj - 2, 0):mj + 3, max(mi - 2, 0):mi + 3]))
    check("nothing at the mirrored position", mirror < 0.3 * peak,
          "%.3f Jy/beam at the mirror point vs peak %.3f" % (mirror, peak))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contimg", required=True, help="the contimg executable")
    ap.add_argument("--workdir", required=True, help="scratch directory (emptied first)")
    ap.add_argument("--data", help="the repository's data/ directory (default: the build's)")
    ap.add_argument("--reuse", action="store_true", help="re-image the MS already in --workdir")
    args = ap.parse_args()
    if shutil.which("wsclean") is None:
        print("SKIP wsclean is not installed")
        print("0 passed, 0 failed")
        return 77
    t0 = time.time()
    try:
        run_checks(args)
    except Exception:
        traceback.print_exc()
        check("run", False, "exception (traceback above)")
    print("  (total %.1f s)" % (time.time() - t0))
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
