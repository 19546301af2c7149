#!/usr/bin/python3
"""Channel averaging of the imaging MS, read back with python-casacore.

  /usr/bin/python3 imaging_average_check.py --contimg BIN --workdir DIR

A tiny simulated group (4 channels of 244 kHz per subband, noise, gains) is
imaged twice with `--keep-ms`: with imaging.max_channel_width_khz = 0 (native
channels) and with the default 1000 kHz (4 channels into 1). The averaged
imaging MS must hold, per row and correlation, the weight-weighted mean of
the unflagged native samples, weights summed, flags where none is left, the
mean channel frequency and the summed width, and the same UVW.
"""
import argparse
import os
import shutil
import subprocess
import sys

import casacore.tables as ct
import numpy as np

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def run(cmd, env):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-2000:] + p.stderr[-3000:])
        sys.exit(f"command failed ({p.returncode}): {' '.join(map(str, cmd))}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    if shutil.which("wsclean") is None:
        print("wsclean not installed: skipped")
        sys.exit(77)
    w = a.workdir
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
    env["CONTIMG_PATHS_STATE_DB"] = os.path.join(w, "state.sqlite")
    env["CONTIMG_PATHS_SCRATCH_DIR"] = os.path.join(w, "scratch")
    env["CONTIMG_PATHS_STAGE_DIR"] = os.path.join(w, "stage")
    c = a.contimg
    run([c, "--progress", "quiet", "simulate", f"{w}/raw", "--size", "tiny", "--nants", "12", "--ntimes", "4",
         "--random-sources", "3", "--noise", "1", "--start", "2025-01-01T12:00:00"], env)
    run([c, "--progress", "quiet", "convert", f"{w}/raw", f"{w}/ms", "2025-01-01T11:59:00", "2025-01-01T12:01:00"], env)
    ms = f"{w}/ms/2025-01-01T12:00:00.ms"
    # Flag a few samples so that averaging must skip them, and one whole group of 4.
    with ct.table(ms, readonly=False, ack=False) as t:
        f = t.getcol("FLAG")
        f[::7, 1, 0] = True
        f[5, :, 1] = True
        t.putcol("FLAG", f)
    for name, width in (("native", "0"), ("averaged", "1000")):
        run([c, "--progress", "quiet", "--set", f"imaging.max_channel_width_khz={width}", "image", ms,
             "--out", f"{w}/{name}", "--keep-ms", "--niter", "1", "--cell", "30", "--field", "0.5"],
            env)
    g = "2025-01-01T12:00:00"  # the group the MS was registered with (--group may not contradict it)
    with ct.table(f"{w}/native/{g}/{g}.imaging.ms", ack=False) as na, \
            ct.table(f"{w}/averaged/{g}/{g}.imaging.ms", ack=False) as av:
        d, wt, fl = na.getcol("DATA"), na.getcol("WEIGHT_SPECTRUM"), na.getcol("FLAG")
        da, wa, fa = av.getcol("DATA"), av.getcol("WEIGHT_SPECTRUM"), av.getcol("FLAG")
        # Both imaging MSs hold one SPW (imaging.merge_spws): the 16 subbands' channels in
        # frequency order, so every 4 consecutive native channels make one averaged channel.
        nout = da.shape[1]
        check(nout == 16 and d.shape[1] == 4 * nout, f"4 native channels into 1 per subband: {d.shape} -> {da.shape}")
        wm = np.where(fl, 0.0, wt).reshape(d.shape[0], nout, 4, d.shape[2])
        ws = wm.sum(axis=2)
        mean = (d.reshape(wm.shape) * wm).sum(axis=2) / np.where(ws > 0, ws, 1)
        ok = ~fa
        rel = np.abs(mean[ok] - da[ok]).max() / np.abs(da[ok]).max()
        check(rel < 1e-6, f"DATA = weighted mean of the unflagged samples (max rel. diff {rel:.2e})")
        check(np.allclose(ws, wa, rtol=1e-6), "WEIGHT_SPECTRUM = sum of the unflagged weights")
        check(np.array_equal(fa, ws == 0) and fa[5, 0, 1], "FLAG exactly where no sample is left (row 5, YY)")
        check(np.array_equal(na.getcol("UVW"), av.getcol("UVW")), "UVW unchanged")
        with ct.table(na.getkeyword("SPECTRAL_WINDOW"), ack=False) as sn, \
             ct.table(av.getkeyword("SPECTRAL_WINDOW"), ack=False) as sa:
            check(np.allclose(sn.getcol("CHAN_FREQ").reshape(-1, 4).mean(axis=1), sa.getcol("CHAN_FREQ")[0]),
                  "CHAN_FREQ = mean of the 4")
            check(np.allclose(sn.getcol("CHAN_WIDTH").reshape(-1, 4).sum(axis=1), sa.getcol("CHAN_WIDTH")[0]),
                  "CHAN_WIDTH = sum of the 4 (976.6 kHz)")
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


main()
