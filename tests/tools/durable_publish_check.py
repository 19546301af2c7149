#!/usr/bin/env python3
"""A published MS is on disk before the rename that publishes it
(conversion.durable, docs/perf.md "Durable conversion"). Converts a tiny
simulated group with an LD_PRELOAD shim (fsync_trace.c) that logs every fsync
and rename in order, then checks that every file and directory of the MS was
fsynced before the rename into the output path, and the output directory
after it. The same conversion with conversion.durable = false (the behaviour
before) must fail the check: the check can tell the difference.

usage: durable_publish_check.py CONTIMG SHIM WORKDIR
"""
import glob
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
    return ok.summary()


sys.exit(main())
