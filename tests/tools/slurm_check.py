#!/usr/bin/env python3
"""Slurm pilots (issue 13; docs/scale-out.md "Slurm") against a real single-node
Slurm that this test starts and tears down: munged with its own key and socket,
slurmctld and slurmd on loopback ports, all state in a temporary directory
(SLURM_CONF exported for sbatch, squeue, scontrol).

  - `contimg slurm submit` refuses a SQLite database without --allow-sqlite,
    queueing nothing; --dry-run writes a script, queues and submits nothing,
    and `sbatch --test-only` accepts that script;
  - `contimg slurm submit ... --workers 2 --allow-sqlite` (or --db
    postgresql://…) on 3 tiny simulated
    groups (a calibrator transit, two science groups): 3 converts queued, a job
    array 0-1 submitted; both array tasks COMPLETED with exit 0, their pilots'
    --json summaries (the .out files) ended by idleness, 21 jobs done between
    them; every stage of every group done once (the jobs table, attempts,
    images, validations, products); the script in OUT/slurm/ holds the array,
    the output files, the pass-through argument and the worker command.
  - nothing is left running (no daemon, no slurmstepd, no pilot).

One line per check, "N passed, M failed" last; exit 1 on a failure, 77 (CTest
SKIP_RETURN_CODE) when slurm-wlm, munge or wsclean are not installed.

With --backend postgres the pilots share a PostgreSQL the test starts (pg_fixture:
initdb into the work directory, a loopback port, removed at the end) instead of the
SQLite file under OUT.

usage: slurm_check.py --contimg EXE --workdir DIR [--backend sqlite|postgres --fixture PG_FIXTURE --psql PSQL]
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

import worker_check as wc
from worker_check import check

SKIP = 77
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
IDLE_S = 8  # the pilots' --exit-when-idle


def which(name):
    return shutil.which(name, path=SBIN)


def free_ports(n):
    """n distinct free loopback ports (held together while chosen)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for sk in socks:
            sk.bind(("127.0.0.1", 0))
        return [sk.getsockname()[1] for sk in socks]
    finally:
        for sk in socks:
            sk.close()


def die_with_parent():
    """In the child before exec: SIGTERM when this test dies (a CTest time-out), so no daemon outlives it."""
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Cluster:
    """munged + slurmctld + slurmd in `root`, on loopback."""

    def __init__(self, root):
        self.root = root
        self.conf = os.path.join(root, "slurm.conf")
        self.socket = os.path.join(root, "munge", "munge.socket")
        self.procs = []  # (name, Popen, log file)
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        for k in [k for k in self.env if k.startswith("SBATCH_") or k.startswith("SLURM_") and k != "SLURM_CONF"]:
            del self.env[k]

    def _start(self, name, argv):
        log = open(os.path.join(self.root, name + ".stdout"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                             start_new_session=True, preexec_fn=die_with_parent)
        self.procs.append((name, p, log))
        return p

    def log_tail(self, name, n=15):
        out = []
        for path in (os.path.join(self.root, name + ".log"), os.path.join(self.root, name + ".stdout")):
            if os.path.exists(path):
                out += open(path, errors="replace").read().splitlines()[-n:]
        return " | ".join(out)

    def run(self, *argv, timeout=60):
        return subprocess.run(list(argv), capture_output=True, text=True, env=self.env, timeout=timeout)

    def start(self):
        mdir = os.path.join(self.root, "munge")
        os.makedirs(mdir, mode=0o700)
        key = os.path.join(mdir, "munge.key")
        with open(key, "wb") as f:  # munged's own key, as `mungekey` or dd would make it
            f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        self._start("munged", [which("munged"), "-F", "-f", "--key-file", key, "--socket", self.socket,
                               "--pid-file", os.path.join(mdir, "munged.pid"),
                               "--log-file", os.path.join(self.root, "munged.log"),
                               "--seed-file", os.path.join(mdir, "munged.seed"), "--num-threads", "4"])
        if not self._wait(lambda: os.path.exists(self.socket), 20):
            return "munged did not create its socket: " + self.log_tail("munged")
        for d in ("state", "spool"):
            os.makedirs(os.path.join(self.root, d))
        r = self.root
        ctld_port, slurmd_port = free_ports(2)
        conf = f"""# A single-node Slurm for contimg's slurm_pilots test (tests/tools/slurm_check.py).
ClusterName=contimgtest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/slurmctld.log
SlurmdLogFile={r}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
SlurmdParameters=config_overrides
InactiveLimit=0
KillWait=5
MinJobAge=600
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=2 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
        with open(self.conf, "w") as f:
            f.write(conf)
        self._start("slurmctld", [which("slurmctld"), "-D", "-f", self.conf])
        if not self._wait(lambda: self.run(which("scontrol"), "ping", timeout=20).stdout.find("UP") >= 0, 40):
            return "slurmctld does not answer: " + self.log_tail("slurmctld")
        self._start("slurmd", [which("slurmd"), "-D", "-f", self.conf, "-N", "localhost"])

        def idle():
            p = self.run(which("sinfo"), "-h", "-N", "-o", "%N %T", timeout=20)
            return p.returncode == 0 and re.search(r"^localhost idle", p.stdout, re.M)
        if not self._wait(idle, 60):
            return ("the node did not become idle: " + self.run(which("sinfo"), "-N", "-l").stdout.strip() + " | " +
                    self.log_tail("slurmd"))
        return None

    def _wait(self, cond, seconds):
        end = time.time() + seconds
        while time.time() < end:
            try:
                if cond():
                    return True
            except (subprocess.TimeoutExpired, OSError):
                pass
            for name, p, _ in self.procs:
                if p.poll() is not None:
                    return False  # a daemon died: its log says why
            time.sleep(0.5)
        return False

    def ours(self):
        """Pids of the processes started under this cluster (their environment names its slurm.conf):
        the daemons, slurmstepd, the batch scripts and the pilots."""
        marker = ("SLURM_CONF=" + self.conf).encode()
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        pids.append(int(d))
            except OSError:
                pass
        return pids

    def stop(self, job_id=None):
        if job_id:
            try:
                self.run(which("scancel"), job_id, timeout=20)
            except (subprocess.TimeoutExpired, OSError):
                pass
        for name, p, log in reversed(self.procs):  # slurmd, slurmctld, then munged
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()
        # What a daemon left (a slurmstepd and its job after a failure): ours by their environment.
        for pid in self.ours():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self._wait(lambda: not self.ours(), 10)


def pilot_cmd(a, w, out, inp, *extra):
    return [a.contimg, "--progress", "quiet", *wc.QUICK, *wc.QUEUE, "--set", "paths.tmpfs_dir=" + os.path.join(w, "shm"),
            "--json", "slurm", "submit", inp, wc.DATE, wc.DATE, "--out", out, *extra]


class Backend:
    """The state database the pilots share: the SQLite file under OUT (--allow-sqlite) or a
    PostgreSQL started by the test (pg_fixture), read without contimg code."""

    def __init__(self, out, url=None, psql=None):
        self.sqlite_path = None if url else os.path.join(out, "contimg.sqlite")
        self.url, self.psql = url, psql
        self.args = ["--db", url] if url else ["--allow-sqlite"]
        self.name = url or self.sqlite_path  # as the pilots' --db
        self.db = wc.Db(sqlite_path=self.sqlite_path, psql=psql, url=url)

    def jobs(self):
        """Rows of the jobs table; 0 when the database or the table does not exist yet."""
        if self.sqlite_path:
            if not os.path.exists(self.sqlite_path):
                return 0
            db = sqlite3.connect(self.sqlite_path)
            try:
                if not db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'jobs'").fetchone()[0]:
                    return 0
                return db.execute("SELECT count(*) FROM jobs").fetchone()[0]
            finally:
                db.close()
        p = subprocess.run([self.psql, "-X", "-A", "-t", "-d", self.url, "-c",
                            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'jobs'"],
                           capture_output=True, text=True, timeout=60)
        if p.stdout.strip() in ("", "0"):
            return 0
        return int(self.db.rows("SELECT count(*) FROM jobs")[0][0])


def scenario(a, w, cluster, inp, groups, backend):
    env = dict(wc.env(), SLURM_CONF=cluster.conf)
    out = os.path.join(w, "out")
    os.makedirs(os.path.join(w, "shm"), exist_ok=True)

    # SQLite without --allow-sqlite: refused before anything is queued.
    p = subprocess.run(pilot_cmd(a, w, out, inp, "--workers", "2"), capture_output=True, text=True, env=env,
                       timeout=120)
    js = json.loads(p.stdout) if p.stdout.startswith("{") else {}
    msg = js.get("error", {}).get("message", "")
    check("a SQLite database without --allow-sqlite is refused (exit 2, config), saying why",
          p.returncode == 2 and js.get("error", {}).get("kind") == "config" and "SQLite" in msg and
          "--allow-sqlite" in msg and "postgresql://" in msg, (p.returncode, msg or p.stderr[-300:]))
    check("… and nothing was queued", backend.jobs() == 0, backend.jobs())

    # No sbatch: refused, naming it, before anything is queued.
    p = subprocess.run(pilot_cmd(a, w, out, inp, "--workers", "2", *backend.args, "--sbatch", "/nonexistent/sbatch"),
                       capture_output=True, text=True, env=env, timeout=120)
    js = json.loads(p.stdout) if p.stdout.startswith("{") else {}
    msg = js.get("error", {}).get("message", "")
    check("a missing sbatch is a configuration error naming it, nothing queued",
          p.returncode == 2 and "/nonexistent/sbatch not found" in msg and backend.jobs() == 0,
          (p.returncode, msg or p.stderr[-300:], backend.jobs()))

    # --dry-run: the script only; then sbatch --test-only on it, against this controller.
    p = subprocess.run(pilot_cmd(a, w, out, inp, "--workers", "2", *backend.args, "--dry-run"), capture_output=True,
                       text=True, env=env, timeout=120)
    js = json.loads(p.stdout) if p.stdout.startswith("{") else {}
    s = js.get("slurm", {})
    check("--dry-run writes a script, submits nothing", p.returncode == 0 and s.get("job") is None and
          os.path.exists(s.get("script") or "") and js.get("submit") is None, p.stderr[-300:] if p.returncode else s)
    check("… and queues nothing", backend.jobs() == 0, backend.jobs())
    if s.get("script"):
        t = cluster.run(which("sbatch"), "--test-only", s["script"])
        check("sbatch --test-only accepts the generated script", t.returncode == 0 and "to start" in t.stderr,
              (t.returncode, t.stderr.strip()[-300:]))
        os.remove(s["script"])

    # The real submission.
    comment = "contimg slurm_pilots #test"
    t0 = time.time()
    p = subprocess.run(pilot_cmd(a, w, out, inp, "--workers", "2", *backend.args, "--exit-when-idle", str(IDLE_S),
                                 "--sbatch-arg=--comment=" + comment), capture_output=True, text=True, env=env,
                       timeout=300)
    js = json.loads(p.stdout) if p.stdout.startswith("{") else {}
    s, sub = js.get("slurm", {}), js.get("submit") or {}
    job_id = (s.get("job") or {}).get("job_id")
    check("slurm submit exits 0, queues the 3 groups' convert and returns the job id",
          p.returncode == 0 and sub.get("queued") == 3 and job_id and job_id.isdigit(),
          p.stderr[-500:] if p.returncode else js)
    if not job_id:
        return None
    script = s.get("script") or ""
    check("the script is kept in OUT/slurm/", os.path.dirname(script) == os.path.join(out, "slurm") and
          os.path.exists(script), script)
    record = os.path.splitext(script)[0] + ".json"
    rec = json.load(open(record)) if os.path.exists(record) else {}
    check("its submission record beside it names the job", rec.get("job_id") == job_id, rec)

    # Wait for the array: squeue lists it until both tasks ended.
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        q = cluster.run(which("squeue"), "-h", "-j", job_id, "-o", "%i %T", timeout=30)
        if q.returncode == 0 and not q.stdout.strip():
            break
        time.sleep(2)
    wall = time.time() - t0
    tasks = cluster.run(which("scontrol"), "show", "job", "-o", job_id, timeout=30).stdout.strip().splitlines()
    states = sorted((re.search(r"ArrayTaskId=(\S+)", t).group(1) if "ArrayTaskId=" in t else "?",
                     re.search(r"JobState=(\S+)", t).group(1), re.search(r"ExitCode=(\S+)", t).group(1))
                    for t in tasks)
    check("both array tasks COMPLETED with exit 0", states == [("0", "COMPLETED", "0:0"), ("1", "COMPLETED", "0:0")],
          states or tasks)
    check("the pass-through --sbatch-arg reached Slurm (the job's comment)",
          tasks and all(f"Comment={comment}" in t for t in tasks), [t[-200:] for t in tasks])
    print(f"INFO 3 groups by 2 Slurm pilots in {wall:.0f} s (submit to the array's end, {IDLE_S} s idle included)",
          flush=True)

    summaries = []
    for k in (0, 1):
        path = os.path.join(out, "slurm", f"contimg-pilot-{job_id}_{k}.out")
        try:
            summaries.append(json.load(open(path)).get("worker", {}))
        except (OSError, ValueError) as e:
            summaries.append({"error": f"{path}: {e}"})
    if not check("each pilot's --json summary is in its .out file, ended by idleness",
                 all(x.get("ended_by") == "idle" for x in summaries), summaries):
        for err in sorted(glob.glob(os.path.join(out, "slurm", "*.err"))):
            print(f"INFO {err}: " + " | ".join(open(err, errors="replace").read().splitlines()[-8:]), flush=True)
    done = [x.get("jobs_done", 0) for x in summaries]
    check(f"the pilots ran the {wc.N_JOBS} jobs between them, none failed",
          sum(done) == wc.N_JOBS and all(x.get("jobs_failed", 1) == 0 for x in summaries), summaries)
    print(f"INFO jobs per pilot {done}", flush=True)

    db = backend.db
    wc.check_done_once(db, groups, out, expect_attempt_one=True)
    grp = db.rows("SELECT state, count(*) FROM groups GROUP BY state")
    check("every group processed", dict((st, int(n)) for st, n in grp) == {"processed": 3}, grp)

    text = open(script).read() if os.path.exists(script) else ""
    lines = text.splitlines()
    execs = [ln for ln in lines if ln and not ln.startswith("#")]
    want_exec = f" --json worker --db {backend.name} --out {out} --exit-when-idle {IDLE_S}"
    check("the script holds the array and the output files",
          "#SBATCH --array=0-1" in lines and
          f"#SBATCH --output={out}/slurm/contimg-pilot-%A_%a.out" in lines and
          f"#SBATCH --error={out}/slurm/contimg-pilot-%A_%a.err" in lines, [ln for ln in lines if "SBATCH" in ln])
    check("… the pass-through argument, quoted for sbatch", f'#SBATCH "--comment={comment}"' in lines,
          [ln for ln in lines if "SBATCH" in ln])
    check("… and one command: exec contimg with the same --set options, worker --db --out --exit-when-idle",
          len(execs) == 1 and execs[0].startswith("exec ") and execs[0].endswith(want_exec) and
          "--set imaging.niter=1000" in execs[0] and os.path.basename(a.contimg) in execs[0].split()[1],
          execs)

    # Everything done: a second submission queues nothing and submits no pilots.
    p = subprocess.run(pilot_cmd(a, w, out, inp, "--workers", "2", *backend.args), capture_output=True, text=True,
                       env=env, timeout=300)
    js = json.loads(p.stdout) if p.stdout.startswith("{") else {}
    s2, sub2 = js.get("slurm", {}), js.get("submit") or {}
    check("submitting the range again queues nothing and submits no pilots (3 done)",
          p.returncode == 0 and sub2.get("queued") == 0 and sub2.get("done") == 3 and s2.get("job") is None and
          s2.get("script") is None and len(glob.glob(os.path.join(out, "slurm", "*.sh"))) == 1,
          p.stderr[-300:] if p.returncode else js)
    check("no temporary path left", not wc.temporaries(w), wc.temporaries(w)[:3])
    return job_id


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--fixture", help="pg_fixture (--backend postgres)")
    ap.add_argument("--psql", help="psql (--backend postgres)")
    ap.add_argument("--timeout", type=float, default=400, help="seconds to wait for the array")
    a = ap.parse_args()
    missing = [n for n in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo", "scancel")
               if not which(n)]
    if missing:
        print("SKIP: not installed: " + ", ".join(missing) + " (Debian slurm-wlm, munge)")
        return SKIP
    if not shutil.which("wsclean"):
        print("SKIP: wsclean not installed")
        return SKIP
    if os.geteuid() != 0:
        print("SKIP: slurmd must run as root (it starts jobs as their users)")
        return SKIP
    a.contimg = os.path.abspath(a.contimg)
    w = os.path.abspath(a.workdir)
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    out, pg = os.path.join(w, "out"), os.path.join(w, "pg")
    if a.backend == "postgres":
        p = subprocess.run([a.fixture, "start", pg], capture_output=True, text=True, timeout=120)
        if "SKIP" in p.stdout:
            print(p.stdout.strip())
            return SKIP
        if not check("PostgreSQL starts (pg_fixture)", p.returncode == 0, p.stderr[-300:]):
            return 1
        backend = Backend(out, url=open(os.path.join(pg, "url")).read().strip(), psql=a.psql)
    else:
        backend = Backend(out)

    # The daemons' directory is short (a unix socket path has ~107 bytes) and private.
    root = tempfile.mkdtemp(prefix="contimg-slurm-")
    cluster = Cluster(root)
    job_id = None
    try:
        inp = os.path.join(w, "in")
        t = time.time()
        groups = wc.make_groups(a.contimg, inp, 3)
        print(f"INFO simulated 3 groups in {time.time() - t:.0f} s", flush=True)
        why = cluster.start()
        if check("munged, slurmctld and slurmd start; the node is idle", why is None, why):
            job_id = scenario(a, w, cluster, inp, groups, backend)
    finally:
        cluster.stop(job_id)
        left = cluster.ours()
        check("nothing left running (daemons, slurmstepd, pilots)", not left,
              [open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ")[:100] for p in left
               if os.path.exists(f"/proc/{p}/cmdline")])
        shutil.rmtree(root, ignore_errors=True)
        if a.backend == "postgres":
            subprocess.run([a.fixture, "stop", pg], timeout=120)
            check("the PostgreSQL directory is removed", not os.path.exists(pg))
    print(f"{wc.RESULTS['passed']} passed, {wc.RESULTS['failed']} failed")
    return 1 if wc.RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
