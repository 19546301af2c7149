#!/usr/bin/python3
"""Check contimg's UVH5 reader against an independent reader, h5py, exactly.

  /usr/bin/python3 compare_uvh5_h5py.py --contimg BIN --workdir DIR FILE...

Per file:
  header  every Header/ dataset (recursing into extra_keywords/ and phase_center_catalog/<id>/)
          against the header of `contimg dump`: strings (bytes decoded, trailing NULs stripped),
          ints, bools and floats compared with == (JSON doubles round-trip exactly), arrays
          element by element, shapes wherever our JSON keeps them. Fields of ours that name a
          dataset absent from the file must be empty. Derived fields are recomputed from h5py.
  peek    `contimg peek --json FILE...`: the same header comparison, plus time/frequency range,
          integration time and data_layout (shape, chunks, filters, storage size) from h5py,
          and agreement with the dump header.
  data    visdata/flags/nsamples of `contimg dump` on row ranges (first, middle, last, across
          chunk boundaries, empty, random with a fixed seed, the whole file when small),
          --times ranges (np.unique semantics) and --ascending, each under every --profile.
          visdata is compared as np.float32(h5py value); the spw axis of 4-D files is squeezed.
No sample has descending frequencies, so every multi-channel FILE is also checked as a copy in
--workdir with its channel axis reversed (freq_array, channel_width, flex_spw_id_array, Data/*),
where --ascending really reorders. The stderr of failed contimg runs is kept in --workdir too.

One line per check, one per file, then "N passed, M failed". Exit status 1 when anything
failed or no check ran. A mismatch names file, field, index, h5py value and ours.
"""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import traceback

import h5py
import numpy as np

PROFILES = ("metadata", "standard", "streaming", "random")
DATA = ("visdata", "flags", "nsamples")
SEED = 20240611           # random row ranges are reproducible
FULL_FILE_LIMIT = 200000  # compare the whole file too when Nblts*Nfreqs*Npols is at most this
MAX_SHOWN = 10            # mismatches printed per check

# Header datasets we deliberately do not model. Keep minimal; justify every entry.
NOT_MODELLED = {
    # pyuvdata's boolean "freq_array is labelled per channel by flex_spw_id_array". That array
    # itself is read and compared below; the flag adds nothing (pyuvdata >= 3 dropped it).
    "flex_spw",
}
# Datasets of Header/phase_center_catalog/<id>/ we deliberately do not model.
CATALOG_NOT_MODELLED = {
    # pyuvdata's provenance note ("user", "file"): how the entry was made, not where it points.
    "info_source",
}
# Catalogue fields only meaningful for ephemeris or proper-motion sources. pyuvdata writes
# them as Empty (null dataspace) datasets otherwise. Allowed missing ONLY while Empty: a real
# value would be lost by our reader, so then the check fails.
CATALOG_ALLOWED_IF_EMPTY = {"cat_dist", "cat_pm_ra", "cat_pm_dec", "cat_vrad", "cat_times"}

# Our JSON flattens legacy (Nspws, Nfreqs) freq_array to Nfreqs values; other arrays keep shape.
FLATTENED = {"freq_array"}
# Per-row and per-antenna arrays: only a full header read (dump) has them, not peek.
FULL_READ_ONLY = {"ant_1_array", "ant_2_array", "time_array", "integration_time", "lst_array",
                  "uvw_array", "phase_center_id_array", "phase_center_app_ra",
                  "phase_center_app_dec", "phase_center_frame_pa", "antenna_names",
                  "antenna_numbers", "antenna_positions", "antenna_diameters"}
# Keys of our header JSON that are not Header datasets; check_derived covers each of them.
DERIVED = {"path", "file_bytes", "layout", "arrays_loaded", "time_range_jd", "integration_time_s",
           "freq_range_hz", "freq_order", "pointing_dec_rad", "pointing_dec_deg", "visdata_type",
           "data_layout", "peek_ms", "cache_profile", "cache_bytes"}
FILTER_NAMES = {1: "gzip", 2: "shuffle", 3: "fletcher32", 4: "szip", 32000: "lzf",
                32008: "bitshuffle"}
JSON_TYPES = {"str": (str,), "bool": (bool,), "int": (int,), "float": (float, type(None))}


class Report:
    def __init__(self):
        self.passed = self.failed = 0

    def record(self, name, problems):
        if problems:
            self.failed += 1
            print(f"FAIL  {name}")
            for p in problems[:MAX_SHOWN]:
                print(f"        {p}")
            if len(problems) > MAX_SHOWN:
                print(f"        ... and {len(problems) - MAX_SHOWN} more")
        else:
            self.passed += 1
            print(f"PASS  {name}")

    def run(self, name, fn, *args):
        """Record fn(*args) -> problems. A tool exception is a failure too, with its traceback."""
        try:
            problems = fn(*args)
        except Exception:  # noqa: BLE001 -- reported as a failure, never swallowed
            problems = ["tool exception:"] + traceback.format_exc().rstrip().splitlines()
        self.record(name, problems)


def short(v, n=120):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


def same(a, b):
    """Exact equality of JSON values that also tells bool from int and int from float."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def diff(where, exp, got):
    """Problems between an expected JSON-like value and ours, located to the innermost path."""
    if isinstance(exp, dict) and isinstance(got, dict):
        return ([f"{where}: key {k!r} missing from ours" for k in exp if k not in got] +
                [f"{where}: unexpected key {k!r}" for k in got if k not in exp] +
                [p for k in exp if k in got for p in diff(f"{where}.{k}", exp[k], got[k])])
    if isinstance(exp, list) and isinstance(got, list) and len(exp) == len(got):
        return [p for i, (e, g) in enumerate(zip(exp, got)) for p in diff(f"{where}[{i}]", e, g)]
    return [] if same(exp, got) else [f"{where}: expected {short(exp)}, ours {short(got)}"]


def str_diff(e, g):
    i = next((k for k, (x, y) in enumerate(zip(e, g)) if x != y), min(len(e), len(g)))
    return (f"strings differ at char {i} (lengths {len(e)}, {len(g)}): h5py ...{e[i:i + 40]!r}, "
            f"ours ...{g[i:i + 40]!r}")


def h5_value(ds):
    """(kind, numpy array of the dataset's shape) from h5py, or (None, None) when Empty."""
    if ds.shape is None:
        return None, None
    arr = np.asarray(ds[()])
    if h5py.check_string_dtype(ds.dtype) is not None:
        text = [(x.decode("utf-8") if isinstance(x, bytes) else str(x)).rstrip("\0")
                for x in arr.ravel()]
        return "str", np.array(text, dtype=object).reshape(arr.shape)
    kinds = {"b": "bool", "i": "int", "u": "int", "f": "float"}
    if ds.dtype.kind not in kinds:
        raise ValueError(f"{ds.name}: dtype {ds.dtype} not handled by this tool")
    return kinds[ds.dtype.kind], arr


def compare(where, kind, exp, ours, flatten_ok=False, rows=None):
    """Problems comparing an h5py value (kind, numpy array) with our JSON value.
    rows: file row numbers of the first axis, for locating data mismatches."""
    if kind is None:  # Empty dataset: no value
        return [] if ours in (None, "", []) else [f"{where}: h5py Empty, ours {short(ours)}"]
    if exp.ndim == 0:
        if isinstance(ours, (list, dict)):
            return [f"{where}: h5py scalar {short(exp.item())}, ours {short(ours)}"]
        got_flat = [ours]
    else:
        if not isinstance(ours, list):
            return [f"{where}: h5py shape {exp.shape}, ours not a list: {short(ours)}"]
        if exp.size == 0:
            return [] if ours == [] else [f"{where}: h5py has no values, ours {short(ours)}"]
        got = np.array(ours, dtype=object)
        if got.ndim > 1 or (exp.ndim > 1 and not flatten_ok):
            if got.shape != exp.shape:
                return [f"{where}: shape h5py {exp.shape}, ours {got.shape}"]
        elif got.size != exp.size:
            return [f"{where}: h5py {exp.size} values, ours {got.size}"]
        got_flat = got.ravel().tolist()
    exp_flat = exp.ravel().tolist()
    def loc(i):
        idx = [int(k) for k in np.unravel_index(i, exp.shape)] if exp.ndim else []
        if rows is not None:
            return f" row {rows[idx[0]]} [chan,pol{',re/im' if len(idx) > 3 else ''}] {idx[1:]}"
        return f"[{','.join(map(str, idx))}]" if idx else ""
    bad = [i for i, v in enumerate(got_flat)
           if not isinstance(v, JSON_TYPES[kind]) or (kind == "int" and isinstance(v, bool))]
    if bad:
        return [f"{where}{loc(i)}: h5py {kind} {short(exp_flat[i])}, ours has type "
                f"{type(got_flat[i]).__name__}: {short(got_flat[i])}" for i in bad]
    if kind == "str":
        idx = [i for i, (e, g) in enumerate(zip(exp_flat, got_flat)) if e != g]
    elif kind == "float":
        e = np.array(exp_flat, dtype=np.float64)
        g = np.array([math.nan if v is None else v for v in got_flat], dtype=np.float64)
        e = np.where(np.isfinite(e), e, math.nan)  # our JSON writes NaN and Inf as null
        if np.array_equal(e, g, equal_nan=True):
            return []
        idx = np.nonzero(~((e == g) | (np.isnan(e) & np.isnan(g))))[0]
    else:
        e, g = np.array(exp_flat), np.array(got_flat)
        idx = [] if np.array_equal(e, g) else np.nonzero(e != g)[0]
    return [f"{where}{loc(i)}: " + (str_diff(exp_flat[i], got_flat[i]) if kind == "str" else
                                   f"h5py {short(exp_flat[i])}, ours {short(got_flat[i])}")
            for i in idx]


def check_extra_keywords(label, grp, ours):
    where = f"{label} Header/extra_keywords"
    if not isinstance(ours, dict):
        return [(where, [f"{where}: ours is not an object: {short(ours)}"])]
    results = []
    for key, obj in grp.items():
        w = f"{where}/{key}"
        if isinstance(obj, h5py.Group):
            results.append((w, [f"{w}: subgroup, not modelled by our reader"]))
        elif key not in ours:
            results.append((w, [f"{w}: in the file, missing from our JSON"]))
        else:
            results.append((w, compare(w, *h5_value(obj), ours[key])))
    extra = sorted(set(ours) - set(grp))
    results.append((f"{where} (no extra keys)",
                    [f"{where}: ours has keys absent from the file: {extra}"] if extra else []))
    return results


def check_catalog(label, grp, ours, skips):
    where = f"{label} Header/phase_center_catalog"
    if not isinstance(ours, list) or not all(isinstance(e, dict) for e in ours):
        return [(where, [f"{where}: ours is not a list of objects: {short(ours)}"])]
    ours_by_id = {e.get("id"): e for e in ours}
    results = [(f"{where} (entries)", [] if len(ours) == len(grp) == len(ours_by_id) else
                [f"{where}: h5py {len(grp)} entries {list(grp)}, ours {len(ours)} {short(ours)}"])]
    for gname, entry in grp.items():
        cid = int(entry["cat_id"][()]) if "cat_id" in entry else int(gname)
        w0 = f"{where}/{gname}"
        if cid not in ours_by_id:
            results.append((w0, [f"{w0}: id {cid} missing from our JSON"]))
            continue
        mine = ours_by_id[cid]
        for dname, ds in entry.items():
            w, key = f"{w0}/{dname}", ("id" if dname == "cat_id" else dname)
            if dname in CATALOG_NOT_MODELLED:
                skips.append(f"{w}: not modelled (allow-list)")
            elif key in mine:
                results.append((w, compare(w, *h5_value(ds), mine[key])))
            elif dname in CATALOG_ALLOWED_IF_EMPTY and ds.shape is None:
                skips.append(f"{w}: Empty in the file, not modelled (allow-list)")
            else:
                results.append((w, [f"{w}: in the file, missing from our JSON"]))
        absent = [k for k in mine if k != "id" and k not in entry]
        results.append((f"{w0} (id, absent fields empty)",
                        ([] if mine["id"] == cid else [f"{w0}: id h5py {cid}, ours {mine['id']}"]) +
                        [f"{w0}/{k}: absent from the file, ours {short(mine[k])}"
                         for k in absent if mine[k] not in (None, "", [])]))
    return results


def check_header(label, h5, ours, full, skips):
    """[(name, problems)] for every Header dataset; full=False for peek (no per-row arrays)."""
    hdr, results = h5["Header"], []
    for name, obj in hdr.items():
        where = f"{label} Header/{name}"
        if name == "extra_keywords" and isinstance(obj, h5py.Group):
            results += check_extra_keywords(label, obj, ours.get("extra_keywords"))
        elif name == "phase_center_catalog" and isinstance(obj, h5py.Group):
            results += check_catalog(label, obj, ours.get("phase_center_catalog"), skips)
        elif name in NOT_MODELLED:
            skips.append(f"{where}: not modelled (allow-list)")
        elif name not in ours:
            if full or name not in FULL_READ_ONLY:
                results.append((where, [f"{where}: in the file, missing from our JSON"]))
        elif isinstance(obj, h5py.Group):
            results.append((where, [f"{where}: group, not modelled by our reader"]))
        else:
            results.append((where, compare(where, *h5_value(obj), ours[name], name in FLATTENED)))
    # Our fields naming datasets absent from this file must be empty. Legacy files have neither
    # Nphase nor a catalogue: we then report Nphase 0 and an empty phase_center_catalog.
    absent = [k for k in ours if k not in DERIVED and k not in hdr]
    problems = [f"{label} {k}: absent from the file, ours {short(ours[k])}" for k in absent
                if ours[k] not in ("", [], {}, None)
                and not (k == "Nphase" and ours[k] == 0 and "phase_center_catalog" not in hdr)]
    results.append((f"{label} fields absent from the file are empty ({', '.join(absent)})",
                    problems))
    return results


def h5_filters(ds):
    plist = ds.id.get_create_plist()
    codes = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    names = [FILTER_NAMES.get(c, f"filter-{c}") for c in codes]
    if ds.compression is not None and ds.compression not in names:
        raise AssertionError(f"tool: h5py compression {ds.compression} not in {names}")
    return names


def vis_type(dt):
    base = dt["r"] if dt.names else np.dtype(f"f{dt.itemsize // 2}")
    return {("f", 4): "complex-float32", ("f", 8): "complex-float64",
            ("i", 4): "complex-int32"}.get((base.kind, base.itemsize), f"unsupported {dt}")


def expected_pointing_dec(h5):
    """Rule of uvh5_header.h, from h5py values: extra_keywords/phase_center_dec, else the one
    catalogue entry's latitude (site latitude for a zenith drift), else legacy drift: latitude."""
    hdr = h5["Header"]
    lat = math.radians(float(hdr["latitude"][()]))  # x * (pi / 180), as the C++: exact
    if "extra_keywords" in hdr and "phase_center_dec" in hdr["extra_keywords"]:
        return float(hdr["extra_keywords/phase_center_dec"][()])
    text = lambda ds, k: h5_value(ds[k])[1].item() if k in ds else ""  # noqa: E731
    cat = hdr.get("phase_center_catalog")
    if cat is not None and len(cat) == 1:
        pc = next(iter(cat.values()))
        if text(pc, "cat_type") in ("unprojected", "driftscan"):
            zenith = abs(float(pc["cat_lat"][()]) - math.pi / 2) < 1e-9
            return lat if text(pc, "cat_frame") == "altaz" and zenith else None
        return float(pc["cat_lat"][()])
    return lat if cat is None and text(hdr, "phase_type") == "drift" else None


def check_derived(path, h5, ours, peek):
    hdr = h5["Header"]
    t, f = hdr["time_array"][()], np.ravel(hdr["freq_array"][()])
    dec = expected_pointing_dec(h5)
    expected = {
        "path": path, "file_bytes": os.path.getsize(path), "arrays_loaded": not peek,
        "layout": "uvh5-1.x" if "phase_center_catalog" in hdr else "legacy",
        "time_range_jd": [float(t.min()), float(t.max())],
        "integration_time_s": float(np.ravel(hdr["integration_time"][()])[0]),
        "freq_range_hz": [float(f.min()), float(f.max())],
        "freq_order": "descending" if f.size > 1 and f[0] > f[-1] else "ascending",
        "pointing_dec_rad": dec, "pointing_dec_deg": None if dec is None else dec * 180.0 / math.pi,
        "visdata_type": vis_type(h5["Data/visdata"].dtype),
        "data_layout": {n: {"shape": list(ds.shape), "chunks": list(ds.chunks or []),
                            "filters": h5_filters(ds), "storage_bytes": ds.id.get_storage_size()}
                        for n, ds in ((n, h5["Data"][n]) for n in DATA)},
    }
    if peek:
        expected["cache_profile"] = "metadata"
        expected["cache_bytes"] = 1 << 20  # the metadata profile's chunk cache, as HDF5 reports it
    results = [(k, diff(k, v, ours[k]) if k in ours else [f"{k}: missing from ours"])
               for k, v in expected.items()]
    if peek:
        ms = ours.get("peek_ms")
        results.append(("peek_ms", [] if isinstance(ms, float) and ms >= 0 else [f"bad {ms!r}"]))
    return results


def run_contimg(args, label):
    proc = subprocess.run([args.contimg] + label, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", " ".join(label))[-150:]
        with open(os.path.join(args.workdir, stem + ".stderr"), "w") as fh:
            fh.write(proc.stderr)
        return None, [f"contimg {' '.join(label)}: exit {proc.returncode}: "
                      f"{proc.stderr.strip()[-500:]}"]
    try:
        return json.loads(proc.stdout), []
    except json.JSONDecodeError as e:  # a failure, reported as such
        return None, [f"contimg {' '.join(label)}: output is not JSON ({e}): {proc.stdout[:200]!r}"]


def h5_block(h5, rows, order):
    """[(name, kind, expected array (rows, Nfreqs, Npols[, 2]))] read by h5py for `rows`."""
    out = []
    lo, hi = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, 0)
    for name in DATA:
        arr = h5["Data"][name][lo:hi][np.asarray(rows, dtype=np.int64) - lo]
        if arr.ndim == 4:  # legacy (Nblts, Nspws=1, Nfreqs, Npols): squeeze the spw axis
            assert arr.shape[1] == 1, f"Data/{name}: spw axis of length {arr.shape[1]}"
            arr = arr[:, 0]
        if order is not None:
            arr = arr[:, order]
        if name == "visdata":
            re_, im = (arr["r"], arr["i"]) if arr.dtype.names else (arr.real, arr.imag)
            out.append((name, "float", np.stack([re_, im], -1).astype(np.float32)))
        elif name == "flags":
            out.append((name, "bool", arr != 0))
        else:
            out.append((name, "float", arr.astype(np.float32)))
    return out


def check_dump(args, path, h5, ref_header, selector, rows, order, profile):
    label = ["dump", path] + selector + (["--ascending"] if order is not None else []) + [
        "--profile", profile]
    d, problems = run_contimg(args, label)
    if d is None:
        return problems
    problems += diff("cache_profile", profile, d.get("cache_profile"))
    problems += diff("channel_order", "ascending" if order is not None else "as-stored",
                     d.get("channel_order"))
    problems += diff("rows", [int(r) for r in rows], d.get("rows"))
    # Every profile and selection must give the header of the reference (standard) dump.
    problems += diff("header (vs the reference dump)", ref_header, d.get("header"))
    for name, kind, exp in h5_block(h5, rows, order):
        problems += compare(f"{os.path.basename(path)} {name}", kind, exp, d.get(name), rows=rows)
    return problems


def check_file(args, rep, path, peek):
    base = os.path.basename(path)
    with h5py.File(path, "r") as h5:
        hdr = h5["Header"]
        n, nf, npol = (int(hdr[k][()]) for k in ("Nblts", "Nfreqs", "Npols"))
        print(f"== {base}: Nblts={n} Nfreqs={nf} Npols={npol} layout "
              f"{'uvh5-1.x' if 'phase_center_catalog' in hdr else 'legacy'}")
        ref, problems = run_contimg(args, ["dump", path, "--rows", f"0:{min(n, 4)}"])
        rep.record(f"{base}: dump runs", problems)
        if ref is None:
            return []
        skips = []
        for name, problems in check_header(base, h5, ref["header"], True, skips):
            rep.record(name, problems)
        for s in skips:
            print(f"SKIP  {s}")
        rep.run(f"{base}: dump derived fields", lambda: [p for _, ps in check_derived(
            path, h5, ref["header"], False) for p in ps])

        rep.record(f"{base}: peek --json entry", [] if peek is not None else ["no peek entry"])
        if peek is not None:
            rep.run(f"{base}: peek header fields vs h5py", lambda: [p for _, ps in check_header(
                base + " peek", h5, peek, False, []) for p in ps])
            for name, problems in check_derived(path, h5, peek, True):
                rep.record(f"{base}: peek {name}", problems)
            rep.record(f"{base}: peek agrees with dump header", [
                p for k in peek if k not in ("peek_ms", "cache_profile", "cache_bytes", "arrays_loaded")
                for p in diff(f"peek {k} (vs dump)", ref["header"].get(k), peek[k])])

        for selector, rows, chan_order in selections(h5):
            text = " ".join(selector) + (" --ascending" if chan_order is not None else "")
            for profile in PROFILES:
                rep.run(f"{base}: data {text} --profile {profile} ({len(rows)} rows)", check_dump,
                        args, path, h5, ref["header"], selector, rows, chan_order, profile)
    return []


def selections(h5):
    """[(contimg selector, rows in file order, channel order for --ascending or None)]."""
    hdr = h5["Header"]
    n, nf, npol = (int(hdr[k][()]) for k in ("Nblts", "Nfreqs", "Npols"))
    small = n * nf * npol <= FULL_FILE_LIMIT
    ranges = [(0, min(n, 4)), (max(0, n // 2 - 2), min(n, n // 2 + 2)), (max(0, n - 4), n),
              (min(3, n), min(3, n))]  # first, middle, last, empty
    for name in DATA:
        c = (h5["Data"][name].chunks or (n,))[0]
        if c < n:  # across the first chunk boundary
            ranges.append((max(0, c - 2), min(n, c + 2)))
    rng = np.random.default_rng(SEED)
    for _ in range(4):
        a = int(rng.integers(0, n))
        ranges.append((a, min(n, a + int(rng.integers(1, 65)))))
    ranges += [(0, n)] if small else []
    sels = [(["--rows", f"{a}:{b}"], list(range(a, b)), None) for a, b in dict.fromkeys(ranges)]
    times = hdr["time_array"][()]
    uniq = np.unique(times)
    tidx, nt = np.searchsorted(uniq, times), len(uniq)
    tranges = [(0, 1), (nt // 2, min(nt, nt // 2 + 2)), (nt - 1, nt)] + ([(0, nt)] if small else [])
    for a, b in dict.fromkeys(tranges):
        rows = np.nonzero((tidx >= a) & (tidx < b))[0].tolist()
        sels.append((["--times", f"{a}:{b}"], rows, None))
    order = np.argsort(np.ravel(hdr["freq_array"][()]), kind="stable")
    return sels + [(sels[0][0], sels[0][1], order), (sels[-1][0], sels[-1][1], order)]


def descending_copy(path, workdir):
    """A copy of `path` with the channel axis reversed, so that --ascending has work to do (no
    sample is descending). None for a single-channel file."""
    with h5py.File(path, "r") as h5:
        if int(h5["Header/Nfreqs"][()]) < 2:
            return None
    out = os.path.join(workdir, "descending." + os.path.basename(path))
    shutil.copyfile(path, out)
    with h5py.File(out, "r+") as h5:
        for name in ("freq_array", "channel_width", "flex_spw_id_array"):
            ds = h5["Header"].get(name)
            if ds is not None and ds.ndim:
                ds[...] = ds[()][..., ::-1]
        for name in DATA:  # (Nblts, [1,] Nfreqs, Npols)
            ds = h5["Data"][name]
            ds[...] = ds[()][..., ::-1, :]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contimg", required=True, help="path to the contimg binary")
    ap.add_argument("--workdir", required=True, help="scratch directory (stderr of failed runs)")
    ap.add_argument("files", nargs="+", metavar="FILE")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    rep = Report()

    files = list(args.files)
    for f in args.files:
        try:
            copy = descending_copy(f, args.workdir)
        except Exception:  # noqa: BLE001 -- reported as a failure
            rep.record(f"{os.path.basename(f)}: descending-frequency copy",
                       traceback.format_exc().rstrip().splitlines())
            continue
        files += [copy] if copy else []
    peeks, problems = run_contimg(args, ["peek", "--json"] + files)
    if peeks is not None:
        with open(os.path.join(args.workdir, "peek.json"), "w") as fh:
            json.dump(peeks, fh, indent=1)
        if not (isinstance(peeks, list) and len(peeks) == len(files)):
            problems.append(f"expected a list of {len(files)} entries, got {short(peeks)}")
        else:
            problems += [f"entry {i}: path {p.get('path')!r}, expected {f!r}"
                         for i, (p, f) in enumerate(zip(peeks, files)) if p.get("path") != f]
    rep.record(f"peek --json of {len(files)} files", problems)
    peek_ok = not problems

    for i, path in enumerate(files):
        before = (rep.passed, rep.failed)
        rep.run(f"{os.path.basename(path)}: whole-file comparison completes", check_file,
                args, rep, path, peeks[i] if peek_ok else None)
        print(f"== {os.path.basename(path)}: {rep.passed - before[0]} passed, "
              f"{rep.failed - before[1]} failed")

    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed or rep.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
