#!/usr/bin/env python3
"""A published product is on disk before the rename that publishes it
(conversion.durable, durable::rename_into_place; docs/perf.md "Durable
conversion"). Converts a tiny simulated group with an LD_PRELOAD shim
(fsync_trace.c) that logs every fsync and rename in order, then checks that
every file and directory of the MS was fsynced before the rename into the
output path, and the output directory after it. The same conversion with
conversion.durable = false (the behaviour before) must fail the check: the
check can tell the difference. Then `contimg run` on a tiny calibrator
transit (every stage: caltables, images, plots, catalogues, identity files):
every rename into the output tree must publish something fsynced, and fsync
its directory after. Last, the run again with CORRECTED_DATA cleared (the
image stage's pass writes it), `contimg flag` and `contimg applycal` on the
run's MS: every file of the MS they change in place (FLAG, CORRECTED_DATA)
must be fsynced before their last write to the state database, which records
the work as done.

usage: durable_publish_check.py CONTIMG SHIM WORKDIR
"""
import glob
import hashlib
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contimg_harness import Checker, Contimg, describe  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data")


def audit(trace_path, final_ms):
    """(problems, entries of the MS found durable). Every file and directory of
    the MS must be fsynced before the rename that put it there: the MS's own
    (staged name) or, for a file added later by a rename of its own (the
    product identity file), that one, with its directory fsynced after."""
    lines = [line.split() for line in open(trace_path)] if os.path.exists(trace_path) else []
    final = os.path.realpath(final_ms)
    publish = [i for i, w in enumerate(lines) if w[0] == "rename" and os.path.realpath(w[2]) == final]
    if not publish:
        return ["no rename into %s" % final_ms], 0
    i = publish[-1]
    staged = lines[i][1]
    fsynced_before = lambda k, path: any(w[0] == "fsync" and w[1] == path for w in lines[:k])  # noqa: E731
    covered = {os.path.relpath(w[1], staged) for w in lines[:i] if w[0] == "fsync" and
               (w[1] == staged or w[1].startswith(staged + "/"))}
    problems = []
    parent = os.path.realpath(os.path.dirname(final_ms))
    if not any(w[0] == "fsync" and os.path.realpath(w[1]) == parent for w in lines[i + 1:]):
        problems.append("the output directory was not fsynced after the rename")
    for j in range(i + 1, len(lines)):
        w = lines[j]
        if w[0] != "rename" or not os.path.realpath(w[2]).startswith(final + "/"):
            continue
        rel = os.path.relpath(os.path.realpath(w[2]), final)
        covered.discard(rel)
        dir_synced = any(x[0] == "fsync" and os.path.realpath(x[1]) == os.path.dirname(os.path.realpath(w[2]))
                         for x in lines[j + 1:])
        if fsynced_before(j, w[1]) and dir_synced:
            covered.add(rel)
        else:
            problems.append("%s renamed into the MS without fsync (file before, directory after)" % rel)
    wanted = {"."}
    for root, dirs, files in os.walk(final_ms):
        for name in dirs + files:
            wanted.add(os.path.relpath(os.path.join(root, name), final_ms))
    problems += ["%s not fsynced before it was published" % p for p in sorted(wanted - covered)][:5]
    return problems, len(covered & wanted)


def audit_tree(trace_path, out_root):
    """Problems with the renames that publish into `out_root`: the source
    fsynced before (a directory: itself and entries under it; the conversion
    above audits an MS entry by entry), the destination's directory after.
    Not counted: moves aside into temporary or untrusted directories, and
    casacore's own rewrite of a table's header files inside a table."""
    lines = [line.split() for line in open(trace_path)] if os.path.exists(trace_path) else []
    root = os.path.realpath(out_root)
    problems, published = [], 0
    for j, w in enumerate(lines):
        if w[0] != "rename":
            continue
        dest = os.path.realpath(w[2])
        if not dest.startswith(root + "/") or "/.contimg-tmp-" in dest or "/untrusted/" in dest:
            continue
        if os.path.basename(dest).startswith("table.") and os.path.dirname(os.path.realpath(w[1])) == os.path.dirname(dest):
            continue  # casacore rewriting a table's own header
        published += 1
        src = w[1]
        synced = {x[1] for x in lines[:j] if x[0] == "fsync"}
        if src not in synced or (os.path.isdir(dest) and not any(x.startswith(src + "/") for x in synced)):
            problems.append("%s published without fsync" % os.path.relpath(dest, root))
        if not any(x[0] == "fsync" and os.path.realpath(x[1]) == os.path.dirname(dest) for x in lines[j + 1:]):
            problems.append("%s: its directory not fsynced after the rename" % os.path.relpath(dest, root))
    return problems, published


def file_digests(root):
    out = {}
    for base, _, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                out[os.path.realpath(path)] = hashlib.sha1(f.read()).hexdigest()
    return out


def clear_column(ms, column, value):
    """Sets every cell of `column` to `value` (python-casacore), so that the
    command under test rewrites it."""
    from casacore.tables import table
    t = table(ms, readonly=False, ack=False)
    data = t.getcol(column)
    data[...] = value
    t.putcol(column, data)
    t.close()


def remove_keyword(ms, keyword):
    from casacore.tables import table
    t = table(ms, readonly=False, ack=False)
    if keyword in t.keywordnames():
        t.removekeyword(keyword)
    t.close()


def audit_in_place(trace_path, before, after):
    """(problems, files changed): every file whose content changed must be
    fsynced before the command's last write to the state database."""
    lines = [line.split() for line in open(trace_path)] if os.path.exists(trace_path) else []
    changed = sorted(p for p, d in after.items() if before.get(p) != d)
    db = [i for i, w in enumerate(lines) if w[0] == "dbwrite"]
    if not db:
        return ["no write to the state database traced"], changed
    synced = {os.path.realpath(w[1]) for w in lines[:db[-1]] if w[0] == "fsync"}
    return ["%s changed in place, not fsynced before the database recorded it" % os.path.basename(p)
            for p in changed if p not in synced], changed


def main():
    exe, shim, work = sys.argv[1], sys.argv[2], sys.argv[3]
    shutil.rmtree(work, ignore_errors=True)
    c, ok = Contimg(exe, DATA, work), Checker()
    raw = os.path.join(work, "raw")
    c.simulate(raw, "2025-03-20T05:37:42", 4)
    files = sorted(glob.glob(os.path.join(raw, "*.hdf5")))
    c.env["LD_PRELOAD"] = shim
    for name, extra, durable in (("default", [], True), ("durable_off", ["--set", "conversion.durable=false"], False)):
        out, trace = os.path.join(work, name), os.path.join(work, name + ".trace")
        c.env["FSYNC_TRACE"] = trace
        c.globals += extra  # global options go before the subcommand
        p = c.run("convert-files", [out] + files)
        del c.globals[len(c.globals) - len(extra):]
        ms = glob.glob(os.path.join(out, "*.ms"))
        ok.check(name + ": converted", p.returncode == 0 and len(ms) == 1, describe(p))
        if not ms:
            continue
        problems, n = audit(trace, ms[0])
        if durable:
            ok.check("default: every file and directory of the MS fsynced before the rename, the output "
                     "directory after (%d entries)" % n, not problems, "; ".join(problems))
        else:
            ok.check("durable off: the check sees the MS published without fsync", bool(problems),
                     "no problem found: the check cannot tell")

    # The whole chain on a tiny calibrator transit: every product's publishing rename.
    c.env["FSYNC_TRACE"] = trace = os.path.join(work, "run.trace")
    chain = os.path.join(work, "chain")
    p = c.run("simulate", [chain + "-in", "--size", "tiny", "--nants", "12", "--calibrator", "0834+555",
                           "--date", "2025-03-20", "--seed", "7", "--threads", "1"])
    ok.check("calibrator transit simulated", p.returncode == 0, describe(p))
    c.globals += ["--set", "imaging.field_deg=1", "--set", "imaging.cell_arcsec=10", "--set", "imaging.niter=1000",
                  "--set", "imaging.threads=1"]  # WSClean in a few seconds
    p = c.run("run", [chain + "-in", "2025-03-20", "2025-03-20", "--out", chain])
    ok.check("run: exits 0", p.returncode == 0, describe(p))
    problems, published = audit_tree(trace, chain)
    ok.check("run: %d publishing renames, each of an fsynced product, its directory fsynced after" % published,
             published >= 10 and not problems, "; ".join(problems[:6]))

    # In-place updates of the run's MS, each recorded in the state database.
    mss = sorted(glob.glob(os.path.join(chain, "**", "*.ms"), recursive=True))
    dbs = sorted(p for p in glob.glob(os.path.join(chain, "**", "*.sqlite*"), recursive=True)
                 if not p.endswith(("-wal", "-shm", "-journal")))
    ok.check("run: one MS and one state database", len(mss) == 1 and len(dbs) == 1, "%s %s" % (mss, dbs))
    if mss and dbs:
        # The chain's image stage writes CORRECTED_DATA in its pass over DATA
        # (calibration.apply_in_image_pass): with the set's mark removed and
        # the column zeroed, a rerun applies and writes it again, and must
        # fsync it before the database records the stage.
        clear_column(mss[0], "CORRECTED_DATA", 0)
        remove_keyword(mss[0], "CONTIMG_APPLIED_CALSET")
        c.env["FSYNC_TRACE"] = trace = os.path.join(work, "rerun.trace")
        before = file_digests(mss[0])
        p = c.run("run", [chain + "-in", "2025-03-20", "2025-03-20", "--out", chain])
        stages = {st["stage"]: st["outcome"] for g in (p.json or {}).get("groups", []) for st in g["stages"]}
        ok.check("rerun: exits 0, the image stage ran again", p.returncode == 0 and stages.get("image") == "completed",
                 "%s %s" % (describe(p), stages))
        problems, changed = audit_in_place(trace, before, file_digests(mss[0]))
        data = [p for p in changed if os.path.basename(p).startswith("table.f")]
        ok.check("rerun: the %d files the image stage's pass changed in the MS (%d of column data) fsynced "
                 "before the database recorded it" % (len(changed), len(data)),
                 bool(data) and not problems, "; ".join(problems[:6]))
        for cmd, args in (("flag", ["--force"]), ("applycal", [])):
            c.env["FSYNC_TRACE"] = trace = os.path.join(work, cmd + ".trace")
            if cmd == "flag":
                clear_column(mss[0], "FLAG", False)  # so that flagging changes the data files
            else:
                clear_column(mss[0], "CORRECTED_DATA", 0)
            before = file_digests(mss[0])
            p = c.run(cmd, [mss[0], "--db", dbs[0]] + args)
            ok.check("%s: exits 0" % cmd, p.returncode == 0, describe(p))
            problems, changed = audit_in_place(trace, before, file_digests(mss[0]))
            data = [p for p in changed if os.path.basename(p).startswith("table.f")]
            ok.check("%s: the %d files it changed in the MS (%d of column data) fsynced before the database "
                     "recorded it" % (cmd, len(changed), len(data)),
                     bool(data) and not problems, "; ".join(problems[:6]))
    return ok.summary()


sys.exit(main())
