#!/usr/bin/env bash
# Flagging benchmark (issue 4): one full-size simulated group (96 antennas,
# 24 integrations, 16 x 48 channels, RFI bursts, a dead antenna), converted
# once, then `contimg flag` timed: wall time, MB/s of DATA+FLAG read, the
# fraction of the 309 s group cadence, peak RSS. Writes a JSON report.
#   bench/run_flag_bench.sh [--workdir DIR] [--threads N] [--reuse]
# --reuse keeps an existing simulated+converted group in DIR (simulation and
# conversion take minutes and ~4.5 GB). The MS is flagged from a copy of its
# FLAG as converted each run (the state DB lives in DIR and is reset). The
# truth file is kept as DIR/truth.json (RFI bursts, dead station) for scoring.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$here/out/flag-bench"
threads=0
reuse=0
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) work="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --reuse) reuse=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
bin="$here/build/contimg"
[ -x "$bin" ] || { echo "build contimg first ($bin)" >&2; exit 2; }
export CONTIMG_PATHS_STAGE_DIR="$work/stage" CONTIMG_PATHS_SCRATCH_DIR="$work/scratch"
export CONTIMG_PATHS_STATE_DB="$work/state.sqlite3"
ms_dir="$work/ms"
if [ "$reuse" = 0 ] || ! ls -d "$ms_dir"/*.ms > /dev/null 2>&1; then
  rm -rf "$work"; mkdir -p "$work"
  echo "== simulating a full-size group"
  "$bin" --progress quiet simulate "$work/in" --size full --noise 1 --rfi-bursts 40 --dead 13 --seed 5 > /dev/null
  echo "== converting"
  "$bin" --progress quiet convert-files "$ms_dir" "$work/in"/*.hdf5 > /dev/null
  mv "$work/in"/*.truth.json "$work/truth.json"
  rm -rf "$work/in"
  # Keep the FLAG column as converted, to restore before each timed run.
  ms=$(ls -d "$ms_dir"/*.ms | head -1)
  /usr/bin/python3 -c "
import numpy as np, sys
from casacore import tables
t = tables.table(sys.argv[1], ack=False); np.save(sys.argv[2], t.getcol('FLAG')); t.close()" "$ms" "$work/flag0.npy"
fi
ms=$(ls -d "$ms_dir"/*.ms | head -1)
/usr/bin/python3 -c "
import numpy as np, sys
from casacore import tables
t = tables.table(sys.argv[1], readonly=False, ack=False); t.putcol('FLAG', np.load(sys.argv[2])); t.close()" "$ms" "$work/flag0.npy"
rm -f "$CONTIMG_PATHS_STATE_DB"
sync
t0=$(date +%s.%N)
/usr/bin/time -f "%M %U %S" -o "$work/flag.rss" "$bin" --progress quiet --json flag "$ms" --threads "$threads" > "$work/flag.json"
t1=$(date +%s.%N)
/usr/bin/python3 - "$work/flag.json" "$t0" "$t1" "$(cat "$work/flag.rss")" "$ms" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
rss_kib, user_s, sys_s = sys.argv[4].split()
rss_mib = int(rss_kib) / 1024
mb = rep["bytes_read"] / 1e6
out = {"ms": sys.argv[5], "wall_s": wall, "bytes_read": rep["bytes_read"], "mb_per_s": mb / wall,
       "fraction_of_cadence": wall / 309.0, "peak_rss_mib": rss_mib,
       "cpu_user_s": float(user_s), "cpu_sys_s": float(sys_s), "threads": rep["threads"],
       "seconds": rep["seconds"], "flagged_before": rep["flagged_before"],
       "flagged_after": rep["flagged_after"], "dead_antennas": [d["name"] for d in rep["dead_antennas"]]}
print(json.dumps(out, indent=2))
PY
