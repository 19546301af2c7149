#!/usr/bin/env python3
"""The real program with its state on a real PostgreSQL (issue 13, docs/scale-out.md).

  /usr/bin/python3 pg_cli_check.py --contimg BIN --fixture PG_FIXTURE --psql PSQL \
      --data REPO/data --workdir DIR

Starts a PostgreSQL (pg_fixture: initdb into DIR/pg, a free loopback port), then runs
`contimg index`, `groups` and `convert` with `--db postgresql://...` and with
CONTIMG_STATE_DB_URL (the state.db_url key), and reads the database with psql (no contimg
code): the schema at the latest version, the files and the group, the convert job done with
its attempt row and the MS registered as a product; a rerun adds no row and redoes nothing;
`contimg status` of the tree reads the same database.
The server is stopped and its directory removed at the end. Prints SKIP when the server
programs are absent.
"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contimg_harness import Checker, Contimg, describe  # noqa: E402

DAY = "2025-01-01"
G = "2025-01-01T06:00:00"
C = Checker()


def psql(args, url, sql):
    p = subprocess.run([args.psql, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("psql failed: %s" % p.stderr)
    return p.stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--psql", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    w = os.path.abspath(args.workdir)
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    pg = os.path.join(w, "pg")
    p = subprocess.run([args.fixture, "start", pg], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print("FAIL: cannot start PostgreSQL: %s" % p.stderr)
        return 1
    if "SKIP" in p.stdout:
        print(p.stdout.strip())
        return 0
    try:
        url = open(os.path.join(pg, "url")).read().strip()
        run(args, w, url)
    finally:
        subprocess.run([args.fixture, "stop", pg], timeout=120)
    C.check("the server's directory is removed", not os.path.exists(pg))
    return C.summary()


def run(args, w, url):
    ci = Contimg(args.contimg, args.data, w)
    inp = os.path.join(w, "in")
    ci.simulate(inp, G, 1)

    p = ci.run("index", [inp, "--db", url])
    C.check("index --db postgresql:// exits 0", p.returncode == 0, describe(p))
    C.check("the schema is at the latest version (13)",
            psql(args, url, "SELECT max(version) FROM schema_version") == "13")
    C.check("16 files indexed", psql(args, url, "SELECT count(*) FROM files") == "16")
    C.check("one complete group", psql(args, url,
            "SELECT group_id || ' ' || n_subbands || ' ' || complete FROM groups") == G + " 16 1")
    C.check("mtimes keep 64 bits", psql(args, url,
            "SELECT count(*) FROM files WHERE mtime_ns > 2147483647") == "16")

    p = ci.run("groups", [DAY, DAY, "--db", url])
    ids = [g.get("group_id") for g in (p.json or {}).get("groups", [])]
    C.check("groups --db lists the group", p.returncode == 0 and ids == [G], describe(p) + " " + str(ids))

    # state.db_url through the environment (CONTIMG_STATE_DB_URL), no --db.
    env_ci = Contimg(args.contimg, args.data, w)
    env_ci.env["CONTIMG_STATE_DB_URL"] = url
    p = env_ci.run("groups", [DAY, DAY])
    ids = [g.get("group_id") for g in (p.json or {}).get("groups", [])]
    C.check("groups with CONTIMG_STATE_DB_URL lists the group", p.returncode == 0 and ids == [G],
            describe(p) + " " + str(ids))

    out = os.path.join(w, "out")
    p = ci.run("convert", [inp, out, DAY, DAY, "--db", url])
    ms = os.path.join(out, G + ".ms")
    C.check("convert --db postgresql:// exits 0 and writes the MS",
            p.returncode == 0 and os.path.isdir(ms), describe(p))
    C.check("the convert job is done (attempt 1)", psql(args, url,
            "SELECT state || ' ' || attempt FROM jobs WHERE stage = 'convert'") == "done 1")
    C.check("its attempt row says done", psql(args, url,
            "SELECT outcome FROM job_attempts a JOIN jobs j ON j.id = a.job_id "
            "WHERE j.stage = 'convert'") == "done")
    C.check("the MS is a registered product", psql(args, url,
            "SELECT count(*) FROM products WHERE kind = 'ms' AND path = '%s'" % ms) == "1")
    C.check("the group is converted",
            psql(args, url, "SELECT state FROM groups WHERE group_id = '%s'" % G) == "converted")

    jobs_before = psql(args, url, "SELECT count(*) || ' ' || max(updated_at) FROM jobs")
    p = ci.run("convert", [inp, out, DAY, DAY, "--db", url, "--skip-existing"])
    C.check("a rerun exits 0", p.returncode == 0, describe(p))
    C.check("a rerun adds and changes no job",
            psql(args, url, "SELECT count(*) || ' ' || max(updated_at) FROM jobs") == jobs_before)
    C.check("no sqlite file was made in the output tree",
            not any(f.endswith((".sqlite", ".sqlite3")) for f in os.listdir(out)))

    # `contimg status` of the tree, its database from state.db_url (not a file under --out).
    p = env_ci.run("status", ["--out", out])
    js = p.json or {}
    C.check("status on PostgreSQL exits 0", p.returncode == 0, describe(p))
    C.check("status counts the done convert job and the converted group",
            js.get("jobs", {}).get("done") == 1 and js.get("groups", {}).get("converted") == 1,
            str({k: js.get(k) for k in ("jobs", "groups", "state_db")}))
    C.check("status names the PostgreSQL database", js.get("state_db") == url, str(js.get("state_db")))


if __name__ == "__main__":
    sys.exit(main())
