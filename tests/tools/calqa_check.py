#!/usr/bin/env python3
"""Model-consistency QA end to end (issue 16), with the real program on small
simulated groups sharing one instrument (same --instrument-seed):

  1. a 0834+555 transit with faint unmodelled field sources: `contimg solve`
     (the calibrator's VLA model) passes;
  2. two hours later, J1035+5628's transit on a field whose data do NOT
     contain it but hold 12 sources of 0.3-3 Jy (the issue's scenario): the
     solve with J1035+5628's model FAILS QA, naming the explained fraction,
     although its flagged fraction, antennas solved and median SNR pass the
     old gates (what main's QA looked at: it passed this set);
  3. `applycal` on that science group picks the 0834+555 set, not the failed
     one, and the calibrated fluxes are within 2 % of the truth in every SPW.

Last line: "N passed, M failed".
"""
import argparse
import glob
import json
import math
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contimg_harness import Checker, Contimg, describe  # noqa: E402

DATE = "2025-03-01"
J1035 = (158.779333, 56.479665)  # VLA list 1035+564 (J2000)
COMMON = ["--size", "tiny", "--nchan", "6", "--ntimes", "24", "--noise", "0.05", "--instrument-seed", "7"]


def simulate(c, out, *args):
    p = c.run("simulate", [out] + COMMON + list(args))
    if p.returncode != 0 or not p.json:
        raise SystemExit("simulate %s: %s" % (out, describe(p)))
    return p.json


def convert(c, raw, out):
    p = c.run("convert-files", [out] + sorted(glob.glob(os.path.join(raw, "*.hdf5"))), json_out=False)
    if p.returncode != 0:
        raise SystemExit("convert %s: %s" % (raw, describe(p)))
    return glob.glob(os.path.join(out, "*.ms"))[0]


def science_sky(path, seed=11):
    """12 sources of 0.3-3 Jy within 1.5 deg of J1035+5628, which is not among them."""
    rng = random.Random(seed)
    sources = []
    for i in range(12):
        r = 0.2 + 1.3 * math.sqrt(rng.random())
        a = 2 * math.pi * rng.random()
        sources.append({"name": "S%d" % i,
                        "ra_deg": J1035[0] + r * math.cos(a) / math.cos(math.radians(J1035[1])),
                        "dec_deg": J1035[1] + r * math.sin(a),
                        "flux_jy": 0.3 * 10 ** rng.random(), "spectral_index": -0.7})
    with open(path, "w") as f:
        json.dump({"sources": sources}, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contimg", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--nants", type=int, default=32)
    a = ap.parse_args()
    work = os.path.abspath(a.workdir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    ck = Checker()
    c = Contimg(a.contimg, a.data, work)
    db = os.path.join(work, "state.sqlite3")
    nants = ["--nants", str(a.nants)]

    # 1. The calibrator transit, two hours before the science group.
    simulate(c, os.path.join(work, "cal_raw"), *nants, "--calibrator", "0834+555", "--date", DATE,
             "--random-sources", "5", "--random-min", "0.05", "--random-max", "0.3", "--seed", "1")
    cal_ms = convert(c, os.path.join(work, "cal_raw"), os.path.join(work, "cal"))
    p = c.run("solve", [cal_ms, "--db", db])
    cal = p.json or {}
    qa = cal.get("qa", {})
    ck.check("0834+555 transit: set passed", p.returncode == 0 and cal.get("status") == "passed", describe(p))
    print("INFO 0834+555: grade %s, reduced chi2 %.3f, explains %.3f of the sky power (raw %.3f), median SNR %.1f"
          % (qa.get("grade"), qa.get("model", {}).get("reduced_chi2", 0),
             qa.get("model", {}).get("signal_explained_fraction", 0), qa.get("model", {}).get("explained_fraction", 0),
             qa.get("median_snr", 0)))
    ck.check("0834+555: its summary is stored for later sets", "summary" in qa and len(qa["summary"]["antenna_amp"]) > 0, str(qa.get("grade")))

    # 2. J1035+5628's transit time (from a throw-away probe), its field without it.
    probe = simulate(c, os.path.join(work, "probe_raw"), "--nants", "2", "--subbands", "0",
                     "--calibrator", "1035+564", "--date", DATE)
    start = probe["group_id"]
    sky = os.path.join(work, "science_sky.json")
    science_sky(sky)
    simulate(c, os.path.join(work, "sci_raw"), *nants, "--start", start, "--dec", str(J1035[1]), "--sky", sky,
             "--seed", "2")
    sci_ms = convert(c, os.path.join(work, "sci_raw"), os.path.join(work, "sci"))
    sci_truth = glob.glob(os.path.join(work, "sci_raw", "*.truth.json"))[0]
    p = c.run("solve", [sci_ms, "--db", db])
    bad = p.json or {}
    qa = bad.get("qa", {})
    ck.check("the field is named after J1035+5628 (the converter's calibrator field)",
             bad.get("calibrator") == "J1035+5628", bad.get("calibrator"))
    ck.check("wrong model (J1035+5628 absent from the data): set FAILED, exit 1",
             p.returncode == 1 and bad.get("status") == "failed", describe(p))
    ck.check("the reason names the explained fraction",
             any("the model explains" in r for r in qa.get("reasons", [])), str(qa.get("reasons")))
    old_pass = (qa.get("bandpass_flagged_fraction", 1) <= 0.25 and qa.get("antennas_solved", 0) >= 10
                and qa.get("median_snr", 0) >= 5)
    ck.check("the old gates alone (flagged, antennas, SNR: main's QA) pass this set", old_pass,
             "flagged %.3f, solved %s, SNR %.1f" % (qa.get("bandpass_flagged_fraction", 1), qa.get("antennas_solved"),
                                                  qa.get("median_snr", 0)))
    print("INFO J1035+5628 (absent): reasons %s; reduced chi2 %.2f, explains %.3f of the sky power (raw %.3f)"
          % (qa.get("reasons"), qa.get("model", {}).get("reduced_chi2", 0),
             qa.get("model", {}).get("signal_explained_fraction", 0), qa.get("model", {}).get("explained_fraction", 0)))

    # 3. The science group gets the transit set from two hours earlier.
    p = c.run("applycal", [sci_ms, "--db", db, "--check-model", sci_truth])
    app = p.json or {}
    ck.check("applycal uses the 0834+555 set, not the failed one",
             p.returncode == 0 and app.get("calibrated") and app.get("calset_id") == cal.get("calset_id"),
             "%s: %s" % (app.get("calset_id"), describe(p)))
    ratios = app.get("model_ratio_per_spw") or [0]
    ck.check("science fluxes within 2% of the truth in every SPW", all(abs(r - 1) < 0.02 for r in ratios),
             "ratio %.4f..%.4f" % (min(ratios), max(ratios)))
    print("INFO science group: calibrated / truth flux per SPW %.4f..%.4f" % (min(ratios), max(ratios)))
    return ck.summary()


if __name__ == "__main__":
    sys.exit(main())
