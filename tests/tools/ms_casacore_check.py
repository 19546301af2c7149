#!/usr/bin/python3
"""Check a Measurement Set written by contimg's MsWriter with python-casacore, independently.

  /usr/bin/python3 ms_casacore_check.py --writer BIN --workdir DIR [--reference MS_OR_TGZ]
  /usr/bin/python3 ms_casacore_check.py --ms EXISTING.ms [--reference ...]   (structure only)

--writer runs tests/tools/ms_write_tiny (tests/io/ms/tiny_ms.h: 5 antennas with
autocorrelations, 3 integrations, 2 SPWs x 4 channels, XX/YY) into DIR/tiny.ms and then checks,
with casacore.tables only (no contimg code):

  tables      the MS opens as a "Measurement Set"; every subtable CASA needs (ANTENNA,
              DATA_DESCRIPTION, FEED, FIELD, FLAG_CMD, HISTORY, OBSERVATION, POINTING,
              POLARIZATION, PROCESSOR, SOURCE, SPECTRAL_WINDOW, STATE) is linked and opens;
              MS_VERSION 2.
  columns     per table, casacore's required_ms_desc() columns are present with the same value
              type, dimensionality and unit/measure keywords; the main table also has DATA and
              WEIGHT_SPECTRUM and no MODEL_DATA/CORRECTED_DATA; every column of every subtable
              reads with getcol/getvarcol (undefined cells would break CASA tools).
  reference   (--reference, a real MS or its .tgz) columns the real MS has that MS v2 requires are
              present here with the same types and units; frame labels that differ are listed.
  values      the tiny MS's values, recomputed here from the fixture's formulas: shapes,
              CORR_TYPE [9, 12] and CORR_PRODUCT, ascending SPW frequencies, FIELD names and
              directions (ICRS), TIME/TIME_CENTROID/INTERVAL/EXPOSURE, antennas and
              autocorrelations, UVW, DATA, FLAG, WEIGHT_SPECTRUM, WEIGHT (median), SIGMA
              (WEIGHT^-1/2, -1 for zero weight), FLAG_ROW, ids, ANTENNA/FEED/OBSERVATION/SOURCE/
              HISTORY contents, and TaQL queries over the main table.

One line per check, then "N passed, M failed" alone on the last line; exit status 1 when a
check failed or none ran.
"""
import argparse
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import traceback

import numpy as np
import casacore.tables as ct

SUBTABLES = ("ANTENNA", "DATA_DESCRIPTION", "FEED", "FIELD", "FLAG_CMD", "HISTORY", "OBSERVATION",
             "POINTING", "POLARIZATION", "PROCESSOR", "SOURCE", "SPECTRAL_WINDOW", "STATE")

# The tiny MS (tests/io/ms/tiny_ms.h); keep in step with it.
NANT, NTIMES, NSPW, NCHAN, NCORR = 5, 3, 2, 4, 2
NBL = NANT * (NANT + 1) // 2
T0 = 60000.25 * 86400.0
INTERVAL = 12.884902
DEC = 0.2827433388230814
LAT, LON, HEIGHT = math.radians(37.2314), math.radians(-118.2817), 1222.0
FREQ0, WIDTH = 1311.387e6, 244140.625
ENU_E = [0.0, 30.0, -40.0, 100.0, -150.0]
ENU_N = [0.0, 5.0, 60.0, -20.0, -200.0]


def tiny_time(t):
    return T0 + (t + 0.5) * INTERVAL


def tiny_ra(t):
    return 1.0 + t * INTERVAL * 7.2921159e-5


def baselines():
    return [(i, j) for i in range(NANT) for j in range(i, NANT)]


def tiny_itrf(a):
    f = 1.0 / 298.257223563
    e2 = f * (2 - f)
    sl, cl, so, co = math.sin(LAT), math.cos(LAT), math.sin(LON), math.cos(LON)
    n = 6378137.0 / math.sqrt(1 - e2 * sl * sl)
    x0, y0 = (n + HEIGHT) * cl * co, (n + HEIGHT) * cl * so
    z0 = (n * (1 - e2) + HEIGHT) * sl
    e, nn = ENU_E[a], ENU_N[a]
    return np.array([x0 - so * e - sl * co * nn, y0 + co * e - sl * so * nn, z0 + cl * nn])


def tiny_uvw(b):
    a1, a2 = baselines()[b]
    e, n = ENU_E[a2] - ENU_E[a1], ENU_N[a2] - ENU_N[a1]
    x, z = -math.sin(LAT) * n, math.cos(LAT) * n
    return np.array([e, -math.sin(DEC) * x + math.cos(DEC) * z, math.cos(DEC) * x + math.sin(DEC) * z])


def tiny_vis(t, s, b, c, p):
    return np.complex64(complex(np.float32(1000 * t + 100 * s + b + 0.01 * c), np.float32(p + 0.1 * c)))


def tiny_flag(t, s, b, c, p):
    return (t == 1 and b == 2) or (t + s + b + c + p) % 7 == 0


def tiny_weight(s, b, c, p):
    if s == 1 and b == 3:
        return 0.0
    if b % 2 == 0:
        return 2.0 + p
    return 1.0 + 0.5 * ((b + c * c + p) % 5)


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, fn):
        try:
            problems = fn()
        except Exception as exc:  # a crash is a failure of that check, not of the run
            problems = ["exception: %s" % exc, traceback.format_exc(limit=3)]
        if problems:
            self.failed += 1
            print("FAIL %s" % name)
            for p in problems[:12]:
                print("     %s" % p)
            if len(problems) > 12:
                print("     ... %d more" % (len(problems) - 12))
        else:
            self.passed += 1
            print("ok   %s" % name)


def open_table(ms, name):
    return ct.table(ms if name == "MAIN" else os.path.join(ms, name), ack=False)


def unit_keywords(desc):
    kw = desc.get("keywords", {}) or {}
    out = {}
    if "QuantumUnits" in kw:
        out["QuantumUnits"] = list(kw["QuantumUnits"])
    if "UNIT" in kw and kw["UNIT"]:
        out["UNIT"] = kw["UNIT"]
    if "MEASINFO" in kw:
        out["MEASINFO.type"] = kw["MEASINFO"].get("type")
    return out


def fixed_ndim(desc):
    nd = desc.get("ndim", 0)
    return None if nd in (-1, None) else nd


# ----------------------------------------------------------------------------- structure

def check_tables(ms):
    problems = []
    main = open_table(ms, "MAIN")
    info = main.info()
    if info.get("type") != "Measurement Set":
        problems.append("table info type %r, expected 'Measurement Set'" % info.get("type"))
    kws = main.getkeywords()
    if float(kws.get("MS_VERSION", 0)) != 2.0:
        problems.append("MS_VERSION %r" % kws.get("MS_VERSION"))
    for name in SUBTABLES:
        link = kws.get(name)
        if not (isinstance(link, str) and link.startswith("Table:")):
            problems.append("keyword %s does not link a subtable: %r" % (name, link))
            continue
        try:
            open_table(ms, name).nrows()
        except Exception as exc:
            problems.append("%s does not open: %s" % (name, exc))
    return problems


def check_required_columns(ms, name):
    def run():
        problems = []
        t = open_table(ms, name)
        have = set(t.colnames())
        req = ct.required_ms_desc(name)
        for col, desc in req.items():
            if col.startswith("_"):
                continue
            if col not in have:
                problems.append("required column %s missing" % col)
                continue
            ours = t.getcoldesc(col)
            if ours["valueType"] != desc["valueType"]:
                problems.append("%s: type %s, required %s" % (col, ours["valueType"], desc["valueType"]))
            if fixed_ndim(desc) is not None and fixed_ndim(ours) != fixed_ndim(desc):
                problems.append("%s: ndim %s, required %s" % (col, ours.get("ndim"), desc.get("ndim")))
            ru, ou = unit_keywords(desc), unit_keywords(ours)
            for k, v in ru.items():
                if ou.get(k) != v:
                    problems.append("%s: %s %r, required %r" % (col, k, ou.get(k), v))
        if name == "MAIN":
            for col in ("DATA", "WEIGHT_SPECTRUM"):
                if col not in have:
                    problems.append("%s missing" % col)
            for col in ("MODEL_DATA", "CORRECTED_DATA"):
                if col in have:
                    problems.append("%s present: not written at conversion (SPEC 4)" % col)
        return problems
    return run


def check_readable(ms, name):
    def run():
        problems = []
        t = open_table(ms, name)
        for col in t.colnames():
            if col == "FLAG_CATEGORY":  # required, never filled by anyone (cells undefined)
                continue
            if t.nrows() == 0:
                continue
            try:
                if t.isvarcol(col):
                    t.getvarcol(col)
                else:
                    t.getcol(col)
            except Exception as exc:
                problems.append("%s.%s does not read: %s" % (name, col, exc))
        return problems
    return run


def check_against_reference(ms, ref):
    notes = []

    def run():
        problems = []
        for name in ("MAIN",) + SUBTABLES:
            try:
                r = open_table(ref, name)
            except Exception:
                continue  # the reference lacks it
            t = open_table(ms, name)
            required = set(k for k in ct.required_ms_desc(name) if not k.startswith("_"))
            for col in r.colnames():
                rd = r.getcoldesc(col)
                if col not in t.colnames():
                    if col in required:
                        problems.append("%s.%s: in the reference and required, missing here" % (name, col))
                    continue
                od = t.getcoldesc(col)
                if od["valueType"] != rd["valueType"]:
                    problems.append("%s.%s: type %s, reference %s" % (name, col, od["valueType"], rd["valueType"]))
                if fixed_ndim(rd) is not None and fixed_ndim(od) is not None and fixed_ndim(rd) != fixed_ndim(od):
                    problems.append("%s.%s: ndim %s, reference %s" % (name, col, od.get("ndim"), rd.get("ndim")))
                ru, ou = unit_keywords(rd), unit_keywords(od)
                for k in ("QuantumUnits", "UNIT", "MEASINFO.type"):
                    if k in ru and ou.get(k) != ru[k]:
                        problems.append("%s.%s: %s %r, reference %r" % (name, col, k, ou.get(k), ru[k]))
                rref = (rd.get("keywords") or {}).get("MEASINFO", {}).get("Ref")
                oref = (od.get("keywords") or {}).get("MEASINFO", {})
                oref = oref.get("Ref", "VarRefCol:" + str(oref.get("VarRefCol"))) if oref else None
                if rref and oref != rref:
                    notes.append("%s.%s frame %s (reference %s)" % (name, col, oref, rref))
        return problems
    return run, notes


# ----------------------------------------------------------------------------- values

def close(a, b, tol=1e-9):
    return np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=0, atol=tol)


def check_main_values(ms):
    problems = []
    t = open_table(ms, "MAIN")
    nrow = NTIMES * NSPW * NBL
    if t.nrows() != nrow:
        return ["%d rows, expected %d" % (t.nrows(), nrow)]
    data, flag, ws = t.getcol("DATA"), t.getcol("FLAG"), t.getcol("WEIGHT_SPECTRUM")
    weight, sigma, uvw = t.getcol("WEIGHT"), t.getcol("SIGMA"), t.getcol("UVW")
    for name, arr, shape in (("DATA", data, (nrow, NCHAN, NCORR)), ("FLAG", flag, (nrow, NCHAN, NCORR)),
                             ("WEIGHT_SPECTRUM", ws, (nrow, NCHAN, NCORR)), ("WEIGHT", weight, (nrow, NCORR)),
                             ("SIGMA", sigma, (nrow, NCORR)), ("UVW", uvw, (nrow, 3))):
        if arr.shape != shape:
            problems.append("%s shape %s, expected %s" % (name, arr.shape, shape))
    if problems:
        return problems
    if data.dtype != np.complex64 or ws.dtype != np.float32 or flag.dtype != bool:
        problems.append("dtypes DATA %s WEIGHT_SPECTRUM %s FLAG %s" % (data.dtype, ws.dtype, flag.dtype))
    cols = {c: t.getcol(c) for c in ("TIME", "TIME_CENTROID", "INTERVAL", "EXPOSURE", "ANTENNA1", "ANTENNA2",
                                     "FIELD_ID", "SCAN_NUMBER", "DATA_DESC_ID", "ARRAY_ID", "OBSERVATION_ID",
                                     "PROCESSOR_ID", "STATE_ID", "FEED1", "FEED2", "FLAG_ROW")}
    bls = baselines()
    for r in range(nrow):
        b, s, ti = r % NBL, (r // NBL) % NSPW, r // (NBL * NSPW)
        where = "row %d (t %d, spw %d, bl %d)" % (r, ti, s, b)
        expect = {"TIME": tiny_time(ti), "TIME_CENTROID": tiny_time(ti), "INTERVAL": INTERVAL,
                  "EXPOSURE": INTERVAL, "ANTENNA1": bls[b][0], "ANTENNA2": bls[b][1], "FIELD_ID": ti,
                  "SCAN_NUMBER": ti + 1, "DATA_DESC_ID": s, "ARRAY_ID": 0, "OBSERVATION_ID": 0,
                  "PROCESSOR_ID": 0, "STATE_ID": -1, "FEED1": 0, "FEED2": 0}
        for c, v in expect.items():
            if cols[c][r] != v:
                problems.append("%s: %s %r, expected %r" % (where, c, cols[c][r], v))
        if not close(uvw[r], tiny_uvw(b), 1e-9):
            problems.append("%s: UVW %s, expected %s" % (where, uvw[r], tiny_uvw(b)))
        ev = np.array([[tiny_vis(ti, s, b, c, p) for p in range(NCORR)] for c in range(NCHAN)])
        ef = np.array([[tiny_flag(ti, s, b, c, p) for p in range(NCORR)] for c in range(NCHAN)])
        ew = np.array([[tiny_weight(s, b, c, p) for p in range(NCORR)] for c in range(NCHAN)], dtype=np.float32)
        if not np.array_equal(data[r], ev):
            problems.append("%s: DATA %s, expected %s" % (where, data[r].tolist(), ev.tolist()))
        if not np.array_equal(flag[r], ef):
            problems.append("%s: FLAG %s, expected %s" % (where, flag[r].tolist(), ef.tolist()))
        if not np.array_equal(ws[r], ew):
            problems.append("%s: WEIGHT_SPECTRUM %s, expected %s" % (where, ws[r].tolist(), ew.tolist()))
        med = np.median(ew, axis=0)
        if not np.allclose(weight[r], med, rtol=1e-6, atol=0):
            problems.append("%s: WEIGHT %s, expected median %s" % (where, weight[r], med))
        es = np.where(med > 0, 1.0 / np.sqrt(np.where(med > 0, med, 1.0)), -1.0)
        if not np.allclose(sigma[r], es, rtol=1e-6, atol=0):
            problems.append("%s: SIGMA %s, expected %s" % (where, sigma[r], es))
        if bool(cols["FLAG_ROW"][r]) != bool(ef.all()):
            problems.append("%s: FLAG_ROW %s, expected %s" % (where, cols["FLAG_ROW"][r], ef.all()))
    if int(cols["FLAG_ROW"].sum()) != NSPW:
        problems.append("%d fully flagged rows, expected %d" % (cols["FLAG_ROW"].sum(), NSPW))
    if not (weight == 0).any() or not (sigma == -1).any():
        problems.append("the zero-weight row did not come out as WEIGHT 0 / SIGMA -1")
    return problems


def check_autocorrelations(ms):
    t = open_table(ms, "MAIN")
    a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
    n_auto = int((a1 == a2).sum())
    problems = []
    if n_auto != NANT * NTIMES * NSPW:
        problems.append("%d autocorrelation rows, expected %d" % (n_auto, NANT * NTIMES * NSPW))
    if (a1 > a2).any():
        problems.append("ANTENNA1 > ANTENNA2 in %d rows" % int((a1 > a2).sum()))
    nant = open_table(ms, "ANTENNA").nrows()
    if a1.max() >= nant or a2.max() >= nant or a1.min() < 0:
        problems.append("antenna index outside the ANTENNA table (%d rows)" % nant)
    return problems


def check_time(ms):
    problems = []
    t = open_table(ms, "MAIN")
    time = t.getcol("TIME")
    if not (np.diff(time) >= 0).all():
        problems.append("TIME is not time-major (non-decreasing)")
    utimes = np.unique(time)
    if len(utimes) != NTIMES or not close(utimes, [tiny_time(i) for i in range(NTIMES)], 1e-6):
        problems.append("unique TIMEs %s" % utimes)
    if not close(np.diff(utimes), INTERVAL, 1e-6):
        problems.append("TIME steps %s != INTERVAL %s" % (np.diff(utimes), INTERVAL))
    kw = t.getcolkeyword("TIME", "MEASINFO")
    if kw.get("Ref") != "UTC" or list(t.getcolkeyword("TIME", "QuantumUnits")) != ["s"]:
        problems.append("TIME keywords %s" % kw)
    year = 1858.87 + time[0] / 86400.0 / 365.25  # MJD seconds, not seconds since MJD 51544
    if not 2000 < year < 2100:
        problems.append("TIME %s is not MJD seconds (year %.1f)" % (time[0], year))
    obs = open_table(ms, "OBSERVATION")
    tr = obs.getcell("TIME_RANGE", 0)
    if not close(tr, [T0, T0 + NTIMES * INTERVAL], 1e-6):
        problems.append("OBSERVATION.TIME_RANGE %s, expected %s" % (tr, [T0, T0 + NTIMES * INTERVAL]))
    return problems


def check_polarization(ms):
    problems = []
    p = open_table(ms, "POLARIZATION")
    if p.nrows() != 1:
        return ["%d POLARIZATION rows" % p.nrows()]
    if list(p.getcell("CORR_TYPE", 0)) != [9, 12]:
        problems.append("CORR_TYPE %s, expected [9, 12] (XX, YY)" % p.getcell("CORR_TYPE", 0))
    cp = p.getcell("CORR_PRODUCT", 0)
    if cp.shape != (2, 2) or cp.tolist() != [[0, 0], [1, 1]]:
        problems.append("CORR_PRODUCT %s, expected [[0, 0], [1, 1]] (per correlation: receptors)" % cp.tolist())
    if p.getcell("NUM_CORR", 0) != 2:
        problems.append("NUM_CORR %s" % p.getcell("NUM_CORR", 0))
    dd = open_table(ms, "DATA_DESCRIPTION")
    if dd.nrows() != NSPW or list(dd.getcol("SPECTRAL_WINDOW_ID")) != list(range(NSPW)) \
            or list(dd.getcol("POLARIZATION_ID")) != [0] * NSPW:
        problems.append("DATA_DESCRIPTION %s / %s" % (dd.getcol("SPECTRAL_WINDOW_ID"), dd.getcol("POLARIZATION_ID")))
    return problems


def check_spectral_windows(ms):
    problems = []
    s = open_table(ms, "SPECTRAL_WINDOW")
    if s.nrows() != NSPW:
        return ["%d SPWs" % s.nrows()]
    previous = -np.inf
    for i in range(NSPW):
        f = s.getcell("CHAN_FREQ", i)
        w = s.getcell("CHAN_WIDTH", i)
        expected = FREQ0 + (i * NCHAN + np.arange(NCHAN)) * WIDTH
        if not close(f, expected, 1e-3):
            problems.append("SPW %d CHAN_FREQ %s, expected %s" % (i, f, expected))
        if not (np.diff(f) > 0).all():
            problems.append("SPW %d channels not ascending" % i)
        if f[0] <= previous:
            problems.append("SPW %d starts below SPW %d" % (i, i - 1))
        previous = f[0]
        if not (w > 0).all() or not close(w, WIDTH, 1e-6):
            problems.append("SPW %d CHAN_WIDTH %s" % (i, w))
        for col in ("EFFECTIVE_BW", "RESOLUTION"):
            if not close(s.getcell(col, i), np.abs(w), 1e-6):
                problems.append("SPW %d %s %s" % (i, col, s.getcell(col, i)))
        if s.getcell("NUM_CHAN", i) != NCHAN:
            problems.append("SPW %d NUM_CHAN %s" % (i, s.getcell("NUM_CHAN", i)))
        if not close(s.getcell("TOTAL_BANDWIDTH", i), NCHAN * WIDTH, 1e-6):
            problems.append("SPW %d TOTAL_BANDWIDTH %s" % (i, s.getcell("TOTAL_BANDWIDTH", i)))
        if s.getcell("MEAS_FREQ_REF", i) != 5:
            problems.append("SPW %d MEAS_FREQ_REF %s, expected 5 (TOPO)" % (i, s.getcell("MEAS_FREQ_REF", i)))
        if s.getcell("NAME", i) != "sb%d" % (NSPW - 1 - i):
            problems.append("SPW %d NAME %r" % (i, s.getcell("NAME", i)))
    return problems


def check_fields(ms):
    problems = []
    f = open_table(ms, "FIELD")
    if f.nrows() != NTIMES:
        return ["%d FIELD rows, expected %d" % (f.nrows(), NTIMES)]
    names = list(f.getcol("NAME"))
    if names != ["meridian_icrs_t%d" % i for i in range(NTIMES)]:
        problems.append("FIELD names %s" % names)
    for col in ("PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"):
        d = f.getcol(col)
        if d.shape != (NTIMES, 1, 2):
            problems.append("%s shape %s, expected (%d, 1, 2)" % (col, d.shape, NTIMES))
            continue
        expected = np.array([[[tiny_ra(i), DEC]] for i in range(NTIMES)])
        if not close(d, expected, 1e-12):
            problems.append("%s %s, expected %s" % (col, d.tolist(), expected.tolist()))
        ref = f.getcolkeyword(col, "MEASINFO").get("Ref")
        if ref != "ICRS":
            problems.append("%s frame %s, expected ICRS" % (col, ref))
    if not close(f.getcol("TIME"), [tiny_time(i) for i in range(NTIMES)], 1e-6):
        problems.append("FIELD.TIME %s" % f.getcol("TIME"))
    if list(f.getcol("NUM_POLY")) != [0] * NTIMES:
        problems.append("NUM_POLY %s" % f.getcol("NUM_POLY"))
    src = open_table(ms, "SOURCE")
    if src.nrows() != NTIMES or list(src.getcol("NAME")) != names \
            or list(src.getcol("SOURCE_ID")) != list(f.getcol("SOURCE_ID")):
        problems.append("SOURCE rows do not match FIELD (%d rows)" % src.nrows())
    elif not close(src.getcol("DIRECTION"), [[tiny_ra(i), DEC] for i in range(NTIMES)], 1e-12):
        problems.append("SOURCE.DIRECTION %s" % src.getcol("DIRECTION"))
    return problems


def check_antennas(ms):
    problems = []
    a = open_table(ms, "ANTENNA")
    if a.nrows() != NANT:
        return ["%d ANTENNA rows" % a.nrows()]
    pos = a.getcol("POSITION")
    for i in range(NANT):
        if not close(pos[i], tiny_itrf(i), 1e-6):
            problems.append("antenna %d POSITION %s, expected %s" % (i, pos[i], tiny_itrf(i)))
        r = np.linalg.norm(pos[i])
        if not 6.36e6 < r < 6.38e6:
            problems.append("antenna %d is %.0f m from the geocentre" % (i, r))
    if a.getcolkeyword("POSITION", "MEASINFO").get("Ref") != "ITRF":
        problems.append("POSITION frame %s" % a.getcolkeyword("POSITION", "MEASINFO"))
    if not close(a.getcol("DISH_DIAMETER"), 4.65, 0):
        problems.append("DISH_DIAMETER %s" % a.getcol("DISH_DIAMETER"))
    for col, want in (("MOUNT", "ALT-AZ"), ("TYPE", "GROUND-BASED")):
        if set(a.getcol(col)) != {want}:
            problems.append("%s %s" % (col, set(a.getcol(col))))
    if list(a.getcol("NAME")) != [str(i + 1) for i in range(NANT)]:
        problems.append("NAME %s" % a.getcol("NAME"))
    if a.getcol("FLAG_ROW").any() or np.abs(a.getcol("OFFSET")).max() != 0:
        problems.append("FLAG_ROW/OFFSET not clear")
    feed = open_table(ms, "FEED")
    if feed.nrows() != NANT or list(feed.getcol("ANTENNA_ID")) != list(range(NANT)):
        problems.append("FEED: %d rows, ANTENNA_ID %s" % (feed.nrows(), feed.getcol("ANTENNA_ID")))
    else:
        if set(feed.getcol("SPECTRAL_WINDOW_ID")) != {-1} or set(feed.getcol("NUM_RECEPTORS")) != {2}:
            problems.append("FEED SPECTRAL_WINDOW_ID/NUM_RECEPTORS")
        pt = [list(feed.getcell("POLARIZATION_TYPE", i)) for i in range(NANT)]
        if pt != [["X", "Y"]] * NANT:
            problems.append("FEED POLARIZATION_TYPE %s" % pt)
        if not close(feed.getcol("RECEPTOR_ANGLE"), [[0, math.pi / 2]] * NANT, 1e-12):
            problems.append("RECEPTOR_ANGLE %s" % feed.getcol("RECEPTOR_ANGLE"))
        if feed.getcol("BEAM_OFFSET").shape != (NANT, 2, 2):
            problems.append("BEAM_OFFSET shape %s" % (feed.getcol("BEAM_OFFSET").shape,))
    return problems


def check_observation(ms):
    problems = []
    o = open_table(ms, "OBSERVATION")
    if o.nrows() != 1 or o.getcell("TELESCOPE_NAME", 0) != "DSA_110":
        problems.append("TELESCOPE_NAME %r" % (o.getcol("TELESCOPE_NAME"),))
    h = open_table(ms, "HISTORY")
    if h.nrows() < 1 or h.getcell("APPLICATION", 0) != "contimg" or not h.getcell("MESSAGE", 0):
        problems.append("HISTORY %d rows" % h.nrows())
    else:
        cli = h.getcell("CLI_COMMAND", 0)
        if list(cli) != ["ms_write_tiny", "--out", "x.ms"]:
            problems.append("HISTORY CLI_COMMAND %s" % cli)
    p = open_table(ms, "PROCESSOR")
    if p.nrows() != 1 or p.getcell("TYPE", 0) != "CORRELATOR":
        problems.append("PROCESSOR")
    for name in ("POINTING", "STATE", "FLAG_CMD"):
        if open_table(ms, name).nrows() != 0:
            problems.append("%s is not empty" % name)
    return problems


def check_taql(ms):
    problems = []
    t = open_table(ms, "MAIN")
    autos = ct.taql("select from $t where ANTENNA1 == ANTENNA2")
    if autos.nrows() != NANT * NTIMES * NSPW:
        problems.append("TaQL autocorrelations: %d rows" % autos.nrows())
    per_spw = ct.taql("select DATA_DESC_ID, gcount() as N from $t groupby DATA_DESC_ID")
    if list(per_spw.getcol("N")) != [NTIMES * NBL] * NSPW:
        problems.append("TaQL rows per DATA_DESC_ID %s" % per_spw.getcol("N"))
    span = ct.taql("select gmin(TIME) as T0, gmax(TIME) as T1 from $t")
    got = [span.getcell("T0", 0), span.getcell("T1", 0)]
    if not close(got, [tiny_time(0), tiny_time(NTIMES - 1)], 1e-6):
        problems.append("TaQL time span %s" % got)
    zero_uvw = ct.taql("select from $t where ANTENNA1 != ANTENNA2 and all(UVW == 0)")
    if zero_uvw.nrows() != 0:
        problems.append("%d cross-correlations with all-zero UVW" % zero_uvw.nrows())
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writer", help="ms_write_tiny executable")
    ap.add_argument("--workdir", help="where the tiny MS is written")
    ap.add_argument("--ms", help="check an existing MS (structure only)")
    ap.add_argument("--reference", help="a real MS (directory or .tgz) to compare column sets with")
    args = ap.parse_args()

    c = Checker()
    cleanup = []
    if args.writer:
        if not args.workdir:
            ap.error("--writer needs --workdir")
        os.makedirs(args.workdir, exist_ok=True)
        ms = os.path.join(args.workdir, "tiny.ms")
        shutil.rmtree(ms, ignore_errors=True)
        run = subprocess.run([args.writer, ms], capture_output=True, text=True)
        print("writer: %s" % (run.stdout.strip() or run.stderr.strip()))
        if run.returncode != 0:
            print("FAIL writer exited %d: %s" % (run.returncode, run.stderr.strip()))
            print("0 passed, 1 failed")
            return 1
    elif args.ms:
        ms = args.ms
    else:
        ap.error("give --writer or --ms")

    c.check("tables: MS opens, subtables linked", lambda: check_tables(ms))
    for name in ("MAIN",) + SUBTABLES:
        c.check("columns: %s has the required columns" % name, check_required_columns(ms, name))
        c.check("columns: %s reads with getcol" % name, check_readable(ms, name))
    if args.reference:
        ref = args.reference
        if not os.path.exists(ref):
            print("skip reference: %s does not exist" % ref)
        else:
            if ref.endswith((".tgz", ".tar.gz")):
                tmp = tempfile.mkdtemp(prefix="ms_reference_")
                cleanup.append(tmp)
                with tarfile.open(ref) as tf:
                    tf.extractall(tmp)
                found = [os.path.join(tmp, d) for d in os.listdir(tmp)]
                ref = next(d for d in found if os.path.isdir(d))
            run, notes = check_against_reference(ms, ref)
            c.check("reference: required columns of %s present, same types and units"
                    % os.path.basename(args.reference), run)
            for n in notes:
                print("     note: %s" % n)
    if args.writer:
        c.check("values: main table (every row, every column)", lambda: check_main_values(ms))
        c.check("values: autocorrelations present", lambda: check_autocorrelations(ms))
        c.check("values: TIME / INTERVAL / TIME_RANGE", lambda: check_time(ms))
        c.check("values: POLARIZATION CORR_TYPE [9, 12], DATA_DESCRIPTION", lambda: check_polarization(ms))
        c.check("values: SPECTRAL_WINDOW ascending", lambda: check_spectral_windows(ms))
        c.check("values: FIELD names and ICRS directions, SOURCE", lambda: check_fields(ms))
        c.check("values: ANTENNA and FEED", lambda: check_antennas(ms))
        c.check("values: OBSERVATION, HISTORY, PROCESSOR, empty tables", lambda: check_observation(ms))
        c.check("values: TaQL queries", lambda: check_taql(ms))
    for d in cleanup:
        shutil.rmtree(d, ignore_errors=True)
    print("%d passed, %d failed" % (c.passed, c.failed))
    return 0 if c.failed == 0 and c.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
