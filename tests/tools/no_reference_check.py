#!/usr/bin/env python3
"""D9 (issue 11): `contimg run` on data with no reference catalogue must still
process its groups. Simulates a tiny 0834+555 calibrator transit and a science
group an hour later, moves their truth files away (so no reference exists:
no --reference, no <group>.truth.json, validation.reference_catalogue unset)
and runs the chain with a small image. Both groups must be processed (exit 0,
--json counts), each verdict must say the cross-match was skipped and why, the
catalogue and the report must exist, and a rerun must resume (validate
skipped, same verdict); `contimg validate` without --reference gives warn,
exit 0. Checks the program's behaviour only (exit code, JSON
summary, product files, the state database), not its internals.

usage: no_reference_check.py CONTIMG WORKDIR
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys

failures = []
# Keep WSClean to a few seconds: a 1 deg field of 10" pixels.
QUICK = ["--set", "imaging.field_deg=1", "--set", "imaging.cell_arcsec=10", "--set", "imaging.niter=1000"]


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def env():
    # No configuration from the caller's environment (a reference could hide the defect).
    return {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}


def contimg(exe, *args):
    p = subprocess.run([exe, "--json", "--progress", "quiet", *args], capture_output=True, text=True, env=env())
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else {}
    except json.JSONDecodeError:
        out = {}
    return p.returncode, out


def main():
    exe, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    raw, out = os.path.join(work, "raw"), os.path.join(work, "out")
    code, cal = contimg(exe, "simulate", raw, "--size", "tiny", "--nants", "12", "--calibrator", "0834+555",
                        "--date", "2025-03-20", "--noise", "2.8", "--seed", "7", "--instrument-seed", "7",
                        "--threads", "1")
    check(code == 0 and cal.get("group_id"), f"calibrator group simulated ({code})")
    if failures:
        return
    truth = json.load(open(cal["truth"]))
    code, sci = contimg(exe, "simulate", raw, "--size", "tiny", "--nants", "12", "--start", "2025-03-20T05:37:42",
                        "--dec", repr(truth["pointing"]["dec_deg"]), "--random-sources", "5", "--random-min", "0.3",
                        "--random-max", "2", "--noise", "2.8", "--seed", "8", "--instrument-seed", "7",
                        "--threads", "1")
    check(code == 0 and sci.get("group_id"), f"science group simulated ({code})")
    # A second calibrator transit the same day (issue 16: the flux-scale check needs another set).
    code, cal2 = contimg(exe, "simulate", raw, "--size", "tiny", "--nants", "12", "--calibrator", "3C286",
                         "--date", "2025-03-20", "--noise", "2.8", "--seed", "9", "--instrument-seed", "7",
                         "--threads", "1")
    check(code == 0 and cal2.get("group_id"), f"second calibrator group simulated ({code})")
    if failures:
        return
    aside = os.path.join(work, "truth-moved-away")
    os.makedirs(aside)
    for name in os.listdir(raw):
        if name.endswith(".truth.json"):
            shutil.move(os.path.join(raw, name), aside)
    check(not [n for n in os.listdir(raw) if n.endswith(".json")], "no reference beside the input")

    code, s = contimg(exe, *QUICK, "run", raw, "2025-03-20", "2025-03-20", "--out", out)
    counts = s.get("counts", {})
    check(code == 0, f"run exits 0 (got {code})")
    check(counts.get("processed") == 3 and counts.get("failed") == 0,
          f"both groups processed, none failed: {counts} "
          + "; ".join(f"{g['group_id']}: {g.get('reason', '')}" for g in s.get("groups", []) if g["status"] != "processed"))
    groups = {g["group_id"]: g for g in s.get("groups", [])}
    check(set(groups) == {cal["group_id"], sci["group_id"], cal2["group_id"]}, f"the three groups: {sorted(groups)}")
    for gid, g in groups.items():
        o = g.get("outputs") or {}
        reasons = o.get("verdict_reasons", [])
        skipped = [r for r in reasons if "crossmatch: skipped: no reference catalogue" in r]
        check(o.get("verdict") in ("warn", "fail") and skipped and skipped[0].startswith("warn: "),
              f"{gid}: verdict {o.get('verdict')} says the cross-match was skipped, as a warning: {reasons}")
        check(str(o.get("crossmatch", "")).startswith("skipped: no reference catalogue"),
              f"{gid}: stage output crossmatch = {o.get('crossmatch')!r}")
        check(os.path.isfile(o.get("catalogue_fits", "")), f"{gid}: source catalogue written")
        html = open(o["report_html"]).read() if os.path.isfile(o.get("report_html", "")) else ""
        check("Skipped: no reference catalogue" in html, f"{gid}: the report says the cross-match was skipped")
    sci_out = groups.get(sci["group_id"], {}).get("outputs") or {}
    print("science group calibrated:", sci_out.get("calibrated"), sci_out.get("applied_calset_id"))
    check(sci_out.get("n_detections", 0) > 0, f"science: source finding ran ({sci_out.get('n_detections')} detections)")

    # Issue 16: without a reference catalogue the chain checks the flux scale on the calibrator
    # transits, each calibrated with the other's set (its own would give 1 by construction).
    fsc = s.get("flux_scale", {})
    print("flux scale:", json.dumps(fsc))
    check(fsc.get("ran") is True, f"flux-scale check ran without a reference: {fsc.get('ran')} {fsc.get('reason')}")
    tr = {t["group_id"]: t for t in fsc.get("transits", [])}
    check(set(tr) == {cal["group_id"], cal2["group_id"]} and not fsc.get("unchecked"),
          f"both transits measured, none unchecked: {sorted(tr)} {fsc.get('unchecked')}")
    check(tr.get(cal["group_id"], {}).get("calset_id", "").startswith(cal2["group_id"])
          and tr.get(cal2["group_id"], {}).get("calset_id", "").startswith(cal["group_id"]),
          "each transit calibrated with the other transit's set: "
          + ", ".join(f"{g} <- {t.get('calset_id')}" for g, t in tr.items()))
    check(tr and all(abs(t["ratio"] - 1) < 0.05 for t in tr.values()) and fsc.get("ok") is True,
          "calibrated / catalogue flux within 5%: " + ", ".join(f"{t['calibrator']} {t['ratio']:.4f}" for t in tr.values()))
    check(all(t.get("own_set_status") == "passed" for t in tr.values()), "own set status reported")

    db = sqlite3.connect(os.path.join(out, "contimg.sqlite"))
    rows = db.execute("SELECT group_id, verdict, reference FROM validations ORDER BY group_id").fetchall()
    db.close()
    check(len(rows) == 3 and all(r[2] == "" for r in rows), f"validations recorded without a reference: {rows}")

    # `contimg validate` on the science image without --reference: the same (exit 0, verdict warn).
    if os.path.isfile(sci_out.get("pbcor_fits", "")):
        vdir = os.path.join(work, "validate-cli")
        code, v = contimg(exe, "--set", "paths.state_db=" + os.path.join(vdir, "state.sqlite"), "validate",
                          sci_out["pbcor_fits"], "--out", vdir, "--group", "science")
        check(code == 0 and v.get("verdict") == "warn"
              and v.get("metrics", {}).get("crossmatch", {}).get("status") == "skipped",
              f"validate without --reference: exit {code}, verdict {v.get('verdict')}, "
              f"crossmatch {v.get('metrics', {}).get('crossmatch')}")

    # A rerun resumes: validation is found done, with the same verdict.
    code2, s2 = contimg(exe, *QUICK, "run", raw, "2025-03-20", "2025-03-20", "--out", out)
    check(code2 == 0 and s2.get("counts", {}).get("processed") == 3, f"rerun exits 0, 3 processed ({code2})")
    for g in s2.get("groups", []):
        v = [st["outcome"] for st in g["stages"] if st["stage"] == "validate"]
        check(v == ["skipped"], f"rerun {g['group_id']}: validate skipped ({v})")
        check((g.get("outputs") or {}).get("verdict") == (groups.get(g["group_id"], {}).get("outputs") or {}).get("verdict"),
              f"rerun {g['group_id']}: same verdict")


main()
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
