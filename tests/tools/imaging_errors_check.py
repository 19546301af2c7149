#!/usr/bin/python3
"""`contimg image` on bad input: clear errors, exit codes, and no products left as if complete.

  /usr/bin/python3 imaging_errors_check.py --contimg BIN --workdir DIR [--data DATA_DIR]

A tiny simulated group is converted once; then:
  - an MS with no rows (python-casacore copy without rows)        -> exit 3, "no data rows";
  - --data-column CORRECTED_DATA on an MS without that column     -> exit 3, names the column;
  - PATH without wsclean                                          -> exit 4, "not in PATH";
  - a wsclean that writes a partial image and fails (exit 2)      -> exit 1 with the tail of its log;
  - a wsclean that hangs, imaging.timeout_s = 2                   -> "timed out";
and after each, the group's products directory holds no FITS image or PNG (at most the WSClean log,
which a failed WSClean run leaves there).
One line per check, then "N passed, M failed" on the last line.
"""
import argparse
import glob
import json
import os
import shutil
import stat
import subprocess
import sys
import traceback

import casacore.tables as ct

RESULTS = {"passed": 0, "failed": 0}
FAKE_FAILING = """#!/bin/sh
# Writes a partial image where WSClean would, then fails like a crashed imager.
while [ $# -gt 0 ]; do
  if [ "$1" = "-name" ]; then name="$2"; fi
  shift
done
echo "fake wsclean: gridding"
echo "partial" > "$name-image.fits"
echo "fake wsclean: out of memory" >&2
exit 2
"""
FAKE_HANGING = """#!/bin/sh
echo "fake wsclean: hanging"
exec sleep 60
"""


def check(name, ok, detail):
    RESULTS["passed" if ok else "failed"] += 1
    print("%s %s: %s" % ("PASS" if ok else "FAIL", name, detail), flush=True)
    return ok


def env_without_contimg(path=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
    env.pop("HDF5_PLUGIN_PATH", None)
    if path is not None:
        env["PATH"] = path
    return env


def run(cmd, env=None, timeout=600):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          env=env or env_without_contimg(), timeout=timeout)


def complete_looking(products):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(products, "*"))
                  if p.endswith((".fits", ".png")) or p.endswith(".ms"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "data"))
    args = ap.parse_args()
    contimg = os.path.abspath(args.contimg)
    work = os.path.abspath(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    sets = ["--set", "paths.data_dir=" + os.path.abspath(args.data),
            "--set", "paths.state_db=" + os.path.join(work, "state.sqlite3"),
            "--set", "paths.scratch_dir=" + os.path.join(work, "scratch")]
    base = [contimg, "--progress", "quiet"] + sets
    sim = run(base + ["--json", "simulate", os.path.join(work, "in"), "--size", "tiny", "--no-gains", "--seed", 5])
    assert sim.returncode == 0, sim.stderr
    conv = run(base + ["--json", "convert-files", os.path.join(work, "ms")] + sorted(json.loads(sim.stdout)["files"]))
    assert conv.returncode == 0, conv.stderr
    ms = json.loads(conv.stdout)["converted"][0]["ms"]
    group = os.path.basename(ms)[:-3]

    empty = os.path.join(work, "empty", os.path.basename(ms))
    os.makedirs(os.path.dirname(empty))
    t = ct.table(ms, ack=False)
    t.copy(empty, deep=True, valuecopy=True, copynorows=True).close()
    t.close()

    fake_dir = os.path.join(work, "fakebin")
    os.makedirs(fake_dir)
    hang_dir = os.path.join(work, "hangbin")
    os.makedirs(hang_dir)
    for d, text in ((fake_dir, FAKE_FAILING), (hang_dir, FAKE_HANGING)):
        p = os.path.join(d, "wsclean")
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, os.stat(p).st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)

    cases = [
        ("an MS with no rows", [empty], None, 3, "no data rows"),
        ("--data-column CORRECTED_DATA without that column", [ms, "--data-column", "CORRECTED_DATA"], None, 3,
         "no CORRECTED_DATA column"),
        ("WSClean not in PATH", [ms], "/nonexistent-bin", 4, "not in PATH"),
        ("WSClean failing after writing a partial image", [ms], fake_dir + ":" + os.environ.get("PATH", ""), 1,
         "out of memory"),
        ("WSClean hanging past imaging.timeout_s", [ms, "--set-timeout"], hang_dir + ":" + os.environ.get("PATH", ""),
         1, "timed out"),
    ]
    for i, (label, extra, path, code, text) in enumerate(cases):
        out = os.path.join(work, "products%d" % i)
        cmd = list(base)
        if "--set-timeout" in extra:
            extra = [e for e in extra if e != "--set-timeout"]
            cmd += ["--set", "imaging.timeout_s=2"]
        p = run(cmd + ["image"] + extra + ["--out", out], env=env_without_contimg(path))
        products = os.path.join(out, group)
        left = complete_looking(products)
        hidden = [x for x in glob.glob(os.path.join(products, ".*"))]
        msg = (p.stderr.strip().splitlines() or [""])
        check("bad input: %s -> exit %d, a clear message, no products" % (label, code),
              p.returncode == code and text in p.stderr and not left and not hidden,
              "exit %d; products %s; staging %s; message: %s" % (p.returncode, left, hidden,
                                                                 " | ".join(msg[-4:])[:400]))
        if "failing" in label:
            # The log of the WSClean run that failed (the drift correction's bright-source pass,
            # the first run) is kept beside the products for diagnosis.
            logs = glob.glob(os.path.join(products, "*.wsclean.log"))
            text_log = open(logs[0]).read() if logs else ""
            check("bad input: %s -> its WSClean log kept" % label,
                  "fake wsclean: gridding" in text_log and "out of memory" in text_log,
                  "%s: %d bytes" % (logs, len(text_log)))
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"] + 1))
        sys.exit(1)
