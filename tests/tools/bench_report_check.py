#!/usr/bin/python3
"""The conversion benchmark's JSON report is JSON (bench/run_convert_bench.sh).

  /usr/bin/python3 bench_report_check.py --contimg BIN --data REPO/data --workdir DIR

Runs the benchmark once, case `default`, on a tiny simulated group, and reads its report with
json.load. Every timing must be a positive number. Before the fix, figures under one second
came out of bc as ".76", which no JSON parser accepts.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contimg_harness import Checker, Contimg  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    work = os.path.abspath(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    c = Contimg(os.path.abspath(args.contimg), os.path.abspath(args.data), work)
    c.simulate(os.path.join(work, "in"), "2025-01-01T12:00:00", 3)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "run_convert_bench.sh")
    report = os.path.join(work, "report.json")
    env = dict(c.env, CONVERT_BENCH_BIN=os.path.abspath(args.contimg))
    p = subprocess.run(["bash", script, "--workdir", os.path.join(work, "bench"), "--input", os.path.join(work, "in"),
                        "--skip-scaling", "--repeat", "1", "--cases", "default", "--out", report],
                       capture_output=True, text=True, env=env, timeout=600)
    checker = Checker()
    check = checker.check
    check("the benchmark runs", p.returncode == 0, "exit %d; %s" % (p.returncode, p.stderr.strip()[-800:]))
    text = open(report).read() if os.path.exists(report) else ""
    try:
        rep = json.loads(text)
        err = ""
    except ValueError as e:
        rep, err = None, "%s in %r" % (e, text[:300])
    check("the report is JSON", rep is not None, err or "%d bytes" % len(text))
    if rep is not None:
        rows = rep.get("full_size", [])
        check("one case reported", len(rows) == 1, "%d rows" % len(rows))
        keys = ["convert_s", "cp_s", "ratio", "convert_sync_s", "cp_sync_s", "durable_ratio", "convert_cpu_s",
                "mb_per_s", "peak_rss_kib", "input_bytes", "ms_bytes"]
        for row in rows:
            bad = [k for k in keys if not isinstance(row.get(k), (int, float)) or row.get(k) <= 0]
            check("every figure a positive number", not bad, "bad: %s; row %s" % (bad, row))
    return checker.summary()


if __name__ == "__main__":
    sys.exit(main())
