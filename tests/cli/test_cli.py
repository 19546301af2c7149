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


def json_or_none(text):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def is_error_object(doc, kind, code):
    return (isinstance(doc, dict) and doc.get("ok") is False
            and doc.get("error", {}).get("kind") == kind
            and doc["error"].get("exit_code") == code and doc["error"].get("message"))


def issue11_minor(exe, work):
    """Issue 11, minor items: errors of option parsing, --json on failure,
    config ranges, incomplete-group messages and summaries, empty ranges,
    a default simulated sky."""
    root = work / "issue11"
    root.mkdir()
    db_args = lambda name: ["--set", f"paths.state_db={root / (name + '.sqlite3')}"]

    # D6: a ConfigError thrown while parsing (in a subcommand's callback) is
    # handled like any other: exit 2, the option and its allowed values named.
    r = run(exe, "simulate", str(root / "huge"), "--size", "huge")
    check("D6 simulate --size huge: exit 2 naming the option and the allowed values",
          r.returncode == 2 and "--size" in r.stderr and "tiny, small or full" in r.stderr,
          f"rc={r.returncode} {r.stderr[-300:]}")
    r = run(exe, "--json", "simulate", str(root / "huge"), "--size", "huge")
    check("D6 --json simulate --size huge: one JSON error object (config, 2)",
          r.returncode == 2 and is_error_object(json_or_none(r.stdout), "config", 2), f"rc={r.returncode} {r.stdout[:300]}")

    # --json on errors: parse errors, configuration errors, bad input.
    r = run(exe, "--json", "info", "--frobnicate")
    check("--json parse error: JSON error object (config, 2)",
          r.returncode == 2 and is_error_object(json_or_none(r.stdout), "config", 2), f"rc={r.returncode} {r.stdout[:300]}")
    r = run(exe, "--json", "--set", "paths.stagedir=/x", "info")
    check("--json unknown key: JSON error object naming it",
          r.returncode == 2 and is_error_object(json_or_none(r.stdout), "config", 2)
          and "paths.stagedir" in json_or_none(r.stdout)["error"]["message"], r.stdout[:300])
    r = run(exe, "--json", "groups", "2025-01-02", "2025-01-01", *db_args("g"))
    check("--json groups END < START: JSON error object (config, 2)",
          r.returncode == 2 and is_error_object(json_or_none(r.stdout), "config", 2), r.stdout[:300])
    r = run(exe, "--json", "peek", str(root / "none_sb00.hdf5"))
    check("--json keeps a command's own error report (peek: array with the error)",
          r.returncode == 3 and isinstance(json_or_none(r.stdout), list), r.stdout[:300])

    # image on a path that is not an MS: bad input (3), not I/O (4).
    not_ms = root / "not_an.ms"
    not_ms.mkdir()
    r = run(exe, "--json", "image", str(not_ms))
    check("image on a directory that is not an MS: exit 3, JSON error kind input",
          r.returncode == 3 and is_error_object(json_or_none(r.stdout), "input", 3)
          and str(not_ms) in r.stdout, f"rc={r.returncode} {r.stdout[:300]} {r.stderr[-300:]}")
    junk = root / "junk.ms"
    junk.mkdir()
    (junk / "table.dat").write_text("not a casacore table\n")
    r = run(exe, "image", str(junk))
    check("image on a directory with a junk table.dat: exit 3", r.returncode == 3,
          f"rc={r.returncode} {r.stderr[-300:]}")

    # Configuration ranges and choices, checked at load.
    r = run(exe, "--set", "hdf5.cache_slots=-1", "info")
    check("hdf5.cache_slots=-1: exit 2 naming key, value, source and range",
          r.returncode == 2 and "hdf5.cache_slots = -1" in r.stderr and "--set" in r.stderr
          and ">= 1" in r.stderr, f"rc={r.returncode} {r.stderr[-300:]}")
    r = run(exe, "info", env={"CONTIMG_IMAGING_PB_CUTOFF": "7"})
    check("imaging.pb_cutoff=7: exit 2 naming the variable and [0, 1]",
          r.returncode == 2 and "CONTIMG_IMAGING_PB_CUTOFF" in r.stderr and "[0, 1]" in r.stderr,
          f"rc={r.returncode} {r.stderr[-300:]}")
    r = run(exe, "--set", "calibration.when_uncalibrated=maybe", "info")
    check("calibration.when_uncalibrated=maybe: exit 2 at load, listing skip, fail",
          r.returncode == 2 and "skip, fail" in r.stderr, f"rc={r.returncode} {r.stderr[-300:]}")

    # A default simulation has a sky: non-zero cross-correlation power.
    import h5py
    import numpy as np
    sim_dir = root / "sim_default"
    r = run(exe, "--json", "--progress", "quiet", "simulate", str(sim_dir), "--size", "tiny",
            "--start", "2025-02-01T00:00:00")
    sim = json_or_none(r.stdout) or {}
    power = 0.0
    if r.returncode == 0 and sim.get("files"):
        with h5py.File(sim["files"][0], "r") as f:
            vis = f["Data/visdata"][()]
            a1, a2 = f["Header/ant_1_array"][()], f["Header/ant_2_array"][()]
        cross = vis[a1 != a2]
        power = float(np.mean(np.abs(cross) ** 2)) if cross.size else 0.0
    check("simulate --size tiny with defaults: non-zero cross-correlation power",
          power > 0, f"rc={r.returncode} power={power} {r.stderr[-300:]}")

    # Incomplete groups: suggest --allow-incomplete only where it would help.
    def simulate(name, start, *extra):
        d = root / name
        p = run(exe, "--progress", "quiet", "simulate", str(d), "--size", "tiny", "--start", start,
                "--jitter", "0", "--ntimes", "2", *extra)
        if p.returncode != 0:
            print(p.stderr[-500:])
        return d
    few = simulate("eleven", "2025-02-02T00:00:00", "--subbands", *map(str, range(11)))
    r = run(exe, "--json", "--progress", "quiet", "convert", str(few), str(root / "ms11"),
            "2025-02-02", "2025-02-02", *db_args("eleven"))
    j = json_or_none(r.stdout) or {}
    reason = (j.get("skipped") or [{}])[0].get("reason", "")
    check("11/16 subbands: the skip reason names the minimum and does not suggest --allow-incomplete",
          r.returncode == 0 and "minimum of 12" in reason and "use --allow-incomplete" not in reason, reason or r.stdout[:300])
    r = run(exe, "--progress", "quiet", "convert-files", str(root / "ms11f"), *map(str, sorted(few.glob("*.hdf5"))),
            *db_args("eleven"))
    check("convert-files of 11 subbands: exit 3 naming the minimum, no --allow-incomplete suggestion",
          r.returncode == 3 and "minimum of 12" in r.stdout + r.stderr
          and "use --allow-incomplete" not in r.stdout + r.stderr, f"rc={r.returncode} {r.stdout[-300:]} {r.stderr[-300:]}")
    many = simulate("thirteen", "2025-02-03T00:00:00", "--subbands", *map(str, range(13)))
    r = run(exe, "--json", "--progress", "quiet", "convert", str(many), str(root / "ms13"),
            "2025-02-03", "2025-02-03", "--dry-run", *db_args("thirteen"))
    j = json_or_none(r.stdout) or {}
    reason = (j.get("skipped") or [{}])[0].get("reason", "")
    check("13/16 subbands: the skip reason suggests --allow-incomplete", "use --allow-incomplete" in reason,
          reason or r.stdout[:300])

    # --allow-incomplete with a truncated member: the summary says which and why.
    trunc = simulate("truncated", "2025-02-04T00:00:00")
    sb07 = next(trunc.glob("*_sb07.hdf5"))
    data = sb07.read_bytes()
    sb07.write_bytes(data[: len(data) // 2])
    r = run(exe, "--json", "--progress", "quiet", "convert", str(trunc), str(root / "ms_trunc"),
            "2025-02-04", "2025-02-04", "--allow-incomplete", *db_args("truncated"))
    j = json_or_none(r.stdout) or {}
    conv = (j.get("converted") or [{}])[0]
    miss = conv.get("missing_subbands", [])
    check("--allow-incomplete with truncated sb07: the JSON summary names sb07 invalid and why",
          r.returncode == 0 and len(miss) == 1 and miss[0].get("subband") == 7
          and "invalid" in miss[0].get("reason", "") and "truncated" in miss[0].get("reason", ""),
          f"rc={r.returncode} {r.stdout[:600]}")
    r = run(exe, "--progress", "quiet", "convert", str(trunc), str(root / "ms_trunc"),
            "2025-02-04", "2025-02-04", "--allow-incomplete", "--dry-run", *db_args("truncated"))
    check("... and the text summary too", "sb07 invalid" in r.stdout, r.stdout[-400:])

    # An empty time range: exit 0 with a warning saying what the directory holds.
    r = run(exe, "--json", "--progress", "quiet", "convert", str(trunc), str(root / "ms_none"),
            "2030-01-01", "2030-01-02", *db_args("truncated"))
    j = json_or_none(r.stdout) or {}
    warn = " ".join(j.get("warnings", []))
    check("empty range: exit 0, zero counts and a warning naming the range and the files' times",
          r.returncode == 0 and j.get("counts", {}).get("converted") == 0 and "2030-01-01" in warn
          and "2025-02-04T00:00:00" in warn and "no groups" in r.stderr, f"rc={r.returncode} {r.stdout[:400]} {r.stderr[-300:]}")
    empty = root / "empty_dir"
    empty.mkdir()
    r = run(exe, "--json", "--progress", "quiet", "convert", str(empty), str(root / "ms_empty"),
            "2025-01-01", "2025-01-02", *db_args("empty"))
    check("a directory with no subband files: exit 3, JSON error kind input naming it",
          r.returncode == 3 and is_error_object(json_or_none(r.stdout), "input", 3)
          and str(empty) in r.stdout, f"rc={r.returncode} {r.stdout[:300]} {r.stderr[-300:]}")


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

    issue11_minor(exe, work)

    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    return 0 if RESULTS["failed"] == 0 and RESULTS["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
