#!/usr/bin/python3
"""A product path is trusted only with its record (issue 11, D7; docs/state.md "Trust").

  /usr/bin/python3 provenance_check.py --contimg BIN --data REPO/data --workdir DIR

Runs the real program on tiny simulated groups and reads the products with
python-casacore and the state database with sqlite3 (no contimg code):

  junk      a directory `<group>.ms` holding one junk file at the MS path:
            `convert --skip-existing` converts the group anyway (exit 0), the junk is
            moved to <out>/untrusted/, and the MS at the path opens with python-casacore
            and holds the group's data.
  copy      A and B simulated with the same start time; outB's MS copied over outA's:
            `convert A outA --skip-existing` does not take the copy for A's product: the
            MS is A's data again (its DATA equals a fresh conversion of A).
  current   a second `convert --skip-existing` on an untouched registered MS skips it
            ("registered, current"); touching one input file (newer mtime) converts again.
  records   every MS at a final path has a `products` row whose token equals the token
            file inside the MS, with the input files (size, mtime) it was made from.
  run-junk  `contimg run` with a junk `<group>.ms` under <out>/ms: the group is processed
            (exit 0), not "skipped as product exists" and then failed.

One line per check, then "N passed, M failed" alone on the last line.
"""
import argparse
import json
import os
import shutil
import sqlite3
import sys
import time

import numpy as np
import casacore.tables as ct

from contimg_harness import Checker, Contimg, describe

DAY = "2025-01-01"
START = "2025-01-01T06:00:00"


C = Checker()


def convert(ci, inp, out, db, *extra):
    return ci.convert(inp, out, db, *extra, start=DAY, end=DAY)


def data_of(ms):
    with ct.table(ms, ack=False) as t:
        return t.getcol("DATA")


def only_ms(out):
    names = [n for n in os.listdir(out) if n.endswith(".ms")]
    return os.path.join(out, names[0]) if len(names) == 1 else None


def statuses(p, key):
    return [g["group_id"] for g in (p.json or {}).get(key, [])]


def provenance(ci, w):
    A, B = os.path.join(w, "A"), os.path.join(w, "B")
    ci.simulate(A, START, 1)
    ci.simulate(B, START, 2)
    db = os.path.join(w, "state.sqlite3")
    ref = os.path.join(w, "ref")
    p = convert(ci, A, ref, os.path.join(w, "ref.sqlite3"))
    C.check("reference conversion of A", p.returncode == 0 and only_ms(ref), describe(p))
    ref_ms = only_ms(ref)
    group = os.path.basename(ref_ms)[:-3]
    a_data = data_of(ref_ms)

    # junk: a directory at the MS path that nothing registered.
    outA = os.path.join(w, "outA")
    junk = os.path.join(outA, group + ".ms")
    os.makedirs(junk)
    with open(os.path.join(junk, "junk.txt"), "w") as f:
        f.write("not a Measurement Set\n")
    p = convert(ci, A, outA, db, "--skip-existing")
    C.check("junk: convert --skip-existing exits 0", p.returncode == 0, describe(p))
    C.check("junk: the group is converted, not skipped", statuses(p, "converted") == [group],
            json.dumps(p.json)[:400] if p.json else describe(p))
    C.check("junk: the junk left the MS path", not os.path.exists(os.path.join(junk, "junk.txt")))
    moved = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(outA, "untrusted")) for f in fs]
    C.check("junk: moved aside to <out>/untrusted/", any(m.endswith("junk.txt") for m in moved),
            repr(moved))
    try:
        C.check("junk: the MS is A's data", np.array_equal(data_of(junk), a_data))
    except Exception as e:
        C.check("junk: the MS opens in python-casacore", False, repr(e))

    # current: a registered, untouched MS is skipped with --skip-existing.
    p = convert(ci, A, outA, db, "--skip-existing")
    C.check("current: an untouched registered MS is skipped", statuses(p, "skipped") == [group],
            describe(p))

    # copy: B's MS copied over A's registered MS is not A's product.
    outB = os.path.join(w, "outB")
    p = convert(ci, B, outB, db)
    C.check("copy: B converted", p.returncode == 0 and only_ms(outB), describe(p))
    b_ms = only_ms(outB)
    b_data = data_of(b_ms)
    C.check("copy: A and B differ (the test can tell them apart)", not np.array_equal(a_data, b_data))
    shutil.rmtree(junk)
    shutil.copytree(b_ms, junk)
    p = convert(ci, A, outA, db, "--skip-existing")
    C.check("copy: convert --skip-existing converts again", statuses(p, "converted") == [group],
            json.dumps(p.json)[:400] if p.json else describe(p))
    C.check("copy: the MS is A's data again, not B's", np.array_equal(data_of(junk), a_data))

    # current: touching an input file makes the product stale.
    sb = sorted(f for f in os.listdir(A) if f.endswith(".hdf5"))[0]
    t = time.time() + 5
    os.utime(os.path.join(A, sb), (t, t))
    p = convert(ci, A, outA, db, "--skip-existing")
    C.check("current: a touched input file converts again", statuses(p, "converted") == [group],
            describe(p))

    # records: the registered MS carries its token and its inputs.
    with sqlite3.connect(db) as con:
        row = con.execute("SELECT token, inputs FROM products WHERE path = ?", (junk,)).fetchone()
    C.check("records: the MS at outA has a products row", row is not None)
    if row:
        with open(os.path.join(junk, "contimg.product.json")) as f:
            token = json.load(f)["token"]
        C.check("records: the token file matches the row", token == row[0], "%s vs %s" % (token, row[0]))
        inputs = json.loads(row[1])
        C.check("records: the inputs are A's 16 files with size and mtime",
                len(inputs) == 16 and all(i["path"].startswith(A + "/") and i["size"] > 0
                                          and i["mtime_ns"] > 0 for i in inputs), row[1][:300])

    # run-junk: the chain does not trust a junk MS either.
    outR = os.path.join(w, "outR")
    os.makedirs(os.path.join(outR, "ms", group + ".ms"))
    with open(os.path.join(outR, "ms", group + ".ms", "junk.txt"), "w") as f:
        f.write("junk\n")
    p = ci.run("run", [A, DAY, DAY, "--out", outR])
    counts = (p.json or {}).get("counts", {})
    C.check("run-junk: exit 0 and the group processed", p.returncode == 0 and counts.get("processed") == 1,
            describe(p) + " " + json.dumps(counts))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    ci = Contimg(os.path.abspath(args.contimg), os.path.abspath(args.data), os.path.abspath(args.workdir))
    try:
        provenance(ci, os.path.abspath(args.workdir))
    except Exception as e:
        C.check("provenance ran", False, repr(e))
    return C.summary()


if __name__ == "__main__":
    sys.exit(main())
