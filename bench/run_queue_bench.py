#!/usr/bin/env python3
"""The job queue end to end (issue 13; a benchmark, not a test; docs/perf.md).

N tiny simulated groups (12 antennas; a 0834+555 transit first, the rest
science groups 309 s apart; quick imaging as the stream and worker tests) are
processed three ways on one machine, each from an empty output tree, the
inputs simulated once:
  direct   `contimg run` over the range (no queue);
  1 worker `contimg submit` + one `contimg worker --exit-when-idle`;
  W workers `contimg submit` + W workers at once.
Reports wall seconds (from the first command to the last job's end, read from
the jobs table, so the workers' idle exit time is not charged), groups/hour,
the queue's overhead per job ((1 worker - direct) / jobs), and every group done
once. Then build/bench/queue_bench (claims/s on SQLite, 1 and W threads) when
built; for PostgreSQL run queue_bench --db postgresql://... by hand (a server:
build/tests/pg_fixture start DIR; DIR/url).

Each variant runs --repeat times (rounds interleaved: direct, 1, W, direct, ...)
and the median is reported beside every run. With --pg, claims/s are also
measured on a PostgreSQL server started for the purpose (build/tests/pg_fixture,
a temp dir, loopback) and stopped afterwards.

usage: bench/run_queue_bench.py [--groups 6] [--workers 3] [--repeat 3] [--pg] [--workdir DIR] [--out report.json]
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
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
QUICK = ["--set", "imaging.field_deg=1", "--set", "imaging.cell_arcsec=10", "--set", "imaging.niter=1000"]
DATE = "2025-03-20"
STAGES = 7  # convert, flag, solve, applycal, image, validate, photometry (jobs per group)


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


def simulate(exe, out, *args):
    p = subprocess.run([exe, "--json", "--progress", "quiet", "simulate", out, "--size", "tiny", "--nants", "12",
                        "--noise", "2.8", "--instrument-seed", "7", "--threads", "1", *args],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"simulate {args}: exit {p.returncode}: {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def jobs_summary(db_path):
    db = sqlite3.connect(db_path)
    rows = db.execute("SELECT state, count(*), max(finished_at) FROM jobs GROUP BY state").fetchall()
    dup = db.execute("SELECT count(*) FROM (SELECT group_id, stage FROM jobs WHERE state = 'done' "
                     "GROUP BY group_id, stage HAVING count(*) > 1)").fetchone()[0]
    db.close()
    return {r[0]: r[1] for r in rows}, max((r[2] for r in rows if r[2]), default=None), dup


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=6)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--workdir", default=os.path.join(root, "out", "queue-bench"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pg", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    exe = os.path.join(root, "build", "contimg")
    work = os.path.abspath(a.workdir)
    shutil.rmtree(work, ignore_errors=True)
    inp = os.path.join(work, "in")
    cal = simulate(exe, inp, "--calibrator", "0834+555", "--date", DATE, "--seed", "1")
    dec = json.load(open(cal["truth"]))["pointing"]["dec_deg"]
    for k in range(1, a.groups):
        simulate(exe, inp, "--start", iso_plus(cal["group_id"], 309 * k), "--dec", repr(dec), "--seed",
                 str(100 + k), "--random-sources", "2")
    shm = os.path.join(work, "shm")
    os.makedirs(shm)
    base = [exe, "--progress", "quiet", *QUICK, "--set", "paths.tmpfs_dir=" + shm, "--set", "worker.poll_s=1"]
    jobs = a.groups * STAGES
    report = {"groups": a.groups, "jobs": jobs, "runs": {}}

    def run_direct():
        out = os.path.join(work, "direct")
        shutil.rmtree(out, ignore_errors=True)  # each run from an empty tree and database
        subprocess.run(["sync"])
        t0 = time.time()
        p = subprocess.run(base + ["--json", "run", inp, DATE, DATE, "--out", out], capture_output=True, text=True)
        wall = time.time() - t0
        states, _, dup = jobs_summary(os.path.join(out, "contimg.sqlite"))
        return {"exit": p.returncode, "wall_s": wall, "jobs": states, "jobs_done_twice": dup}

    def run_queue(nw):
        out = os.path.join(work, f"queue{nw}")
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(["sync"])
        t0 = time.time()
        p = subprocess.run(base + ["--json", "submit", inp, DATE, DATE, "--out", out], capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit("submit failed: " + p.stderr[-2000:])
        procs = [subprocess.Popen(base + ["--json", "worker", "--out", out, "--exit-when-idle", "5"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(nw)]
        outs = [json.loads(pr.communicate()[0] or "{}") for pr in procs]
        states, last, dup = jobs_summary(os.path.join(out, "contimg.sqlite"))
        wall = (iso_to_unix(last) - t0) if last else None
        return {"wall_s": wall, "jobs": states, "jobs_done_twice": dup,
                "per_worker_done": [o.get("worker", {}).get("jobs_done") for o in outs]}

    variants = (("direct", run_direct), ("1 worker", lambda: run_queue(1)),
                (f"{a.workers} workers", lambda: run_queue(a.workers)))
    for rnd in range(a.repeat):
        for name, fn in variants:
            r = fn()
            r["groups_per_hour"] = 3600.0 * a.groups / r["wall_s"] if r.get("wall_s") else None
            r["every_job_done_once"] = r["jobs"].get("done") == jobs and r["jobs_done_twice"] == 0
            report["runs"].setdefault(name, []).append(r)
            print(f"round {rnd + 1}", name, json.dumps(r), flush=True)
    med = {}
    for name, runs in report["runs"].items():
        walls = sorted(r["wall_s"] for r in runs if r.get("wall_s"))
        med[name] = walls[len(walls) // 2] if walls else None
    report["median_wall_s"] = med
    report["median_groups_per_hour"] = {k: (3600.0 * a.groups / v if v else None) for k, v in med.items()}
    report["all_runs_every_job_done_once"] = all(r["every_job_done_once"] for rs in report["runs"].values() for r in rs)
    d, q1 = med["direct"], med["1 worker"]
    report["queue_overhead_s_per_job"] = (q1 - d) / jobs if d and q1 else None
    qb = os.path.join(root, "build", "bench", "queue_bench")
    targets = [("sqlite", lambda t: os.path.join(work, f"claims{t}.sqlite"))]
    pg_dir = None
    if a.pg:
        pg_dir = os.path.join(work, "pg")
        subprocess.run([os.path.join(root, "build", "tests", "pg_fixture"), "start", pg_dir], check=True,
                       capture_output=True)
        url = open(os.path.join(pg_dir, "url")).read().strip()
        targets.append(("postgresql", lambda t: url))
    try:
        if os.path.exists(qb):
            for kind, target in targets:
                for t in (1, a.workers):
                    runs = []
                    for _ in range(a.repeat):
                        if kind == "sqlite":  # each run from an empty database
                            for ext in ("", "-wal", "-shm"):
                                if os.path.exists(target(t) + ext):
                                    os.remove(target(t) + ext)
                        p = subprocess.run([qb, "--db", target(t), "--jobs", "2000", "--threads", str(t)],
                                           capture_output=True, text=True)
                        runs.append(json.loads(p.stdout) if p.stdout.startswith("{") else {"error": p.stderr})
                    rates = sorted(r.get("claims_per_second", 0) for r in runs)
                    report[f"claims_{kind}_{t}_threads"] = {"median_claims_per_second": rates[len(rates) // 2],
                                                            "runs": runs}
    finally:
        if pg_dir:
            subprocess.run([os.path.join(root, "build", "tests", "pg_fixture"), "stop", pg_dir], capture_output=True)
    report["load_average_end"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(report, indent=2))
    if a.out:
        json.dump(report, open(a.out, "w"), indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
