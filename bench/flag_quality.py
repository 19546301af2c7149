#!/usr/bin/python3
"""Scores a flagged Measurement Set against the simulator's truth (issue 14 item 5).

    bench/flag_quality.py MS TRUTH.json [--dead N]

Prints JSON: the fraction of the injected RFI samples (cross-correlations of
live antennas) that are flagged, the fraction of the clean ones that are
flagged (false positives), the flagged fraction of live autocorrelations and
of the dead antenna's baselines. The same scoring as tests/tools/flag_check.py,
for comparing strategies on a full-size group.
"""
import argparse
import json

import numpy as np
from casacore import tables

ap = argparse.ArgumentParser()
ap.add_argument("ms")
ap.add_argument("truth")
ap.add_argument("--dead", type=int, default=0, help="dead station number (1-based), 0 = none")
a = ap.parse_args()
truth = json.load(open(a.truth))

t = tables.table(a.ms, ack=False)
flag = t.getcol("FLAG")  # [row, chan, corr]
a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
tcol, dd = t.getcol("TIME"), t.getcol("DATA_DESC_ID")
t.close()
spw_of_dd = tables.table(a.ms + "/DATA_DESCRIPTION", ack=False).getcol("SPECTRAL_WINDOW_ID")
chan_freq = tables.table(a.ms + "/SPECTRAL_WINDOW", ack=False).getcol("CHAN_FREQ")
TOP, WIDTH = 1498643188.4765625, 244140.625  # the simulator's first channel and width
tidx = np.searchsorted(np.unique(tcol), tcol)
gmap = np.rint((TOP - chan_freq) / WIDTH).astype(int)  # global channel [spw, chan]
g = gmap[spw_of_dd[dd]]  # [row, chan]
rfi = np.zeros(flag.shape[:2], dtype=bool)
for b in truth.get("rfi_bursts", []):
    in_time = (tidx >= b["time_index"]) & (tidx < b["time_index"] + b["ntimes"])
    rfi |= in_time[:, None] & (g >= b["global_channel"]) & (g < b["global_channel"] + b["nchan"])
cross = a1 != a2
live = np.ones_like(cross) if a.dead == 0 else (a1 != a.dead - 1) & (a2 != a.dead - 1)
sel = (cross & live)[:, None] & np.ones(flag.shape[:2], dtype=bool)
f_any = flag.any(axis=2)
n_rfi = int((rfi & sel).sum())
clean = sel & ~rfi
out = {
    "ms": a.ms,
    "rfi_samples": n_rfi,
    "rfi_flagged": float((f_any & rfi & sel).sum()) / max(n_rfi, 1),
    "clean_flagged": float((f_any & clean).sum()) / max(int(clean.sum()), 1),
    "live_autos_flagged": float(f_any[(~cross) & live].mean()),
    "dead_rows_flagged": float(flag[~live].mean()) if (~live).any() else None,
    "flagged_total": float(flag.mean()),
}
print(json.dumps(out, indent=2))
