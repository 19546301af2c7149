"""Scoring a flagged Measurement Set against the simulator's truth file: the one
scoring of tests/tools/flag_check.py (CTest) and bench/flag_quality.py (strategy
comparisons on full-size groups)."""
import numpy as np
from casacore import tables

# The simulator's first (highest) channel and channel width: global channel =
# round((TOP - freq) / WIDTH), the truth file's channel numbering.
TOP, WIDTH = 1498643188.4765625, 244140.625


def score(ms, truth, dead_station=0):
    """Figures and masks of `ms`'s FLAG against `truth` (the simulator's JSON).

    dead_station: 1-based station number with no signal, 0 = none. Returns a dict:
    rfi_samples, rfi_flagged (fraction of injected RFI samples of live cross-correlations
    flagged), clean_flagged (false positives), live_autos_flagged, dead_rows_flagged (None
    without a dead station), flagged_total; and the arrays flag, flag_row, live (rows not
    touching the dead antenna), cross (rows that are cross-correlations)."""
    t = tables.table(ms, ack=False)
    flag = t.getcol("FLAG")  # [row, chan, corr]
    flag_row = t.getcol("FLAG_ROW")
    a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
    tcol, dd = t.getcol("TIME"), t.getcol("DATA_DESC_ID")
    t.close()
    spw_of_dd = tables.table(ms + "/DATA_DESCRIPTION", ack=False).getcol("SPECTRAL_WINDOW_ID")
    chan_freq = tables.table(ms + "/SPECTRAL_WINDOW", ack=False).getcol("CHAN_FREQ")
    tidx = np.searchsorted(np.unique(tcol), tcol)
    g = np.rint((TOP - chan_freq) / WIDTH).astype(int)[spw_of_dd[dd]]  # global channel [row, chan]
    rfi = np.zeros(flag.shape[:2], dtype=bool)
    for b in truth.get("rfi_bursts", []):
        in_time = (tidx >= b["time_index"]) & (tidx < b["time_index"] + b["ntimes"])
        rfi |= in_time[:, None] & (g >= b["global_channel"]) & (g < b["global_channel"] + b["nchan"])
    cross = a1 != a2
    live = np.ones_like(cross) if dead_station == 0 else (a1 != dead_station - 1) & (a2 != dead_station - 1)
    sel = (cross & live)[:, None] & np.ones(flag.shape[:2], dtype=bool)
    f_any = flag.any(axis=2)
    n_rfi = int((rfi & sel).sum())
    clean = sel & ~rfi
    return {
        "rfi_samples": n_rfi,
        "rfi_flagged": float((f_any & rfi & sel).sum()) / max(n_rfi, 1),
        "clean_flagged": float((f_any & clean).sum()) / max(int(clean.sum()), 1),
        "live_autos_flagged": float(f_any[(~cross) & live].mean()),
        "dead_rows_flagged": float(flag[~live].mean()) if (~live).any() else None,
        "flagged_total": float(flag.mean()),
        "flag": flag, "flag_row": flag_row, "live": live, "cross": cross,
    }
