#!/usr/bin/python3
"""`contimg flag` and the calibrator tools checked end to end with python-casacore.

  /usr/bin/python3 flag_check.py --contimg BIN --data REPO/data --workdir DIR

Simulates a tiny group with a real VLA calibrator (3C286) at transit, RFI bursts, noise and
a dead antenna; checks that the converter names the transit field after the calibrator;
flags it; and scores FLAG (read with python-casacore) against the truth file's bursts:
>= 90% of injected RFI samples flagged, <= 5% of clean cross-correlation samples flagged,
the dead antenna detected and all its rows flagged, live autocorrelations kept. Then:
a second run is skipped and leaves FLAG identical, --force keeps one DB row, and bad input
(not an MS; an MS without FLAG; one without DATA) fails with exit 3 naming the problem and
leaves FLAG untouched. `contimg calibrators` lists 3C286 with the indexed group that holds
its transit. One line per check, "N passed, M failed" last; exit 1 on any failure.
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import numpy as np
from casacore import tables

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flag_score import score  # noqa: E402

P = argparse.ArgumentParser()
P.add_argument("--contimg", required=True)
P.add_argument("--data", required=True)
P.add_argument("--workdir", required=True)
A = P.parse_args()

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS %s %s" % (name, detail), flush=True)
    else:
        failed += 1
        print("FAIL %s %s" % (name, detail), flush=True)


shutil.rmtree(A.workdir, ignore_errors=True)
os.makedirs(A.workdir)
db = os.path.join(A.workdir, "state.sqlite3")
env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}


def run(*args, json_out=True):
    cmd = [A.contimg, "--progress", "quiet", "--set", "paths.data_dir=" + A.data,
           "--set", "paths.state_db=" + db, "--set", "paths.tmpfs_dir=" + A.workdir]
    if json_out:
        cmd.append("--json")
    p = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, env=env,
                       timeout=300)
    p.json = None
    if json_out and p.stdout.strip()[:1] in "{[":
        p.json = json.loads(p.stdout)
    return p


# --------------------------------------------------------------- simulate + convert
sim_dir = os.path.join(A.workdir, "sim")
NCHAN, NANTS, DEAD = 8, 8, 34  # active stations: 1 18 34 51 67 84 100 117
p = run("simulate", sim_dir, "--size", "tiny", "--ntimes", 24, "--nchan", NCHAN, "--nants", NANTS,
        "--noise", 1, "--calibrator", "3C286", "--date", "2025-03-10", "--rfi-bursts", 12,
        "--dead", DEAD, "--seed", 11)
if p.returncode != 0:
    sys.exit("simulate failed: " + p.stderr)
sim = p.json
truth = json.load(open(sim["truth"]))
check("simulate_calibrator_in_sky", truth["sky"]["sources"][0]["name"] == "J1331+3030"
      and "log_poly" in truth["sky"]["sources"][0], truth["sky"]["sources"][0]["name"])
check("simulate_pointing_at_calibrator_dec", abs(truth["pointing"]["dec_deg"] - 30.50915) < 1e-3,
      str(truth["pointing"]["dec_deg"]))
times = np.array(truth["times_jd"])
ms_dir = os.path.join(A.workdir, "ms")
p = run("convert-files", ms_dir, *sim["files"])
if p.returncode != 0:
    sys.exit("convert failed: " + p.stderr)
ms = os.path.join(ms_dir, sim["group_id"] + ".ms")
names = list(tables.table(ms + "/FIELD", ack=False).getcol("NAME"))
cal_fields = [i for i, n in enumerate(names) if n.startswith("3C286_t")]
check("converter_names_transit_field", len(cal_fields) == 1 and cal_fields[0] in (11, 12),
      str([names[i] for i in cal_fields]))

# The transit lies inside the group: integration span brackets it.
p = run("calibrators", "--date", "2025-03-10", "--dec", truth["pointing"]["dec_deg"])
rows = [r for r in (p.json or []) if r["name"] == "J1331+3030"]
check("calibrators_lists_3c286", p.returncode == 0 and len(rows) == 1 and rows[0]["alt_name"] == "3C286"
      and rows[0]["pb_power"] > 0.99, p.stderr[-300:])
if rows:
    tj = rows[0]["transit_jd_utc"]
    check("transit_inside_simulated_group", times[0] < tj < times[-1],
          "%.6f in [%.6f, %.6f]" % (tj, times[0], times[-1]))
p = run("index", sim_dir)
p2 = run("calibrators", "--date", "2025-03-10", "--dec", truth["pointing"]["dec_deg"])
rows = [r for r in (p2.json or []) if r["name"] == "J1331+3030"]
check("calibrators_names_containing_group", p.returncode == 0 and rows and rows[0]["group_id"] == sim["group_id"],
      str(rows[0]["group_id"] if rows else p2.stderr[-300:]))

# --------------------------------------------------------------- flag and score
t = tables.table(ms, ack=False)
flag_before = t.getcol("FLAG")
t.close()
p = run("flag", ms)
check("flag_exit_0", p.returncode == 0, p.stderr[-500:])
rep = p.json or {}
dead_names = [d["name"] for d in rep.get("dead_antennas", [])]
check("dead_antenna_detected", dead_names == ["DSA-%03d" % DEAD], str(dead_names))

sc = score(ms, truth, DEAD)
flag, flag_row, live, cross = sc["flag"], sc["flag_row"], sc["live"], sc["cross"]
f_any = flag.any(axis=2)
n_rfi, found, false_pos = sc["rfi_samples"], sc["rfi_flagged"], sc["clean_flagged"]
check("rfi_samples_flagged_ge_90pct", n_rfi > 0 and found >= 0.9, "%.3f of %d" % (found, n_rfi))
check("clean_samples_flagged_le_5pct", false_pos <= 0.05, "%.4f" % false_pos)
check("dead_antenna_rows_flagged", bool(flag[~live].all()) and bool(flag_row[~live].all()))
autos_live = (~cross) & live
check("live_autocorrelations_kept", float(f_any[autos_live].mean()) < 0.01,
      "%.4f" % float(f_any[autos_live].mean()))
check("flags_only_added", bool((flag | ~flag_before).all()) if flag_before.any() else True)
check("report_fractions", abs(rep.get("flagged_after", -1) - flag.mean()) < 1e-9,
      "%s vs %s" % (rep.get("flagged_after"), flag.mean()))

con = sqlite3.connect(db)
axes = dict(con.execute("SELECT axis, COUNT(*) FROM flag_stats GROUP BY axis").fetchall())
check("db_stats_per_axis", axes.get("antenna") == NANTS and axes.get("spw") == 16
      and axes.get("channel") == 16 * NCHAN and axes.get("time") == 24, str(axes))
grp = con.execute("SELECT group_id FROM flag_runs").fetchall()
check("db_run_keyed_by_group", grp == [(sim["group_id"],)], str(grp))
con.close()

# --------------------------------------------------------------- idempotence
p = run("flag", ms)
t = tables.table(ms, ack=False)
again = t.getcol("FLAG")
t.close()
check("second_run_skipped", p.returncode == 0 and p.json and p.json.get("skipped") is True, p.stdout[-200:])
check("second_run_same_flags", np.array_equal(again, flag))
p = run("flag", ms, "--force")
con = sqlite3.connect(db)
n_runs = con.execute("SELECT COUNT(*) FROM flag_runs").fetchone()[0]
n_stats = con.execute("SELECT COUNT(*) FROM flag_stats").fetchone()[0]
con.close()
check("force_rerun_one_db_row", p.returncode == 0 and n_runs == 1 and n_stats == sum(axes.values()),
      "%d runs, %d stats" % (n_runs, n_stats))

# --------------------------------------------------------------- bad input
not_ms = os.path.join(A.workdir, "not_an_ms")
os.makedirs(not_ms)
open(os.path.join(not_ms, "table.dat"), "w").write("junk")
p = run("flag", not_ms, json_out=False)
check("not_an_ms_exit_3", p.returncode == 3 and "not_an_ms" in p.stderr, p.stderr.strip()[-200:])
for col in ("FLAG", "DATA"):
    bad = os.path.join(A.workdir, "no_%s.ms" % col.lower())
    tables.tablecopy(ms, bad, deep=True)
    t = tables.table(bad, readonly=False, ack=False)
    keep = t.getcol("FLAG") if col == "DATA" else None
    t.removecols([col])
    t.close()
    p = run("flag", bad, json_out=False)
    check("missing_%s_exit_3" % col, p.returncode == 3 and ("no %s column" % col) in p.stderr,
          p.stderr.strip()[-200:])
    if keep is not None:
        t = tables.table(bad, ack=False)
        check("missing_DATA_nothing_written", np.array_equal(t.getcol("FLAG"), keep))
        t.close()

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or not passed else 0)
