#!/usr/bin/python3
"""Recompute contimg's light-curve statistics from the stored measurements (issue 15).

Independent of contimg's code: reads the `measurements` and `sources` tables of a
state database with sqlite3 and evaluates the formulas of docs/science-products.md
with numpy, two-pass (no running sums):

  xi = sum(w S) / sum(w), sigma_xi = sum(w)^-1/2, w = 1/sigma^2
  eta = 1/(N-1) sum w (S - xi)^2
  V = std(S, ddof=1) / mean(S)
  Vs, m of the (brightest, faintest) pair; also the true max-|Vs| pair over all pairs.

Usage: lightcurve_stats.py STATE_DB [--source NAME]   -> JSON {name: {...}} on stdout
"""
import argparse
import json
import sqlite3
import sys

import numpy as np


def stats(s, e):
    s = np.asarray(s, float)
    e = np.asarray(e, float)
    w = 1.0 / e**2
    n = len(s)
    out = {"n": n, "mean_flux": float(s.mean()), "xi": float((w * s).sum() / w.sum()),
           "xi_err": float(w.sum() ** -0.5)}
    if n < 2:
        out.update(eta=0.0, v=0.0, vs=0.0, m=0.0, vs_max_pair=0.0)
        return out
    out["eta"] = float((w * (s - out["xi"]) ** 2).sum() / (n - 1))
    out["v"] = float(s.std(ddof=1) / s.mean()) if s.mean() != 0 else 0.0
    hi, lo = int(np.argmax(s)), int(np.argmin(s))
    out["vs"] = float((s[hi] - s[lo]) / np.hypot(e[hi], e[lo]))
    out["m"] = float(2 * (s[hi] - s[lo]) / (s[hi] + s[lo])) if s[hi] + s[lo] != 0 else 0.0
    d = np.abs(s[:, None] - s[None, :]) / np.hypot(e[:, None], e[None, :])
    out["vs_max_pair"] = float(d.max())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("state_db")
    ap.add_argument("--source")
    a = ap.parse_args()
    db = sqlite3.connect(f"file:{a.state_db}?mode=ro", uri=True)
    q = ("SELECT s.name, m.flux_jy, m.flux_err_jy FROM measurements m JOIN sources s USING (source_id) "
         + ("WHERE s.name = ? " if a.source else "") + "ORDER BY s.name, m.mjd")
    rows = db.execute(q, (a.source,) if a.source else ()).fetchall()
    by = {}
    for name, f, e in rows:
        if e > 0 and np.isfinite(f) and np.isfinite(e):
            by.setdefault(name, ([], []))
            by[name][0].append(f)
            by[name][1].append(e)
    json.dump({k: stats(*v) for k, v in by.items()}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
