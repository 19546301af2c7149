#!/usr/bin/python3
"""Before/after quick-look of the drift correction (docs/imaging.md 3a): the same sky cut out of
two restored images (e.g. tests/tools/drift_check.py's products-off and products-on), side by
side, on one grey scale (asinh, median - 3 sigma ... `--vmax-sigma` sigma of the noise of the
first image), as a PNG written with the standard library (no plotting package needed).

  /usr/bin/python3 bench/drift_quicklook.py OFF.image.fits ON.image.fits out.png [--size 900] [--vmax-sigma 40] [--bin 2]

The cut-out is the central SIZE x SIZE pixels, binned BIN x BIN; a 4-pixel white gap separates the
two panels (left: first image).
"""
import argparse
import struct
import zlib

import numpy as np
from astropy.io import fits


def robust_sigma(a):
    a = a[np.isfinite(a)]
    return 1.4826 * np.median(np.abs(a - np.median(a)))


def write_png(path, grey):
    h, w = grey.shape
    raw = b"".join(b"\x00" + grey[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=900)
    ap.add_argument("--vmax-sigma", type=float, default=40)
    ap.add_argument("--bin", type=int, default=2, help="average BIN x BIN pixels")
    args = ap.parse_args()
    cuts = []
    for path in (args.first, args.second):
        img = fits.getdata(path).squeeze().astype(np.float64)
        ny, nx = img.shape
        y0, x0 = (ny - args.size) // 2, (nx - args.size) // 2
        c = img[y0:y0 + args.size, x0:x0 + args.size]
        c = c[: c.shape[0] // args.bin * args.bin, : c.shape[1] // args.bin * args.bin]
        cuts.append(c.reshape(c.shape[0] // args.bin, args.bin, c.shape[1] // args.bin, args.bin).mean(axis=(1, 3)))
    sigma = robust_sigma(cuts[0])
    lo, hi = np.median(cuts[0]) - 3 * sigma, args.vmax_sigma * sigma
    scale = np.arcsinh((hi - lo) / sigma)
    panels = []
    for c in cuts:
        v = np.arcsinh(np.clip(c - lo, 0, hi - lo) / sigma) / scale
        panels.append((255 * v).astype(np.uint8)[::-1])  # FITS row 0 is the bottom
    gap = np.full((panels[0].shape[0], 4), 255, np.uint8)
    write_png(args.out, np.ascontiguousarray(np.hstack([panels[0], gap, panels[1]])))
    print("%s: %d x %d px, sigma %.3g Jy/beam (binned), stretch %.3g .. %.3g Jy/beam" % (
        args.out, panels[0].shape[1] * 2 + 4, panels[0].shape[0], sigma, lo, hi))


if __name__ == "__main__":
    main()
