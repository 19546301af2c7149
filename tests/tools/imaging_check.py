#!/usr/bin/python3
"""Acceptance of `contimg image` (SPEC §6, docs/imaging.md), checked with independent clients.

  /usr/bin/python3 imaging_check.py --contimg BIN --workdir DIR [--data DATA_DIR] [--reuse]

1. A quick one-subband simulation gives the mid-group meridian (truth pointing).
2. A sky of point sources (flat spectra) around it: one at the centre, others up to 1.5 deg off
   in RA and Dec, and one that transits at the end of the group (+0.64 deg east: it crosses the
   meridian at the last integration). `contimg simulate --size tiny --nants 48 --ntimes 24
   --no-gains`, `contimg convert-files`, `contimg image --keep-ms --json` (and a --niter 0 run whose
   imaging MS, not drift-corrected, is the one the re-phase checks read).
3. Checks, each measured:
   - re-phasing: imaging-MS UVW of a sample of rows vs pyuvdata's calc_uvw toward the new centre
     (tests/tools/pyuvdata_reference.py on astropy + pyERFA) to 1e-6 relative; DATA vs the
     input DATA x exp(+2 pi i (w_in - w_new) nu / c) to 1e-6 relative (w_new both from the
     imaging MS and from the reference); the one FIELD = astropy's meridian at mid-group;
   - astropy opens every FITS product and its celestial WCS; the headers carry BMAJ, BMIN, BPA,
     CRVAL3 (frequency), DATE-OBS, GROUPID, CONTIMGV;
   - every source within 2" of its true ICRS position (sub-pixel peak in the PB-corrected image,
     world coordinates from astropy's WCS), and its PB-corrected peak within 5 % of the truth
     when above 50 sigma;
   - the late-transit source's apparent (uncorrected) peak = truth x the airy power averaged
     over the 24 integrations and the SPWs, computed here with astropy (HADec of the source at
     each integration) -- not the first integration's attenuation;
   - the images table holds one row for the group with the printed QA.
One line per check, then "N passed, M failed" on the last line; exit 1 when a check failed,
77 (CTest SKIP_RETURN_CODE) when wsclean is not installed.
"""
import argparse
import glob
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import traceback
import warnings

import numpy as np
import casacore.tables as ct
from astropy import units as u
from astropy.coordinates import ICRS, EarthLocation, HADec, SkyCoord
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS, FITSFixedWarning

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pyuvdata_reference import (calc_uvw, configure_astropy, frame_pos_angle, icrs_to_app,  # noqa: E402
                                itrf, lst_pyuvdata, read_stations)

START = "2025-03-20T08:00:00"
DEC_DEG = 54.6
SITE = dict(lat=37.2314, lon=-118.2817, height=1222.0)
DISH_M = 4.65
C = 299792458.0
# name, RA offset x cos(Dec) (deg), Dec offset (deg), flux (Jy)
SOURCES = [("centre", 0.0, 0.0, 2.0), ("north", 0.2, 1.0, 1.5), ("south", -0.3, -1.2, 2.5),
           ("west", -1.5, 0.2, 3.0), ("east", 1.2, -0.6, 3.0), ("late", None, 0.35, 2.0)]
# The meridian moves 15 deg/h x 309 s / 2 = 0.644 deg of RA from mid-group to the last
# integration: "late" (dra None) sits there, so it transits at the end of the group.
LATE_RA_DEG = 0.644
# WSClean settings for a test that runs in about a minute on 2 cores: the automatic cell (the
# predicted PSF main lobe's minor axis, ~14" with 48 antennas, over 4: ~3.4"), 3.4 deg (sources
# reach 1.55 deg), WSClean's default iterations: CLEAN to its threshold as users run it (a run
# stopped at 1000 iterations hid a divergence of the opt-in imaging.drift_subtract).
IMAGE_ARGS = ["--field", "3.4", "--threads", "2"]
RESULTS = {"passed": 0, "failed": 0}


def check(name, ok, detail):
    RESULTS["passed" if ok else "failed"] += 1
    print("%s %s: %s" % ("PASS" if ok else "FAIL", name, detail), flush=True)
    return ok


def run(cmd, timeout=900):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
    env.pop("HDF5_PLUGIN_PATH", None)
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(map(str, cmd[:4])), p.returncode, p.stderr.strip()[-3000:]))
    return p


def airy_power(theta_rad, freq_hz):
    """(2 J1(x) / x)^2 with J1 from its integral representation (no scipy in Debian's python here)."""
    x = math.pi * DISH_M * math.sin(theta_rad) * freq_hz / C
    if x == 0:
        return 1.0
    tau = np.linspace(0.0, math.pi, 4001)
    f = np.cos(tau - x * np.sin(tau))
    j1 = float(np.sum((f[1:] + f[:-1]) * 0.5 * np.diff(tau))) / math.pi
    return (2 * j1 / x) ** 2


def site_location():
    return EarthLocation.from_geodetic(SITE["lon"] * u.deg, SITE["lat"] * u.deg, SITE["height"] * u.m,
                                       ellipsoid="WGS84")


def prepare(contimg, work, sets):
    base = [contimg, "--progress", "quiet"] + sets + ["--json"]
    probe = json.loads(run(base + ["simulate", os.path.join(work, "probe"), "--size", "tiny", "--start", START,
                                   "--dec", DEC_DEG, "--nants", 6, "--ntimes", 24, "--subbands", 0]).stdout)
    with open(probe["truth"]) as f:
        ra0, dec0 = json.load(f)["pointing"]["meridian_icrs_mid_deg"]
    sources = []
    for name, dra, ddec, flux in SOURCES:
        dec = dec0 + ddec
        ra = ra0 + (LATE_RA_DEG if dra is None else dra / math.cos(math.radians(dec)))
        sources.append({"name": name, "ra_deg": ra, "dec_deg": dec,
                        "flux_jy": flux, "spectral_index": 0.0})
    sky = os.path.join(work, "sky.json")
    with open(sky, "w") as f:
        json.dump({"sources": sources}, f)
    sim = json.loads(run(base + ["simulate", os.path.join(work, "in"), "--size", "tiny", "--start", START,
                                 "--dec", DEC_DEG, "--nants", 48, "--ntimes", 24, "--no-gains", "--noise", 0.5,
                                 "--sky", sky, "--seed", 11]).stdout)
    conv = json.loads(run(base + ["convert-files", os.path.join(work, "ms")] + sorted(sim["files"])).stdout)
    return {"ms": conv["converted"][0]["ms"], "truth": sim["truth"], "centre": [ra0, dec0]}


def rephase_checks(ms, ims, data_dir):
    m = ct.table(ms, ack=False)
    im = ct.table(ims, ack=False)
    # imaging.merge_spws (the default): one row per (integration, baseline) holding every
    # SPW's channels; else the MS's rows one for one.
    im_spw_freq = ct.table(os.path.join(ims, "SPECTRAL_WINDOW"), ack=False).getcol("CHAN_FREQ")
    im_spw_width = ct.table(os.path.join(ims, "SPECTRAL_WINDOW"), ack=False).getcol("CHAN_WIDTH")
    m_keys = list(zip(m.getcol("TIME"), m.getcol("ANTENNA1"), m.getcol("ANTENNA2")))
    im_keys = list(zip(im.getcol("TIME"), im.getcol("ANTENNA1"), im.getcol("ANTENNA2")))
    n_spw_ms = ct.table(os.path.join(ms, "SPECTRAL_WINDOW"), ack=False).nrows()
    merged = im_spw_freq.shape[0] == 1 and n_spw_ms > 1
    want_rows = len(set(m_keys)) if merged else m.nrows()
    check("rephase: the imaging MS has every row of the MS (%s)" % ("SPWs merged: one per integration and baseline"
                                                                    if merged else "one for one"),
          im.nrows() == want_rows and (not merged or len(set(im_keys)) == im.nrows()),
          "%d vs %d rows" % (im.nrows(), want_rows))
    if merged:
        check("rephase: the merged SPW holds every channel, ascending",
              bool(np.all(np.diff(im_spw_freq[0]) > 0)), "%d channels" % im_spw_freq.shape[1])
    im_row = {k: i for i, k in enumerate(im_keys)} if merged else None
    im_ddid = im.getcol("DATA_DESC_ID")
    m_width = ct.table(os.path.join(ms, "SPECTRAL_WINDOW"), ack=False).getcol("CHAN_WIDTH")
    fld = ct.table(os.path.join(ims, "FIELD"), ack=False)
    check("rephase: one FIELD", fld.nrows() == 1, "%d rows" % fld.nrows())
    pd = fld.getcol("PHASE_DIR")[0, 0]
    times = m.getcol("TIME")
    mid_jd = 0.5 * (times.min() + times.max()) / 86400.0 + 2400000.5
    t = Time([mid_jd], format="jd", scale="utc")
    hadec = SkyCoord(ha=[0.0] * u.hourangle, dec=[DEC_DEG] * u.deg,
                     frame=HADec(obstime=t, location=site_location(), pressure=0 * u.hPa))
    mer = hadec.transform_to(ICRS())
    sep = float(SkyCoord(pd[0] * u.rad, pd[1] * u.rad).separation(mer[0]).arcsec)
    check("rephase: FIELD = astropy's meridian (HA 0, Dec %.1f) at mid-group within 0.01\"" % DEC_DEG, sep < 0.01,
          "%.2e arcsec" % sep)

    rng = np.random.default_rng(3)
    a1, a2 = m.getcol("ANTENNA1"), m.getcol("ANTENNA2")
    cross = np.flatnonzero(a1 != a2)
    rows = np.sort(rng.choice(cross, size=min(300, cross.size), replace=False))
    site = site_location()
    stations = read_stations(os.path.join(data_dir, "DSA110_Station_Coordinates.csv"))
    site_xyz = np.array([site.x.to_value(u.m), site.y.to_value(u.m), site.z.to_value(u.m)])
    rel = {n - 1: itrf(*v) - site_xyz for n, v in stations.items()}
    spw_freq = ct.table(os.path.join(ms, "SPECTRAL_WINDOW"), ack=False).getcol("CHAN_FREQ")
    worst_uvw = worst_vis = worst_vis_ref = 0.0
    changed = 0
    for r in rows:
        tr = Time(times[r] / 86400.0 + 2400000.5, format="jd", scale="utc")
        tt = Time([tr.jd], format="jd", scale="utc")
        lst = lst_pyuvdata(tt, site)
        app_ra, app_dec = icrs_to_app(tt, np.array([pd[0]]), np.array([pd[1]]), site)
        pa = frame_pos_angle(tt, app_ra, app_dec, site)
        want = calc_uvw(app_ra[0], app_dec[0], pa[0], lst[0], site.lon.rad, rel, [a1[r]], [a2[r]])[0]
        ri = im_row[m_keys[r]] if merged else int(r)
        got = im.getcell("UVW", ri)
        worst_uvw = max(worst_uvw, np.linalg.norm(got - want) / np.linalg.norm(want))
        w_in = m.getcell("UVW", int(r))[2]
        f = spw_freq[m.getcell("DATA_DESC_ID", int(r))]
        vin = m.getcell("DATA", int(r)).astype(np.complex128)
        # The imaging MS's channels of this row's SPW: averaged input channels, found by frequency.
        spw_in = m.getcell("DATA_DESC_ID", int(r))
        fct_w = int(round(abs(im_spw_width[im_ddid[ri]][0]) / abs(m_width[spw_in][0])))
        f_avg = np.array([f[k:k + fct_w].mean() for k in range(0, f.size, fct_w)])
        out_f = im_spw_freq[im_ddid[ri]]
        idx = np.array([int(np.argmin(np.abs(out_f - x))) for x in f_avg])
        if np.abs(out_f[idx] - f_avg).max() > 1.0:
            raise SystemExit("rephase: channels of SPW %d not found in the imaging MS" % spw_in)
        vout = im.getcell("DATA", ri).astype(np.complex128)[idx]
        scale = np.abs(vin).max()
        # The imaging MS averages channels after re-phasing (imaging.max_channel_width_khz):
        # the expectation is averaged the same way, weighted by the unflagged weights.
        wts = np.where(m.getcell("FLAG", int(r)), 0.0, m.getcell("WEIGHT_SPECTRUM", int(r)))
        nin, nout = vin.shape[0], vout.shape[0]
        fct = -(-nin // nout)
        for w_new, which in ((got[2], "ms"), (want[2], "ref")):
            full = vin * np.exp(2j * np.pi * (w_in - w_new) * f / C)[:, None]
            expect = np.zeros_like(vout)
            for k in range(nout):
                sl = slice(k * fct, min((k + 1) * fct, nin))
                ws = wts[sl].sum(axis=0)
                expect[k] = np.where(ws > 0, (full[sl] * wts[sl]).sum(axis=0) / np.where(ws > 0, ws, 1), 0)
            d = np.abs(vout - expect).max() / scale
            if which == "ms":
                worst_vis = max(worst_vis, d)
            else:
                worst_vis_ref = max(worst_vis_ref, d)
        vin_avg = np.array([vin[k * fct:(k + 1) * fct].mean(axis=0) for k in range(nout)])
        changed += np.abs(vout - vin_avg).max() / scale > 1e-3
    check("rephase: UVW of %d sampled rows vs pyuvdata calc_uvw toward the new centre, 1e-6 relative" % rows.size,
          worst_uvw < 1e-6, "max |d|/|uvw| %.2e" % worst_uvw)
    check("rephase: DATA = DATA_in exp(+2 pi i (w_in - w_new) nu/c) (channel-averaged like the imaging MS), "
          "w_new from the imaging MS, 1e-6 relative",
          worst_vis < 1e-6 and changed > rows.size // 2,
          "max relative %.2e; %d of %d rows changed phase" % (worst_vis, changed, rows.size))
    check("rephase: the same with w_new from the astropy reference, 1e-6 relative", worst_vis_ref < 1e-6,
          "max relative %.2e" % worst_vis_ref)


def measure_peak(data, w, ra, dec, search_px):
    x0, y0 = w.celestial.world_to_pixel(SkyCoord(ra * u.deg, dec * u.deg))
    x0, y0 = int(round(float(x0))), int(round(float(y0)))
    box = data[y0 - search_px:y0 + search_px + 1, x0 - search_px:x0 + search_px + 1]
    iy, ix = np.unravel_index(np.nanargmax(box), box.shape)
    y, x = y0 - search_px + iy, x0 - search_px + ix
    # The peak between pixels: a 2-D quadratic in log(pixel) (exact for the Gaussian restoring
    # beam; with the xy term, since the beam is elongated and tilted and separate x and y
    # parabolas would slide along its major axis), fitted by least squares to the 3 x 3 pixels
    # around the brightest one; its vertex gives position and peak.
    yy, xx = np.mgrid[-1:2, -1:2]
    xx, yy = xx.ravel().astype(float), yy.ravel().astype(float)
    z = np.log(np.maximum(data[y - 1:y + 2, x - 1:x + 2].ravel().astype(float), 1e-3 * data[y, x]))
    a = np.column_stack([np.ones(9), xx, yy, xx * xx, xx * yy, yy * yy])
    c0, cx, cy, cxx, cxy, cyy = np.linalg.lstsq(a, z, rcond=None)[0]
    hess = np.array([[2 * cxx, cxy], [cxy, 2 * cyy]])
    dx, dy = np.linalg.solve(hess, [-cx, -cy]) if np.linalg.det(hess) > 0 and cxx < 0 else (0.0, 0.0)
    dx, dy = float(np.clip(dx, -1, 1)), float(np.clip(dy, -1, 1))
    pos = w.celestial.pixel_to_world(x + dx, y + dy)
    peak = math.exp(c0 + cx * dx + cy * dy + cxx * dx * dx + cxy * dx * dy + cyy * dy * dy)
    return pos, float(peak)


def fit_gaussian(data, x, y, half, floor):
    """Least-squares 2-D elliptical Gaussian A exp(-q/2), q = [dx dy] Q [dx dy]^T, fitted to the
    pixels above floor x the brightest within +-half pixels of (x, y) (the main lobe), started
    from the log-quadratic fit weighted by pixel value squared, then Gauss-Newton with step
    halving (numpy only). Returns (x0, y0, A, Q) in pixel units."""
    ys, xs = np.mgrid[y - half:y + half + 1, x - half:x + half + 1]
    z = data[y - half:y + half + 1, x - half:x + half + 1].astype(float)
    sel = np.isfinite(z) & (z > floor * data[y, x])
    xs, ys, z = (xs[sel] - x).astype(float), (ys[sel] - y).astype(float), z[sel]
    a = np.column_stack([np.ones(z.size), xs, ys, xs * xs, xs * ys, ys * ys])
    c = np.linalg.lstsq(a * z[:, None], np.log(z) * z, rcond=None)[0]
    q = np.array([[-2 * c[3], -c[4]], [-c[4], -2 * c[5]]])
    x0, y0 = np.linalg.solve(q, [c[1], c[2]])
    p = np.array([math.exp(c[0] + 0.5 * (c[1] * x0 + c[2] * y0)), x0, y0, q[0, 0], q[0, 1], q[1, 1]])

    def model(p):
        dx, dy = xs - p[1], ys - p[2]
        e = np.exp(-0.5 * (p[3] * dx * dx + 2 * p[4] * dx * dy + p[5] * dy * dy))
        return p[0] * e, e, dx, dy

    m, e, dx, dy = model(p)
    cost = float(np.sum((z - m) ** 2))
    for _ in range(50):
        jac = np.column_stack([e, m * (p[3] * dx + p[4] * dy), m * (p[4] * dx + p[5] * dy),
                               -0.5 * m * dx * dx, -m * dx * dy, -0.5 * m * dy * dy])
        step = np.linalg.lstsq(jac, z - m, rcond=None)[0]
        lam = 1.0
        while lam > 1e-4:
            trial = p + lam * step
            mt, et, dxt, dyt = model(trial)
            ct_ = float(np.sum((z - mt) ** 2))
            if ct_ <= cost:
                break
            lam *= 0.5
        if lam <= 1e-4:
            break
        done = cost - ct_ < 1e-12 * cost
        p, m, e, dx, dy, cost = trial, mt, et, dxt, dyt, ct_
        if done:
            break
    return x + p[1], y + p[2], p[0], np.array([[p[3], p[4]], [p[4], p[5]]])


def measure_flux(data, w, ra, dec, search_px, beam_area_px):
    """Integrated flux density of the source near (ra, dec): a fitted 2-D Gaussian's volume
    (A 2 pi / sqrt(det Q)) over the restoring beam's (Jy/beam -> Jy). Unlike the peak it does not
    depend on where the source falls between pixel centres (CLEAN spreads an off-grid point source
    over neighbouring pixels; convolution with the restoring beam keeps its sum, not its peak)."""
    x0, y0 = w.celestial.world_to_pixel(SkyCoord(ra * u.deg, dec * u.deg))
    x0, y0 = int(round(float(x0))), int(round(float(y0)))
    box = data[y0 - search_px:y0 + search_px + 1, x0 - search_px:x0 + search_px + 1]
    iy, ix = np.unravel_index(np.nanargmax(box), box.shape)
    y, x = y0 - search_px + iy, x0 - search_px + ix
    half = int(math.ceil(math.sqrt(beam_area_px))) + 4
    xf, yf, amp, q = fit_gaussian(data, x, y, half, 0.2)
    return w.celestial.pixel_to_world(xf, yf), amp * 2 * math.pi / math.sqrt(np.linalg.det(q)) / beam_area_px


def apparent_factor(ra, dec, ms):
    """Mean over integrations and SPW centres of the Airy power at the source's distance from the
    meridian pointing (HA 0, DEC_DEG), from astropy's HADec of the source."""
    times = np.unique(ct.table(ms, ack=False).getcol("TIME"))
    t = Time(times / 86400.0 + 2400000.5, format="jd", scale="utc")
    frame = HADec(obstime=t, location=site_location(), pressure=0 * u.hPa)
    hd = SkyCoord(np.full(t.size, ra) * u.deg, np.full(t.size, dec) * u.deg, frame="icrs").transform_to(frame)
    point = SkyCoord(ha=np.zeros(t.size) * u.hourangle, dec=np.full(t.size, DEC_DEG) * u.deg, frame=frame)
    theta = hd.separation(point).rad
    freqs = ct.table(os.path.join(ms, "SPECTRAL_WINDOW"), ack=False).getcol("CHAN_FREQ").mean(axis=1)
    per_time = np.array([np.mean([airy_power(th, f) for f in freqs]) for th in theta])
    return float(per_time.mean()), float(per_time[0])


def data_checks(ims, ms, found):
    """Independent of WSClean and of our PB code: the six sources' apparent flux densities fitted
    directly to the imaging MS's visibilities (per integration, jointly, by linear least squares
    at the positions found in the image; model S exp(+2 pi i nu/c (u l + v m + w (n - 1))),
    Stokes I = (XX + YY) / 2, natural weights), then averaged over the integrations, against
    truth x the astropy time-averaged Airy power; and pb.fits against the same average."""
    t = ct.table(ims, ack=False)
    ra0, dec0 = ct.table(os.path.join(ims, "FIELD"), ack=False).getcol("PHASE_DIR")[0, 0]
    freqs = ct.table(os.path.join(ims, "SPECTRAL_WINDOW"), ack=False).getcol("CHAN_FREQ")
    lmn = []
    for _, pos, _, _, _ in found:
        a, d = pos.ra.rad, pos.dec.rad
        l = math.cos(d) * math.sin(a - ra0)
        m = math.sin(d) * math.cos(dec0) - math.cos(d) * math.sin(dec0) * math.cos(a - ra0)
        lmn.append((l, m, math.sqrt(1 - l * l - m * m) - 1))
    lmn = np.array(lmn)
    times, a1, a2 = t.getcol("TIME"), t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
    ddid, uvw = t.getcol("DATA_DESC_ID"), t.getcol("UVW")
    data, flag = t.getcol("DATA"), t.getcol("FLAG")
    spw = ct.table(os.path.join(ims, "DATA_DESCRIPTION"), ack=False).getcol("SPECTRAL_WINDOW_ID")
    utimes = np.unique(times)
    per = np.zeros((utimes.size, len(found)))
    for k, tk in enumerate(utimes):
        r = np.flatnonzero((times == tk) & (a1 != a2))
        f = freqs[spw[ddid[r]]]
        ph = 2 * np.pi / C * (uvw[r] @ lmn.T)[:, None, :] * f[:, :, None]
        a = np.exp(1j * ph).reshape(-1, len(found))
        v = data[r].mean(axis=2).reshape(-1)
        ok = ~flag[r].any(axis=2).reshape(-1)
        a, v = a[ok], v[ok]
        per[k] = np.linalg.solve(np.real(a.conj().T @ a), np.real(a.conj().T @ v))
    worst_data = worst_pb = 0.0
    details = []
    for j, (src, _, app, mean_pb, pb) in enumerate(found):
        fit = float(per[:, j].mean())
        want = src["flux_jy"] * mean_pb
        worst_data = max(worst_data, abs(fit / want - 1))
        worst_pb = max(worst_pb, abs(pb / mean_pb - 1))
        details.append("%s %+.2f%% (image %+.2f%%)" % (src["name"], 100 * (fit / want - 1), 100 * (app / fit - 1)))
    check("data: source fluxes fitted to the imaging MS's visibilities = truth x time-averaged Airy power, 1 %",
          worst_data < 0.01, "; ".join(details))
    check("pb: pb.fits at the sources = the astropy time- and SPW-averaged Airy power, 0.5 %", worst_pb < 0.005,
          "max %.3f %%" % (100 * worst_pb))


def psf_lobe_fit(path):
    """FWHM major, minor (arcsec) and PA (deg, east of north) of WSClean's PSF main lobe:
    log-quadratic least squares over the pixels above 0.35 reached from the peak downhill."""
    with fits.open(path) as hdul:
        d = hdul[0].data.squeeze()
        cell = abs(hdul[0].header["CDELT2"]) * 3600
    cy, cx = np.unravel_index(int(np.argmax(d)), d.shape)
    seen, todo, pts = {(0, 0)}, [(0, 0)], []
    while todo:
        x, y = todo.pop()
        if (x, y) != (0, 0):
            pts.append((x, y, d[cy + y, cx + x]))
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nx, ny = x + dx, y + dy
            if (nx, ny) not in seen and 0.35 < d[cy + ny, cx + nx] <= d[cy + y, cx + x]:
                seen.add((nx, ny))
                todo.append((nx, ny))
    a = np.array([[x * x, x * y, y * y] for x, y, _ in pts])
    t = np.array([-math.log(p) for _, _, p in pts])
    wt = np.array([p for _, _, p in pts])
    q = np.linalg.lstsq(a * wt[:, None], t * wt, rcond=None)[0]
    ev, vec = np.linalg.eigh(np.array([[q[0], q[1] / 2], [q[1] / 2, q[2]]]))
    fwhm = 2 * np.sqrt(math.log(2) / ev) * cell
    pa = math.degrees(math.atan2(-vec[0, 0], vec[1, 0])) % 180  # image x points west
    return float(fwhm[0]), float(fwhm[1]), pa


def psf_lobe_check(psf, wsclean):
    """The automatic cell comes from the beam predicted before WSClean runs: it must be the
    main lobe of the PSF WSClean then makes (docs/imaging.md, cell size)."""
    pred = wsclean.get("predicted_beam")
    if pred is None:
        check("cell: the beam was predicted for the automatic cell", False, "no predicted_beam in the JSON")
        return
    bmaj, bmin, pa = psf_lobe_fit(psf)
    dpa = abs((pred["bpa_deg"] - pa + 90) % 180 - 90)
    check("cell: predicted beam = WSClean's PSF main lobe (axes within 10 %, PA within 10 deg)",
          abs(pred["bmaj_arcsec"] / bmaj - 1) < 0.10 and abs(pred["bmin_arcsec"] / bmin - 1) < 0.10 and dpa < 10,
          "predicted %.1f\" x %.1f\" PA %.0f; PSF lobe %.1f\" x %.1f\" PA %.0f; cell %.1f\" (%.1f px across the minor axis)" % (
              pred["bmaj_arcsec"], pred["bmin_arcsec"], pred["bpa_deg"], bmaj, bmin, pa,
              wsclean["cell_arcsec"], bmin / wsclean["cell_arcsec"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "data"))
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args()
    if shutil.which("wsclean") is None:
        print("SKIP wsclean is not installed")
        return 77
    warnings.simplefilter("ignore", FITSFixedWarning)
    data_dir = os.path.abspath(args.data)
    configure_astropy(data_dir)
    work = os.path.abspath(args.workdir)
    sets = ["--set", "paths.data_dir=" + data_dir, "--set", "paths.state_db=" + os.path.join(work, "state.sqlite3"),
            "--set", "paths.scratch_dir=" + os.path.join(work, "scratch")]
    state_file = os.path.join(work, "state.json")
    if args.reuse and os.path.exists(state_file):
        with open(state_file) as f:
            st = json.load(f)
    else:
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        t0 = time.time()
        st = prepare(os.path.abspath(args.contimg), work, sets)
        print("simulated and converted in %.1f s: %s" % (time.time() - t0, st["ms"]), flush=True)
        t0 = time.time()
        out = run([os.path.abspath(args.contimg), "--progress", "quiet"] + sets +
                  ["--json", "image", st["ms"], "--out", os.path.join(work, "products"), "--keep-ms"] + IMAGE_ARGS)
        st["image"] = json.loads(out.stdout)
        st["image_seconds"] = time.time() - t0
        with open(state_file, "w") as f:
            json.dump(st, f)
    res = st["image"]
    print("imaged in %.1f s (re-phase %.1f s, WSClean %.1f s, PB %.1f s); %d x %d px of %.1f\"" % (
        st.get("image_seconds", 0), res["rephase"]["seconds"], res["wsclean"]["seconds"], res["seconds_pb"],
        res["wsclean"]["size_px"], res["wsclean"]["size_px"], res["wsclean"]["cell_arcsec"]), flush=True)
    prod = res["products"]
    # The kept imaging MS of the CLEANed image holds DATA drift-corrected (with
    # imaging.drift_subtract, its central bright sources subtracted; docs/imaging.md 3a); the
    # re-phase is checked on the imaging MS of a --niter 0 run (no CLEAN, no correction), which also
    # covers the dirty-image regression below.
    sets0 = sets + ["--set", "paths.state_db=" + os.path.join(work, "state-niter0.sqlite3")]  # its own images row
    out0 = run([os.path.abspath(args.contimg), "--progress", "quiet"] + sets0 +
               ["--json", "image", st["ms"], "--out", os.path.join(work, "products-niter0"), "--keep-ms",
                "--niter", "0", "--field", "1", "--cell", "20", "--threads", "2"])
    prod0 = json.loads(out0.stdout)["products"] if out0.returncode == 0 else {}
    rephase_checks(st["ms"], prod0.get("imaging_ms", ""), data_dir)
    drift = res.get("drift", {})
    with fits.open(prod["image"]) as hdul:
        driftcmp = hdul[0].header.get("DRIFTCMP", 0)
    check("drift correction: the six sources' components corrected, recorded in the header",
          drift.get("components", 0) >= 6 and driftcmp == drift.get("components"),
          "%s components, DRIFTCMP %s" % (drift.get("components"), driftcmp))

    # FITS products and headers.
    group = res["group_id"]
    for kind in ("image", "residual", "model", "psf", "pb", "pbcor"):
        path = prod[kind]
        with fits.open(path) as hdul:
            h = hdul[0].header
            w = WCS(h)
            missing = [k for k in ("BMAJ", "BMIN", "BPA", "CRVAL3", "DATE-OBS", "GROUPID", "CONTIMGV") if k not in h]
            ok = w.has_celestial and not missing and h["GROUPID"] == group and hdul[0].data is not None
            check("fits: astropy opens %s with a celestial WCS and the header keys" % kind, ok,
                  "%s; missing %s; CTYPE %s/%s; CRVAL3 %.6g Hz; DATE-OBS %s; CONTIMGV %s; BMAJ %.1f\"" % (
                      os.path.basename(path), missing or "none", h.get("CTYPE1"), h.get("CTYPE2"),
                      h.get("CRVAL3", float("nan")), h.get("DATE-OBS"), h.get("CONTIMGV"),
                      h.get("BMAJ", float("nan")) * 3600))
    check("products: quick-look PNG and WSClean log beside the FITS",
          os.path.getsize(prod["quicklook"]) > 1000 and os.path.getsize(prod["wsclean_log"]) > 0,
          "%d bytes PNG" % os.path.getsize(prod["quicklook"]))
    leftovers = [p for p in glob.glob(os.path.join(os.path.dirname(prod["image"]), ".*")) if "image-" in p]
    check("products: no staging directory left", not leftovers, str(leftovers))

    psf_lobe_check(prod["psf"], res["wsclean"])

    # Positions and fluxes. Each source: position from the sub-pixel peak, flux density from a
    # fitted 2-D Gaussian's volume over the beam's (the peak pixel value of a restored image loses
    # up to ~7 % for a point source between pixel centres with this narrow beam: docs/imaging.md).
    with open(st["truth"]) as f:
        truth = json.load(f)
    rms = res["qa"]["rms_jy"]
    pbcor = fits.getdata(prod["pbcor"])[0, 0]
    image = fits.getdata(prod["image"])[0, 0]
    pbimg = fits.getdata(prod["pb"])[0, 0]
    hdr = fits.getheader(prod["image"])
    w = WCS(fits.getheader(prod["pbcor"]))
    cell = res["wsclean"]["cell_arcsec"]
    beam_area_px = math.pi * hdr["BMAJ"] * hdr["BMIN"] * 3600.0 ** 2 / (4 * math.log(2) * cell * cell)
    search = max(3, int(round(30.0 / cell)))
    found = []
    for src in truth["sky"]["sources"]:
        true = SkyCoord(src["ra_deg"] * u.deg, src["dec_deg"] * u.deg)
        pos, peak = measure_peak(pbcor, w, src["ra_deg"], src["dec_deg"], search)
        sep = float(pos.separation(true).arcsec)
        check("position: %s (%.2f deg from the centre) within 2\" of truth" % (
            src["name"], true.separation(SkyCoord(st["centre"][0] * u.deg, st["centre"][1] * u.deg)).deg),
            sep < 2.0, "%.2f\" (cell %.1f\")" % (sep, cell))
        _, flux = measure_flux(pbcor, w, src["ra_deg"], src["dec_deg"], search, beam_area_px)
        app_pos, app = measure_flux(image, w, src["ra_deg"], src["dec_deg"], search, beam_area_px)
        snr = app / rms
        rel = flux / src["flux_jy"] - 1
        check("flux: %s PB-corrected flux density (2-D Gaussian fit) within 5%% of %.2f Jy (%.0f sigma)" % (
            src["name"], src["flux_jy"], snr), snr <= 50 or abs(rel) < 0.05,
            "%.4f Jy (%+.2f %%); peak pixel (sub-pixel) %.4f Jy/beam (%+.2f %%)" % (
                flux, 100 * rel, peak, 100 * (peak / src["flux_jy"] - 1)))
        mean_pb, first_pb = apparent_factor(src["ra_deg"], src["dec_deg"], st["ms"])
        px, py = w.celestial.world_to_pixel(app_pos)
        found.append((src, app_pos, app, mean_pb, float(pbimg[int(round(float(py))), int(round(float(px)))])))
        if src["name"] == "late":
            want = src["flux_jy"] * mean_pb
            check("drift: the late-transit source's apparent flux = truth x beam averaged over all 24 integrations",
                  abs(app / want - 1) < 0.05,
                  "%.4f Jy vs %.4f Jy predicted (%+.2f %%); the first integration alone would give %.4f Jy" % (
                      app, want, 100 * (app / want - 1), src["flux_jy"] * first_pb))
    # The data checks read the --niter 0 run's imaging MS too: the raw re-phased visibilities.
    data_checks(prod0.get("imaging_ms", ""), st["ms"], found)

    db = sqlite3.connect(os.path.join(work, "state.sqlite3"))
    rowsdb = db.execute("SELECT rms_jy, peak_jy, dynamic_range, bmaj_arcsec FROM images WHERE group_id = ?",
                        (group,)).fetchall()
    check("state: one images row with the printed QA", len(rowsdb) == 1 and abs(rowsdb[0][0] - rms) < 1e-12,
          "%s" % (rowsdb,))

    # Regression: --niter 0 (a dirty image) failed because WSClean then writes no residual,
    # model or PSF. A small, coarse image keeps it quick (run above).
    ok = out0.returncode == 0 and all(os.path.exists(prod0.get(k, "")) for k in ("image", "residual", "model", "psf"))
    detail = "exit %d %s" % (out0.returncode, out0.stderr[-300:] if out0.returncode else "")
    if ok:
        img0, res0, mod0 = (fits.getdata(prod0[k]) for k in ("image", "residual", "model"))
        ok = np.array_equal(img0, res0) and not np.any(mod0) and "BMAJ" in fits.getheader(prod0["image"])
        detail = "residual = image: %s; model all zero: %s; BMAJ %.1f\"" % (
            np.array_equal(img0, res0), not np.any(mod0), fits.getheader(prod0["image"]).get("BMAJ", 0) * 3600)
    check("niter 0: a dirty image with every product (residual = image, empty model, PSF, beam)", ok, detail)
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"] + 1))
        sys.exit(1)
