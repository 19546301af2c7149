#!/usr/bin/python3
"""The group -> Measurement Set converter checked end to end with independent clients.

  /usr/bin/python3 convert_check.py --contimg BIN --data REPO/data --workdir DIR
                                    [--only a,b,...] [--reuse]

Simulates tiny groups with `contimg simulate`, converts them with `contimg convert-files` /
`contimg convert`, and reads the result with python-casacore, h5py and astropy only (no
contimg code). Sections (SPEC §3, §4, issue 3 acceptance):

  a  structure   the MS opens; every subtable (ANTENNA FEED FIELD OBSERVATION POLARIZATION
                 SPECTRAL_WINDOW DATA_DESCRIPTION SOURCE POINTING HISTORY PROCESSOR STATE
                 FLAG_CMD); casacore's required columns with type and ndim; every column
                 reads; cell shapes; 16 SPWs ascending at the SPEC frequencies
                 f = 1498643188.4765625 - (nchan*k + j) * 244140.625 Hz; CORR_TYPE [9, 12];
                 FIELD names meridian_icrs_tN and FIELD_ID per integration; TIME = the
                 integration centres of the truth file; INTERVAL = EXPOSURE = 12.884902;
                 autocorrelations; ANTENNA positions within 5 cm of the station table
                 (astropy EarthLocation, WGS84); OBSERVATION DSA_110; HISTORY.
  b  round trip  every row of every SPW against h5py: DATA = visdata with channels reversed,
                 WEIGHT_SPECTRUM = nsamples, FLAG = flags (the inputs get random flags and
                 nsamples first, so the comparison means something), WEIGHT = median,
                 SIGMA, FLAG_ROW; row count = 16 x Nblts; ANTENNA1/2 = station - 1; the same
                 with --merge-spws (one SPW of 16 x nchan channels).
  c  astrometry  FIELD PHASE_DIR vs astropy SkyCoord(HADec ha=0, dec=pointing, pressure 0)
                 -> ICRS on OUR IERS table, all 24 integrations, 0.01"; UVW of every row vs
                 pyuvdata's calc_uvw (ant2 - ant1) re-implemented on pyERFA, 1 mm.
  d  incomplete  13 of 16 subbands: refused by default (exit 3, "incomplete", no MS); with
                 --allow-incomplete 16 SPWs with the missing ones fully flagged at their
                 frequencies; below grouping.min_subbands refused even then; --dry-run
                 writes nothing.
  e  bad input   truncated file, missing Data/visdata, frequency axis shifted by 1 MHz (a
                 middle subband and the first one), corrupt compressed chunk (fails while
                 the MS is being written), odd file name, duplicate subband (newest by mtime
                 kept, warning): clear message naming the file, non-zero exit, no MS at the
                 output path, no .contimg-tmp-* left in the output or staging directory.
  f  batch       `contimg convert` over four groups, two corrupted: those fail with the file
                 named, the others convert, exit 1, state DB records; after re-simulating
                 the bad files a --skip-existing rerun converts them and skips the others.
  g  kill -9     a conversion killed while writing (staging in tmpfs, and beside the
                 output): no MS at the output path; a rerun converts; the dead process's
                 .contimg-tmp-<pid>-* staging directory is swept.
  h  disk full   output (and staging) on a 1 MiB tmpfs: a clean IoError saying so (exit 4),
                 no crash, no partial MS, nothing left behind; in a batch the group that does
                 not fit fails and a small one after it converts. SKIP lines when a tmpfs
                 cannot be mounted (not root).

Staging uses a private directory in /dev/shm (paths.tmpfs_dir), removed at the end.
--reuse keeps the main group's MS from a previous run (to re-check an MS edited by hand).
One line per check, then "N passed, M failed" alone on the last line; exit status 1 when a
check failed or none ran.
"""
import argparse
import datetime as dt
import glob
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
import warnings

import numpy as np
import h5py
import casacore.tables as ct
import erfa
from astropy import units as u
from astropy.coordinates import ICRS, EarthLocation, HADec, SkyCoord
from astropy.time import Time
from pyuvdata_reference import (DSA117_HEIGHT, calc_uvw as pyuvdata_uvw, configure_astropy, frame_pos_angle,
                                icrs_to_app, itrf, lst_pyuvdata, read_stations)

NSB = 16
F0_HZ = 1498643188.4765625      # SPEC §2: sb00 channel 0
DF_HZ = 244140.625
INTEGRATION_S = 12.884902
SITE = dict(lat=37.2314, lon=-118.2817, height=1222.0)
TOL_DIRECTION_ARCSEC = 0.01     # SPEC §4
TOL_UVW_M = 1e-3                # SPEC §4
TOL_ANTENNA_M = 0.05            # SPEC §4 verification
TOL_TIME_S = 1e-4               # JD doubles resolve ~40 us
RAD2ARCSEC = 180.0 / math.pi * 3600.0
SUBTABLES = ("ANTENNA", "FEED", "FIELD", "OBSERVATION", "POLARIZATION", "SPECTRAL_WINDOW",
             "DATA_DESCRIPTION", "SOURCE", "POINTING", "HISTORY", "PROCESSOR", "STATE",
             "FLAG_CMD")
TMP_PREFIX = ".contimg-tmp-"


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn):
        """fn() returns a list of problems, or (problems, detail)."""
        detail = ""
        try:
            out = fn()
            problems, detail = out if isinstance(out, tuple) else (out, "")
        except Exception as exc:  # a crash is that check's failure, not the run's
            problems = ["exception: %s" % exc] + traceback.format_exc(limit=4).splitlines()
        if problems:
            self.failed += 1
            print("FAIL %s%s" % (name, (": " + detail) if detail else ""), flush=True)
            for p in problems[:15]:
                print("     %s" % p)
            if len(problems) > 15:
                print("     ... %d more" % (len(problems) - 15))
        else:
            self.passed += 1
            print("PASS %s%s" % (name, (": " + detail) if detail else ""), flush=True)
        return not problems

    def skip(self, name, why):
        print("SKIP %s: %s" % (name, why), flush=True)


C = Checker()


# ----------------------------------------------------------------------------- running contimg

class Contimg:
    def __init__(self, binary, data, work, tmpfs):
        self.binary = binary
        self.data = data
        self.tmpfs = tmpfs
        self.globals = ["--progress", "quiet",
                        "--set", "paths.data_dir=" + data,
                        "--set", "paths.tmpfs_dir=" + tmpfs,
                        "--set", "paths.stage_dir=" + os.path.join(work, "stage-tier"),
                        "--set", "paths.scratch_dir=" + os.path.join(work, "stage-tier", "scratch")]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
        self.env.pop("HDF5_PLUGIN_PATH", None)

    def cmd(self, sub, args, json_out=True, sets=()):
        c = [self.binary] + self.globals
        for s in sets:
            c += ["--set", s]
        if json_out:
            c.append("--json")
        return c + [sub] + list(args)

    def run(self, sub, args, json_out=True, sets=(), timeout=300):
        p = subprocess.run(self.cmd(sub, args, json_out, sets), capture_output=True, text=True,
                           env=self.env, timeout=timeout)
        p.json = None
        if json_out and p.stdout.strip().startswith("{"):
            try:
                p.json = json.loads(p.stdout)
            except ValueError:
                pass
        return p

    def popen(self, sub, args, sets=()):
        return subprocess.Popen(self.cmd(sub, args, True, sets), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)

    def simulate(self, out_dir, *args):
        p = self.run("simulate", [out_dir] + [str(a) for a in args], timeout=300)
        if p.returncode != 0 or not p.json:
            raise RuntimeError("simulate %s failed (exit %d): %s" % (out_dir, p.returncode,
                                                                     p.stderr.strip()[-2000:]))
        return p.json

    def stage_parent(self):
        return os.path.join(self.tmpfs, "contimg-staging")


def subband_of(path):
    m = re.search(r"_sb(\d\d)\.hdf5$", path)
    return int(m.group(1)) if m else None


def leftovers(*dirs):
    out = []
    for d in dirs:
        if os.path.isdir(d):
            out += [os.path.join(d, n) for n in os.listdir(d) if n.startswith(TMP_PREFIX)]
    return out


def ms_paths(d):
    return sorted(glob.glob(os.path.join(d, "*.ms"))) if os.path.isdir(d) else []


def tail(text, n=600):
    text = (text or "").strip()
    return text if len(text) <= n else "..." + text[-n:]


# ----------------------------------------------------------------------------- reading

def open_table(ms, name="MAIN", readonly=True):
    return ct.table(ms if name == "MAIN" else os.path.join(ms, name), ack=False,
                    readonly=readonly)


def read_h5(path):
    with h5py.File(path, "r") as h:
        d = {
            "vis": h["Data/visdata"][()][:, 0],      # (Nblts, nchan, npol) complex64
            "flags": h["Data/flags"][()][:, 0],
            "nsamples": h["Data/nsamples"][()][:, 0],
            "time": h["Header/time_array"][()],
            "ant1": h["Header/ant_1_array"][()].astype(int),
            "ant2": h["Header/ant_2_array"][()].astype(int),
            "freq": np.ravel(h["Header/freq_array"][()]),
            "nblts": int(h["Header/Nblts"][()]),
            "dec": float(h["Header/extra_keywords/phase_center_dec"][()]),
        }
    if d["vis"].dtype.names:  # compound {r, i} not mapped by h5py
        d["vis"] = d["vis"]["r"] + 1j * d["vis"]["i"]
    return d


def spw_of_subband(k):
    return NSB - 1 - k


def spec_freqs(k, nchan):
    """Ascending channel centres of subband k (SPEC §2)."""
    return np.sort(F0_HZ - (nchan * k + np.arange(nchan)) * DF_HZ)


def ms_main(ms):
    t = open_table(ms)
    m = {c: t.getcol(c) for c in ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID",
                                   "UVW", "DATA", "FLAG", "WEIGHT_SPECTRUM", "WEIGHT", "SIGMA",
                                   "FLAG_ROW", "INTERVAL", "EXPOSURE", "TIME_CENTROID")}
    m["nrows"] = t.nrows()
    return m


def time_index(ms_time, centres_mjd_s):
    """Index of each MS TIME among the integration centres (-1 when none is within 1 ms)."""
    centres = np.asarray(centres_mjd_s)
    idx = np.abs(ms_time[:, None] - centres[None, :]).argmin(axis=1)
    bad = np.abs(ms_time - centres[idx]) > 1e-3
    idx[bad] = -1
    return idx


def compare_subband(m, rows, h, label, nchan, problems):
    """MS rows (one SPW) against one h5 file, matched by (integration, ant1, ant2)."""
    h_times = np.unique(h["time"])
    h_mjd = (h_times - 2400000.5) * 86400.0
    h_t = np.searchsorted(h_times, h["time"])
    key_h = {(int(t), int(a), int(b)): r for r, (t, a, b) in
             enumerate(zip(h_t, h["ant1"], h["ant2"]))}
    ti = time_index(m["TIME"][rows], h_mjd)
    keys = list(zip(ti.tolist(), m["ANTENNA1"][rows].tolist(), m["ANTENNA2"][rows].tolist()))
    if len(set(keys)) != len(keys):
        problems.append("%s: duplicate (time, ant1, ant2) rows" % label)
    missing = set(key_h) - set(keys)
    extra = [k for k in keys if k not in key_h]
    if missing or extra:
        problems.append("%s: %d input rows absent from the MS, %d MS rows not in the input"
                        % (label, len(missing), len(extra)))
        return
    hr = np.array([key_h[k] for k in keys])
    want_vis = h["vis"][hr][:, ::-1, :]
    want_flag = h["flags"][hr][:, ::-1, :]
    want_ns = h["nsamples"][hr][:, ::-1, :]
    got_vis, got_flag, got_ws = m["DATA"][rows], m["FLAG"][rows], m["WEIGHT_SPECTRUM"][rows]
    if got_vis.shape != want_vis.shape:
        problems.append("%s: DATA shape %s, input %s" % (label, got_vis.shape, want_vis.shape))
        return
    for name, got, want in (("DATA", got_vis, want_vis), ("FLAG", got_flag, want_flag),
                            ("WEIGHT_SPECTRUM", got_ws, want_ns)):
        bad = np.argwhere(got != want)
        if len(bad):
            r, c, p = bad[0]
            problems.append("%s: %s differs in %d cells, first row %d chan %d pol %d: %r vs "
                            "input %r" % (label, name, len(bad), rows[r], c, p, got[r, c, p],
                                          want[r, c, p]))


# ----------------------------------------------------------------------------- astropy side

def site_location():
    return EarthLocation.from_geodetic(SITE["lon"] * u.deg, SITE["lat"] * u.deg,
                                       SITE["height"] * u.m, ellipsoid="WGS84")


def meridian_icrs(jds, dec_rad):
    t = Time(jds, format="jd", scale="utc")
    n = len(jds)
    hadec = SkyCoord(ha=np.zeros(n) * u.hourangle, dec=np.full(n, dec_rad) * u.rad,
                     frame=HADec(obstime=t, location=site_location(), pressure=0 * u.hPa))
    c = hadec.transform_to(ICRS())
    return c.ra.rad, c.dec.rad


# ----------------------------------------------------------------------------- section a

def required_columns(ms, name):
    problems = []
    t = open_table(ms, name)
    have = set(t.colnames())
    for col, desc in ct.required_ms_desc(name if name != "MAIN" else "MAIN").items():
        if col.startswith("_"):
            continue
        if col not in have:
            problems.append("%s: required column %s missing" % (name, col))
            continue
        ours = t.getcoldesc(col)
        if ours["valueType"] != desc["valueType"]:
            problems.append("%s.%s: type %s, required %s" % (name, col, ours["valueType"],
                                                             desc["valueType"]))
        nd = desc.get("ndim", 0)
        if nd not in (-1, None, 0) and ours.get("ndim") != nd:
            problems.append("%s.%s: ndim %s, required %s" % (name, col, ours.get("ndim"), nd))
    if t.nrows():
        for col in t.colnames():
            if col == "FLAG_CATEGORY":  # required, never filled (undefined cells)
                continue
            try:
                t.getvarcol(col) if t.isvarcol(col) else t.getcol(col)
            except Exception as exc:
                problems.append("%s.%s does not read: %s" % (name, col, exc))
    return problems


def section_a(ms, truth, h5, nchan):
    def tables():
        problems = []
        t = open_table(ms)
        if t.info().get("type") != "Measurement Set":
            problems.append("table type %r" % t.info().get("type"))
        kws = t.getkeywords()
        for name in SUBTABLES:
            link = kws.get(name)
            if not (isinstance(link, str) and link.startswith("Table:")):
                problems.append("keyword %s does not link a subtable: %r" % (name, link))
                continue
            try:
                open_table(ms, name).nrows()
            except Exception as exc:
                problems.append("%s does not open: %s" % (name, exc))
        return problems, "%d subtables" % len(SUBTABLES)
    C.check("a.tables: MS and every subtable open", tables)

    def columns():
        problems = []
        for name in ("MAIN",) + SUBTABLES:
            problems += required_columns(ms, name)
        cols = open_table(ms).colnames()
        for col in ("DATA", "WEIGHT_SPECTRUM"):
            if col not in cols:
                problems.append("MAIN.%s missing" % col)
        for col in ("MODEL_DATA", "CORRECTED_DATA"):
            if col in cols:
                problems.append("MAIN.%s written at conversion (SPEC §4: not)" % col)
        return problems
    C.check("a.columns: required columns (type, ndim), all readable, DATA + WEIGHT_SPECTRUM",
            columns)

    m = ms_main(ms)
    nblts = h5[0]["nblts"]

    def shapes():
        problems = []
        for col in ("DATA", "FLAG", "WEIGHT_SPECTRUM"):
            if m[col].shape != (m["nrows"], nchan, 2):
                problems.append("%s shape %s, expected (%d, %d, 2)" % (col, m[col].shape,
                                                                       m["nrows"], nchan))
        for col, shape in (("UVW", (3,)), ("WEIGHT", (2,)), ("SIGMA", (2,))):
            if m[col].shape[1:] != shape:
                problems.append("%s cell shape %s" % (col, m[col].shape[1:]))
        if m["nrows"] != NSB * nblts:
            problems.append("%d rows, expected 16 x Nblts = %d" % (m["nrows"], NSB * nblts))
        counts = np.bincount(m["DATA_DESC_ID"], minlength=NSB)
        if len(counts) != NSB or not np.all(counts == nblts):
            problems.append("rows per DATA_DESC_ID %s, expected %d each" % (counts.tolist(), nblts))
        return problems, "%d rows, cells (%d, 2)" % (m["nrows"], nchan)
    C.check("a.shapes: rows = 16 x Nblts, DATA/FLAG/WEIGHT_SPECTRUM (nchan, 2)", shapes)

    def spectral_windows():
        problems = []
        sw = open_table(ms, "SPECTRAL_WINDOW")
        dd = open_table(ms, "DATA_DESCRIPTION")
        if sw.nrows() != NSB or dd.nrows() != NSB:
            return ["%d SPWs / %d DATA_DESCRIPTION rows, expected 16" % (sw.nrows(), dd.nrows())]
        freqs = sw.getcol("CHAN_FREQ")
        widths = sw.getcol("CHAN_WIDTH")
        for i in range(NSB):
            k = NSB - 1 - i
            want = spec_freqs(k, nchan)
            if freqs[i].shape != want.shape or np.abs(freqs[i] - want).max() > 1e-3:
                problems.append("SPW %d: CHAN_FREQ %s, SPEC sb%02d %s" % (i, freqs[i], k, want))
            if not np.allclose(widths[i], DF_HZ, rtol=0, atol=1e-6):
                problems.append("SPW %d: CHAN_WIDTH %s" % (i, widths[i]))
            if sw.getcell("NUM_CHAN", i) != nchan:
                problems.append("SPW %d: NUM_CHAN %d" % (i, sw.getcell("NUM_CHAN", i)))
        flat = freqs.ravel()
        if not np.all(np.diff(flat) > 0):
            problems.append("frequencies not ascending across SPWs and channels")
        if dd.getcol("SPECTRAL_WINDOW_ID").tolist() != list(range(NSB)):
            problems.append("DATA_DESCRIPTION SPECTRAL_WINDOW_ID %s" % dd.getcol("SPECTRAL_WINDOW_ID"))
        if set(dd.getcol("POLARIZATION_ID").tolist()) != {0}:
            problems.append("DATA_DESCRIPTION POLARIZATION_ID %s" % dd.getcol("POLARIZATION_ID"))
        # The input files' own frequencies agree with the MS (channel order reversed).
        for k, h in enumerate(h5):
            if h is not None and np.abs(np.sort(h["freq"]) - freqs[NSB - 1 - k]).max() > 1e-3:
                problems.append("SPW %d does not hold the frequencies of sb%02d's file" %
                                (NSB - 1 - k, k))
        return problems, "%.6f .. %.6f MHz, %d x %d channels" % (flat[0] / 1e6, flat[-1] / 1e6,
                                                                 NSB, nchan)
    C.check("a.spectral_windows: 16 SPWs ascending at the SPEC frequencies", spectral_windows)

    def polarization():
        p = open_table(ms, "POLARIZATION")
        problems = []
        if p.nrows() != 1:
            problems.append("%d POLARIZATION rows" % p.nrows())
        ct_ = p.getcell("CORR_TYPE", 0).tolist()
        if ct_ != [9, 12]:
            problems.append("CORR_TYPE %s, expected [9, 12]" % ct_)
        if p.getcell("NUM_CORR", 0) != 2:
            problems.append("NUM_CORR %s" % p.getcell("NUM_CORR", 0))
        prod = p.getcell("CORR_PRODUCT", 0).tolist()
        if prod not in ([[0, 1], [0, 1]], [[0, 0], [1, 1]]):
            problems.append("CORR_PRODUCT %s" % prod)
        return problems, "CORR_TYPE %s" % ct_
    C.check("a.polarization: CORR_TYPE [9, 12]", polarization)

    times_jd = np.array(truth["times_jd"])
    centres = (times_jd - 2400000.5) * 86400.0

    def fields():
        f = open_table(ms, "FIELD")
        names = list(f.getcol("NAME"))
        want = ["meridian_icrs_t%d" % i for i in range(len(times_jd))]
        problems = []
        if names != want:
            problems.append("FIELD NAME %s, expected %s" % (names, want))
        ti = time_index(m["TIME"], centres)
        if np.any(m["FIELD_ID"] != ti):
            problems.append("%d rows whose FIELD_ID is not their integration's index" %
                            int(np.sum(m["FIELD_ID"] != ti)))
        return problems, "%d fields" % len(names)
    C.check("a.fields: FIELD names meridian_icrs_t0.. and FIELD_ID = integration", fields)

    def times():
        problems = []
        ut = np.unique(m["TIME"])
        if len(ut) != len(centres):
            problems.append("%d distinct TIME values, truth has %d integrations" %
                            (len(ut), len(centres)))
        else:
            d = np.abs(ut - centres).max()
            if d > TOL_TIME_S:
                problems.append("TIME vs truth integration centres: max |d| %.3g s" % d)
        h_mjd = (np.unique(h5[[h is not None for h in h5].index(True)]["time"]) - 2400000.5) * 86400
        if len(h_mjd) == len(ut) and np.abs(h_mjd - ut).max() > TOL_TIME_S:
            problems.append("TIME vs the files' time_array: max |d| %.3g s" %
                            np.abs(h_mjd - ut).max())
        if np.abs(m["TIME_CENTROID"] - m["TIME"]).max() > 1e-6:
            problems.append("TIME_CENTROID != TIME")
        for col in ("INTERVAL", "EXPOSURE"):
            if np.abs(m[col] - INTEGRATION_S).max() > 1e-9:
                problems.append("%s in %s, expected %.6f" % (col, np.unique(m[col]), INTEGRATION_S))
        if len(ut) > 1 and np.abs(np.diff(ut) - INTEGRATION_S).max() > TOL_TIME_S:
            problems.append("integrations not 12.884902 s apart: %s" % np.diff(ut))
        d = np.abs(ut - centres).max() if len(ut) == len(centres) else float("nan")
        return problems, "%d integrations, max |TIME - truth| %.2g s" % (len(ut), d)
    C.check("a.time: TIME = truth centres (MJD s), TIME_CENTROID, INTERVAL = EXPOSURE = 12.884902",
            times)

    def autocorrelations():
        problems = []
        active = sorted(s - 1 for s in truth["active_stations"])
        used = sorted(set(m["ANTENNA1"].tolist()) | set(m["ANTENNA2"].tolist()))
        if used != active:
            problems.append("antennas in the main table %s, truth active stations - 1 %s" %
                            (used, active))
        auto = m["ANTENNA1"] == m["ANTENNA2"]
        ti = time_index(m["TIME"], centres)
        have = set(zip(ti[auto].tolist(), m["DATA_DESC_ID"][auto].tolist(),
                       m["ANTENNA1"][auto].tolist()))
        want = {(t, s, a) for t in range(len(centres)) for s in range(NSB) for a in active}
        if want - have:
            problems.append("%d (integration, SPW, antenna) autocorrelations missing" %
                            len(want - have))
        if np.any(m["ANTENNA1"] > m["ANTENNA2"]):
            problems.append("rows with ANTENNA1 > ANTENNA2")
        return problems, "%d autocorrelation rows, %d antennas" % (int(auto.sum()), len(active))
    C.check("a.autocorrelations: present for every active antenna, SPW and integration",
            autocorrelations)

    def antennas():
        a = open_table(ms, "ANTENNA")
        stations = read_stations(os.path.join(ARGS.data, "DSA110_Station_Coordinates.csv"))
        problems = []
        if a.nrows() != 117 or len(stations) != 117:
            return ["%d ANTENNA rows, %d stations in the table" % (a.nrows(), len(stations))]
        pos = a.getcol("POSITION")
        worst = 0.0
        for n, v in stations.items():
            d = np.linalg.norm(pos[n - 1] - itrf(*v))
            worst = max(worst, d)
            if d > TOL_ANTENNA_M:
                problems.append("row %d (DSA-%03d): %.3f m from the station table" % (n - 1, n, d))
        dia = a.getcol("DISH_DIAMETER")
        if np.abs(dia - 4.65).max() > 1e-9:
            problems.append("DISH_DIAMETER %s" % np.unique(dia))
        mounts = set(x.upper() for x in a.getcol("MOUNT"))
        if mounts != {"ALT-AZ"}:
            problems.append("MOUNT %s" % mounts)
        kw = a.getcolkeywords("POSITION")
        if kw.get("MEASINFO", {}).get("Ref") != "ITRF":
            problems.append("POSITION frame %s" % kw.get("MEASINFO"))
        return problems, "117 rows, max offset %.2e m (DSA-117 at %.1f m)" % (worst, DSA117_HEIGHT)
    C.check("a.antennas: 117 rows, row = station - 1, ITRF within 5 cm of the station table",
            antennas)

    def observation_history():
        problems = []
        o = open_table(ms, "OBSERVATION")
        names = list(o.getcol("TELESCOPE_NAME")) if o.nrows() else []
        if names != ["DSA_110"]:
            problems.append("OBSERVATION TELESCOPE_NAME %s" % names)
        h = open_table(ms, "HISTORY")
        if h.nrows() < 1:
            problems.append("HISTORY is empty")
        else:
            msgs = list(h.getcol("MESSAGE"))
            if not any(s.strip() for s in msgs):
                problems.append("HISTORY messages empty")
            if not any(truth["group_id"] in s for s in msgs):
                problems.append("no HISTORY message names the group %s: %s" % (truth["group_id"], msgs))
            # SPEC §4: HISTORY says what produced the MS, with version and command.
            origins = list(h.getcol("ORIGIN"))
            if not any(re.search(r"contimg \d+\.\d+", o) for o in origins):
                problems.append("no HISTORY ORIGIN with the contimg version: %s" % origins)
            cmds = [" ".join(v["array"]) for v in h.getvarcol("CLI_COMMAND").values()
                    if "array" in v]
            if not any("convert-files" in c for c in cmds):
                problems.append("HISTORY CLI_COMMAND does not hold the command (convert-files "
                                "...): %s" % cmds)
        return problems, "%d HISTORY rows" % h.nrows()
    C.check("a.observation_history: TELESCOPE_NAME DSA_110, HISTORY with version and command",
            observation_history)
    return m


# ----------------------------------------------------------------------------- section b

def section_b(ms, h5, nchan, m):
    def round_trip():
        problems = []
        for i in range(NSB):
            k = NSB - 1 - i
            rows = np.flatnonzero(m["DATA_DESC_ID"] == i)
            compare_subband(m, rows, h5[k], "SPW %d (sb%02d)" % (i, k), nchan, problems)
        nflag = int(m["FLAG"].sum())
        if nflag == 0 or nflag == m["FLAG"].size:
            problems.append("FLAG has no variety (%d of %d set): the test inputs were not "
                            "randomised" % (nflag, m["FLAG"].size))
        if np.all(m["DATA"] == 0):
            problems.append("DATA all zero")
        return problems, "%d rows x %d x 2 cells compared exactly (%d flagged)" % (
            m["nrows"], nchan, nflag)
    C.check("b.round_trip: DATA = visdata reversed, WEIGHT_SPECTRUM = nsamples, FLAG = flags",
            round_trip)

    def weights():
        problems = []
        ws = m["WEIGHT_SPECTRUM"].astype(np.float64)
        want_w = np.median(ws, axis=1)
        d = np.abs(m["WEIGHT"] - want_w)
        if d.max() > 1e-6 * max(1.0, want_w.max()):
            problems.append("WEIGHT != median over channels of WEIGHT_SPECTRUM (max |d| %g)" % d.max())
        with np.errstate(divide="ignore"):
            want_s = np.where(want_w > 0, 1.0 / np.sqrt(np.where(want_w > 0, want_w, 1)), -1.0)
        pos = want_w > 0
        if np.abs(m["SIGMA"][pos] - want_s[pos]).max(initial=0) > 1e-5:
            problems.append("SIGMA != WEIGHT^-1/2")
        want_fr = m["FLAG"].reshape(m["nrows"], -1).all(axis=1)
        if np.any(m["FLAG_ROW"] != want_fr):
            problems.append("FLAG_ROW != all(FLAG) in %d rows" % int(np.sum(m["FLAG_ROW"] != want_fr)))
        if not want_fr.any():
            problems.append("no fully flagged row to test FLAG_ROW with")
        return problems, "%d fully flagged rows" % int(want_fr.sum())
    C.check("b.weights: WEIGHT = median(WEIGHT_SPECTRUM), SIGMA, FLAG_ROW", weights)


# ----------------------------------------------------------------------------- section c

def section_c(ms, truth, h5, m):
    times_jd = np.array(truth["times_jd"])
    dec = h5[[h is not None for h in h5].index(True)]["dec"]

    ra_ap, dec_ap = meridian_icrs(times_jd, dec)

    def fields():
        problems = []
        if abs(math.degrees(dec) - truth["pointing"]["dec_deg"]) > 1e-9:
            problems.append("phase_center_dec %.9f deg, truth %.9f" % (math.degrees(dec),
                                                                       truth["pointing"]["dec_deg"]))
        f = open_table(ms, "FIELD")
        if f.nrows() != len(times_jd):
            return ["%d FIELD rows, %d integrations" % (f.nrows(), len(times_jd))]
        pd = f.getcol("PHASE_DIR")[:, 0, :]
        for col in ("DELAY_DIR", "REFERENCE_DIR"):
            if np.any(f.getcol(col)[:, 0, :] != pd):
                problems.append("%s != PHASE_DIR" % col)
        ref = f.getcolkeywords("PHASE_DIR").get("MEASINFO", {}).get("Ref")
        if ref not in ("J2000", "ICRS"):
            problems.append("PHASE_DIR frame %r" % ref)
        sep = erfa.seps(ra_ap, dec_ap, pd[:, 0], pd[:, 1]) * RAD2ARCSEC
        for i in np.flatnonzero(sep > TOL_DIRECTION_ARCSEC):
            problems.append("field %d: %.4f\" from astropy" % (i, sep[i]))
        return problems, "%d fields, max separation %.2e arcsec (frame %s)" % (len(sep), sep.max(), ref)
    C.check("c.fields: PHASE_DIR = astropy HADec(ha=0) -> ICRS within 0.01\" (all integrations)",
            fields)

    def uvw():
        problems = []
        site = site_location()
        stations = read_stations(os.path.join(ARGS.data, "DSA110_Station_Coordinates.csv"))
        site_xyz = np.array([site.x.to_value(u.m), site.y.to_value(u.m), site.z.to_value(u.m)])
        rel = {n - 1: itrf(*v) - site_xyz for n, v in stations.items()}
        t = Time(times_jd, format="jd", scale="utc")
        lst = lst_pyuvdata(t, site)
        app_ra, app_dec = icrs_to_app(t, ra_ap, dec_ap, site)
        pa = frame_pos_angle(t, app_ra, app_dec, site)
        centres = (times_jd - 2400000.5) * 86400.0
        ti = time_index(m["TIME"], centres)
        worst, longest = 0.0, 0.0
        for it in range(len(times_jd)):
            rows = np.flatnonzero(ti == it)
            want = pyuvdata_uvw(app_ra[it], app_dec[it], pa[it], lst[it], site.lon.rad, rel,
                                m["ANTENNA1"][rows], m["ANTENNA2"][rows])
            d = np.abs(m["UVW"][rows] - want).max(axis=1)
            worst = max(worst, d.max())
            longest = max(longest, np.linalg.norm(want, axis=1).max())
            for r in rows[d > TOL_UVW_M][:3]:
                problems.append("integration %d, SPW %d, %d-%d: UVW %s, pyuvdata %s" % (
                    it, m["DATA_DESC_ID"][r], m["ANTENNA1"][r], m["ANTENNA2"][r], m["UVW"][r],
                    want[list(rows).index(r)]))
        auto = m["ANTENNA1"] == m["ANTENNA2"]
        if np.any(m["UVW"][~auto] == 0) and np.all(m["UVW"][~auto] == 0):
            problems.append("cross-correlation UVW all zero")
        return problems, "%d rows, max |d| %.2e mm, longest baseline %.0f m" % (
            m["nrows"], worst * 1e3, longest)
    C.check("c.uvw: every row vs pyuvdata calc_uvw (ant2 - ant1) within 1 mm", uvw)


# ----------------------------------------------------------------------------- the main group

def randomise_inputs(files, seed):
    """Flags and nsamples that vary per row, channel and pol, some rows fully flagged."""
    rng = np.random.default_rng(seed)
    for p in files:
        with h5py.File(p, "r+") as h:
            shape = h["Data/flags"].shape
            flags = rng.random(shape) < 0.1
            flags[rng.random(shape[0]) < 0.05] = True
            h["Data/flags"][...] = flags
            ns = rng.choice(np.array([0.0, 0.25, 0.5, 1.0, 1.0, 1.0, 2.0], dtype=np.float32),
                            size=shape)
            h["Data/nsamples"][...] = ns


def main_group(ci, work):
    d = os.path.join(work, "main")
    state_file = os.path.join(d, "state.json")
    if ARGS.reuse and os.path.exists(state_file):
        with open(state_file) as f:
            st = json.load(f)
        print("reusing %s" % st["ms"])
        return st
    shutil.rmtree(d, ignore_errors=True)
    sim = ci.simulate(os.path.join(d, "in"), "--size", "tiny", "--ntimes", 24, "--nants", 8,
                      "--seed", 11)
    randomise_inputs(sim["files"], 11)
    out = os.path.join(d, "out")
    p = ci.run("convert-files", [out] + sim["files"])
    st = {"files": sim["files"], "truth": sim["truth"], "group_id": sim["group_id"],
          "ms": os.path.join(out, sim["group_id"] + ".ms"), "exit": p.returncode,
          "stderr": p.stderr[-3000:], "json": p.json}
    with open(state_file, "w") as f:
        json.dump(st, f)
    return st


def sections_abc(ci, work):
    st = main_group(ci, work)

    def converted():
        problems = []
        if st["exit"] != 0:
            problems.append("exit %d: %s" % (st["exit"], tail(st["stderr"])))
        j = st["json"] or {}
        if [c.get("group_id") for c in j.get("converted", [])] != [st["group_id"]]:
            problems.append("JSON summary %s" % json.dumps(j)[:400])
        if not os.path.isdir(st["ms"]):
            problems.append("%s missing" % st["ms"])
        return problems, st["ms"]
    if not C.check("main group (24 integrations, 8 antennas) converts", converted):
        return
    with open(st["truth"]) as f:
        truth = json.load(f)
    h5 = [None] * NSB
    for p in st["files"]:
        h5[subband_of(p)] = read_h5(p)
    nchan = len(h5[0]["freq"])
    if "a" in ARGS.only:
        m = section_a(st["ms"], truth, h5, nchan)
    else:
        m = ms_main(st["ms"])
    if "b" in ARGS.only:
        section_b(st["ms"], h5, nchan, m)
    if "c" in ARGS.only:
        section_c(st["ms"], truth, h5, m)
    if "b" in ARGS.only:
        section_b_merged(ci, st, h5, nchan)


def section_b_merged(ci, st, h5, nchan):
    def merged():
        out = os.path.join(os.path.dirname(st["ms"]) + "-merged")
        p = ci.run("convert-files", [out, "--merge-spws"] + st["files"])
        conv = (p.json or {}).get("converted", [])
        if p.returncode != 0 or len(conv) != 1:
            return ["exit %d: %s" % (p.returncode, tail(p.stderr))]
        ms = conv[0]["ms"]
        problems = []
        sw = open_table(ms, "SPECTRAL_WINDOW")
        if sw.nrows() != 1 or open_table(ms, "DATA_DESCRIPTION").nrows() != 1:
            return ["%d SPWs, expected 1" % sw.nrows()]
        want = np.concatenate([spec_freqs(NSB - 1 - i, nchan) for i in range(NSB)])
        got = sw.getcell("CHAN_FREQ", 0)
        if got.shape != want.shape or np.abs(got - want).max() > 1e-3:
            problems.append("CHAN_FREQ %s .. %s (%d), expected %s .. %s (%d)" % (
                got[0], got[-1], len(got), want[0], want[-1], len(want)))
        m = ms_main(ms)
        if m["nrows"] != h5[0]["nblts"]:
            problems.append("%d rows, expected Nblts = %d" % (m["nrows"], h5[0]["nblts"]))
        rows = np.arange(m["nrows"])
        for i in range(NSB):  # channel block i of the merged SPW is subband 15 - i
            k = NSB - 1 - i
            view = dict(m)
            for c in ("DATA", "FLAG", "WEIGHT_SPECTRUM"):
                view[c] = m[c][:, i * nchan:(i + 1) * nchan, :]
            compare_subband(view, rows, h5[k], "channels %d..%d (sb%02d)" % (
                i * nchan, (i + 1) * nchan - 1, k), nchan, problems)
        return problems, "1 SPW x %d channels, %d rows" % (len(got), m["nrows"])
    C.check("b.merge_spws: --merge-spws -> one SPW, 16 x nchan ascending, data exact", merged)


# ----------------------------------------------------------------------------- section d

def expect_no_output(out_dir, ci, problems, group_id=None):
    if group_id and os.path.exists(os.path.join(out_dir, group_id + ".ms")):
        problems.append("%s.ms exists at the output path" % group_id)
    elif ms_paths(out_dir):
        problems.append("MS at the output path: %s" % ms_paths(out_dir))
    left = leftovers(out_dir, ci.stage_parent())
    if left:
        problems.append("left behind: %s" % left)


def section_d(ci, work):
    d = os.path.join(work, "incomplete")
    shutil.rmtree(d, ignore_errors=True)
    missing = [0, 8, 15]
    present = [k for k in range(NSB) if k not in missing]
    sim = ci.simulate(os.path.join(d, "in"), "--size", "tiny", "--start", "2025-01-01T13:00:00",
                      "--seed", 31, "--subbands", *present)
    files = sorted(sim["files"])
    # SPEC §3: the group id is the sb00 timestamp, or the earliest when sb00 is missing.
    gid = min(os.path.basename(p)[:19] for p in files)

    def refused():
        out = os.path.join(d, "out-default")
        p = ci.run("convert-files", [out] + files)
        problems = []
        if p.returncode != 3:
            problems.append("exit %d, expected 3" % p.returncode)
        entries = (p.json or {}).get("failed", []) + (p.json or {}).get("skipped", [])
        reason = entries[0].get("reason", "") if entries else ""
        if "incomplete" not in reason:
            problems.append("no failed/skipped entry saying 'incomplete': %s" % tail(p.stdout, 400))
        for k in missing:
            if "sb%02d" % k not in reason:
                problems.append("reason does not list missing sb%02d: %r" % (k, reason))
        expect_no_output(out, ci, problems, gid)
        return problems, "exit %d: %s" % (p.returncode, reason[:110])
    C.check("d.incomplete_refused: 13/16 subbands, default -> exit 3 'incomplete', no MS", refused)

    def allowed():
        out = os.path.join(d, "out-allow")
        p = ci.run("convert-files", [out, "--allow-incomplete"] + files)
        problems = []
        conv = (p.json or {}).get("converted", [])
        if p.returncode != 0 or len(conv) != 1:
            return ["exit %d: %s" % (p.returncode, tail(p.stderr))]
        if conv[0]["group_id"] != gid:
            problems.append("group id %s, SPEC §3 says the earliest file's timestamp %s" %
                            (conv[0]["group_id"], gid))
        if conv[0].get("metrics", {}).get("missing_subbands") != missing:
            problems.append("missing_subbands %s" % conv[0].get("metrics", {}).get("missing_subbands"))
        ms = conv[0]["ms"]
        h5 = {subband_of(f): read_h5(f) for f in files}
        nchan = len(h5[present[0]]["freq"])
        nblts = h5[present[0]]["nblts"]
        m = ms_main(ms)
        if m["nrows"] != NSB * nblts:
            problems.append("%d rows, expected 16 x %d" % (m["nrows"], nblts))
        sw = open_table(ms, "SPECTRAL_WINDOW")
        if sw.nrows() != NSB:
            return problems + ["%d SPWs" % sw.nrows()]
        freqs = sw.getcol("CHAN_FREQ")
        for i in range(NSB):
            k = NSB - 1 - i
            if np.abs(freqs[i] - spec_freqs(k, nchan)).max() > 1e-3:
                problems.append("SPW %d (sb%02d) CHAN_FREQ %s, SPEC %s" % (i, k, freqs[i],
                                                                           spec_freqs(k, nchan)))
            rows = np.flatnonzero(m["DATA_DESC_ID"] == i)
            if len(rows) != nblts:
                problems.append("SPW %d has %d rows" % (i, len(rows)))
                continue
            if k in missing:
                if not m["FLAG"][rows].all():
                    problems.append("SPW %d (missing sb%02d) not entirely flagged" % (i, k))
                if not m["FLAG_ROW"][rows].all():
                    problems.append("SPW %d (missing sb%02d): FLAG_ROW not set" % (i, k))
                if np.any(m["WEIGHT_SPECTRUM"][rows] != 0):
                    problems.append("SPW %d (missing sb%02d): non-zero WEIGHT_SPECTRUM" % (i, k))
            else:
                compare_subband(m, rows, h5[k], "SPW %d (sb%02d)" % (i, k), nchan, problems)
                if m["FLAG"][rows].all():
                    problems.append("SPW %d (present sb%02d) entirely flagged" % (i, k))
        left = leftovers(out, ci.stage_parent())
        if left:
            problems.append("left behind: %s" % left)
        return problems, "%s: SPWs %s flagged" % (os.path.basename(ms),
                                                  [spw_of_subband(k) for k in missing])
    C.check("d.incomplete_allowed: --allow-incomplete -> 16 SPWs, missing ones flagged at their "
            "frequencies, present ones exact", allowed)

    def too_few():
        out = os.path.join(d, "out-too-few")
        few = [f for f in files if subband_of(f) not in (3, 4)]  # 11 subbands < 12
        p = ci.run("convert-files", [out, "--allow-incomplete"] + few)
        problems = []
        if p.returncode != 3:
            problems.append("exit %d, expected 3" % p.returncode)
        reason = " ".join(e.get("reason", "") for e in (p.json or {}).get("failed", []) +
                          (p.json or {}).get("skipped", []))
        if not re.search(r"minimum|fewer", reason):
            problems.append("no reason naming the minimum: %s" % tail(p.stdout + p.stderr, 300))
        expect_no_output(out, ci, problems)
        return problems, reason[:100]
    C.check("d.incomplete_too_few: 11 subbands with --allow-incomplete -> refused (min 12)", too_few)

    def dry_run():
        out = os.path.join(d, "out-dry")
        p = ci.run("convert-files", [out, "--dry-run", "--allow-incomplete"] + files)
        problems = []
        planned = [e["group_id"] for e in (p.json or {}).get("planned", [])]
        if p.returncode != 0 or planned != [gid]:
            problems.append("exit %d, planned %s: %s" % (p.returncode, planned, tail(p.stderr, 300)))
        if os.path.exists(out) and os.listdir(out):
            problems.append("--dry-run wrote %s" % os.listdir(out))
        return problems, "planned %s" % planned
    C.check("d.dry_run: --dry-run plans the group and writes nothing", dry_run)


# ----------------------------------------------------------------------------- section e

def copy_group(src_files, dst):
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    out = []
    for p in src_files:
        q = os.path.join(dst, os.path.basename(p))
        shutil.copy2(p, q)
        out.append(q)
    return sorted(out)


def by_subband(files, k):
    return next(f for f in files if subband_of(f) == k)


def expect_failure(ci, out, files, culprit, codes=(3,), extra_args=(), sets=(), words=()):
    """Runs convert-files and returns (problems, detail) for a conversion that must fail."""
    p = ci.run("convert-files", [out] + list(extra_args) + files, sets=sets)
    problems = []
    if p.returncode not in codes:
        problems.append("exit %d, expected %s" % (p.returncode, "/".join(map(str, codes))))
    if p.returncode < 0 or p.returncode == 134:
        problems.append("the program crashed (signal %d): %s" % (-p.returncode if p.returncode < 0
                                                                 else 6, tail(p.stderr, 400)))
    name = os.path.basename(culprit) if culprit else None
    reason = ""
    if isinstance(p.json, dict) and p.json.get("ok") is False and "error" in p.json:
        # A failure before any group was tried: the --json error object (docs/cli.md).
        err = p.json["error"]
        if err.get("exit_code") != p.returncode:
            problems.append("JSON error object: exit_code %s, exit %d" % (err.get("exit_code"), p.returncode))
        reason = err.get("message", "")
    elif p.json:
        failed = p.json.get("failed", [])
        if len(failed) != 1 or p.json.get("converted"):
            problems.append("JSON summary: %s" % json.dumps(p.json.get("counts")))
        reason = failed[0].get("reason", "") if failed else ""
    message = reason or "\n".join(l for l in p.stderr.splitlines()
                                  if " error " in l or "error:" in l.lower())
    if name and name not in message:
        problems.append("the message does not name %s: %s" % (name, tail(message or p.stderr, 500)))
    bare = re.sub(r"(?<![\w.])/\S+", "<path>", message)  # the words must not come from a path
    for w in words:
        if not re.search(w, bare, re.I):
            problems.append("the message does not say /%s/: %s" % (w, tail(message, 300)))
    expect_no_output(out, ci, problems)
    first = message.strip().splitlines()[0] if message.strip() else ""
    return problems, "exit %d: %s" % (p.returncode, first[:160])


def section_e(ci, work):
    d = os.path.join(work, "bad")
    shutil.rmtree(d, ignore_errors=True)
    sim = ci.simulate(os.path.join(d, "src"), "--size", "tiny", "--start", "2025-01-01T14:00:00",
                      "--seed", 41)
    src = sorted(sim["files"])

    def truncated():
        files = copy_group(src, os.path.join(d, "truncated"))
        f = by_subband(files, 5)
        os.truncate(f, os.path.getsize(f) // 2)
        return expect_failure(ci, os.path.join(d, "out-truncated"), files, f)
    C.check("e.truncated: sb05 cut to half its size", truncated)

    def missing_dataset():
        files = copy_group(src, os.path.join(d, "no-visdata"))
        f = by_subband(files, 7)
        with h5py.File(f, "r+") as h:
            del h["Data/visdata"]
        return expect_failure(ci, os.path.join(d, "out-no-visdata"), files, f, words=("visdata",))
    C.check("e.missing_dataset: sb07 without Data/visdata", missing_dataset)

    def shifted(k):
        def run():
            files = copy_group(src, os.path.join(d, "freq-sb%02d" % k))
            f = by_subband(files, k)
            with h5py.File(f, "r+") as h:
                h["Header/freq_array"][...] = h["Header/freq_array"][()] + 1e6
            return expect_failure(ci, os.path.join(d, "out-freq-sb%02d" % k), files, f,
                                  words=("freq",))
        return run
    C.check("e.frequency_axis: sb03's freq_array shifted by 1 MHz", shifted(3))
    C.check("e.frequency_axis_first: sb00's freq_array shifted by 1 MHz (the culprit is named, "
            "not its neighbour)", shifted(0))

    def corrupt_chunk():
        gz = ci.simulate(os.path.join(d, "gzip"), "--size", "tiny", "--start",
                         "2025-01-01T14:10:00", "--seed", 42, "--compression", "gzip")
        files = sorted(gz["files"])
        f = by_subband(files, 9)
        with h5py.File(f, "r") as h:
            info = h["Data/visdata"].id.get_chunk_info(0)
        with open(f, "r+b") as fh:
            fh.seek(info.byte_offset + info.size // 3)
            fh.write(b"\xff" * min(64, info.size // 3))
        return expect_failure(ci, os.path.join(d, "out-gzip"), files, f)
    C.check("e.corrupt_chunk: a gzip chunk of sb09 garbled (fails while writing)", corrupt_chunk)

    def odd_name():
        files = copy_group(src, os.path.join(d, "odd-name"))
        f = by_subband(files, 4)
        odd = os.path.join(os.path.dirname(f), "2025-01-01T14:00:00_sb4.hdf5")
        os.rename(f, odd)
        files = sorted(files[:files.index(f)] + [odd] + files[files.index(f) + 1:])
        return expect_failure(ci, os.path.join(d, "out-odd-name"), files, odd)
    C.check("e.odd_name: a file named ..._sb4.hdf5", odd_name)

    def duplicate(newer_has_later_name):
        def run():
            files = copy_group(src, os.path.join(d, "dup-%d" % newer_has_later_name))
            orig = by_subband(files, 5)
            # A second sb05 within the window (file-name timestamp 20 s later), other data.
            stamp = dt.datetime.strptime(os.path.basename(orig)[:19], "%Y-%m-%dT%H:%M:%S")
            later = os.path.join(os.path.dirname(orig), (stamp + dt.timedelta(seconds=20)).strftime(
                "%Y-%m-%dT%H:%M:%S") + "_sb05.hdf5")
            shutil.copy2(orig, later)
            with h5py.File(later, "r+") as h:
                h["Data/visdata"][...] = h["Data/visdata"][()] * np.complex64(2 - 1j)
            now = time.time()
            newer, older = (later, orig) if newer_has_later_name else (orig, later)
            os.utime(older, (now - 100, now - 100))
            os.utime(newer, (now, now))
            out = os.path.join(d, "out-dup-%d" % newer_has_later_name)
            p = ci.run("convert-files", [out] + files + [later])
            problems = []
            conv = (p.json or {}).get("converted", [])
            if p.returncode != 0 or len(conv) != 1:
                return ["exit %d: %s" % (p.returncode, tail(p.stderr))]
            warn = [l for l in p.stderr.splitlines() if "duplicate" in l.lower()]
            if not warn or os.path.basename(newer) not in warn[0] or \
                    os.path.basename(older) not in warn[0]:
                problems.append("no warning naming both files: %s" % tail(p.stderr, 400))
            elif warn[0].find(os.path.basename(newer)) > warn[0].find(os.path.basename(older)):
                problems.append("the warning keeps the wrong file: %s" % warn[0])
            m = ms_main(conv[0]["ms"])
            rows = np.flatnonzero(m["DATA_DESC_ID"] == spw_of_subband(5))
            h = read_h5(newer)
            compare_subband(m, rows, h, "SPW 10 vs the newer sb05", len(h["freq"]), problems)
            return problems, "kept %s" % os.path.basename(newer)
        return run
    C.check("e.duplicate_newest_kept: two sb05, the later-named one newer by mtime -> it is used, "
            "warning", duplicate(True))
    C.check("e.duplicate_mtime_decides: two sb05, the earlier-named one newer by mtime -> it is "
            "used, warning", duplicate(False))


# ----------------------------------------------------------------------------- section f

def groups_state(ci, db, start, end):
    p = ci.run("groups", [start, end, "--db", db])
    if p.returncode != 0 or not p.json:
        raise RuntimeError("groups: exit %d %s" % (p.returncode, tail(p.stderr)))
    return {g["group_id"]: g for g in p.json["groups"]}


def section_f(ci, work):
    d = os.path.join(work, "batch")
    shutil.rmtree(d, ignore_errors=True)
    inp, out, db = os.path.join(d, "in"), os.path.join(d, "out"), os.path.join(d, "state.sqlite3")
    t0 = dt.datetime(2025, 1, 2, 10, 0, 0)
    starts = [(t0 + dt.timedelta(seconds=309 * k)).strftime("%Y-%m-%dT%H:%M:%S") for k in range(4)]
    sims = [ci.simulate(inp, "--size", "tiny", "--start", s, "--seed", 51 + k)
            for k, s in enumerate(starts)]
    gids = [s["group_id"] for s in sims]
    bad_trunc = by_subband(sims[1]["files"], 5)
    os.truncate(bad_trunc, os.path.getsize(bad_trunc) // 2)
    bad_freq = by_subband(sims[3]["files"], 3)
    with h5py.File(bad_freq, "r+") as h:
        h["Header/freq_array"][...] = h["Header/freq_array"][()] + 1e6
    culprits = {gids[1]: bad_trunc, gids[3]: bad_freq}
    span = ("2025-01-02T09:59:00", "2025-01-02T10:20:00")

    def first_run():
        p = ci.run("convert", [inp, out, span[0], span[1], "--db", db])
        problems = []
        j = p.json or {}
        if p.returncode != 1:
            problems.append("exit %d, expected 1 (a group failed)" % p.returncode)
        conv = sorted(e["group_id"] for e in j.get("converted", []))
        if conv != sorted([gids[0], gids[2]]):
            problems.append("converted %s, expected %s" % (conv, [gids[0], gids[2]]))
        failed = {e["group_id"]: e.get("reason", "") for e in j.get("failed", [])}
        for g, f in culprits.items():
            if g not in failed:
                other = [e for e in j.get("skipped", []) if e["group_id"] == g]
                problems.append("group %s (%s) not failed: %s" % (
                    g, os.path.basename(f), other[0] if other else "absent from the summary"))
            elif os.path.basename(f) not in failed[g]:
                problems.append("group %s failed without naming %s: %s" % (
                    g, os.path.basename(f), failed[g][:300]))
        for g in gids:
            want = g in (gids[0], gids[2])
            if os.path.isdir(os.path.join(out, g + ".ms")) != want:
                problems.append("%s.ms %s" % (g, "missing" if want else "exists (partial?)"))
        left = leftovers(out, ci.stage_parent())
        if left:
            problems.append("left behind: %s" % left)
        try:
            states = groups_state(ci, db, span[0], span[1])
            for g in gids:
                st = states.get(g, {})
                want = "converted" if g in (gids[0], gids[2]) else "failed"
                if st.get("state") != want:
                    problems.append("state DB: %s is %r (%s), expected %s" % (
                        g, st.get("state"), (st.get("reason") or "")[:120], want))
                if want == "failed" and os.path.basename(culprits[g]) not in (st.get("reason") or ""):
                    problems.append("state DB reason for %s does not name the file" % g)
        except Exception as exc:
            problems.append(str(exc))
        return problems, "exit %d, converted %d, failed %d, skipped %d" % (
            p.returncode, len(conv), len(failed), len(j.get("skipped", [])))
    C.check("f.batch_first_run: 4 groups, 2 corrupted (truncated sb05, shifted sb03) -> those "
            "failed naming the file, the others converted, exit 1", first_run)

    def rerun():
        for k in (1, 3):  # the fix: simulate the same groups again (same names)
            ci.simulate(inp, "--size", "tiny", "--start", starts[k], "--seed", 51 + k)
        p = ci.run("convert", [inp, out, span[0], span[1], "--db", db, "--skip-existing"])
        problems = []
        j = p.json or {}
        if p.returncode != 0:
            problems.append("exit %d: %s" % (p.returncode, tail(p.stderr, 300)))
        conv = sorted(e["group_id"] for e in j.get("converted", []))
        skipped = {e["group_id"]: e.get("reason", "") for e in j.get("skipped", [])}
        if conv != sorted([gids[1], gids[3]]):
            problems.append("converted %s, expected %s" % (conv, [gids[1], gids[3]]))
        if sorted(skipped) != sorted([gids[0], gids[2]]) or \
                not all("exist" in r for r in skipped.values()):
            problems.append("skipped %s, expected %s with 'MS exists'" % (skipped, [gids[0], gids[2]]))
        for g in gids:
            ms = os.path.join(out, g + ".ms")
            try:
                n, nspw = open_table(ms).nrows(), open_table(ms, "SPECTRAL_WINDOW").nrows()
                if nspw != NSB or n != NSB * read_h5(by_subband(sims[gids.index(g)]["files"], 0))["nblts"]:
                    problems.append("%s: %d rows, %d SPWs" % (ms, n, nspw))
            except Exception as exc:
                problems.append("%s does not open: %s" % (ms, exc))
        try:
            states = groups_state(ci, db, span[0], span[1])
            for g in gids:
                st = states.get(g, {})
                ms = os.path.join(out, g + ".ms")
                # Skipped because its MS exists, a group stays converted with its MS recorded
                # (SPEC §9: nothing already produced is lost).
                if st.get("state") != "converted" or \
                        os.path.abspath(st.get("ms_path") or "") != os.path.abspath(ms):
                    problems.append("state DB: %s is %r with ms_path %r" % (
                        g, st.get("state"), st.get("ms_path")))
        except Exception as exc:
            problems.append(str(exc))
        return problems, "exit %d, converted %s, skipped %d" % (p.returncode, conv, len(skipped))
    C.check("f.batch_rerun: bad files re-simulated, --skip-existing -> the 2 converted, the "
            "other 2 skipped", rerun)


# ----------------------------------------------------------------------------- section g

def kill_during_write(ci, files, gid, out, stage_parent, sets, sig=signal.SIGKILL):
    """Starts a conversion, sends `sig` once its staged MS has data; returns
    (pid, returncode, staging dirs matched, seconds until the signal)."""
    t_start = time.time()
    proc = ci.popen("convert-files", [out] + files, sets=sets)
    pattern = os.path.join(stage_parent, "%s%d-*-convert@*" % (TMP_PREFIX, proc.pid))
    deadline = time.time() + 60
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        hits = glob.glob(os.path.join(pattern, gid + ".ms", "table.f*"))
        if hits:
            time.sleep(0.05)  # rows are being written
            if proc.poll() is None:
                os.kill(proc.pid, sig)
                killed_at = time.time() - t_start
            break
        time.sleep(0.002)
    proc.communicate(timeout=60)
    stale = glob.glob(pattern) if killed_at else []
    return proc.pid, proc.returncode, stale, killed_at


def section_g(ci, work):
    d = os.path.join(work, "kill")
    shutil.rmtree(d, ignore_errors=True)
    sim = ci.simulate(os.path.join(d, "in"), "--size", "small", "--seed", 61)
    files, gid = sorted(sim["files"]), sim["group_id"]
    nblts = read_h5(files[0])["nblts"]

    def scenario(label, out, stage_parent, sets):
        def run():
            problems = []
            pid, rc, stale, killed = kill_during_write(ci, files, gid, out, stage_parent, sets)
            if not killed or rc != -signal.SIGKILL:
                return ["the conversion was not killed while writing (exit %s): make the group "
                        "larger" % rc]
            final = os.path.join(out, gid + ".ms")
            if os.path.exists(final):
                problems.append("%s exists after kill -9" % final)
            if not stale:
                problems.append("no staging directory of pid %d found in %s (staging elsewhere?)"
                                % (pid, stage_parent))
            p = ci.run("convert-files", [out] + files, sets=sets)
            if p.returncode != 0 or not os.path.isdir(final):
                problems.append("rerun: exit %d %s" % (p.returncode, tail(p.stderr, 300)))
            else:
                n = open_table(final).nrows()
                if n != NSB * nblts:
                    problems.append("rerun MS has %d rows, expected %d" % (n, NSB * nblts))
            still = [s for s in stale if os.path.exists(s)]
            if still:
                problems.append("the dead process's staging directory was not swept by the rerun:"
                                " %s (%.0f MB)" % (still, sum(
                                    os.path.getsize(os.path.join(r, f)) for s in still
                                    for r, _, fs in os.walk(s) for f in fs) / 1e6))
            left = [x for x in leftovers(out, stage_parent) if x not in stale]
            if left:
                problems.append("left behind by the rerun: %s" % left)
            return problems, "killed pid %d %.2f s after start; staging was %s" % (
                pid, killed, stale[0] if stale else "?")
        return run
    C.check("g.kill9_tmpfs_staging: kill -9 while writing (staged in tmpfs) -> no MS; rerun "
            "converts and sweeps the stale staging dir",
            scenario("tmpfs", os.path.join(d, "out-tmpfs"), ci.stage_parent(), ("conversion.stage_to_tmpfs=true",)))
    out2 = os.path.join(d, "out-beside")
    C.check("g.kill9_staging_beside_output: the same with staging beside the output (the default)",
            scenario("beside", out2, out2, ("conversion.stage_to_tmpfs=false",)))

    def sigterm():
        out3 = os.path.join(d, "out-term")
        pid, rc, stale, sent = kill_during_write(ci, files, gid, out3, out3,
                                                 ("conversion.stage_to_tmpfs=false",),
                                                 sig=signal.SIGTERM)
        if not sent:
            return ["the conversion finished before SIGTERM could be sent: make the group larger"]
        problems = []
        if rc != 130:
            problems.append("exit %s after SIGTERM, expected 130" % rc)
        if os.path.exists(os.path.join(out3, gid + ".ms")):
            problems.append("an MS exists at the output path after SIGTERM")
        left = [x for x in glob.glob(os.path.join(out3, TMP_PREFIX + "*"))]
        if left:
            problems.append("SIGTERM left temporary directories: %s" % left)
        return problems, "SIGTERM %.2f s after start: exit %d, nothing left" % (sent, rc)
    C.check("g.sigterm_cleans_up: SIGTERM while writing -> exit 130, no MS, staging removed "
            "by the process itself (no sweep needed)", sigterm)
    shutil.rmtree(d, ignore_errors=True)  # ~130 MB


# ----------------------------------------------------------------------------- section h

def section_h(ci, work):
    d = os.path.join(work, "smallfs")
    mnt = os.path.join(d, "fs")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(mnt)
    names = ("h.disk_full_staging: output and --stage-dir on a full 1 MiB tmpfs -> IoError, "
             "exit 4, no crash, nothing left",
             "h.disk_full_publish: staged in tmpfs, output on a full 1 MiB tmpfs -> IoError "
             "saying so, exit 4, nothing left",
             "h.disk_full_batch: convert, staging beside the output on a 1 MiB tmpfs: the big "
             "group fails (disk full), the small one converts, exit 1")
    try:
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", mnt],
                           capture_output=True, text=True, timeout=30)
        why = p.stderr.strip() if p.returncode != 0 else None
    except (OSError, subprocess.SubprocessError) as exc:
        why = str(exc)
    if why is not None:
        for n in names:
            C.skip(n, "cannot mount a tmpfs here (%s)" % why)
        return
    try:
        inp = os.path.join(d, "in")
        big = ci.simulate(inp, "--size", "small", "--seed", 71, "--ntimes", 12,
                          "--start", "2025-01-03T10:00:00")               # MS ~20 MB
        small = ci.simulate(inp, "--size", "tiny", "--seed", 72,
                            "--start", "2025-01-03T10:05:09")               # MS ~0.6 MB
        files = sorted(big["files"])

        def clean():
            for n in os.listdir(mnt):
                shutil.rmtree(os.path.join(mnt, n), ignore_errors=True)

        def staging_full():
            out, stage = os.path.join(mnt, "out"), os.path.join(mnt, "stage")
            problems, detail = expect_failure(ci, out, files, None, codes=(4,),
                                              extra_args=("--stage-dir", stage),
                                              words=("space|disk|full",))
            left = leftovers(stage)
            if left:
                problems.append("left in the stage dir: %s" % left)
            used = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(mnt) for f in fs)
            if used:
                problems.append("%d bytes still on the small filesystem" % used)
            clean()
            return problems, detail
        C.check(names[0], staging_full)

        def publish_full():
            out = os.path.join(mnt, "out")
            problems, detail = expect_failure(ci, out, files, None, codes=(4,),
                                              sets=("conversion.stage_to_tmpfs=true",),
                                              words=("space|disk|full",))
            clean()
            return problems, detail
        C.check(names[1], publish_full)

        def batch():
            out = os.path.join(mnt, "out")
            db = os.path.join(d, "state.sqlite3")
            p = ci.run("convert", [inp, out, "2025-01-03T09:59:00", "2025-01-03T10:10:00",
                                   "--db", db], sets=("conversion.stage_to_tmpfs=false",))
            problems = []
            j = p.json or {}
            if p.returncode != 1:
                problems.append("exit %d, expected 1: %s" % (p.returncode, tail(p.stderr, 400)))
            failed = {e["group_id"]: e.get("reason", "") for e in j.get("failed", [])}
            conv = [e["group_id"] for e in j.get("converted", [])]
            if conv != [small["group_id"]]:
                problems.append("converted %s, expected [%s]" % (conv, small["group_id"]))
            reason = re.sub(r"(?<![\w.])/\S+", "<path>", failed.get(big["group_id"], ""))
            if not re.search("space|disk|full", reason, re.I):
                problems.append("%s not failed with a disk-full reason: %s" % (
                    big["group_id"], failed.get(big["group_id"], "(not failed)")[:300]))
            if os.path.exists(os.path.join(out, big["group_id"] + ".ms")):
                problems.append("%s.ms exists" % big["group_id"])
            left = leftovers(out)
            if left:
                problems.append("left behind: %s" % left)
            try:
                states = groups_state(ci, db, "2025-01-03T09:59:00", "2025-01-03T10:10:00")
                got = {g: states.get(g, {}).get("state") for g in (big["group_id"],
                                                                     small["group_id"])}
                if got != {big["group_id"]: "failed", small["group_id"]: "converted"}:
                    problems.append("state DB: %s" % got)
            except Exception as exc:
                problems.append(str(exc))
            clean()
            return problems, "exit %d, converted %s, failed %s" % (p.returncode, conv,
                                                                  sorted(failed))
        C.check(names[2], batch)
    finally:
        r = subprocess.run(["umount", mnt], capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", mnt], capture_output=True, text=True)
        shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------------------- main

def run(args):
    configure_astropy(args.data)
    work = os.path.abspath(args.workdir)
    if not args.reuse:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, exist_ok=True)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else work
    tmpfs = os.path.join(shm, "contimg-convert-check-%d" % os.getpid())
    os.makedirs(tmpfs)
    ci = Contimg(os.path.abspath(args.contimg), os.path.abspath(args.data), work, tmpfs)
    try:
        sections = [("abc", sections_abc), ("d", section_d), ("e", section_e), ("f", section_f),
                    ("g", section_g), ("h", section_h)]
        for keys, fn in sections:
            if any(k in args.only for k in keys):
                t0 = time.time()
                try:
                    fn(ci, work)
                except Exception:
                    traceback.print_exc()
                    C.check("section %s runs" % keys, lambda: ["exception (traceback above)"])
                print("  (section %s: %.1f s)" % (keys, time.time() - t0), flush=True)
    finally:
        shutil.rmtree(tmpfs, ignore_errors=True)


ARGS = None


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contimg", required=True, help="the contimg executable")
    ap.add_argument("--data", required=True, help="the repository's data/ directory")
    ap.add_argument("--workdir", required=True, help="scratch directory (emptied first)")
    ap.add_argument("--only", default="abcdefgh", help="sections to run, e.g. abc")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the workdir and re-check the main group's existing MS")
    ARGS = ap.parse_args()
    ARGS.only = ARGS.only.replace(",", "")
    warnings.simplefilter("ignore", category=erfa.ErfaWarning)
    t0 = time.time()
    try:
        run(ARGS)
    except Exception:
        traceback.print_exc()
        C.check("run", lambda: ["exception (traceback above)"])
    print("  (total %.1f s)" % (time.time() - t0))
    print("%d passed, %d failed" % (C.passed, C.failed))
    return 0 if C.failed == 0 and C.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
