#!/usr/bin/python3
"""The performance gate's own decisions (bench/perf_gate.py), without valgrind.

  /usr/bin/python3 perf_gate_selftest.py

The CTest perf_gate passes while every step is within 10 % of its baseline; this checks
that the gate would still fail a slower build: a step 11 % costlier fails (and only that
step), 9 % passes, 20 % cheaper passes with a note to update the baseline, a step without a
baseline is reported; and that the entry patterns still catch a stage's own lambda
(nested_toggles), the blind spot that hid the re-phase's per-block work until c89d778.
Prints one line per check, "N passed, M failed" last; exit 1 on a failure.
"""
import importlib.util
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from contimg_harness import Checker  # noqa: E402

spec = importlib.util.spec_from_file_location(
    "perf_gate", os.path.join(os.path.dirname(os.path.dirname(HERE)), "bench", "perf_gate.py"))
gate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gate)

C = Checker()


def check(name, ok, detail=""):
    C.check(name, ok, "" if ok else str(detail))


base = {"steps": {s: {"instructions": 1_000_000 * (i + 1)} for i, s in enumerate(gate.STEP_NAMES)}}


def counts(scale):
    """This build's counts: every step as in the baseline, times scale.get(step, 1)."""
    return {s: int(base["steps"][s]["instructions"] * scale.get(s, 1.0)) for s in gate.STEP_NAMES}


rows, failed, notes = gate.compare(base, counts({}), 0.10)
check("the baseline's own counts pass", not failed and all(r["verdict"] == "ok" for r in rows), rows)
rows, failed, notes = gate.compare(base, counts({"flag": 1.11}), 0.10)
check("a flagger 11 % costlier fails, and only it", failed == ["flag"], failed)
rows, failed, notes = gate.compare(base, counts({"rephase": 1.09, "solve": 1.099}), 0.10)
check("9.9 % costlier passes", not failed, failed)
rows, failed, notes = gate.compare(base, counts({"convert": 0.8}), 0.10)
check("20 % cheaper passes with a note to update the baseline",
        not failed and any(n.startswith("convert is 20.0 % cheaper") for n in notes), notes)
partial = {"steps": {s: v for s, v in base["steps"].items() if s != "beam"}}
rows, failed, notes = gate.compare(partial, counts({}), 0.10)
check("a step without a baseline is reported, not passed silently",
        [r["verdict"] for r in rows if r["step"] == "beam"] == ["new"] and any("beam" in n for n in notes), rows)

# A callgrind profile of the re-phase: the entry, its lambda and an unrelated overload.
entry = dict(gate.STEPS)["rephase"][0]
with tempfile.NamedTemporaryFile("w", suffix=".out", delete=False) as f:
    f.write("fn=(1) contimg::imaging::make_imaging_ms(std::filesystem::path const&, int)\n"
            "cfn=(2) contimg::imaging::make_imaging_ms(std::filesystem::path const&, int)"
            "::{lambda(unsigned long)#6}::operator()(unsigned long) const\n"
            "calls=1 0\n0 100\n"
            "fn=(3) contimg::imaging::rephase_visibilities(float*, int)\n")
    profile = f.name
try:
    nested = gate.nested_toggles(profile, entry)
    check("the entry pattern ends with ')' (a lambda of the stage does not toggle collection)",
            entry.endswith(")") and not nested, (entry, nested))
    check("the old pattern 'make_imaging_ms(*' is caught by nested_toggles",
            len(gate.nested_toggles(profile, entry[:-1])) == 1, gate.nested_toggles(profile, entry[:-1]))
finally:
    os.remove(profile)
sys.exit(C.summary())
