#!/usr/bin/python3
"""Performance regression gate (issue 14 item 9; docs/perf.md "Performance regression gate").

  /usr/bin/python3 bench/perf_gate.py --build BUILD_DIR [--update] [--tolerance 0.10] [--json]
                                      [--repeat N] [--workdir DIR] [--keep]

Simulates one tiny calibrator group (fixed seeds), then runs the chain's single-stage
commands on it under `valgrind --tool=callgrind`, one process per step, with one thread
(resources.threads=1):

  convert  contimg convert-files   ConversionStage::execute
  flag     contimg flag            FlagStage::execute
  solve    contimg solve           SolveStage::execute
  apply    contimg applycal        ApplyStage::execute
  rephase  contimg image           imaging::make_imaging_ms (the imaging MS: re-phase,
                                   channel averaging, write; it has no command of its own,
                                   WSClean runs natively and is not counted), without:
  beam     (same run)              UvCoverage::predicted_beam (the restoring beam predicted
                                   on WSClean's weighting grid, for the automatic cell)

Only the stage is counted: callgrind's --toggle-collect on the entry function above, plus
the threads the stage starts (their std::thread entry, matched by the namespace of the
lambda they run), never process start-up, configuration, the state database or the
command's report. Counts are user-space instructions (Ir), which do not depend on the load
of the machine.

Compares each count with bench/perf_baseline.json: a step more than --tolerance (10 %)
costlier fails (exit 1) with the table of figures; a step more than --tolerance cheaper
passes with a note asking to update the baseline. --update rewrites the baseline (commit it
with the change that moved it). The baseline records the compiler, the build type and flags,
the Debian versions of the libraries the stages run and the host's x86 extensions (which
select code paths in glibc, FFTW, ...; valgrind passes them on, AVX-512 excepted): when
these differ here the counts are not comparable and the gate skips (exit 77) saying what
differs. Exit 77 also when valgrind is missing; 2 for bad usage (no build directory, no
baseline); 1 also when a step cannot be run (the message says which and why).
"""
import argparse
import fnmatch
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)

# The simulated group: a 10 Jy calibrator at transit (so solve passes QA and apply has a
# set), RFI for the flagger, noise; sized so that the data work dominates each stage's
# count while the five runs under valgrind stay within about a minute.
SIMULATE = ["--size", "tiny", "--nants", "16", "--nchan", "8", "--ntimes", "8", "--calibrator",
            "--cal-flux", "10", "--noise", "0.05", "--rfi-bursts", "4", "--seed", "21",
            "--start", "2025-01-01T12:00:00"]

# step -> (command builder, toggle-collect patterns)
def _threads(*namespaces):
    return ["std::thread::_State_impl<*contimg::%s::*" % ns for ns in namespaces]


# An entry pattern ends with ")": callgrind toggles collection on entering any function a
# pattern matches, and "f(*" also matches f's lambdas ("f(...)::{lambda()#1}::operator()()
# const"), so calling one inside f would toggle collection off for its whole body (which
# hid make_imaging_ms's per-block work from 2026-12-06 to its fix; nested_toggles() checks).
STEPS = [
    ("convert", ["contimg::conversion::ConversionStage::execute(*)"] + _threads("conversion", "ms")),
    ("flag", ["contimg::flagging::FlagStage::execute(*)"] + _threads("flagging", "ms")),
    ("solve", ["contimg::calibration::SolveStage::execute(*)"] + _threads("calibration", "ms")),
    ("apply", ["contimg::calibration::ApplyStage::execute(*)"] + _threads("calibration", "ms")),
    ("rephase", ["contimg::imaging::make_imaging_ms(*)"] + _threads("imaging", "ms")),
]
# A function whose inclusive cost inside a step is reported as a step of its own (and taken
# out of its parent): the restoring beam predicted on WSClean's weighting grid (an FFT whose
# size follows imaging.field_deg, not the data) would otherwise hide the re-phase.
SPLIT = {"beam": ("rephase", "contimg::imaging::UvCoverage::predicted_beam(")}
STEP_NAMES = ["convert", "flag", "solve", "apply", "rephase", "beam"]
ENTRY = {s: pats[0][:pats[0].index("(")] for s, pats in STEPS}
ENTRY["beam"] = SPLIT["beam"][1].rstrip("(")
# x86 extensions that change which code paths glibc, AOFlagger, casacore pick at run time
# (valgrind hides AVX-512 from the program, so it is not listed).
ISA_FLAGS = ["sse4_2", "avx", "avx2", "fma", "bmi2"]


class GateError(Exception):
    code = 1


class UsageError(GateError):
    code = 2


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ------------------------------------------------------------------ what the counts depend on
def cmake_cache(build):
    path = os.path.join(build, "CMakeCache.txt")
    vals = {}
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"^([A-Za-z_0-9]+):[A-Z]+=(.*)$", line.rstrip("\n"))
                if m:
                    vals[m.group(1)] = m.group(2)
    except OSError as e:
        raise UsageError("%s: cannot read the build's CMake cache (%s): is --build a CMake build "
                        "directory?" % (path, e.strerror))
    return vals


def build_fingerprint(build):
    c = cmake_cache(build)
    btype = c.get("CMAKE_BUILD_TYPE", "")
    compiler, version = os.path.basename(c.get("CMAKE_CXX_COMPILER", "?")), ""
    for f in glob.glob(os.path.join(build, "CMakeFiles", "*", "CMakeCXXCompiler.cmake")):
        text = open(f).read()
        m = re.search(r'set\(CMAKE_CXX_COMPILER_VERSION "([^"]*)"\)', text)
        version = m.group(1) if m else version
        m = re.search(r'set\(CMAKE_CXX_COMPILER_ID "([^"]*)"\)', text)
        compiler = m.group(1) if m else compiler
    flags = " ".join(x for x in [c.get("CMAKE_CXX_FLAGS", ""),
                                 c.get("CMAKE_CXX_FLAGS_" + btype.upper(), "")] if x).strip()
    return {"compiler": "%s %s" % (compiler, version), "build_type": btype, "cxx_flags": flags}


def isa():
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return "unknown"
    m = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
    have = set(m.group(1).split()) if m else set()
    return " ".join(f for f in ISA_FLAGS if f in have)


# The shared libraries whose code runs inside the counted stages (their Debian versions):
# a security or point update of one of them can move the counts.
LIB_PACKAGES = re.compile(r"^(libc6|libstdc\+\+6|libgcc-s1|libcasa-|libhdf5-|libaoflagger|libfftw3-|liberfa|"
                          r"libcfitsio|libwcs|liblua|libboost|libcairo2|libpng16|zlib1g|libpixman|"
                          r"libfreetype|libfontconfig|libnlohmann)")


def libraries(contimg):
    p = sh(["ldd", contimg])
    if p.returncode != 0:
        raise GateError("ldd %s failed: %s" % (contimg, p.stderr.strip()))
    paths = sorted({m.group(1) for m in re.finditer(r"=> (/\S+)", p.stdout)})
    found = sh(["dpkg", "-S"] + sorted(set(paths) | {os.path.realpath(x) for x in paths}))
    pkgs = sorted({line.split(":")[0] for line in found.stdout.splitlines() if ":" in line})
    pkgs = [x for x in pkgs if LIB_PACKAGES.match(x)]
    if not pkgs:
        return {}
    q = sh(["dpkg-query", "-W", "-f", "${Package} ${Version}\\n"] + pkgs)
    return dict(line.split(" ", 1) for line in q.stdout.splitlines() if " " in line)


def commit():
    """HEAD, with "-dirty" when the program's sources (not bench/ or docs/) have changes."""
    p = sh(["git", "-C", SOURCE, "rev-parse", "--short=12", "HEAD"])
    if p.returncode != 0:
        return "unknown"
    d = sh(["git", "-C", SOURCE, "status", "--porcelain", "--", "src", "CMakeLists.txt"])
    return p.stdout.strip() + ("-dirty" if d.stdout.strip() else "")


def valgrind_version():
    p = sh(["valgrind", "--version"])
    return p.stdout.strip()


# ------------------------------------------------------------------ running the steps
class Runner:
    def __init__(self, contimg, data, work, verbose):
        self.contimg = contimg
        self.work = work
        self.verbose = verbose
        self.db = os.path.join(work, "state.sqlite3")
        self.globals = ["--progress", "quiet", "--log-level", "warn",
                        "--set", "paths.data_dir=" + data,
                        "--set", "paths.state_db=" + self.db,
                        "--set", "paths.stage_dir=" + os.path.join(work, "stage"),
                        "--set", "paths.scratch_dir=" + os.path.join(work, "stage", "scratch"),
                        "--set", "paths.tmpfs_dir=" + os.path.join(work, "tmpfs"),
                        "--set", "resources.threads=1",
                        # The image is not counted: keep WSClean's part small.
                        "--set", "imaging.cell_arcsec=60", "--set", "imaging.niter=1000"]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONTIMG_")}

    def contimg_cmd(self, *args):
        return [self.contimg] + self.globals + ["--json"] + [str(a) for a in args]

    def native(self, *args):
        p = sh(self.contimg_cmd(*args), env=self.env, timeout=600)
        if p.returncode != 0:
            raise GateError("contimg %s failed (exit %d): %s" % (args[0], p.returncode, p.stderr[-1500:]))
        return json.loads(p.stdout)

    def counted(self, step, patterns, *args):
        out = os.path.join(self.work, "callgrind.%s.out" % step)
        log = os.path.join(self.work, "valgrind.%s.log" % step)
        cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--callgrind-out-file=" + out,
               "--log-file=" + log] + ["--toggle-collect=" + p for p in patterns] + self.contimg_cmd(*args)
        t0 = time.monotonic()
        p = sh(cmd, env=self.env, timeout=1200)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            raise GateError("%s: contimg %s under valgrind failed (exit %d): %s\n(valgrind log: %s)"
                            % (step, args[0], p.returncode, p.stderr[-1500:], log))
        total = None
        with open(out) as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    total = int(line.split()[1])
        if not total:
            raise GateError("%s: callgrind collected nothing in %s (did the entry function %s run? "
                            "see %s)" % (step, out, ENTRY[step], out))
        nested = nested_toggles(out, patterns[0])
        if nested:
            raise GateError("%s: the entry pattern %s also matches %s, called inside the stage: "
                            "collection would be off while it runs (make the pattern end with ')')"
                            % (step, patterns[0], "; ".join(n[:160] for n in nested[:3])))
        if self.verbose:
            label = "+".join([step] + [sub for sub, (parent, _) in SPLIT.items() if parent == step])
            print("  %-12s %15d Ir  (%.1f s under valgrind)" % (label, total, wall), file=sys.stderr, flush=True)
        return total, wall

    def chain(self):
        """One pass over the five steps on a fresh group: {step: (instructions, seconds)}."""
        raw = os.path.join(self.work, "raw")
        sim = self.native("simulate", raw, *SIMULATE)
        pats = dict(STEPS)
        res = {}
        ms_dir = os.path.join(self.work, "ms")
        res["convert"] = self.counted("convert", pats["convert"], "convert-files", ms_dir, *sim["files"])
        ms = os.path.join(ms_dir, sim["group_id"] + ".ms")
        res["flag"] = self.counted("flag", pats["flag"], "flag", ms)
        res["solve"] = self.counted("solve", pats["solve"], "solve", ms, "--model", sim["truth"])
        res["apply"] = self.counted("apply", pats["apply"], "applycal", ms)
        res["rephase"] = self.counted("rephase", pats["rephase"], "image", ms)
        for sub, (parent, prefix) in SPLIT.items():
            n = inclusive_cost(os.path.join(self.work, "callgrind.%s.out" % parent), prefix)
            if not n:
                raise GateError("%s: no call of %s found in the %s step" % (sub, prefix, parent))
            res[sub] = (n, 0.0)
            res[parent] = (res[parent][0] - n, res[parent][1])
        return res


# ------------------------------------------------------------------ comparison and report
def function_names(callgrind_out):
    """Every function name callgrind recorded (fn= and cfn= lines)."""
    names = set()
    with open(callgrind_out) as f:
        for line in f:
            m = re.match(r"c?fn=\(\d+\) (.*)$", line.rstrip("\n"))
            if m:
                names.add(m.group(1))
    return names


def nested_toggles(callgrind_out, entry_pattern):
    """Functions called inside the stage that its entry pattern also matches: each would
    toggle collection off while it runs (callgrind's --toggle-collect), so its cost would be
    missing from the count."""
    # Nested: a lambda, local class or block of the entry, named after its parameter list.
    return sorted(n for n in function_names(callgrind_out)
                  if fnmatch.fnmatchcase(n, entry_pattern) and ")::" in n[n.find("("):])


def inclusive_cost(callgrind_out, prefix):
    """Instructions spent in calls of functions whose name starts with `prefix` (inclusive of
    their callees), from callgrind's call records (`calls=` lines, then the call's cost)."""
    names, total, pending = {}, 0, False
    with open(callgrind_out) as f:
        for line in f:
            if pending:
                total += int(line.split()[-1])
                pending = False
            elif line.startswith("cfn=") or line.startswith("fn="):
                m = re.match(r"c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
                name = m.group(2) if m and m.group(2) is not None else names.get(m.group(1) if m else "", "")
                if m and m.group(2) is not None:
                    names[m.group(1)] = name
                if line.startswith("fn="):
                    caller = name
                else:
                    callee = name
            elif line.startswith("calls="):
                pending = callee.startswith(prefix) and not caller.startswith(prefix)
    return total


def fmt_n(n):
    return "{:,}".format(n) if n is not None else "-"


def compare(baseline, now, tolerance):
    rows, failed, notes = [], [], []
    for step in STEP_NAMES:
        b = baseline["steps"].get(step, {}).get("instructions") if baseline else None
        n = now[step]
        if b is None:
            rows.append({"step": step, "baseline": None, "now": n, "ratio": None, "verdict": "new"})
            notes.append("%s has no baseline: run with --update" % step)
            continue
        ratio = n / b
        if ratio > 1 + tolerance:
            verdict = "FAIL"
            failed.append(step)
        elif ratio < 1 - tolerance:
            verdict = "cheaper"
            notes.append("%s is %.1f %% cheaper than its baseline: if that is deliberate, update the "
                         "baseline in the same commit (bench/perf_gate.py --build BUILD --update)"
                         % (step, 100 * (1 - ratio)))
        else:
            verdict = "ok"
        rows.append({"step": step, "baseline": b, "now": n, "ratio": ratio, "verdict": verdict})
    return rows, failed, notes


def table(rows, tolerance):
    lines = ["%-8s %16s %16s %7s  %s" % ("step", "baseline Ir", "now Ir", "ratio", "verdict")]
    for r in rows:
        ratio = "%.3f" % r["ratio"] if r["ratio"] is not None else "-"
        v = r["verdict"]
        if v == "FAIL":
            v = "FAIL (> %.2f)" % (1 + tolerance)
        lines.append("%-8s %16s %16s %7s  %s" % (r["step"], fmt_n(r["baseline"]), fmt_n(r["now"]), ratio, v))
    return "\n".join(lines)


def environment_mismatch(baseline, env):
    why = []
    for key in ("build", "libraries", "isa"):
        if baseline.get(key) != env[key]:
            why.append("%s: baseline %s, here %s" % (key, json.dumps(baseline.get(key), sort_keys=True),
                                                      json.dumps(env[key], sort_keys=True)))
    return why


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="the CMake build directory (contimg and its flags)")
    ap.add_argument("--contimg", help="the program (default BUILD/contimg)")
    ap.add_argument("--data", default=os.path.join(SOURCE, "data"), help="run-time data directory")
    ap.add_argument("--baseline", default=os.path.join(HERE, "perf_baseline.json"))
    ap.add_argument("--tolerance", type=float, default=0.10,
                    help="relative increase that fails a step (default 0.10)")
    ap.add_argument("--update", action="store_true", help="rewrite the baseline with this build's counts")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the chain N times (fresh group each) and use the median; prints the spread")
    ap.add_argument("--workdir", help="scratch directory (default: a temporary one, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    a = ap.parse_args()
    if not (0 < a.tolerance < 1) or a.repeat < 1:
        ap.error("--tolerance must be in (0, 1) and --repeat >= 1")

    work, keep = None, [a.keep]

    def finish(code, report, text):
        report["exit_code"] = code
        if code == 1 and work and not a.workdir and os.path.isdir(work):
            keep[0] = True  # the callgrind profiles, to see where the cost went
            report["workdir"] = work
            text += ("\nThe runs are kept in %s: callgrind_annotate --inclusive=yes %s/run0/callgrind.STEP.out"
                     % (work, work))
        if a.json:
            print(json.dumps(report, indent=2))
        if text:
            print(text, file=sys.stderr if a.json else sys.stdout)
        return code

    report = {"ok": False, "status": "error", "tolerance": a.tolerance, "counted": "stage only "
              "(callgrind --toggle-collect on the stage entry and its threads), instructions (Ir)"}
    if shutil.which("valgrind") is None:
        report["status"] = "skip"
        return finish(SKIP, report, "SKIP perf_gate: valgrind is not installed (scripts/setup.sh installs it)")
    contimg = a.contimg or os.path.join(a.build, "contimg")
    # Paths enter the counts (casacore and HDF5 handle them as strings): the default scratch
    # directory has the same length on every run, so leave --workdir to diagnosis.
    work = a.workdir or tempfile.mkdtemp(prefix="contimg-perf-gate-")
    try:
        env = {"build": build_fingerprint(a.build), "libraries": libraries(contimg), "isa": isa()}
        report.update(env)
        baseline = None
        if os.path.exists(a.baseline):
            with open(a.baseline) as f:
                baseline = json.load(f)
        if not a.update:
            if baseline is None:
                raise UsageError("%s does not exist: create it with --update" % a.baseline)
            why = environment_mismatch(baseline, env)
            if why:
                report["status"] = "skip"
                report["skip_reasons"] = why
                return finish(SKIP, report, "SKIP perf_gate: the baseline was taken with another build or "
                              "machine, so instruction counts are not comparable; update it from a "
                              "RelWithDebInfo build as scripts/test.sh makes it (--update):\n  "
                              + "\n  ".join(why))
        runs = []
        for i in range(a.repeat):
            if a.repeat > 1:
                print("run %d of %d" % (i + 1, a.repeat), file=sys.stderr, flush=True)
            d = os.path.join(work, "run%d" % i)
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            runs.append(Runner(contimg, a.data, d, verbose=not a.json).chain())
        now = {s: int(statistics.median(r[s][0] for r in runs)) for s in STEP_NAMES}
        report["runs"] = [{s: {"instructions": r[s][0], "seconds": round(r[s][1], 1)} for s in STEP_NAMES}
                          for r in runs]
        text = []
        if a.repeat > 1:
            spread = {}
            text.append("run-to-run variation over %d runs ((max - min) / median):" % a.repeat)
            for s in STEP_NAMES:
                xs = [r[s][0] for r in runs]
                spread[s] = (max(xs) - min(xs)) / now[s]
                text.append("  %-8s min %s  max %s  spread %.4f %%" % (s, fmt_n(min(xs)), fmt_n(max(xs)),
                                                                      100 * spread[s]))
            report["spread"] = spread
        if a.update:
            doc = {"what": "instructions (callgrind Ir) of each stage on the tiny group of bench/perf_gate.py, "
                           "stage only; docs/perf.md \"Performance regression gate\"",
                   "build": env["build"], "libraries": env["libraries"], "isa": env["isa"],
                   "steps": {s: {"instructions": now[s], "entry": ENTRY[s], "tool": "valgrind --tool=callgrind "
                                 "(%s)" % valgrind_version(), "commit": commit()} for s in STEP_NAMES}}
            tmp = a.baseline + ".tmp"
            with open(tmp, "w") as f:
                json.dump(doc, f, indent=2)
                f.write("\n")
            os.replace(tmp, a.baseline)
            report.update({"ok": True, "status": "updated", "steps": doc["steps"]})
            text.append("perf_gate: baseline %s updated:\n%s" % (a.baseline, "\n".join(
                "  %-8s %16s" % (s, fmt_n(now[s])) for s in STEP_NAMES)))
            return finish(0, report, "\n".join(text))
        rows, failed, notes = compare(baseline, now, a.tolerance)
        report.update({"rows": rows, "failed": failed, "notes": notes, "ok": not failed,
                       "status": "fail" if failed else "pass"})
        text.append("perf_gate: instructions per stage (callgrind, stage only), tolerance %.0f %%"
                    % (100 * a.tolerance))
        text.append(table(rows, a.tolerance))
        text += ["note: " + n for n in notes]
        if failed:
            text.append("FAIL perf_gate: %s more than %.0f %% costlier than the baseline (%s). If the cost "
                        "is deliberate, update the baseline in the same commit: bench/perf_gate.py --build "
                        "BUILD --update" % (", ".join(failed), 100 * a.tolerance, a.baseline))
            return finish(1, report, "\n".join(text))
        text.append("PASS perf_gate")
        return finish(0, report, "\n".join(text))
    except (GateError, OSError, subprocess.TimeoutExpired, ValueError) as e:
        report["error"] = str(e)
        return finish(getattr(e, "code", 1), report, "ERROR perf_gate: %s" % e)
    finally:
        if not keep[0] and not a.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
