#!/usr/bin/env python3
"""Load benchmark of `contimg stream` (issue 12; a benchmark, not a test).

N tiny simulated groups (12 antennas; the first a 0834+555 transit, the rest
science groups following it at the real 309 s spacing of their timestamps)
are fed into the watched directory at SPEEDUP x the telescope's cadence (one
group every 309/SPEEDUP s, its 16 files `*_incomplete` + rename within a
second). Quick imaging (1 deg field, 10" cells, 1000 iterations), as the
stream tests. Reports: groups/hour over the run, latency from a group's last
file to its validate job's end (p50, p95, max), the service's RSS after the
first group and at the end (and its maximum), and whether every group was done
exactly once (one done job per stage, one image and one validation row).

With --size full: full-size groups (96 antennas, 24 integrations, 16 x 48
channels; the first a 3C286 transit, as bench/run_chain_bench.sh) and the
defaults (no quick imaging, conversion staged in the default tmpfs);
--workers sets stream.workers (1: one segment at a time with the whole
budget; 2: group N+1 converted and flagged while group N is imaged). The
real-time factor is groups x 309 s / (last validated image - first file).

usage: bench/run_stream_load.py [--groups 50] [--speedup 10] [--size tiny|full] [--workers N]
                                [--workdir DIR] [--out report.json] [--reuse]
Run it on a quiet machine (nothing else building or testing).
"""
import argparse
import calendar
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
QUICK = ["--set", "imaging.field_deg=1", "--set", "imaging.cell_arcsec=10", "--set", "imaging.niter=1000"]
STREAM = ["--set", "stream.settle_s=0.5", "--set", "stream.rescan_s=10", "--set", "stream.min_free_gb=1"]
DATE = "2025-03-20"


def iso_plus(iso, seconds):
    t = calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%S"))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + seconds))


def iso_to_unix(s):
    s = s.rstrip("Z")
    frac = 0.0
    if "." in s:
        s, f = s.split(".")
        frac = float("0." + f)
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%S")) + frac


def simulate(exe, staging, size, *args):
    shape = ["--size", "tiny", "--nants", "12", "--threads", "1"] if size == "tiny" else ["--size", "full"]
    p = subprocess.run([exe, "--json", "--progress", "quiet", "simulate", staging, *shape,
                        "--noise", "2.8", "--instrument-seed", "7", *args],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"simulate {args}: exit {p.returncode}: {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pct(v, q):
    v = sorted(v)
    if not v:
        return None
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=50)
    ap.add_argument("--speedup", type=float, default=10)
    ap.add_argument("--workdir", default=os.path.join(root, "out", "stream-load"))
    ap.add_argument("--out")
    ap.add_argument("--size", choices=["tiny", "full"], default="tiny")
    ap.add_argument("--workers", type=int, help="stream.workers (default: the configuration's)")
    ap.add_argument("--reuse", action="store_true", help="keep the simulated groups of an earlier run")
    a = ap.parse_args()
    exe = os.path.join(root, "build", "contimg")
    work = os.path.abspath(a.workdir)
    staging = os.path.join(work, "staging")
    index_path = os.path.join(staging, "groups.json")
    if not (a.reuse and os.path.exists(index_path)):
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(staging)
        t = time.time()
        calname, extra = ("0834+555", []) if a.size == "tiny" else ("3C286", ["--random-sources", "20"])
        cal = simulate(exe, os.path.join(staging, "g000"), a.size, "--calibrator", calname, "--date", DATE,
                       "--seed", "1", *extra)
        groups = [cal]
        dec = json.load(open(cal["truth"]))["pointing"]["dec_deg"]
        for k in range(1, a.groups):
            groups.append(simulate(exe, os.path.join(staging, f"g{k:03d}"), a.size, "--start", iso_plus(cal["group_id"], 309 * k),
                                   "--dec", repr(dec), "--seed", str(100 + k), "--random-sources", "3" if a.size == "tiny" else "20"))
        json.dump(groups, open(index_path, "w"))
        print(f"simulated {a.groups} groups in {time.time() - t:.0f} s", flush=True)
    groups = json.load(open(index_path))
    for d in ("incoming", "out", "shm"):
        shutil.rmtree(os.path.join(work, d), ignore_errors=True)
        os.makedirs(os.path.join(work, d))
    incoming, out = os.path.join(work, "incoming"), os.path.join(work, "out")
    for g in groups:
        if os.path.exists(g["truth"]):
            shutil.copy(g["truth"], incoming)
    subprocess.run(["sync"])
    # Tiny groups: quick imaging and staging on disk (as the stream tests); full size: the defaults.
    opts = [*QUICK, "--set", "paths.tmpfs_dir=" + os.path.join(work, "shm")] if a.size == "tiny" else []
    if a.workers:
        opts += ["--set", f"stream.workers={a.workers}"]
    cmd = [exe, "--progress", "quiet", *opts, *STREAM,
           "--json", "stream", "--input", incoming, "--out", out, "--exit-when-idle", "30"]
    log = open(os.path.join(work, "stream.log"), "w")
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    last_file = {}
    period = 309.0 / a.speedup

    def feeder():
        for k, g in enumerate(groups):
            time.sleep(max(0.0, t0 + k * period - time.time()))
            for f in sorted(g["files"]):
                dest = os.path.join(incoming, os.path.basename(f))
                tmp = dest[:-len(".hdf5")] + "_incomplete.hdf5"
                shutil.copyfile(f, tmp)
                os.rename(tmp, dest)
            last_file[g["group_id"]] = time.time()

    feed = threading.Thread(target=feeder)
    feed.start()
    samples = []
    db_path = os.path.join(out, "contimg.sqlite")
    first_done_rss = None
    rss_by_done = {}  # groups validated -> RSS (MiB) when that count was first seen
    while proc.poll() is None:
        r = rss_kib(proc.pid)
        if r:
            samples.append((time.time() - t0, r))
        if os.path.exists(db_path):
            try:
                db = sqlite3.connect(db_path, timeout=5)
                n = db.execute("SELECT count(*) FROM jobs WHERE stage = 'validate' AND state = 'done'").fetchone()[0]
                db.close()
                if n >= 1 and first_done_rss is None:
                    first_done_rss = r
                if n not in rss_by_done and r:
                    rss_by_done[n] = round(r / 1024, 1)
            except sqlite3.Error:
                pass
        time.sleep(1)
    stdout, _ = proc.communicate()
    feed.join()
    wall = time.time() - t0
    db = sqlite3.connect(db_path)
    done = dict(db.execute("SELECT group_id, finished_at FROM jobs WHERE stage = 'validate' AND state = 'done'"))
    per_stage = db.execute("SELECT group_id, stage, count(*) FROM jobs WHERE state = 'done' GROUP BY group_id, stage "
                           "HAVING count(*) > 1").fetchall()
    images = db.execute("SELECT group_id, count(*) FROM images GROUP BY group_id HAVING count(*) > 1").fetchall()
    states = dict(db.execute("SELECT state, count(*) FROM groups GROUP BY state"))
    stage_s = {}
    for stage, sec in db.execute("SELECT stage, seconds FROM jobs WHERE state = 'done' AND seconds IS NOT NULL"):
        stage_s.setdefault(stage, []).append(sec)
    first_done = min(iso_to_unix(v) for v in done.values()) if done else None
    last_done = max(iso_to_unix(v) for v in done.values()) if done else None
    lat = [iso_to_unix(done[g]) - last_file[g] for g in done if g in last_file]
    report = {
        "groups": a.groups, "speedup": a.speedup, "feed_period_s": period, "exit_code": proc.returncode,
        "wall_s": wall, "groups_done": len(done), "group_states": states,
        "size": a.size, "workers": a.workers, "load_average_end": open("/proc/loadavg").read().split()[:3],
        "groups_per_hour": 3600.0 * len(done) / (last_done - t0) if done else 0,
        "real_time_factor": len(done) * 309.0 / (last_done - t0) if done else 0,
        "telescope_groups_per_hour": 3600.0 / 309.0,
        "latency_s": {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "max": max(lat) if lat else None},
        "rss_mib": {"after_first_group": (first_done_rss or 0) / 1024, "end": samples[-1][1] / 1024 if samples else None,
                    "max": max(r for _, r in samples) / 1024 if samples else None},
        "rss_mib_by_groups_done": rss_by_done,
        "stage_seconds_median": {k: pct(v, 0.5) for k, v in stage_s.items()},
        "stage_seconds_max": {k: max(v) for k, v in stage_s.items()},
        "duplicates": {"jobs_done_twice": per_stage, "images_twice": images},
        "every_group_done_once": len(done) == a.groups and not per_stage and not images,
        "stream_summary": json.loads(stdout).get("stream") if stdout.strip().startswith("{") else stdout[-500:],
    }
    print(json.dumps(report, indent=2))
    if a.out:
        json.dump(report, open(a.out, "w"), indent=2)
    return 0 if report["every_group_done_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
