#!/usr/bin/env python3
"""Nothing left behind (issue 11, D3 and D4), with the real program on tiny data.

  --case kill-image   kill -9 of `contimg image` while WSClean runs: WSClean
                      (its child) is gone within a few seconds; a rerun
                      completes and leaves no .contimg-tmp-* under the products.
  --case term-image   SIGTERM to `contimg image` while WSClean runs: exit 130
                      within seconds (it used to wait for WSClean to finish),
                      WSClean gone, no temporary path left.
  --case solve        `contimg solve` watched while it publishes: a .bcal never
                      sits at its final path without its .gcal, and every
                      temporary entry is a .contimg-tmp-* (swept by name); then
                      kill -9 while it stages, and a rerun leaves no temporary
                      path and both tables.
  --case disk-full-image  (root) the products directory on a tmpfs that is
                      filled while WSClean runs: exit 4 saying "No space left",
                      nothing left; a rerun after freeing the space completes.
  --case disk-full    (root: a small tmpfs) convert into a tmpfs too small for
                      the MS, and into one that a background writer fills while
                      the MS is written without preallocation: exit 4 (an I/O
                      error, never 134), a message that says "No space left",
                      no .contimg-tmp-* and no partial <group>.ms; then the
                      space is freed and a rerun completes. Once more with the
                      tiled files preallocated (the default), filled after
                      that: a clean failure as above, or a complete MS equal to
                      the reference.

One line per check, "N passed, M failed" last; exit 1 on a failure, 77
(CTest SKIP_RETURN_CODE) when wsclean is missing or tmpfs cannot be mounted.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from contimg_harness import fill_up, temporaries, tmpfs, umount

RESULTS = {"passed": 0, "failed": 0}
SKIP = 77


def check(name, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail) if detail != '' else ''}", flush=True)


class Contimg:
    def __init__(self, exe, work):
        self.exe = os.path.abspath(exe)
        self.env = dict(os.environ, CONTIMG_PATHS_STATE_DB=os.path.join(work, "state.sqlite3"),
                        CONTIMG_PATHS_SCRATCH_DIR=os.path.join(work, "scratch"))
        self.base = [self.exe, "--progress", "quiet"]

    def run(self, *args, expect=None, timeout=600):
        p = subprocess.run(self.base + list(args), capture_output=True, text=True, env=self.env, timeout=timeout)
        if expect is not None and p.returncode != expect:
            print(p.stdout, p.stderr, file=sys.stderr)
            raise SystemExit(f"{' '.join(args)}: exit {p.returncode}, expected {expect}")
        return p

    def start(self, *args):
        return subprocess.Popen(self.base + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env)


def children(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def alive(pid):
    """Running and not a zombie (an orphan's zombie may wait for a reaper forever in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def wait_for_wsclean(proc, limit_s=120):
    """The pid of the wsclean child of proc, once it runs."""
    until = time.time() + limit_s
    while time.time() < until and proc.poll() is None:
        for c in children(proc.pid):
            if comm(c).startswith("wsclean"):
                return c
        time.sleep(0.02)
    return None


def gone_within(pid, seconds):
    until = time.time() + seconds
    while alive(pid):
        if time.time() > until:
            return False
        time.sleep(0.05)
    return True


def simulate_convert(ci, work, name, *sim_args):
    raw = os.path.join(work, name + "_raw")
    out = os.path.join(work, name + "_ms")
    ci.run("simulate", raw, "--size", "tiny", *sim_args, expect=0)
    ci.run("convert-files", out, *sorted(glob.glob(os.path.join(raw, "*.hdf5"))), expect=0)
    return glob.glob(os.path.join(out, "*.ms"))[0], raw


def image_args(ms, products):
    # Small and quick, but WSClean still runs for a while to be caught at.
    return ["image", ms, "--out", products, "--threads", "1", "--cell", "20", "--field", "3", "--niter", "2000"]


def case_kill_image(ci, work, sig):
    if shutil.which("wsclean") is None:
        print("SKIP wsclean is not installed")
        return SKIP
    ms, _ = simulate_convert(ci, work, "img", "--noise", "1")  # default tiny data are all zero
    products = os.path.join(work, "products")
    proc = ci.start(*image_args(ms, products))
    ws = wait_for_wsclean(proc)
    if ws is None:
        out, err = proc.communicate()
        check("WSClean started under contimg image", False, err[-2000:])
        return 1
    t0 = time.time()
    os.kill(proc.pid, sig)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    stopped = time.time() - t0
    name = "kill -9" if sig == signal.SIGKILL else "SIGTERM"
    check(f"{name} while WSClean runs: WSClean (pid {ws}) gone within 5 s", gone_within(ws, 5))
    if sig == signal.SIGTERM:
        check("SIGTERM: contimg exits 130 within 10 s, without waiting for WSClean", code == 130 and stopped < 10,
              f"exit {code} after {stopped:.1f} s")
        check("SIGTERM: no temporary path left", not temporaries(products), temporaries(products))
    else:
        check("kill -9 left its staging directory (what the rerun must sweep)", bool(temporaries(products)),
              temporaries(products))
    p = ci.run("--json", *image_args(ms, products))
    check("rerun completes", p.returncode == 0, p.stderr[-2000:])
    check("after the rerun no .contimg-tmp-* under the products", not temporaries(products), temporaries(products))
    if p.returncode == 0:
        image = json.loads(p.stdout)
        path = image.get("products", {}).get("image") or image.get("image")
        check("the image exists", path is not None and os.path.isfile(path), path)
    return 0


def snapshot(d):
    try:
        return frozenset(os.listdir(d))
    except OSError:
        return frozenset()


def case_solve(ci, work):
    ms, raw = simulate_convert(ci, work, "cal", "--nants", "16", "--nchan", "6", "--ntimes", "6", "--calibrator",
                               "--cal-flux", "10", "--seed", "21")
    truth = glob.glob(os.path.join(raw, "*.truth.json"))[0]
    caldir = os.path.join(work, "caltables")
    solve = ["--set", "calibration.caltables_dir=" + caldir, "--json", "solve", ms, "--model", truth]
    os.makedirs(caldir, exist_ok=True)

    # 1. Watch the directory while the solve publishes.
    proc = ci.start(*solve)
    seen = set()
    while proc.poll() is None:
        seen.add(snapshot(caldir))
    seen.add(snapshot(caldir))
    out, err = proc.communicate()
    check("solve exits 0", proc.returncode == 0, err[-2000:])
    lone_b = [sorted(s) for s in seen if any(n.endswith(".bcal") for n in s) and not any(n.endswith(".gcal") for n in s)]
    check("a .bcal never sits at its final path without its .gcal", not lone_b, lone_b[:3])
    hidden = sorted({n for s in seen for n in s if n.startswith(".")})
    check("every temporary entry is a .contimg-tmp-* (one naming scheme, swept by name)",
          all(n.startswith(".contimg-tmp-") for n in hidden), hidden)
    final = snapshot(caldir)
    check("both tables published", any(n.endswith(".bcal") for n in final) and any(n.endswith(".gcal") for n in final),
          sorted(final))

    # 2. kill -9 while the tables are staged (a hidden entry appears); the
    # rerun sweeps what it left.
    shutil.rmtree(caldir)
    os.makedirs(caldir)
    proc = ci.start(*solve)
    staged = False
    while proc.poll() is None:
        if any(n.startswith(".") for n in snapshot(caldir)):
            os.kill(proc.pid, signal.SIGKILL)
            staged = True
            break
    proc.communicate()
    after_kill = snapshot(caldir)
    check("killed while staging", staged, sorted(after_kill))
    check("the kill left no lone .bcal", not (any(n.endswith(".bcal") for n in after_kill)
                                             and not any(n.endswith(".gcal") for n in after_kill)), sorted(after_kill))
    p = ci.run(*solve)
    check("rerun exits 0", p.returncode == 0, p.stderr[-2000:])
    final = snapshot(caldir)
    check("after the rerun: no temporary (hidden) entry, both tables", not any(n.startswith(".") for n in final)
          and any(n.endswith(".bcal") for n in final) and any(n.endswith(".gcal") for n in final), sorted(final))
    return 0


def du(path):
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for n in filenames:
            total += os.path.getsize(os.path.join(dirpath, n))
    return total


def check_failed_cleanly(label, p, out):
    check(f"{label}: exit 4 (I/O error), not 134", p.returncode == 4, f"exit {p.returncode}: {p.stderr[-1500:]}")
    check(f"{label}: the message says the disk is full", "No space left" in p.stderr, p.stderr[-1500:])
    check(f"{label}: no .contimg-tmp-* left", not temporaries(out), temporaries(out))
    check(f"{label}: no partial MS left", not glob.glob(os.path.join(out, "*.ms")), glob.glob(os.path.join(out, "*.ms")))
    check(f"{label}: no core dump", not glob.glob(os.path.join(out, "core*")))


def ms_mismatches(ms, ref):
    """Columns of the main table of `ms` that differ from the reference MS `ref`."""
    from casacore.tables import table
    import numpy as np
    bad = []
    with table(ms, ack=False) as a, table(ref, ack=False) as b:
        if a.nrows() != b.nrows():
            return [f"{a.nrows()} rows where the reference has {b.nrows()}"]
        for col in ("TIME", "ANTENNA1", "ANTENNA2", "UVW", "DATA", "FLAG", "WEIGHT_SPECTRUM"):
            if not np.array_equal(a.getcol(col), b.getcol(col)):
                bad.append(col)
    return bad


def run_filled(ci, options, files, ms_bytes, ref, label, leave, must_fail):
    # Room for the converter's estimate (the MS + 1/8) and the writer's 16 MiB reserve.
    mnt, _ = tmpfs(24 * (1 << 20) + 2 * ms_bytes)
    try:
        out = os.path.join(mnt, "out")
        os.makedirs(out)
        fill = os.path.join(mnt, "fill")
        proc = ci.start(*options, "convert-files", out, *files)
        filled = False
        seen_ms = None
        while proc.poll() is None and not filled:
            # Fill the disk while the MS under the staging directory is written: once the
            # writer has set its reserve aside (contimg.reserve: its tables exist and the
            # tiled files are preallocated when they are to be), or 20 ms after the MS
            # appeared (a writer without a reserve).
            staged = glob.glob(os.path.join(out, ".contimg-tmp-*", "*.ms"))
            if staged and seen_ms is None:
                seen_ms = time.time()
            if staged and (glob.glob(os.path.join(staged[0], "contimg.reserve")) or time.time() - seen_ms > 0.02):
                fill_up(fill, leave)
                filled = True
        stdout, stderr = proc.communicate(timeout=300)
        check(f"{label}: the disk was filled while the MS was written", filled)
        p = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        if must_fail or p.returncode != 0:
            check_failed_cleanly(label, p, out)
        else:
            done = glob.glob(os.path.join(out, "*.ms"))
            print(f"{label}: the conversion completed in the space it had reserved", flush=True)
            check(f"{label}: exit 0 and one MS", len(done) == 1, done)
            check(f"{label}: no .contimg-tmp-* left", not temporaries(out), temporaries(out))
            if len(done) == 1:
                bad = ms_mismatches(done[0], glob.glob(os.path.join(ref, "*.ms"))[0])
                check(f"{label}: the MS equals the reference", not bad, bad)
            shutil.rmtree(done[0], ignore_errors=True)
        os.remove(fill)
        p = ci.run(*options, "convert-files", out, *files)
        check(f"{label}: after freeing the space a rerun completes", p.returncode == 0 and len(glob.glob(os.path.join(out, "*.ms"))) == 1,
              f"exit {p.returncode}: {p.stderr[-1500:]}")
        check(f"{label}: after the rerun: no .contimg-tmp-* left", not temporaries(out), temporaries(out))
    finally:
        umount(mnt)


def case_disk_full(ci, work):
    probe, why = tmpfs(1 << 20)
    if probe is None:
        print(f"SKIP cannot mount a tmpfs (needs root): {why}")
        return SKIP
    umount(probe)
    raw = os.path.join(work, "raw")
    # ~25 MB: more than the writer's 16 MiB reserve (which lets a small MS finish on a full disk).
    ci.run("simulate", raw, "--size", "tiny", "--nants", "48", "--nchan", "12", expect=0)
    files = sorted(glob.glob(os.path.join(raw, "*.hdf5")))
    ref = os.path.join(work, "reference")
    ci.run("convert-files", ref, *files, expect=0)
    ms_bytes = du(glob.glob(os.path.join(ref, "*.ms"))[0])
    print(f"a tiny group's MS: {ms_bytes / 1e6:.1f} MB", flush=True)
    local = ["--set", "conversion.stage_to_tmpfs=false"]

    # 1. A tmpfs too small for the MS from the start.
    small, _ = tmpfs(max(ms_bytes // 2, 1 << 20))
    try:
        out = os.path.join(small, "out")
        p = ci.run(*local, "convert-files", out, *files)
        check_failed_cleanly("too small from the start", p, out)
    finally:
        umount(small)

    # 2. Room at the start, filled by another writer while the MS is written,
    # without preallocation: the writes of the tiled columns then need room.
    run_filled(ci, local + ["--set", "conversion.preallocate=false"], files, ms_bytes, ref,
               "filled while writing", leave=ms_bytes // 10, must_fail=True)
    # 3. The same with the tiled columns' files preallocated (the default):
    # filled after their blocks were taken, to the last byte. What is left to
    # write (the other columns, the subtables) may still fit in the writer's
    # reserve, so either outcome is right -- a clean failure, or a complete MS
    # equal to the reference -- but never a partial or wrong MS.
    run_filled(ci, local, files, ms_bytes, ref, "filled after preallocation", leave=0, must_fail=False)
    return 0


def case_disk_full_image(ci, work):
    if shutil.which("wsclean") is None:
        print("SKIP wsclean is not installed")
        return SKIP
    probe, why = tmpfs(1 << 20)
    if probe is None:
        print(f"SKIP cannot mount a tmpfs (needs root): {why}")
        return SKIP
    umount(probe)
    ms, _ = simulate_convert(ci, work, "img", "--noise", "1")
    # Room for the imaging MS (and its writer's 16 MiB reserve) and WSClean's files.
    mnt, _ = tmpfs(64 * (1 << 20))
    try:
        products = os.path.join(mnt, "products")
        proc = ci.start(*image_args(ms, products))
        ws = wait_for_wsclean(proc)
        fill = os.path.join(mnt, "fill")
        if ws is not None:  # another writer takes the disk while WSClean runs
            fill_up(fill)
        stdout, stderr = proc.communicate(timeout=300)
        check("the disk was filled while WSClean ran", ws is not None)
        check("imaging on a full disk: exit 4 (I/O error)", proc.returncode == 4, f"exit {proc.returncode}: {stderr[-1500:]}")
        check("imaging on a full disk: the message says the disk is full", "No space left" in stderr, stderr[-1500:])
        check("imaging on a full disk: no .contimg-tmp-* left", not temporaries(products), temporaries(products))
        images = glob.glob(os.path.join(products, "*", "*.fits"))
        check("imaging on a full disk: no image product", not images, images)
        if os.path.exists(fill):
            os.remove(fill)
        p = ci.run(*image_args(ms, products))
        check("after freeing the space a rerun completes", p.returncode == 0, p.stderr[-1500:])
        check("after the rerun: no .contimg-tmp-* left", not temporaries(products), temporaries(products))
    finally:
        umount(mnt)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--case", required=True,
                    choices=["kill-image", "term-image", "solve", "disk-full", "disk-full-image"])
    a = ap.parse_args()
    work = os.path.abspath(a.workdir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    ci = Contimg(a.contimg, work)
    if a.case == "kill-image":
        rc = case_kill_image(ci, work, signal.SIGKILL)
    elif a.case == "term-image":
        rc = case_kill_image(ci, work, signal.SIGTERM)
    elif a.case == "solve":
        rc = case_solve(ci, work)
    elif a.case == "disk-full-image":
        rc = case_disk_full_image(ci, work)
    else:
        rc = case_disk_full(ci, work)
    if rc == SKIP:
        return SKIP
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] or rc else 0


if __name__ == "__main__":
    sys.exit(main())
