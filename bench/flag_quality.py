#!/usr/bin/python3
"""Scores a flagged Measurement Set against the simulator's truth (issue 14 item 5).

    bench/flag_quality.py MS TRUTH.json [--dead N]

Prints JSON: the fraction of the injected RFI samples (cross-correlations of
live antennas) that are flagged, the fraction of the clean ones that are
flagged (false positives), the flagged fraction of live autocorrelations and
of the dead antenna's baselines: tests/tools/flag_score.py, the scoring
flag_check.py uses, for comparing strategies on a full-size group.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tools"))
from flag_score import score  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("ms")
ap.add_argument("truth")
ap.add_argument("--dead", type=int, default=0, help="dead station number (1-based), 0 = none")
a = ap.parse_args()
s = score(a.ms, json.load(open(a.truth)), a.dead)
out = {"ms": a.ms}
out.update({k: v for k, v in s.items() if k not in ("flag", "flag_row", "live", "cross")})
print(json.dumps(out, indent=2))
