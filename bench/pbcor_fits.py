#!/usr/bin/python3
"""Divides an image by a primary beam as contimg's pbcor does (NaN where the
beam is below CUT x its peak): for benchmarks that validate an image WSClean
made outside contimg on contimg's grid.

    bench/pbcor_fits.py IMAGE.fits PB.fits OUT.fits [--cut 0.2]
"""
import argparse

import numpy as np
from astropy.io import fits

ap = argparse.ArgumentParser()
ap.add_argument("image")
ap.add_argument("pb")
ap.add_argument("out")
ap.add_argument("--cut", type=float, default=0.2, help="imaging.pb_cutoff")
a = ap.parse_args()
with fits.open(a.image) as h, fits.open(a.pb) as p:
    img = h[0].data.astype(np.float64)
    pb = p[0].data.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(pb >= a.cut * np.nanmax(pb), img / pb, np.nan)
    fits.writeto(a.out, c.astype(np.float32), h[0].header, overwrite=True)
