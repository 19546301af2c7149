#!/usr/bin/env python3
"""Science products at scale (issue 15; a benchmark, not a test; docs/perf.md
"Photometry at scale").

1. Ingest and queries. A state database (a fresh SQLite file in the work
   directory, or PostgreSQL: --db postgresql://... or --pg to start one with
   build/tests/pg_fixture in the work directory, stopped afterwards) is filled
   through contimg's own ingest path (build/bench/photometry_scale_bench fill:
   the stage's catalogue cone query and state::store_photometry per image, a
   DSA-110-like declination strip of --sources reference sources, --per-image
   sources per 309 s image, --blind blind detections per image) up to each
   checkpoint: 10^5, 10^6, 10^7 measurements (those <= --measurements, and
   --measurements itself). At each checkpoint: the ingest rate of the images
   added since the last one, the database size, the query plans of the store's
   queries (each must use an index, except the candidate query, which reads
   every source's statistics by design), and the wall time (p50, p95, min of
   --repeats runs, each a new process) of
     contimg lightcurve NAME          (the most measured source)
     contimg lightcurve RA DEC        (the cone lookup, --radius 10")
     contimg --json variables         (every source's statistics -> candidates)
2. Forced photometry per image (--forced-sources sources, default 1000, on a
   synthetic --forced-n^2 PB-corrected image, default 4096^2):
   `contimg photometry IMAGE --reference REF` wall time, median of 3, and the
   stage's own seconds.

usage: bench/photometry_scale.py [--measurements 1e7] [--db URL | --pg] [--repeats 5]
                                 [--no-forced] [--workdir DIR] [--out report.json]
Run it on a quiet machine (nothing else building or testing); 10^7 measurements
need ~3 GB of disk for SQLite.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)


def run_json(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    try:
        js = json.loads(p.stdout) if p.stdout.strip() else None
    except ValueError:
        js = None
    if p.returncode != 0 or js is None:
        raise SystemExit(f"{' '.join(cmd[:4])} ...: exit {p.returncode}: {p.stdout[-800:]} {p.stderr[-1500:]}")
    return js


def env():
    return {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}


def timed(cmd, repeats):
    """Wall seconds of `repeats` runs of cmd (each must exit 0): p50, p95, min, the median CPU
    seconds (user + system: what a loaded machine does not inflate), and the last stdout."""
    secs, cpu, out = [], [], ""
    for _ in range(repeats):
        t, c = time.perf_counter(), children_cpu()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env())
        secs.append(time.perf_counter() - t)
        cpu.append(children_cpu() - c)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stdout[-500:]} {p.stderr[-1500:]}")
        out = p.stdout
    s = sorted(secs)
    p95 = s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]
    return {"p50_s": statistics.median(s), "p95_s": p95, "min_s": s[0], "cpu_s_median": statistics.median(cpu),
            "runs": len(s)}, out


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def uses_index(lines, postgres):
    """False when a plan reads a whole table of the science products without an index."""
    text = "\n".join(lines)
    if "error:" in text:
        return False
    if postgres:
        return "Seq Scan" not in text
    # SQLite: "SCAN t" is a full table scan; "SCAN t USING INDEX ..." walks an index in order.
    return not any(l.strip().startswith("SCAN") and "USING" not in l for l in lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", default=os.path.join(root, "build", "contimg"))
    ap.add_argument("--bench", default=os.path.join(root, "build", "bench", "photometry_scale_bench"))
    ap.add_argument("--fixture", default=os.path.join(root, "build", "tests", "pg_fixture"))
    ap.add_argument("--workdir", default=os.path.join(root, "out", "photometry-scale"))
    ap.add_argument("--db", help="postgresql://... (default: a fresh SQLite file in the work directory)")
    ap.add_argument("--pg", action="store_true", help="start a PostgreSQL server for the run (pg_fixture)")
    ap.add_argument("--measurements", type=float, default=1e7)
    ap.add_argument("--sources", type=int, default=100000)
    ap.add_argument("--per-image", type=int, default=1000)
    ap.add_argument("--blind", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-forced", action="store_true")
    ap.add_argument("--forced-n", type=int, default=4096)
    ap.add_argument("--forced-sources", type=int, default=1000)
    ap.add_argument("--out")
    a = ap.parse_args()
    w = os.path.abspath(a.workdir)
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    pg_dir = None
    if a.pg:
        pg_dir = os.path.join(w, "pg")
        subprocess.run([a.fixture, "start", pg_dir], check=True, capture_output=True, text=True, timeout=300)
        db = open(os.path.join(pg_dir, "url")).read().strip()
    else:
        db = a.db or os.path.join(w, "state.sqlite")
    postgres = db.startswith("postgres")
    report = {"db": "postgresql" if postgres else "sqlite", "sources": a.sources, "per_image": a.per_image,
              "blind_per_image": a.blind, "repeats": a.repeats, "checkpoints": []}
    try:
        cli = [a.contimg, "--progress", "quiet", "--set", "paths.state_db=" + db]
        report["process_start"], _ = timed([a.contimg, "--version"], a.repeats)
        points = [m for m in (1e5, 1e6, 1e7) if m <= a.measurements]
        if not points or points[-1] < a.measurements:
            points.append(a.measurements)
        for target in points:
            c0 = children_cpu()
            fill = run_json([a.bench, "fill", "--db", db, "--measurements", str(int(target)),
                             "--sources", str(a.sources), "--per-image", str(a.per_image),
                             "--blind", str(a.blind)], env())
            fill["cpu_s"] = children_cpu() - c0
            info = run_json([a.bench, "info", "--db", db], env())
            probe = info.get("probe", {})
            plans = info.get("plans", {})
            cp = {"measurements": info["measurements"], "images": info["images"], "sources": info["sources"],
                  "db_bytes": info["db_bytes"],
                  "ingest": {k: fill[k] for k in ("images_added", "measurements_added", "seconds",
                                                  "measurements_per_s", "store_measurements_per_s",
                                                  "cone_ms_p50", "cone_ms_p95", "store_ms_p50", "store_ms_p95",
                                                  "image_radius_deg", "cpu_s")},
                  "probe": probe,
                  "plans": plans,
                  "uses_index": {k: uses_index(v, postgres) for k, v in plans.items()}}
            lat = {}
            lat["lightcurve NAME"], out = timed(cli + ["--json", "lightcurve", probe["name"]], a.repeats)
            lat["lightcurve NAME"]["points"] = len(json.loads(out)["points"])
            lat["lightcurve RA DEC (cone)"], out = timed(
                cli + ["--json", "lightcurve", repr(probe["ra_deg"]), repr(probe["dec_deg"]), "--radius", "10"],
                a.repeats)
            lat["variables --json"], out = timed(cli + ["--json", "variables"], a.repeats)
            v = json.loads(out)
            lat["variables --json"]["candidates"] = len(v["sources"])
            lat["variables --json"]["n_field"] = v["thresholds"]["n_field"]
            cp["latency"] = lat
            report["checkpoints"].append(cp)
            print(json.dumps({"measurements": cp["measurements"], "db_mb": round(cp["db_bytes"] / 2**20, 1),
                              "ingest_per_s": round(fill["measurements_per_s"]),
                              "p50_s": {k: round(x["p50_s"], 3) for k, x in lat.items()},
                              "uses_index": cp["uses_index"]}), flush=True)
        if not a.no_forced:
            fdir = os.path.join(w, "forced")
            img = run_json([a.bench, "image", "--out", fdir, "--n", str(a.forced_n),
                            "--sources", str(a.forced_sources)], env())
            cmd = [a.contimg, "--progress", "quiet", "--set", "paths.state_db=" + os.path.join(fdir, "state.sqlite"),
                   "--json", "photometry", img["image"], "--reference", img["reference"]]
            # Measured three times: each replaces the image's measurements (the first also makes the sources).
            secs, stage, cpu = [], [], []
            for _ in range(3):
                t, c = time.perf_counter(), children_cpu()
                js = run_json(cmd, env())
                secs.append(time.perf_counter() - t)
                cpu.append(children_cpu() - c)
                stage.append(js["images"][0]["seconds"])
            report["forced_photometry"] = {"image_px": a.forced_n, "sources": img["sources"],
                                           "n_measured": js["images"][0]["n_measured"],
                                           "wall_s_median": statistics.median(secs),
                                           "stage_s_median": statistics.median(stage),
                                           "cpu_s_median": statistics.median(cpu), "wall_s": secs}
            print(json.dumps({"forced_photometry": report["forced_photometry"]}), flush=True)
    finally:
        if pg_dir:
            subprocess.run([a.fixture, "stop", pg_dir], capture_output=True, timeout=300)
    text = json.dumps(report, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
