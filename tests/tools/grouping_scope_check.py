#!/usr/bin/python3
"""Batch runs take their groups from their own input directory (issue 11: D1, D2, D8).

  /usr/bin/python3 grouping_scope_check.py --contimg BIN --data REPO/data --workdir DIR

Runs the real program on tiny simulated groups sharing one state database and reads the
products with python-casacore and the database with sqlite3 (no contimg code):

  D1  A and B simulated with the same start time (seeds 1, 2): `convert A outA`,
      `convert B outB`, `convert A outA2` -> outA2's DATA equals outA's, not outB's.
      With mixed mtimes (half of A's files newer than B's, half older) `convert B` and
      `convert A` still write pure B and pure A. After `convert X` (10:00), `convert Y outY`
      (11:00) over the whole day writes Y's group only.
  D2  `mv A A_moved`, then `convert B` -> exit 0, pure B, and A's files are gone from the
      index; a directory emptied then indexed again leaves no row of its files nor its group.
  D8  sb05's phase_center_dec rewritten to 20 deg (the others 54.6): convert skips the group
      (nothing converted) with a reason naming sb05 and the pointing; `groups --json` lists the
      exclusion; with --allow-incomplete the MS is written from the 15 agreeing subbands.

One line per check, then "N passed, M failed" alone on the last line; exit 1 when a check
failed or none ran.
"""
import argparse
import glob
import json
import math
import os
import shutil
import sqlite3
import sys

import h5py
import numpy as np
import casacore.tables as ct

from contimg_harness import Checker, Contimg, describe

DAY = "2025-01-01"


C = Checker()


class Scoped(Contimg):
    def convert(self, inp, out, db, *extra, start=DAY, end=DAY):
        return super().convert(inp, out, db, *extra, start=start, end=end)


def data_of(ms):
    with ct.table(ms, ack=False) as t:
        return t.getcol("DATA")


def ms_files(out):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(out, "*.ms")))


def rows_under(db, directory):
    prefix = os.path.abspath(directory).rstrip("/") + "/"
    with sqlite3.connect(db) as con:
        return con.execute("SELECT COUNT(*) FROM files WHERE substr(path, 1, ?) = ?",
                           (len(prefix), prefix)).fetchone()[0]


def group_ids(db):
    with sqlite3.connect(db) as con:
        return [r[0] for r in con.execute("SELECT group_id FROM groups ORDER BY group_id")]


def set_mtime(path, t):
    os.utime(path, (t, t))


def subband(path):
    return int(os.path.basename(path).split("_sb")[1][:2])


def scope_and_vanished(ci, w):
    db = os.path.join(w, "state.sqlite3")
    A, B = os.path.join(w, "A"), os.path.join(w, "B")
    g = "2025-01-01T06:00:00"
    ci.simulate(A, g, 1)
    ci.simulate(B, g, 2)

    # D1: the same group in two directories; each run uses its own files.
    outs = {}
    for name, inp in (("outA", A), ("outB", B), ("outA2", A)):
        out = os.path.join(w, name)
        p = ci.convert(inp, out, db)
        C.check("D1 convert %s -> %s exits 0" % (os.path.basename(inp), name), p.returncode == 0, describe(p))
        outs[name] = os.path.join(out, g + ".ms")
    a, b, a2 = (data_of(outs[k]) for k in ("outA", "outB", "outA2"))
    C.check("D1 A and B differ (seeds 1, 2)", not np.array_equal(a, b))
    C.check("D1 outA2 holds A's data, not B's", np.array_equal(a2, a) and not np.array_equal(a2, b))

    # D1: mixed mtimes, so that the newest file of a subband lies in A for half the subbands.
    base = 1.9e9
    for path in glob.glob(os.path.join(A, "*.hdf5")) + glob.glob(os.path.join(B, "*.hdf5")):
        in_a = os.path.dirname(path) == A
        newer = (subband(path) % 2 == 0) == in_a
        set_mtime(path, base + (100 if newer else 0))
    for name, inp, want in (("outB2", B, b), ("outA3", A, a)):
        out = os.path.join(w, name)
        p = ci.convert(inp, out, db)
        ok = p.returncode == 0 and os.path.isdir(os.path.join(out, g + ".ms"))
        C.check("D1 mixed mtimes: convert %s exits 0" % os.path.basename(inp), ok, describe(p))
        if ok:
            C.check("D1 mixed mtimes: %s holds only %s's data" % (name, os.path.basename(inp)),
                    np.array_equal(data_of(os.path.join(out, g + ".ms")), want))

    # D1: another time in another directory is not this run's group.
    X, Y = os.path.join(w, "X"), os.path.join(w, "Y")
    ci.simulate(X, "2025-01-01T10:00:00", 3)
    ci.simulate(Y, "2025-01-01T11:00:00", 4)
    p = ci.convert(X, os.path.join(w, "outX"), db)
    C.check("D1 convert X exits 0", p.returncode == 0, describe(p))
    p = ci.convert(Y, os.path.join(w, "outY"), db)
    C.check("D1 convert Y exits 0", p.returncode == 0, describe(p))
    got = ms_files(os.path.join(w, "outY"))
    C.check("D1 outY holds Y's group only", got == ["2025-01-01T11:00:00.ms"], str(got))

    # D2: A moved away; B's group is complete in B and must convert from B.
    shutil.move(A, os.path.join(w, "A_moved"))
    for attempt in (1, 2):
        out = os.path.join(w, "outB3_%d" % attempt)
        p = ci.convert(B, out, db)
        ok = p.returncode == 0 and os.path.isdir(os.path.join(out, g + ".ms"))
        C.check("D2 after mv A: convert B exits 0 (run %d)" % attempt, ok, describe(p))
        if ok:
            C.check("D2 after mv A: pure B (run %d)" % attempt,
                    np.array_equal(data_of(os.path.join(out, g + ".ms")), b))
    C.check("D2 the moved files left the index", rows_under(db, A) == 0, "%d rows" % rows_under(db, A))

    # D2: `index DIR` of an emptied directory removes its files and their group.
    Z = os.path.join(w, "Z")
    ci.simulate(Z, "2025-01-01T12:00:00", 5)
    p = ci.run("index", [Z, "--db", db])
    C.check("D2 index Z exits 0", p.returncode == 0, describe(p))
    C.check("D2 Z indexed", rows_under(db, Z) == 16 and "2025-01-01T12:00:00" in group_ids(db))
    for path in glob.glob(os.path.join(Z, "*.hdf5")):
        os.remove(path)
    p = ci.run("index", [Z, "--db", db])
    C.check("D2 index of the emptied Z exits 0 and reports 16 removed",
            p.returncode == 0 and (p.json or {}).get("removed") == 16, describe(p) + " " + p.stdout[-300:])
    C.check("D2 the emptied Z's files left the index", rows_under(db, Z) == 0, "%d rows" % rows_under(db, Z))
    C.check("D2 the emptied Z's group left the index", "2025-01-01T12:00:00" not in group_ids(db),
            str(group_ids(db)))


def pointing(ci, w):
    db = os.path.join(w, "state-d8.sqlite3")
    P = os.path.join(w, "P")
    g = "2025-01-02T06:00:00"
    ci.simulate(P, g, 6)
    (sb05,) = glob.glob(os.path.join(P, "*_sb05.hdf5"))
    with h5py.File(sb05, "r+") as f:
        ds = f["Header/extra_keywords/phase_center_dec"]
        others = float(ds[()])
        ds[()] = math.radians(20.0)
    C.check("D8 the others point elsewhere (> 30 deg away)", abs(math.degrees(others) - 20.0) > 30,
            "%.3f deg" % math.degrees(others))

    p = ci.convert(P, os.path.join(w, "outP"), db, start="2025-01-02", end="2025-01-02")
    counts = (p.json or {}).get("counts", {})
    C.check("D8 convert skips the group instead of merging the stray subband",
            counts.get("converted") == 0 and counts.get("skipped") == 1, describe(p) + " " + str(counts))
    skipped = (p.json or {}).get("skipped", [])
    reason = " ".join(str(s.get("reason", "")) for s in skipped)
    C.check("D8 the reason names sb05 and the pointing", "sb05" in reason and "pointing" in reason, reason)
    C.check("D8 no MS written", ms_files(os.path.join(w, "outP")) == [])

    p = ci.run("groups", ["2025-01-02", "2025-01-02", "--db", db])
    groups = (p.json or {}).get("groups", [])
    excl = groups[0].get("excluded", []) if len(groups) == 1 else []
    C.check("D8 groups lists one group with sb05 excluded, 15/16 present",
            len(groups) == 1 and groups[0]["n_subbands"] == 15 and 5 in groups[0]["missing"]
            and any("sb05" in e for e in excl), json.dumps(groups)[:600])

    out = os.path.join(w, "outP2")
    p = ci.convert(P, out, db, "--allow-incomplete", start="2025-01-02", end="2025-01-02")
    C.check("D8 --allow-incomplete converts the 15 agreeing subbands", p.returncode == 0
            and ms_files(out) == [g + ".ms"], describe(p))
    if ms_files(out) == [g + ".ms"]:
        with ct.table(os.path.join(out, g + ".ms"), ack=False) as t:
            dd = t.getcol("DATA_DESC_ID")
            flag = t.getcol("FLAG")
        with ct.table(os.path.join(out, g + ".ms", "DATA_DESCRIPTION"), ack=False) as t:
            spw_of_dd = t.getcol("SPECTRAL_WINDOW_ID")
        # SPW 0 = sb15 (ascending frequency): sb05 is SPW 10.
        fully = [int(s) for s in sorted(set(spw_of_dd[dd])) if flag[spw_of_dd[dd] == s].all()]
        C.check("D8 only sb05's SPW (10) is fully flagged", fully == [10], str(fully))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    ci = Scoped(os.path.abspath(args.contimg), os.path.abspath(args.data), os.path.abspath(args.workdir))
    for section in (scope_and_vanished, pointing):
        try:
            section(ci, args.workdir)
        except Exception as e:  # a crash of one section is a failure, the next still runs
            C.check("%s ran" % section.__name__, False, repr(e))
    return C.summary()


if __name__ == "__main__":
    sys.exit(main())
