#!/usr/bin/env python3
"""The job queue's workers (issue 13; docs/scale-out.md "Workers") with the real
program on tiny simulated groups (12 antennas, quick imaging).

  --case queue   SQLite (one machine): 3 groups (a 0834+555 transit, then two
                 science groups) submitted, 2 workers; every stage of every
                 group done once, the transit's solve done before any science
                 group's applycal started, every product registered once; a
                 second submit queues nothing; `status` counts the jobs.
  --case faults  PostgreSQL started by the test (pg_fixture: initdb into the
                 work directory, a loopback port, removed at the end):
                 --groups groups (a transit first), 3 workers; --kills kill -9
                 of a worker holding a job at random moments (each replaced),
                 one server restart (pg_ctl restart -m fast), one worker
                 connection terminated by the server (pg_terminate_backend);
                 one "poison" group whose convert kills its worker on every
                 attempt (the test kills it) ends discarded with every
                 attempt's error. Every other group processed, each job done
                 once, one image and validation row per group, products
                 registered once; a killed worker's job runs again within
                 lease + reaper interval + backoff (measured, reported); no
                 job recorded done after a failed last attempt; no WSClean
                 left; no temporary path left.

One line per check, "N passed, M failed" last; exit 1 on a failure, 77 (CTest
SKIP_RETURN_CODE) when wsclean or the PostgreSQL server programs are missing.

usage: worker_check.py --contimg EXE --workdir DIR --case queue|faults
                       [--fixture PG_FIXTURE --psql PSQL] [--groups N] [--kills K] [--seed S]
"""
import argparse
import calendar
import glob
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from contimg_harness import processes_mentioning, product_mismatches, temporaries
# The tiny-group tools of the stream tests (one copy): simulate, check and its counts.
from stream_check import DATE, QUICK, RESULTS, SKIP, STREAM, check, deliver, env, iso_plus, simulate

STAGES = ["convert", "flag", "solve", "applycal", "image", "validate", "photometry"]
N_JOBS = 3 * len(STAGES)  # case_queue's 3 groups
POISON_STAGE = "image"  # the longest stage of a tiny group: a kill finds it running
# Short leases and intervals so that a dead worker's job comes back within seconds.
LEASE_S, HEARTBEAT_S, REAP_S, BACKOFF_S = 6.0, 1.0, 1.0, 1.0
QUEUE = ["--set", f"orchestrator.lease_s={LEASE_S}", "--set", f"orchestrator.heartbeat_s={HEARTBEAT_S}",
         "--set", f"worker.reap_s={REAP_S}", "--set", f"orchestrator.retry_backoff_s={BACKOFF_S}",
         "--set", "worker.poll_s=1", "--set", "worker.defer_s=2", "--set", "orchestrator.max_attempts=3"]








def iso_to_unix(s):
    s = s.rstrip("Z")
    frac = 0.0
    if "." in s:
        s, f = s.split(".")
        frac = float("0." + f)
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%S")) + frac




def make_groups(exe, inp, n):
    """A 0834+555 transit, then n-1 science groups 309 s apart at its declination."""
    cal = simulate(exe, inp, "--calibrator", "0834+555", "--date", DATE, "--seed", "1")
    groups = [cal["group_id"]]
    dec = json.load(open(cal["truth"]))["pointing"]["dec_deg"]
    for k in range(1, n):
        g = simulate(exe, inp, "--start", iso_plus(cal["group_id"], 309 * k), "--dec", repr(dec),
                     "--seed", str(100 + k), "--random-sources", "2")
        groups.append(g["group_id"])
    return groups


class Db:
    """The state database, read without contimg code (sqlite3 or psql)."""

    def __init__(self, sqlite_path=None, psql=None, url=None):
        self.sqlite_path, self.psql, self.url = sqlite_path, psql, url

    def rows(self, sql):
        if self.sqlite_path:
            db = sqlite3.connect(self.sqlite_path, timeout=30)
            try:
                return [tuple(r) for r in db.execute(sql).fetchall()]
            finally:
                db.close()
        for attempt in range(30):  # the server may be restarting
            p = subprocess.run([self.psql, "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", self.url,
                                "-c", sql], capture_output=True, text=True, timeout=60)
            if p.returncode == 0:
                out = []
                for line in p.stdout.splitlines():
                    if line == "":
                        continue
                    out.append(tuple(None if c == "" else c for c in line.split("\t")))
                return out
            time.sleep(1)
        raise RuntimeError("psql failed: " + p.stderr)


def holder_pid(holder):
    m = re.match(r"[^:]*:(\d+):", holder or "")
    return int(m.group(1)) if m else None


class Workers:
    def __init__(self, cmd, logdir):
        self.cmd, self.logdir, self.procs, self.n = cmd, logdir, {}, 0

    def start_into(self, other):
        """Starts this command as one of `other`'s processes."""
        other.n += 1
        log = open(os.path.join(other.logdir, f"worker{other.n}.log"), "w")
        p = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env())
        other.procs[p.pid] = (p, log)
        return p

    def start(self):
        self.n += 1
        log = open(os.path.join(self.logdir, f"worker{self.n}.log"), "w")
        p = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env())
        self.procs[p.pid] = (p, log)
        return p

    def kill(self, pid):
        p, log = self.procs.pop(pid)
        p.send_signal(signal.SIGKILL)
        p.wait()
        log.close()

    def alive(self):
        return [pid for pid, (p, _) in self.procs.items() if p.poll() is None]

    def wait_all(self, timeout):
        summaries, end = [], time.time() + timeout
        for pid, (p, log) in list(self.procs.items()):
            try:
                out, _ = p.communicate(timeout=max(1, end - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            log.close()
            try:
                summaries.append((p.returncode, json.loads(out)))
            except ValueError:
                summaries.append((p.returncode, None))
        return summaries


def check_done_once(db, groups, out, expect_attempt_one):
    jobs = db.rows("SELECT group_id, stage, state, attempt FROM jobs ORDER BY group_id, stage")
    done = {(g, s) for g, s, st, _ in jobs if st == "done"}
    want = {(g, s) for g in groups for s in STAGES}
    check("every stage of every group done", want <= done, sorted(want - done)[:5])
    check("one job per group and stage", len(jobs) == len({(g, s) for g, s, _, _ in jobs}), len(jobs))
    if expect_attempt_one:
        check("each job ran once (attempt 1)", all(int(a) == 1 for g, s, st, a in jobs if (g, s) in want),
              [(g, s, a) for g, s, st, a in jobs if int(a) != 1][:5])
    # Exactly one 'done' attempt per done job, and it is the last attempt.
    att = db.rows("SELECT j.group_id, j.stage, a.attempt, a.outcome, j.attempt FROM job_attempts a "
                  "JOIN jobs j ON j.id = a.job_id")
    dones = {}
    for g, s, a, outcome, last in att:
        if outcome == "done":
            dones.setdefault((g, s), []).append((int(a), int(last)))
    check("each done job has one done attempt, its last",
          all(len(v) == 1 and v[0][0] == v[0][1] for v in dones.values()) and set(dones) == done,
          {k: v for k, v in dones.items() if len(v) != 1 or v[0][0] != v[0][1]})
    imgs = db.rows("SELECT group_id, count(*) FROM images GROUP BY group_id")
    check("one image row per group", sorted(imgs) == sorted((g, 1) for g in groups) or
          sorted((g, int(n)) for g, n in imgs) == sorted((g, 1) for g in groups), imgs)
    vals = db.rows("SELECT group_id, count(*) FROM validations GROUP BY group_id")
    check("one validation row per group", sorted((g, int(n)) for g, n in vals) == sorted((g, 1) for g in groups),
          vals)
    prods = db.rows("SELECT path, token, size_bytes, mtime_ns FROM products")
    prods = [(p, t, None if s is None else int(s), None if m is None else int(m)) for p, t, s, m in prods]
    paths, bad, missing = product_mismatches(prods, out)
    check("every product at a final path registered with its identity, no record without its path",
          not bad and not missing and len(paths) > 0, (bad + missing)[:5])
    return jobs


def free_port():
    import socket
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


def scrape(port):
    """(status of /livez, of /readyz, the metric families of /metrics) of one process."""
    import urllib.error
    import urllib.request
    from prometheus_client.parser import text_string_to_metric_families
    codes = []
    for path in ("/livez", "/readyz"):
        try:
            codes.append(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).status)
        except urllib.error.HTTPError as e:
            codes.append(e.code)
        except OSError:
            codes.append(None)
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    except OSError as e:
        return codes + [None, str(e)]
    return codes + [{f.name: f for f in text_string_to_metric_families(text)}, text]


def sample_sum(families, family, name, **labels):
    f = families.get(family)
    if not f:
        return None
    return sum(s.value for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def check_metrics(scraped):
    if not check("/metrics of both workers scraped after the queue drained", scraped is not None and
                 all(sc[2] is not None for sc in scraped), scraped and [sc[3][:200] for sc in scraped]):
        return
    check("/livez and /readyz answer 200", all(sc[0] == 200 and sc[1] == 200 for sc in scraped),
          [sc[:2] for sc in scraped])
    fams = [sc[2] for sc in scraped]
    # prometheus_client names a counter's family without _total.
    done = sum(sample_sum(f, "contimg_jobs_finished", "contimg_jobs_finished_total", outcome="done") or 0
               for f in fams)
    check(f"contimg_jobs_finished_total{{outcome=done}} over the workers = {N_JOBS}", done == N_JOBS, done)
    groups = sum(sample_sum(f, "contimg_groups", "contimg_groups_total", outcome="processed") or 0 for f in fams)
    check("contimg_groups_total{outcome=processed} over the workers = 3", groups == 3, groups)
    count = sum(sample_sum(f, "contimg_stage_duration_seconds", "contimg_stage_duration_seconds_count") or 0
                for f in fams)
    check(f"contimg_stage_duration_seconds counts {N_JOBS} stages", count == N_JOBS, count)
    conv = sum(sample_sum(f, "contimg_stage_duration_seconds", "contimg_stage_duration_seconds_count",
                          stage="convert") or 0 for f in fams)
    check("… of them 3 converts", conv == 3, conv)
    written = sum(sample_sum(f, "contimg_written_bytes", "contimg_written_bytes_total") or 0 for f in fams)
    read = sum(sample_sum(f, "contimg_read_bytes", "contimg_read_bytes_total", stage="convert") or 0 for f in fams)
    check("bytes read (UVH5) and written (products) are counted", read > 1e6 and written > read, (read, written))
    jobs_done = [sample_sum(f, "contimg_jobs", "contimg_jobs", state="done") for f in fams]
    check(f"contimg_jobs{{state=done}} = {N_JOBS} (the database, as read)", all(v == N_JOBS for v in jobs_done),
          jobs_done)
    rtf = [sample_sum(f, "contimg_real_time_factor", "contimg_real_time_factor") for f in fams]
    check("contimg_real_time_factor > 0", all(v is not None for v in rtf) and sum(rtf) > 0, rtf)
    check("contimg_lease_expiries_total is exported (0 here)",
          all(sample_sum(f, "contimg_lease_expiries", "contimg_lease_expiries_total") == 0 for f in fams))


def case_queue(a):
    w = a.workdir
    inp, out = os.path.join(w, "in"), os.path.join(w, "out")
    groups = make_groups(a.contimg, inp, 3)
    base = [a.contimg, "--progress", "quiet", *QUICK, *QUEUE, "--set", "paths.tmpfs_dir=" + os.path.join(w, "shm")]
    os.makedirs(os.path.join(w, "shm"), exist_ok=True)
    p = subprocess.run(base + ["--json", "submit", inp, DATE, DATE, "--out", out], capture_output=True, text=True,
                       env=env(), timeout=300)
    s = json.loads(p.stdout).get("submit", {}) if p.stdout.startswith("{") else {}
    check("submit exits 0 and queues the 3 groups' convert", p.returncode == 0 and s.get("queued") == 3,
          p.stderr[-300:] if p.returncode else s)
    pri = {r["group_id"]: r.get("priority") for r in s.get("groups", [])}
    check("the transit is queued ahead (priority 10, science 50)",
          pri.get(groups[0]) == 10 and all(pri.get(g) == 50 for g in groups[1:]), pri)
    db = Db(sqlite_path=os.path.join(out, "contimg.sqlite"))
    ws_all = Workers(None, w)
    ports = [free_port(), free_port()]
    t0 = time.time()
    for port in ports:
        Workers(base + ["--set", f"metrics.listen=127.0.0.1:{port}", "--json", "worker", "--out", out,
                        "--exit-when-idle", "12"], w).start_into(ws_all)
    # While the workers idle before exiting: their /metrics, read by Prometheus' own parser.
    scraped = None
    while time.time() - t0 < 900:
        try:
            left = db.rows("SELECT count(*) FROM jobs WHERE state <> 'done'")[0][0]
            n = db.rows("SELECT count(*) FROM jobs")[0][0]
        except sqlite3.Error:
            left, n = 1, 0
        if n == N_JOBS and left == 0:
            time.sleep(2)  # one more poll: the jobs gauge
            scraped = [scrape(port) for port in ports]
            break
        time.sleep(1)
    check_metrics(scraped)
    summaries = ws_all.wait_all(900)
    check("both workers exit 0 when idle", all(rc == 0 and js and js["worker"]["ended_by"] == "idle"
                                               for rc, js in summaries), summaries)
    done_by = [js["worker"]["jobs_done"] for rc, js in summaries if js]
    check(f"the two workers shared the {N_JOBS} jobs", sum(done_by) == N_JOBS and min(done_by) > 0, done_by)
    print(f"INFO 3 groups by 2 workers in {time.time() - t0:.0f} s; jobs per worker {done_by}", flush=True)
    check_done_once(db, groups, out, expect_attempt_one=True)
    solve_end = db.rows(f"SELECT finished_at FROM jobs WHERE group_id = '{groups[0]}' AND stage = 'solve'")[0][0]
    applies = db.rows("SELECT group_id, started_at FROM jobs WHERE stage = 'applycal' AND group_id <> "
                      f"'{groups[0]}'")
    check("the transit's solve finished before any science applycal started",
          all(iso_to_unix(st) >= iso_to_unix(solve_end) for _, st in applies), (solve_end, applies))
    cal = db.rows("SELECT count(*) FROM calsets WHERE status = 'passed'")
    check("the transit's set is registered and passed", int(cal[0][0]) >= 1, cal)
    grp = db.rows("SELECT state, count(*) FROM groups GROUP BY state")
    check("every group processed", dict((s, int(n)) for s, n in grp) == {"processed": 3}, grp)
    p = subprocess.run(base + ["--json", "submit", inp, DATE, DATE, "--out", out], capture_output=True, text=True,
                       env=env(), timeout=300)
    s = json.loads(p.stdout).get("submit", {}) if p.stdout.startswith("{") else {}
    check("a second submit queues nothing (3 done)", p.returncode == 0 and s.get("queued") == 0 and s.get("done") == 3,
          s)
    p = subprocess.run(base + ["--json", "status", "--out", out], capture_output=True, text=True, env=env(),
                       timeout=120)
    js = json.loads(p.stdout) if p.stdout.startswith("{") else {}
    check(f"status counts {N_JOBS} done jobs", js.get("jobs", {}).get("done") == N_JOBS, js.get("jobs"))
    check("no temporary path left", not temporaries(w), temporaries(w)[:3])


def case_faults(a):
    with_postgres(a, lambda url, pg: faults(a, a.workdir, random.Random(a.seed), pg, url))


def attempt_outcome(db, jid, att):
    r = db.rows(f"SELECT outcome FROM job_attempts WHERE job_id = {jid} AND attempt = {att}")
    return r[0][0] if r else None


def late_kills(db, kills):
    """Kills whose job attempt had ended done (the job finished before the signal landed)."""
    return sum(1 for _, jid, att, _, _ in kills if attempt_outcome(db, jid, att) == "done")


def faults(a, w, rng, pg, url):
    inp, out = os.path.join(w, "in"), os.path.join(w, "out")
    t = time.time()
    groups = make_groups(a.contimg, inp, a.groups)
    print(f"INFO simulated {a.groups} groups in {time.time() - t:.0f} s", flush=True)
    poison = groups[len(groups) // 2]
    shm = os.path.join(w, "shm")
    os.makedirs(shm, exist_ok=True)
    base = [a.contimg, "--progress", "quiet", *QUICK, *QUEUE, "--set", "paths.tmpfs_dir=" + shm]
    p = subprocess.run(base + ["--json", "submit", inp, DATE, DATE, "--out", out, "--db", url], capture_output=True,
                       text=True, env=env(), timeout=300)
    s = json.loads(p.stdout).get("submit", {}) if p.stdout.startswith("{") else {}
    check(f"submit --db postgresql:// queues the {a.groups} groups", p.returncode == 0 and s.get("queued") == a.groups,
          p.stderr[-300:] if p.returncode else s)
    db = Db(psql=a.psql, url=url)
    ws = Workers(base + ["--json", "worker", "--db", url, "--out", out, "--exit-when-idle", "15"], w)
    for _ in range(3):
        ws.start()
    kills = []        # (time, job id, attempt, stage, group)
    poison_kills = []
    restarted = terminated = False
    t0 = time.time()
    # Kills 1-2.5 s apart: with the faster stages of issue 14, 20 tiny groups
    # drained in about 60 s, before the 3-7 s cadence had killed 10 workers.
    next_kill = t0 + rng.uniform(1, 4)
    deadline = t0 + a.timeout
    while time.time() < deadline:
        running = db.rows("SELECT id, group_id, stage, attempt, holder FROM jobs WHERE state = 'running'")
        pids = set(ws.alive())
        # The poison group's image: its worker dies on every attempt.
        for jid, g, st, att, holder in running:
            pid = holder_pid(holder)
            if g == poison and st == POISON_STAGE and pid in pids:
                ws.kill(pid)
                poison_kills.append((time.time(), int(jid), int(att)))
                ws.start()
                pids.discard(pid)
        # A job of a tiny group lasts well under a second: a kill can land just after
        # its worker finished it (a "late" kill, told apart below), so up to 3 more.
        if len(kills) < a.kills + 3 and len(kills) - late_kills(db, kills) < a.kills and time.time() >= next_kill:
            # A worker holding a job of another group, not on its last attempt.
            cands = [(int(jid), g, st, int(att), holder_pid(h)) for jid, g, st, att, h in running
                     if g != poison and int(att) < 2 and holder_pid(h) in pids]
            # The image stage runs longest (WSClean): a kill there rarely comes after the end.
            cands = [c for c in cands if c[2] == "image"] or cands
            if cands:
                jid, g, st, att, pid = rng.choice(cands)
                still = db.rows(f"SELECT state, attempt FROM jobs WHERE id = {jid}")
                if not still or still[0] != ("running", str(att)):
                    time.sleep(0.1)
                    continue
                ws.kill(pid)
                kills.append((time.time(), jid, att, st, g))
                ws.start()
                next_kill = time.time() + rng.uniform(1, 2.5)  # 10 kills well before 40 tiny groups drain
        if len(kills) >= 3 and not restarted:
            r = subprocess.run([a.fixture, "restart", pg], capture_output=True, text=True, timeout=120)
            restarted = True
            check("the server restarts (pg_ctl restart -m fast)", r.returncode == 0, r.stderr[-300:])
        if len(kills) >= 6 and not terminated:
            r = db.rows("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'contimg' "
                        "AND pid <> pg_backend_pid() AND backend_type = 'client backend' LIMIT 1")
            terminated = True
            check("one worker connection terminated by the server", r and r[0][0] == "t", r)
        left = db.rows("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")
        if int(left[0][0]) == 0 and len(kills) - late_kills(db, kills) >= a.kills:
            break
        if int(left[0][0]) == 0 and time.time() - t0 > 60 and not [r for r in running]:
            break  # nothing left to kill
        if not ws.alive():
            for _ in range(3):
                ws.start()
        time.sleep(0.5)
    wall = time.time() - t0
    summaries = ws.wait_all(120)
    # A kill that landed after its job's attempt had ended done interrupted nothing.
    late = [k for k in kills if attempt_outcome(db, k[1], k[2]) == "done"]
    kills = [k for k in kills if k not in late]
    check(f"{a.kills} workers killed with SIGKILL while they held a job", len(kills) >= a.kills,
          f"{len(kills)} (and {len(late)} kills just after the job was done)")
    check(f"the poison group's {POISON_STAGE} killed its worker on 3 attempts", len(poison_kills) == 3, poison_kills)
    check("workers exit 0", all(rc == 0 for rc, _ in summaries), [rc for rc, _ in summaries])
    print(f"INFO {a.groups} groups, 3 workers, {len(kills)} + {len(poison_kills)} kills in {wall:.0f} s", flush=True)

    good = [g for g in groups if g != poison]
    check_done_once(db, good, out, expect_attempt_one=False)
    # A killed worker's job: queued again by a reaper (its attempt ended
    # lease_expired) within lease + reaper interval of the kill, then run
    # again when a worker is free.
    requeue_bound = LEASE_S + REAP_S + 2.0  # + the last heartbeat's age and timer slack
    requeues, reruns = [], []
    for t_kill, jid, att, st, g in kills:
        ended = db.rows(f"SELECT finished_at, outcome FROM job_attempts WHERE job_id = {jid} AND attempt = {att}")
        nxt = db.rows(f"SELECT started_at FROM job_attempts WHERE job_id = {jid} AND attempt = {att + 1}")
        requeues.append(iso_to_unix(ended[0][0]) - t_kill if ended and ended[0][0] and
                        ended[0][1] == "lease_expired" else None)
        reruns.append(iso_to_unix(nxt[0][0]) - t_kill if nxt else None)
    rnd = lambda v: [None if d is None else round(d, 1) for d in v]  # noqa: E731
    check(f"every killed job was queued again by a reaper within lease {LEASE_S:.0f} + reaper {REAP_S:.0f} s "
          f"(+ 2 s: <= {requeue_bound:.0f} s)", all(d is not None and d <= requeue_bound for d in requeues),
          rnd(requeues))
    # When it runs again depends on a worker coming free (a loaded machine
    # stretches every stage: a fixed bound failed at 19 s with builds running),
    # so what is asserted is the queue's order: once its backoff is over, no job
    # claimed after it ranks behind it (priority, then group, then id).
    claims = db.rows("SELECT a.started_at, j.priority, j.group_id, j.id FROM job_attempts a "
                     "JOIN jobs j ON j.id = a.job_id")
    overtaken = []
    for t_kill, jid, att, st, g in kills:
        ended = db.rows(f"SELECT finished_at FROM job_attempts WHERE job_id = {jid} AND attempt = {att}")
        nxt = db.rows(f"SELECT started_at FROM job_attempts WHERE job_id = {jid} AND attempt = {att + 1}")
        if not (ended and ended[0][0] and nxt):
            continue
        claimable = iso_to_unix(ended[0][0]) + BACKOFF_S + 0.5
        rerun = iso_to_unix(nxt[0][0])
        me = db.rows(f"SELECT priority, group_id, id FROM jobs WHERE id = {jid}")[0]
        rank = (int(me[0]), me[1], int(me[2]))
        for started, pr, gg, ii in claims:
            if claimable < iso_to_unix(started) < rerun and (int(pr), gg, int(ii)) > rank:
                overtaken.append((jid, int(ii), round(iso_to_unix(started) - claimable, 1)))
    check("… and ran again, no job ranked behind it claimed first once its backoff was over",
          all(d is not None for d in reruns) and not overtaken, (rnd(reruns), overtaken[:5]))
    for name, v in (("queued again", requeues), ("ran again", reruns)):
        real = sorted(d for d in v if d is not None)
        if real:
            print(f"INFO {name} after a kill: min {real[0]:.1f} s, median {real[len(real) // 2]:.1f} s, "
                  f"max {real[-1]:.1f} s over {len(real)}", flush=True)
    ex = db.rows(f"SELECT state, attempt FROM jobs WHERE group_id = '{poison}' AND stage = '{POISON_STAGE}'")
    check(f"the poison group's {POISON_STAGE} is discarded after 3 attempts", ex == [("discarded", "3")], ex)
    errs = db.rows(f"SELECT a.attempt, a.outcome, a.error FROM job_attempts a JOIN jobs j ON j.id = a.job_id "
                   f"WHERE j.group_id = '{poison}' AND j.stage = '{POISON_STAGE}' ORDER BY a.attempt")
    check("its three attempts are kept, each with its error",
          len(errs) == 3 and all(e[2] and "lease expired" in e[2] for e in errs), errs)
    gst = db.rows(f"SELECT state, reason FROM groups WHERE group_id = '{poison}'")
    check("the poison group is failed, saying why", gst and gst[0][0] == "failed" and "discarded" in (gst[0][1] or ""),
          gst)
    later = STAGES[STAGES.index(POISON_STAGE) + 1:]
    n_later = db.rows(f"SELECT count(*) FROM jobs WHERE group_id = '{poison}' AND stage IN "
                      f"({', '.join(repr(x) for x in later)})")
    check("no later stage of the poison group was queued", int(n_later[0][0]) == 0, n_later)
    bad = db.rows("SELECT j.id FROM jobs j JOIN job_attempts a ON a.job_id = j.id AND a.attempt = j.attempt "
                  "WHERE j.state = 'done' AND a.outcome <> 'done'")
    check("no job is recorded done whose last attempt did not end done", not bad, bad)
    check("no WSClean left", not processes_mentioning(out), processes_mentioning(out))
    check("no temporary path left", not temporaries(w), temporaries(w)[:3])


def with_postgres(a, body):
    """Runs body(url, pg_dir) against a PostgreSQL server started for it, stopped after."""
    pg = os.path.join(a.workdir, "pg")
    p = subprocess.run([a.fixture, "start", pg], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        check("PostgreSQL starts", False, p.stderr)
        return
    if "SKIP" in p.stdout:
        print(p.stdout.strip())
        sys.exit(SKIP)
    try:
        body(open(os.path.join(pg, "url")).read().strip(), pg)
    finally:
        subprocess.run([a.fixture, "stop", pg], timeout=120)
    check("the server's directory is removed", not os.path.exists(pg))


def case_stream(a):
    with_postgres(a, lambda url, pg: stream_queue(a, url))


def stream_queue(a, url):
    """`contimg stream --db postgresql://` on the ingest side queues, 2 workers run (issue 13)."""
    w = a.workdir
    rng = random.Random(a.seed)
    src, inp, out = os.path.join(w, "src"), os.path.join(w, "in"), os.path.join(w, "out")
    groups = make_groups(a.contimg, src, 3)
    os.makedirs(inp)
    shm = os.path.join(w, "shm")
    os.makedirs(shm, exist_ok=True)
    base = [a.contimg, "--progress", "quiet", *QUICK, *QUEUE, *STREAM, "--set", "paths.tmpfs_dir=" + shm]
    db = Db(psql=a.psql, url=url)
    port = free_port()
    slog = open(os.path.join(w, "stream.log"), "w")
    stream = subprocess.Popen(base + ["--set", f"metrics.listen=127.0.0.1:{port}", "--json", "stream", "--input",
                                      inp, "--out", out, "--db", url, "--exit-when-idle", "20"],
                              stdout=subprocess.PIPE, stderr=slog, text=True, env=env())
    ws = Workers(base + ["--json", "worker", "--db", url, "--out", out, "--exit-when-idle", "20"], w)
    for _ in range(2):
        ws.start()
    # The files arrive in random order, a third through *_incomplete + rename.
    files = sorted(glob.glob(os.path.join(src, "*.hdf5")))
    rng.shuffle(files)
    for f in files:
        deliver(f, inp, "incomplete" if rng.random() < 0.33 else "inplace", rng)
        time.sleep(rng.uniform(0, 0.1))
    # The service's /metrics while it runs (it exits --exit-when-idle after
    # queueing the last group, before the workers are done): until it has
    # counted the 3 groups queued and read the jobs table once after that.
    t0 = time.time()
    scraped = None
    while time.time() - t0 < 120 and stream.poll() is None:
        sc = scrape(port)
        if sc[2] is not None:
            scraped = sc
            q = sample_sum(sc[2], "contimg_groups", "contimg_groups_total", outcome="queued")
            jobs_seen = sum(x.value for x in sc[2]["contimg_jobs"].samples) if "contimg_jobs" in sc[2] else 0
            if q == 3 and jobs_seen >= 3:
                break
        time.sleep(0.5)
    try:
        sout, _ = stream.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        stream.kill()
        sout, _ = stream.communicate()
    slog.close()
    summaries = ws.wait_all(120)
    js = json.loads(sout) if sout.startswith("{") else {}
    s = js.get("stream", {})
    check("the stream service exits 0 when idle", stream.returncode == 0 and s.get("ended_by") == "idle",
          (stream.returncode, s))
    check("it registered the 48 files and queued the 3 groups, running no stage itself",
          s.get("files_registered") == 48 and s.get("queued") == 3 and s.get("processed") == 0, s)
    check("both workers exit 0 when idle", all(rc == 0 and j and j["worker"]["ended_by"] == "idle"
                                               for rc, j in summaries), summaries)
    done_by = [j["worker"]["jobs_done"] for rc, j in summaries if j]
    check(f"the workers ran the {N_JOBS} jobs", sum(done_by) == N_JOBS, done_by)
    holders = db.rows("SELECT DISTINCT a.holder FROM job_attempts a")
    check("every attempt's holder is a worker (none is the stream service)",
          holders and all((h or "").endswith("/worker") for (h,) in holders), holders)
    pri = dict(db.rows("SELECT group_id, min(priority) FROM jobs GROUP BY group_id"))
    check("the transit's jobs ahead (priority 10, science 50)",
          int(pri.get(groups[0], 0)) == 10 and all(int(pri.get(g, 0)) == 50 for g in groups[1:]), pri)
    check_done_once(db, groups, out, expect_attempt_one=True)
    solve_end = db.rows(f"SELECT finished_at FROM jobs WHERE group_id = '{groups[0]}' AND stage = 'solve'")
    applies = db.rows(f"SELECT started_at FROM jobs WHERE stage = 'applycal' AND group_id <> '{groups[0]}'")
    check("the transit's solve finished before any science applycal started",
          solve_end and all(iso_to_unix(st) >= iso_to_unix(solve_end[0][0]) for (st,) in applies),
          (solve_end, applies))
    # The service's /metrics, read by Prometheus' own parser.
    if check("the stream service's /metrics scraped", scraped is not None and scraped[2] is not None,
             scraped and scraped[3][:200]):
        check("/livez and /readyz answer 200", scraped[0] == 200 and scraped[1] == 200, scraped[:2])
        f = scraped[2]
        queued = sample_sum(f, "contimg_groups", "contimg_groups_total", outcome="queued")
        check("contimg_groups_total{outcome=queued} = 3", queued == 3, queued)
        jobs_seen = sum(x.value for x in f["contimg_jobs"].samples) if "contimg_jobs" in f else 0
        check("contimg_jobs (the database's jobs by state, as the service read them) counts the queued groups",
              jobs_seen >= 3, jobs_seen)
        ran = sample_sum(f, "contimg_jobs_finished", "contimg_jobs_finished_total") or 0
        check("the service ran no stage (contimg_jobs_finished_total = 0)", ran == 0, ran)
    check("no temporary path left", not temporaries(w), temporaries(w)[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--case", choices=["queue", "faults", "stream"], required=True)
    ap.add_argument("--fixture")
    ap.add_argument("--psql")
    ap.add_argument("--groups", type=int, default=40)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--timeout", type=float, default=1800)
    a = ap.parse_args()
    if not shutil.which("wsclean"):
        print("SKIP: wsclean not installed")
        return SKIP
    a.workdir = os.path.abspath(a.workdir)
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    if a.case == "queue":
        case_queue(a)
    elif a.case == "stream":
        case_stream(a)
    else:
        case_faults(a)
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
