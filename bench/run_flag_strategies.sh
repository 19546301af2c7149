#!/usr/bin/env bash
# Compares AOFlagger strategies on simulated full-size groups (issue 14 item 5):
# for each strategy file and each MS (converted by bench/run_flag_bench.sh, or
# any MS with a simulator truth file beside it as truth.json), restores the
# FLAG column as converted, times `contimg flag --force` with that strategy
# and scores the flags against the truth (bench/flag_quality.py).
#   bench/run_flag_strategies.sh --ms-dir DIR [--ms-dir DIR2] [--repeat N] STRATEGY.lua...
# Each DIR holds ms/*.ms and truth.json (the layout run_flag_bench.sh leaves).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$here/build/contimg"
dirs=()
repeat=1
while [ $# -gt 0 ]; do
  case "$1" in
    --ms-dir) dirs+=("$(cd "$2" && pwd)"); shift ;;
    --repeat) repeat="$2"; shift ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
[ ${#dirs[@]} -gt 0 ] && [ $# -gt 0 ] || { sed -n 2,8p "$0"; exit 2; }
for d in "${dirs[@]}"; do
  ms=$(ls -d "$d"/ms/*.ms | head -1)
  if [ ! -f "$d/flag0.npy" ]; then  # FLAG as converted: every run starts from it
    /usr/bin/python3 -c "
import numpy as np, sys
from casacore import tables
t = tables.table(sys.argv[1], ack=False); np.save(sys.argv[2], t.getcol('FLAG')); t.close()" "$ms" "$d/flag0.npy"
  fi
done
for ((r = 0; r < repeat; r++)); do
  for s in "$@"; do
    for d in "${dirs[@]}"; do
      ms=$(ls -d "$d"/ms/*.ms | head -1)
      /usr/bin/python3 -c "
import numpy as np, sys
from casacore import tables
t = tables.table(sys.argv[1], readonly=False, ack=False); t.putcol('FLAG', np.load(sys.argv[2])); t.close()" "$ms" "$d/flag0.npy"
      rm -f "$d/strat.sqlite3"
      sync
      /usr/bin/time -f "%e %U %S %M" -o "$d/strat.time" env CONTIMG_PATHS_STATE_DB="$d/strat.sqlite3" \
          CONTIMG_PATHS_SCRATCH_DIR="$d/scratch" CONTIMG_FLAGGING_STRATEGY="$(realpath "$s")" \
          "$bin" --progress quiet --json flag "$ms" --force > "$d/strat.json"
      read -r wall user sys rss < "$d/strat.time"
      q=$(/usr/bin/python3 "$here/bench/flag_quality.py" "$ms" "$d/truth.json" --dead 13)
      /usr/bin/python3 - "$s" "$d" "$wall" "$user" "$sys" "$rss" "$d/strat.json" "$q" <<'PY'
import json, sys
s, d, wall, user, sys_s, rss = sys.argv[1:7]
rep = json.load(open(sys.argv[7])); q = json.loads(sys.argv[8])
sec = rep["seconds"]
print(json.dumps({"strategy": s, "ms_dir": d, "wall_s": float(wall), "cpu_s": float(user) + float(sys_s),
                  "peak_rss_mib": int(rss) / 1024, "read_s": sec["read"], "detect_s": sec["detect"],
                  "write_s": sec["write"], "rfi_flagged": q["rfi_flagged"], "clean_flagged": q["clean_flagged"],
                  "live_autos_flagged": q["live_autos_flagged"], "dead_rows_flagged": q["dead_rows_flagged"]}))
PY
    done
  done
done
