#!/usr/bin/env python3
"""`contimg stream` acceptance (issue 12) with the real program on tiny
simulated groups (12 antennas, quick imaging).

  --case stream   Six groups are delivered into the watched directory in
                  random order with jitter while the service runs: a
                  calibrator transit, three science groups (one subband of one
                  delivered twice: a duplicate with a later timestamp, one
                  copied slowly in chunks), a group that never completes
                  (10 subbands) and a group with one truncated subband. Files
                  arrive three ways: written in place, written as
                  `*_incomplete.hdf5` then renamed, written as an rsync-style
                  `.name.XXXXXX` then renamed. The service is killed with
                  SIGKILL at --kills random moments and restarted each time;
                  the last start has --exit-when-idle. At the end: exit 0
                  (idle); the two complete groups processed, each stage's job
                  done once; the incomplete group skipped by policy; the
                  truncated group failed with a reason naming the file; every
                  delivered file registered once and no temporary name ever
                  registered; every product path registered with its identity
                  and none twice; no .contimg-tmp-*; no WSClean left; status
                  and retry on the result (retry re-runs a failed stage only).
  --case lifecycle  --exit-when-idle on an empty directory ends at once (exit
                  0, ended_by idle); SIGTERM while a group is converted exits 0
                  within stream.stop_timeout_s plus a margin, and a restart
                  finishes the group with no job done twice; a second service
                  on the same output tree is refused (exit 2).

One line per check, "N passed, M failed" last; exit 1 on a failure, 77 (CTest
SKIP_RETURN_CODE) when wsclean is missing.

usage: stream_check.py --contimg EXE --workdir DIR --case stream|lifecycle [--kills N] [--seed S]
"""
import argparse
import calendar
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from contimg_harness import processes_mentioning, product_mismatches, stop_with_sigterm, temporaries

RESULTS = {"passed": 0, "failed": 0}
SKIP = 77
DATE = "2025-03-20"
STAGES = ["convert", "flag", "solve", "applycal", "image", "validate", "photometry"]
QUICK = ["--set", "imaging.field_deg=1", "--set", "imaging.cell_arcsec=10", "--set", "imaging.niter=1000"]
STREAM = ["--set", "stream.settle_s=0.5", "--set", "stream.unreadable_after_s=4",
          "--set", "stream.group_timeout_s=10", "--set", "stream.calibration_wait_s=60",
          "--set", "stream.rescan_s=2", "--set", "stream.stop_timeout_s=5", "--set", "stream.min_free_gb=0",
          "--set", "stream.retry_backoff_s=1"]


def check(name, ok, detail=""):
    RESULTS["passed" if ok else "failed"] += 1
    if ok and len(str(detail)) > 300:
        detail = str(detail)[:300] + " …"
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail) if detail != '' else ''}", flush=True)
    return ok


def env():
    return {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}


class Tree:
    """The watched directory, the output tree, its state database and tiers."""

    def __init__(self, exe, work):
        self.exe = exe
        self.root = work
        self.incoming = os.path.join(work, "incoming")
        self.out = os.path.join(work, "out")
        self.db = os.path.join(self.out, "contimg.sqlite")
        self.shm = os.path.join(work, "shm")
        os.makedirs(self.incoming, exist_ok=True)
        os.makedirs(self.shm, exist_ok=True)
        self.globals = [exe, "--progress", "quiet", *QUICK, *STREAM, "--set", "paths.tmpfs_dir=" + self.shm]

    def stream_cmd(self, idle=None):
        cmd = self.globals + ["--json", "stream", "--input", self.incoming, "--out", self.out]
        return cmd + (["--exit-when-idle", str(idle)] if idle is not None else [])

    def start(self, idle=None, log=None):
        return subprocess.Popen(self.stream_cmd(idle), stdout=subprocess.PIPE, stderr=log or subprocess.PIPE,
                                text=True, env=env())

    def run(self, sub, args, timeout=120):
        return subprocess.run(self.globals + ["--json", sub] + args, capture_output=True, text=True, env=env(),
                              timeout=timeout)

    def query(self, sql, *args):
        db = sqlite3.connect(self.db, timeout=30)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()


def simulate(exe, staging, *args):
    p = subprocess.run([exe, "--json", "--progress", "quiet", "simulate", staging, "--size", "tiny", "--nants", "12",
                        "--noise", "2.8", "--instrument-seed", "7", "--threads", "1", *args],
                       capture_output=True, text=True, env=env())
    if p.returncode != 0:
        raise SystemExit(f"simulate {args}: exit {p.returncode}: {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def iso_plus(iso, seconds):
    t = calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%S"))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + seconds))


def deliver(path, dest_dir, how, rng):
    """Puts a copy of `path` into dest_dir under its own name, the way `how` says."""
    final = os.path.join(dest_dir, os.path.basename(path))
    if how == "incomplete":  # the DSA-110 writer: *_incomplete.hdf5, then rename
        tmp = final[:-len(".hdf5")] + "_incomplete.hdf5"
        shutil.copyfile(path, tmp)
        time.sleep(rng.uniform(0.2, 1.0))
        os.rename(tmp, final)
    elif how == "rsync":  # rsync: .name.XXXXXX, then rename
        tmp = os.path.join(dest_dir, "." + os.path.basename(path) + ".Xa81Qz")
        shutil.copyfile(path, tmp)
        os.rename(tmp, final)
    elif how == "slow":  # written in place in chunks with pauses longer than stream.settle_s
        with open(path, "rb") as src, open(final, "wb") as dst:
            data = src.read()
            step = max(1, len(data) // 4)
            for i in range(0, len(data), step):
                dst.write(data[i:i + step])
                dst.flush()
                time.sleep(1.0)
    else:  # written in place at once (IN_CLOSE_WRITE)
        shutil.copyfile(path, final)
    return final


def check_products(tree):
    paths, bad, missing = product_mismatches(tree.query("SELECT path, token, size_bytes, mtime_ns FROM products"),
                                             tree.out)
    check(f"every product path has a matching record, no partial MS or image ({len(paths)} paths)",
          paths and not bad, bad[:5])
    check("every product record's path exists", not missing, missing[:5])



def case_stream(exe, work, kills, seed):
    rng = random.Random(seed)
    staging = os.path.join(work, "staging")
    cal = simulate(exe, staging, "--calibrator", "0834+555", "--date", DATE, "--seed", "7")
    t0 = cal["group_id"]
    sci = simulate(exe, staging, "--start", iso_plus(t0, 1800), "--seed", "8", "--dec", "55.5")
    inc = simulate(exe, staging, "--start", iso_plus(t0, 3600), "--seed", "9", "--dec", "55.5",
                   "--subbands", *[str(k) for k in range(10)])
    bad = simulate(exe, staging, "--start", iso_plus(t0, 5400), "--seed", "10", "--dec", "55.5")
    # Two more science groups: six groups in all (issue 12's acceptance).
    sci2 = simulate(exe, staging, "--start", iso_plus(t0, 900), "--seed", "11", "--dec", "55.5")
    sci3 = simulate(exe, staging, "--start", iso_plus(t0, 2700), "--seed", "12", "--dec", "55.5")
    groups = {"cal": cal["group_id"], "sci": sci["group_id"], "inc": inc["group_id"], "bad": bad["group_id"],
              "sci2": sci2["group_id"], "sci3": sci3["group_id"]}
    print("groups:", groups, flush=True)
    # The truncated subband: half of the file, under its final name.
    truncated = sorted(bad["files"])[5]
    with open(truncated, "r+b") as f:
        f.truncate(os.path.getsize(truncated) // 2)
    # A duplicate of a science subband with a later timestamp (same window): the newest is kept.
    sci_files = sorted(sci["files"])
    dup_src = sci_files[3]
    dup_name = os.path.join(staging, iso_plus(sci["group_id"], 2) + "_sb03.hdf5")
    shutil.copyfile(dup_src, dup_name)

    tree = Tree(exe, work)
    for g in (cal, sci, inc, bad, sci2, sci3):  # the truth files (validation references) are there first
        if os.path.exists(g["truth"]):
            shutil.copy(g["truth"], tree.incoming)
    files = cal["files"] + sci["files"] + inc["files"] + bad["files"] + sci2["files"] + sci3["files"]
    rng.shuffle(files)
    # The duplicate first: it is in the group before the group can close, and
    # older (mtime) than the file it duplicates, which is therefore the one used.
    plan = [(dup_name, "inplace")]
    for f in files:
        how = rng.choice(["inplace", "incomplete", "rsync"])
        if f == sci_files[7]:
            how = "slow"
        plan.append((f, how))
    delivered = []

    def feeder():
        for f, how in plan:
            time.sleep(rng.uniform(0.0, 0.4))
            delivered.append(deliver(f, tree.incoming, how, rng))

    feed = threading.Thread(target=feeder)
    feed.start()
    # Kill the service at random moments while files arrive and groups run.
    logs = []
    for k in range(kills):
        log = open(os.path.join(work, f"stream-{k}.log"), "w")
        p = tree.start(log=log)
        time.sleep(rng.uniform(3, 25))
        alive = p.poll() is None
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        log.close()
        logs.append(open(log.name).read())
        check(f"kill {k + 1}: the service was running when killed", alive, logs[-1][-500:])
        time.sleep(0.5)  # WSClean's parent-death signal is asynchronous
    feed.join()
    log_path = os.path.join(work, "stream-final.log")
    with open(log_path, "w") as log:
        p = tree.start(idle=15, log=log)
        try:
            out, _ = p.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
    final_log = open(log_path).read()
    summary = json.loads(out) if out.strip().startswith("{") else {}
    check("the last start ends by --exit-when-idle with exit 0", p.returncode == 0 and
          summary.get("stream", {}).get("ended_by") == "idle", f"exit {p.returncode}; {out[-500:]} {final_log[-1500:]}")

    all_logs = "".join(logs[1:]) + final_log
    print(f"note: {all_logs.count('taking over job')} job(s) taken over from a killed service; "
          f"{all_logs.count('removed stale temporary')} temporary path(s) of killed services swept", flush=True)
    states = dict(tree.query("SELECT group_id, state FROM groups"))
    reasons = dict(tree.query("SELECT group_id, reason FROM groups"))
    check("the calibrator transit and the three science groups are processed",
          all(states.get(groups[g]) == "processed" for g in ("cal", "sci", "sci2", "sci3")), states)
    check("the group that never completed is skipped by policy (incomplete)",
          states.get(groups["inc"]) == "skipped" and "incomplete" in (reasons.get(groups["inc"]) or ""),
          (states.get(groups["inc"]), reasons.get(groups["inc"])))
    check("the group with a truncated subband failed with a reason naming the file",
          states.get(groups["bad"]) == "failed" and os.path.basename(truncated) in (reasons.get(groups["bad"]) or ""),
          (states.get(groups["bad"]), reasons.get(groups["bad"])))
    jobs = tree.query("SELECT group_id, stage, state FROM jobs ORDER BY group_id, stage")
    for g in ("cal", "sci", "sci2", "sci3"):
        mine = sorted((st, state) for gid, st, state in jobs if gid == groups[g])
        check(f"{g}: one job per stage, each done", mine == sorted((st, "done") for st in STAGES), mine)
    check("no job for the skipped or the failed-at-close group",
          not [j for j in jobs if j[0] in (groups["inc"], groups["bad"])], jobs)
    for table in ("images", "validations", "calsets", "flag_runs"):
        rows = tree.query(f"SELECT group_id, count(*) FROM {table} GROUP BY group_id HAVING count(*) > 1")
        check(f"{table}: at most one row per group", not rows, rows)
    check("one calibration set (the calibrator transit's)", tree.query("SELECT count(*) FROM calsets")[0][0] == 1,
          tree.query("SELECT id, status FROM calsets"))
    registered = [r[0] for r in tree.query("SELECT path FROM files")]
    expect = sorted(os.path.abspath(p) for p in delivered)
    check("every delivered file registered exactly once", sorted(registered) == expect,
          f"{len(registered)} registered, {len(expect)} delivered; extra "
          f"{sorted(set(registered) - set(expect))[:3]}, missing {sorted(set(expect) - set(registered))[:3]}")
    check("no temporary name (_incomplete, rsync dot-file) ever registered",
          not [r for r in registered if "_incomplete" in r or os.path.basename(r).startswith(".")], registered[:3])
    sup = {os.path.basename(p): s for p, s in tree.query("SELECT path, superseded FROM files")}
    check("the duplicate subband: the newer file (mtime) is used, the older superseded",
          sup.get(os.path.basename(dup_src)) == 0 and sup.get(os.path.basename(dup_name)) == 1,
          {k: v for k, v in sup.items() if k in (os.path.basename(dup_src), os.path.basename(dup_name))})
    check_products(tree)
    check("no .contimg-tmp-* in any tier", not temporaries(work), temporaries(work)[:5])
    check("no WSClean left working on the tree", not processes_mentioning(work), processes_mentioning(work))
    untrusted = os.path.join(tree.out, "untrusted")
    check("nothing moved to untrusted/", not os.path.exists(untrusted) or not os.listdir(untrusted),
          os.listdir(untrusted) if os.path.exists(untrusted) else "")

    # status: what an operator reads.
    st = tree.run("status", ["--out", tree.out, "--input", tree.incoming])
    s = json.loads(st.stdout) if st.returncode == 0 else {}
    check("status --json: jobs, groups, latency, failures, tiers",
          s.get("jobs", {}).get("done") == 4 * len(STAGES) and s.get("groups", {}).get("processed") == 4
          and "convert" in s.get("latency", {}) and s.get("service", {}).get("running") is False
          and any(f["group_id"] == groups["bad"] for f in s.get("failures", []))
          and any(t["tier"] == "out" and "free_gb" in t for t in s.get("tiers", [])),
          f"exit {st.returncode}: {st.stdout[:1500]} {st.stderr[-500:]}")
    txt = subprocess.run(tree.globals + ["status", "--out", tree.out], capture_output=True, text=True, env=env())
    check("status (text) names the failed group's file", txt.returncode == 0 and os.path.basename(truncated) in txt.stdout,
          txt.stdout[-1500:])

    # retry: a failed stage is re-queued and re-run by the service, nothing else.
    db = sqlite3.connect(tree.db, timeout=30)
    db.execute("UPDATE jobs SET state = 'failed', error_kind = 'io', error = 'made to fail by the test' "
               "WHERE group_id = ? AND stage = 'validate'", (groups["sci"],))
    db.execute("UPDATE groups SET state = 'failed' WHERE group_id = ?", (groups["sci"],))
    db.commit()
    db.close()
    r = tree.run("retry", [groups["sci"], "--stage", "validate", "--out", tree.out])
    check("retry re-queues the failed job", r.returncode == 0 and json.loads(r.stdout).get("requeued") == ["validate"],
          f"exit {r.returncode}: {r.stdout} {r.stderr[-500:]}")
    r2 = tree.run("retry", [groups["inc"], "--out", tree.out])
    check("retry of a group without a failed job: exit 3, JSON error", r2.returncode == 3 and '"ok": false' in r2.stdout,
          f"exit {r2.returncode}: {r2.stdout}")
    before = dict(tree.query("SELECT stage, attempt FROM jobs WHERE group_id = ?", groups["sci"]))
    p = tree.start(idle=8)
    out, err = p.communicate(timeout=300)
    after = dict(tree.query("SELECT stage, attempt FROM jobs WHERE group_id = ?", groups["sci"]))
    states = dict(tree.query("SELECT group_id, state FROM groups"))
    check("after retry the service re-runs validate only and the group is processed again",
          p.returncode == 0 and states.get(groups["sci"]) == "processed"
          and after == {**before, "validate": before["validate"] + 1}
          and tree.query("SELECT state FROM jobs WHERE group_id = ? AND stage = 'validate'", groups["sci"]) == [("done",)],
          f"exit {p.returncode}; before {before} after {after}; {err[-1500:]}")
    return 0


def case_lifecycle(exe, work):
    tree = Tree(exe, work)
    t = time.time()
    p = tree.start(idle=2)
    out, err = p.communicate(timeout=60)
    s = json.loads(out) if out.strip().startswith("{") else {}
    check("--exit-when-idle 2 on an empty directory: exit 0 within seconds, ended_by idle",
          p.returncode == 0 and s.get("stream", {}).get("ended_by") == "idle" and time.time() - t < 30,
          f"exit {p.returncode} after {time.time() - t:.1f} s: {out} {err[-800:]}")

    staging = os.path.join(work, "staging")
    g = simulate(exe, staging, "--calibrator", "0834+555", "--date", DATE, "--seed", "7")
    log_path = os.path.join(work, "term.log")
    log = open(log_path, "w")
    p = tree.start(log=log)
    until = time.time() + 60
    while time.time() < until and "stream: watching" not in open(log_path).read() and p.poll() is None:
        time.sleep(0.2)
    other = tree.start(idle=1)
    o_out, o_err = other.communicate(timeout=60)
    check("a second service on the same output tree is refused (exit 2, names the lock)",
          other.returncode == 2 and "stream.lock" in o_out, f"exit {other.returncode}: {o_out} {o_err[-500:]}")
    for f in g["files"]:
        deliver(f, tree.incoming, "incomplete", random.Random(1))
    until = time.time() + 120
    seen = ""
    while time.time() < until and "stage=flag event=start" not in seen and p.poll() is None:
        time.sleep(0.2)
        seen = open(log_path).read()
    took = stop_with_sigterm(p, log)
    seen = open(log_path).read()
    check("SIGTERM during a stage: exit 0 within stream.stop_timeout_s (5 s) + 10 s",
          p.returncode == 0 and took < 15, f"exit {p.returncode} after {took:.1f} s; {seen[-1500:]}")
    check("no .contimg-tmp-* after the stop", not temporaries(work), temporaries(work)[:5])
    check("no WSClean left after the stop", not processes_mentioning(work), processes_mentioning(work))
    p = tree.start(idle=5)
    out, err = p.communicate(timeout=600)
    states = dict(tree.query("SELECT group_id, state FROM groups"))
    done = tree.query("SELECT stage, state FROM jobs WHERE state = 'done'")
    check("a restart finishes the group: processed, each stage done", p.returncode == 0 and
          states.get(g["group_id"]) == "processed" and sorted(s for s, _ in done) == sorted(STAGES),
          f"exit {p.returncode}; {states}; {done}; {err[-1500:]}")
    started = [l for l in (seen + err).splitlines() if "event=start" in l]
    redone = [st for st in STAGES if sum(f"stage={st} event=start" in l for l in started) > 1 and st != "flag"]
    check("no stage that had finished before the stop ran again", not redone, redone)

    # The grace period runs out (stream.stop_timeout_s = 0): the running stage
    # (WSClean) is cancelled cleanly, the service exits 0, a restart redoes it.
    sci = simulate(exe, staging, "--start", iso_plus(g["group_id"], 1800), "--seed", "8", "--dec", "55.5")
    log_path = os.path.join(work, "cancel.log")
    log = open(log_path, "w")
    cmd = tree.stream_cmd()
    cmd[cmd.index("--json"):cmd.index("--json")] = ["--set", "stream.stop_timeout_s=0"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env())
    for f in sci["files"]:
        deliver(f, tree.incoming, "rsync", random.Random(2))
    until = time.time() + 300
    while time.time() < until and not processes_mentioning(work) and p.poll() is None:
        time.sleep(0.1)
    had_wsclean = bool(processes_mentioning(work))
    took = stop_with_sigterm(p, log)
    seen = open(log_path).read()
    time.sleep(0.5)
    job = tree.query("SELECT state, error_kind, attempt FROM jobs WHERE group_id = ? AND stage = 'image'", sci["group_id"])
    check("stop time-out during imaging: exit 0 promptly, the image job recorded as interrupted",
          had_wsclean and p.returncode == 0 and took < 15 and job and job[0][1] == "interrupted",
          f"wsclean seen {had_wsclean}; exit {p.returncode} after {took:.1f} s; job {job}; {seen[-1500:]}")
    check("no WSClean and no .contimg-tmp-* after the cancellation", not processes_mentioning(work) and not temporaries(work),
          (processes_mentioning(work), temporaries(work)[:5]))
    p = tree.start(idle=5)
    out, err = p.communicate(timeout=600)
    states = dict(tree.query("SELECT group_id, state FROM groups"))
    attempts = dict(tree.query("SELECT stage, attempt FROM jobs WHERE group_id = ?", sci["group_id"]))
    check("a restart resumes the interrupted group at its image stage: processed, image attempt 2, nothing before redone",
          p.returncode == 0 and states.get(sci["group_id"]) == "processed"
          and attempts == {**{st: 1 for st in STAGES}, "image": 2},
          f"exit {p.returncode}; {states}; {attempts}; {err[-1500:]}")
    return 0


def case_retry(exe, work):
    """A retryable failure is retried with backoff and succeeds; a bad-input failure is not retried;
    a failed stage is never recorded as done (asserted from the database while it fails)."""
    from contimg_harness import fill_up, tmpfs, umount
    probe, why = tmpfs(1 << 20)
    if probe is None:
        print(f"SKIP cannot mount a tmpfs (needs root): {why}")
        return SKIP
    umount(probe)
    staging = os.path.join(work, "staging")

    # 1. Bad input: a science group with no calibration set and calibration.when_uncalibrated = fail.
    bad = Tree(exe, os.path.join(work, "input-error"))
    bad.globals += ["--set", "calibration.when_uncalibrated=fail", "--set", "stream.calibration_wait_s=1",
                    "--set", "orchestrator.max_attempts=5"]
    g1 = simulate(exe, os.path.join(staging, "g1"), "--start", DATE + "T06:00:00", "--seed", "21", "--dec", "55.5")
    for f in g1["files"]:
        deliver(f, bad.incoming, "plain", random.Random(3))
    p = bad.start(idle=4)
    out, err = p.communicate(timeout=600)
    jobs = bad.query("SELECT stage, state, error_kind, attempt FROM jobs WHERE group_id = ?", g1["group_id"])
    apply = [j for j in jobs if j[0] == "applycal"]
    check("bad input (no set, when_uncalibrated = fail): applycal failed once with kind input, not retried",
          p.returncode == 0 and apply == [("applycal", "failed", "input", 1)] and "retrying in" not in err,
          f"exit {p.returncode}; {jobs}; {err[-1500:]}")
    check("bad input: the group failed, nothing after applycal ran",
          dict(bad.query("SELECT group_id, state FROM groups")).get(g1["group_id"]) == "failed"
          and not [j for j in jobs if j[0] in ("image", "validate", "photometry")], jobs)

    # 2. Retryable: the products file system is full when the group is imaged (another writer took it);
    #    space is freed after the second failed attempt.
    tree = Tree(exe, os.path.join(work, "io-error"))
    # Retention on (issue 12): the processed group's MS goes ~2 s after it was made.
    tree.globals += ["--set", "orchestrator.max_attempts=5", "--set", "retention.ms_hours=0.0006",
                     "--set", "retention.check_s=1"]
    products = os.path.join(tree.out, "products")
    os.makedirs(products)
    mnt, why = tmpfs(64 * (1 << 20))
    subprocess.run(["mount", "--bind", mnt, products], check=True)
    try:
        fill = os.path.join(products, "fill")
        fill_up(fill)
        g2 = simulate(exe, os.path.join(staging, "g2"), "--start", DATE + "T07:00:00", "--seed", "22",
                      "--dec", "55.5")
        log_path = os.path.join(work, "retry.log")
        log = open(log_path, "w")
        p = tree.start(idle=8, log=log)
        for f in g2["files"]:
            deliver(f, tree.incoming, "incomplete", random.Random(4))
        seen_failed_states, t_fail = [], {}
        until = time.time() + 300
        while time.time() < until and p.poll() is None:
            row = tree.query("SELECT state, error_kind, attempt FROM jobs WHERE group_id = ? AND stage = 'image'",
                             g2["group_id"])
            if row and row[0][0] == "failed":
                seen_failed_states.append(row[0])
                t_fail.setdefault(row[0][2], time.time())
                # While it fails: no image product or image row is recorded.
                prods = tree.query("SELECT count(*) FROM products WHERE group_id = ? AND stage = 'image'",
                                   g2["group_id"])[0][0]
                imgs = tree.query("SELECT count(*) FROM images WHERE group_id = ?", g2["group_id"])[0][0]
                if prods or imgs:
                    seen_failed_states.append(("PRODUCT RECORDED WHILE FAILED", prods, imgs))
                if row[0][2] >= 2:
                    break
            time.sleep(0.1)
        if os.path.exists(fill):
            os.remove(fill)
        out, _ = p.communicate(timeout=600)
        log.close()
        text = open(log_path).read()
        retries = [l for l in text.splitlines() if "retrying in" in l]
        print("note: " + "\n      ".join(l[-160:] for l in retries), flush=True)
        check("the full disk failed the image stage retryably (kind io) at attempts 1 and 2, never recorded done",
              {a for _, _, a in seen_failed_states if isinstance(a, int)} >= {1, 2}
              and all(st[0] == "failed" and st[1] == "io" for st in seen_failed_states),
              seen_failed_states[:6])
        check("backoff doubles: retrying in 1 s, then 2 s (stream.retry_backoff_s = 1)",
              len(retries) >= 2 and "retrying in 1 s" in retries[0] and "retrying in 2 s" in retries[1], retries)
        if 1 in t_fail and 2 in t_fail:
            print(f"note: attempt 2 failed {t_fail[2] - t_fail[1]:.1f} s after attempt 1", flush=True)
        jobs = dict((st, (state, a)) for st, state, a in
                    tree.query("SELECT stage, state, attempt FROM jobs WHERE group_id = ?", g2["group_id"]))
        check("after the space is freed the retry succeeds: group processed, image done at attempt >= 3, "
              "every other stage done once",
              p.returncode == 0 and dict(tree.query("SELECT group_id, state FROM groups")).get(g2["group_id"]) == "processed"
              and jobs.get("image", ("", 0))[0] == "done" and jobs["image"][1] >= 3
              and all(v == ("done", 1) for k, v in jobs.items() if k != "image"),
              f"exit {p.returncode}; {jobs}; {text[-1500:]}")
        check("one image row, its products registered once", tree.query(
            "SELECT count(*) FROM images WHERE group_id = ?", g2["group_id"])[0][0] == 1
            and not tree.query("SELECT path, count(*) FROM products GROUP BY path HAVING count(*) > 1"))
        ms_rows = tree.query("SELECT path FROM products WHERE group_id = ? AND kind = 'ms'", g2["group_id"])
        events = [e for (e,) in tree.query("SELECT message FROM events WHERE group_id = ? AND stage = 'retention'",
                                           g2["group_id"])]
        ms_dir = os.path.join(tree.out, "ms")
        left = [n for n in os.listdir(ms_dir) if n.startswith(g2["group_id"])] if os.path.isdir(ms_dir) else []
        summary = json.loads(out) if out.strip().startswith("{") else {}
        check("retention: the processed group's MS removed, its product row forgotten, an event says so",
              not left and not ms_rows and len(events) == 1 and "retention.ms_hours" in events[0]
              and summary.get("stream", summary).get("retention_removed") == 1,
              (left, ms_rows, events, summary))
        check("retention: the images are kept (retention.images_hours = 0)",
              len(tree.query("SELECT path FROM products WHERE group_id = ? AND kind = 'image'", g2["group_id"])) == 6
              and all(os.path.isfile(p) for (p,) in tree.query("SELECT path FROM products WHERE kind = 'image'")))
        check("no .contimg-tmp-* left", not temporaries(work), temporaries(work)[:5])
    finally:
        subprocess.run(["umount", "-l", products], capture_output=True)
        umount(mnt)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--case", required=True, choices=["stream", "lifecycle", "retry"])
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--seed", type=int, default=12)
    a = ap.parse_args()
    if shutil.which("wsclean") is None:
        print("SKIP wsclean is not installed")
        return SKIP
    work = os.path.abspath(a.workdir)
    # A run killed while it had a small tmpfs mounted (the retry case's full
    # disk) leaves the mount behind, and rmtree cannot remove a mount point.
    for line in open("/proc/mounts"):
        mp = line.split()[1]
        if mp == work or mp.startswith(work + "/"):
            subprocess.run(["umount", "-l", mp], capture_output=True)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    exe = os.path.abspath(a.contimg)
    if a.case == "stream":
        case_stream(exe, work, a.kills, a.seed)
    elif a.case == "retry":
        if case_retry(exe, work) == SKIP:
            return SKIP
    else:
        case_lifecycle(exe, work)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] or not RESULTS["passed"] else 0


if __name__ == "__main__":
    sys.exit(main())
