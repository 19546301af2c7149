#!/usr/bin/env python3
"""Behaviour of the `contimg` program as users and scripts see it: --help,
--version, exit codes, --json output, configuration precedence and provenance,
log formats, and clear errors for bad input files."""
import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

RESULTS = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    if cond:
        RESULTS["passed"] += 1
        print(f"ok    {name}")
    else:
        RESULTS["failed"] += 1
        print(f"FAIL  {name} {detail}")


def run(contimg, *args, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}
    full_env.pop("HDF5_PLUGIN_PATH", None)  # the program must find its plugins itself
    if env:
        full_env.update(env)
    return subprocess.run([contimg, *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=120)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    exe = a.contimg
    samples = sorted((Path(a.data) / "uvh5").glob("*.uvh5"))
    work = Path(a.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    # --help, --version, usage errors
    r = run(exe, "--help")
    check("--help exits 0 and lists the commands", r.returncode == 0 and all(
        c in r.stdout for c in ("info", "peek", "dump", "index", "groups")), r.stdout)
    for sub in ("info", "peek", "dump", "index", "groups"):
        r = run(exe, sub, "--help")
        check(f"{sub} --help exits 0", r.returncode == 0 and "Usage" in r.stdout, r.stderr)
    r = run(exe, "--version")
    check("--version prints the version", r.returncode == 0 and r.stdout.startswith("contimg "), r.stdout)
    check("no subcommand is a usage error (2)", run(exe).returncode == 2)
    check("unknown option is a usage error (2)", run(exe, "info", "--frobnicate").returncode == 2)
    check("missing required argument is a usage error (2)", run(exe, "peek").returncode == 2)

    # info --json: libraries, plugins, cache profiles, configuration provenance
    r = run(exe, "--json", "info")
    info = json.loads(r.stdout) if r.returncode == 0 else {}
    libs = info.get("libraries", {})
    check("info lists every linked library with a version",
          all(libs.get(k) for k in ("hdf5", "casacore", "erfa", "cfitsio", "wcslib", "fftw",
                                    "aoflagger", "sqlite")), libs)
    check("info reports the WSClean binary", "found" in info.get("wsclean", {}), info.get("wsclean"))
    filters = info.get("hdf5", {}).get("filters", {})
    check("LZF and bitshuffle plugins found without HDF5_PLUGIN_PATH",
          filters.get("lzf") is True and filters.get("bitshuffle") is True, filters)
    prof = info.get("hdf5", {}).get("cache_profiles", {})
    check("cache profiles are 1 MiB / 16 MiB / 0 / 64 MiB",
          [prof.get(p, {}).get("bytes") for p in ("metadata", "standard", "streaming", "random")]
          == [1 << 20, 16 << 20, 0, 64 << 20], prof)

    cfg = work / "site.toml"
    cfg.write_text('[logging]\nlevel = "warn"\n[paths]\nstage_dir = "/from/file"\n'
                   '[hdf5]\ncache_standard_bytes = 33554432\n')
    r = run(exe, "--config", str(cfg), "--json", "--set", "paths.stage_dir=/from/flag", "info",
            env={"CONTIMG_HDF5_CACHE_STANDARD_BYTES": "8388608"})
    c = json.loads(r.stdout)["config"] if r.returncode == 0 else {}
    check("file value with its file:line origin",
          c.get("logging.level", {}).get("value") == "warn"
          and c["logging.level"]["source"] == "file" and "site.toml:2" in c["logging.level"]["origin"], c.get("logging.level"))
    check("environment overrides the file",
          c.get("hdf5.cache_standard_bytes", {}).get("value") == 8388608
          and c["hdf5.cache_standard_bytes"]["origin"] == "CONTIMG_HDF5_CACHE_STANDARD_BYTES", c.get("hdf5.cache_standard_bytes"))
    check("flag overrides the file",
          c.get("paths.stage_dir", {}).get("value") == "/from/flag" and c["paths.stage_dir"]["source"] == "flag")
    r = run(exe, "--json", "info", env={"CONTIMG_CONFIG": str(cfg)})
    check("CONTIMG_CONFIG names the file",
          r.returncode == 0 and json.loads(r.stdout)["config"]["paths.stage_dir"]["value"] == "/from/file")
    r = run(exe, "--json", "info", env={"CONTIMG_HDF5_CACHE_STANDARD_BYTES": "lots"})
    check("bad environment value: exit 2 naming the variable",
          r.returncode == 2 and "CONTIMG_HDF5_CACHE_STANDARD_BYTES" in r.stderr, r.stderr)
    r = run(exe, "--set", "paths.stagedir=/x", "info")
    check("unknown key: exit 2 naming it", r.returncode == 2 and "paths.stagedir" in r.stderr, r.stderr)

    # peek
    r = run(exe, "peek", *map(str, samples))
    check("peek of the samples exits 0 with one summary each",
          r.returncode == 0 and all(str(s) in r.stdout for s in samples), r.stderr)
    r = run(exe, "--json", "peek", *map(str, samples))
    peeks = json.loads(r.stdout) if r.returncode == 0 else []
    check("peek --json gives dimensions, ranges and pointing for each file",
          len(peeks) == len(samples) and all(
              all(k in p for k in ("Nblts", "Ntimes", "Nbls", "Nfreqs", "Npols", "Nants_data",
                                   "freq_range_hz", "time_range_jd", "pointing_dec_rad", "peek_ms"))
              for p in peeks), peeks[:1])

    bad_text = work / "2025-01-01T00:00:00_sb03.hdf5"
    bad_text.write_text("not hdf5\n")
    truncated = work / "2025-01-01T00:00:00_sb04.hdf5"
    data = samples[-1].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    missing = work / "2025-01-01T00:00:00_sb05.hdf5"
    for bad, what in ((bad_text, "not an HDF5 file"), (truncated, "truncated"), (missing, "no such file")):
        r = run(exe, "peek", str(bad))
        check(f"peek {what}: exit 3, message names file and problem",
              r.returncode == 3 and str(bad) in r.stderr and what in r.stderr, r.stderr)
    r = run(exe, "--json", "peek", str(samples[0]), str(bad_text))
    out = json.loads(r.stdout) if r.stdout else []
    check("a bad file does not stop the good ones (exit 3, both reported)",
          r.returncode == 3 and len(out) == 2 and "Nblts" in out[0] and "error" in out[1], r.stdout[:300])

    # dump
    mwa = next(s for s in samples if s.name.startswith("1061315448"))
    r = run(exe, "dump", str(mwa), "--rows", "0:3")
    d = json.loads(r.stdout) if r.returncode == 0 else {}
    check("dump reads LZF-compressed data without HDF5_PLUGIN_PATH",
          r.returncode == 0 and len(d.get("flags", [])) == 3, r.stderr)
    check("dump --rows 5:2 is a usage error (2)", run(exe, "dump", str(mwa), "--rows", "5:2").returncode == 2)
    check("dump --profile bogus is a usage error (2)",
          run(exe, "dump", str(mwa), "--profile", "bogus").returncode == 2)

    # index and groups over copies of a sample named as one DSA-110 observation
    incoming = work / "incoming"
    incoming.mkdir()
    for sb in range(16):
        shutil.copyfile(samples[-1], incoming / f"2025-01-01T06:00:0{sb % 4}_sb{sb:02d}.hdf5")
    (incoming / "2025-01-01T06:05:09_sb00.hdf5").write_text("not hdf5\n")
    db = work / "state.sqlite3"
    r = run(exe, "--json", "index", str(incoming), "--db", str(db))
    idx = json.loads(r.stdout) if r.stdout else {}
    check("index: exit 3 when a file is invalid, the others indexed and grouped",
          r.returncode == 3 and idx.get("scanned") == 17 and idx.get("indexed") == 16
          and idx.get("invalid") == 1 and idx.get("groups") == 1 and idx.get("groups_complete") == 1, r.stdout[:400])
    r = run(exe, "--json", "index", str(incoming), "--db", str(db))
    idx = json.loads(r.stdout) if r.stdout else {}
    check("index rerun: every file unchanged, the invalid one still reported (exit 3)",
          r.returncode == 3 and idx.get("unchanged") == 17 and idx.get("indexed") == 0
          and idx.get("invalid_total") == 1, r.stdout[:400])
    (incoming / "2025-01-01T06:05:09_sb00.hdf5").unlink()
    (incoming / "2025-01-01T06:05:09_sb00.hdf5").symlink_to(incoming / "2025-01-01T06:00:00_sb00.hdf5")
    r = run(exe, "index", str(incoming), "--db", str(db))
    check("index: exit 0 once every file is valid, one-line summary",
          r.returncode == 0 and len(r.stdout.strip().splitlines()) == 1 and "2 groups" in r.stdout, r.stdout + r.stderr)
    r = run(exe, "--json", "groups", "2025-01-01", "2025-01-01", "--db", str(db))
    grp = json.loads(r.stdout) if r.returncode == 0 else {}
    gs = grp.get("groups", [])
    check("groups --json: ids, completeness and missing subbands",
          [g.get("group_id") for g in gs] == ["2025-01-01T06:00:00", "2025-01-01T06:05:09"]
          and gs[0].get("complete") is True and gs[1].get("missing") == list(range(1, 16))
          and gs[1].get("state") == "pending", r.stdout[:400])
    r = run(exe, "groups", "2025-01-01T06:05", "2025-01-01T06:06", "--db", str(db))
    check("groups lists the range only", r.returncode == 0 and "06:05:09" in r.stdout
          and "06:00:00 " not in r.stdout, r.stdout)
    check("groups with END before START is a usage error (2)",
          run(exe, "groups", "2025-01-02", "2025-01-01", "--db", str(db)).returncode == 2)
    check("groups without a state database is a usage error (2)",
          run(exe, "groups", "2025-01-01", "2025-01-02", "--db", str(work / "none.sqlite3")).returncode == 2)

    # logging
    r = run(exe, "--log-level", "debug", "--log-format", "json", "peek", str(samples[0]))
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    try:
        parsed = [json.loads(l) for l in lines]
    except json.JSONDecodeError:
        parsed = []
    check("--log-format json writes one JSON object per line",
          r.returncode == 0 and parsed and all({"time", "level", "msg"} <= p.keys() for p in parsed), r.stderr[:300])
    check("the cache profile of each open is logged",
          any("cache profile metadata" in p["msg"] for p in parsed), r.stderr[:300])
    r = run(exe, "--log-level", "loud", "info")
    check("bad log level: exit 2", r.returncode == 2 and "logging.level" in r.stderr, r.stderr)

    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
