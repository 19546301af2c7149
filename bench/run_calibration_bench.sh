#!/usr/bin/env bash
# Calibration benchmark (SPEC §5, §12): one full-size simulated calibrator
# transit (117 stations in ANTENNA, 96 active, 24 integrations, 16 SPWs x 48
# channels, XX/YY) converted once, then `contimg solve` and `contimg applycal`
# on it, each timed with its peak RSS (GNU time) and its own JSON report
# (bytes read, MB/s). Prints a JSON summary with the fraction of the 309 s
# cadence. Needs ~4.5 GB under the work directory.
#   bench/run_calibration_bench.sh [--workdir DIR] [--keep]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$here/out/calbench"
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) work="$2"; shift ;;
    --keep) keep=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
bin="$here/build/contimg"
[ -x "$bin" ] || { echo "build contimg first (ninja -C build contimg)" >&2; exit 2; }
rm -rf "$work"; mkdir -p "$work"
export CONTIMG_PATHS_STATE_DB="$work/state.sqlite3" CONTIMG_PATHS_STAGE_DIR="$work/stage"

now() { date +%s.%N; }
run_timed() {  # NAME CMD...: "wall_s peak_rss_kib"
  local name="$1"; shift
  local t0 t1
  t0=$(now)
  /usr/bin/time -f "%M" -o "$work/$name.rss" "$@" > "$work/$name.out" 2> "$work/$name.err"
  t1=$(now)
  echo "$(echo "$t1 - $t0" | bc -l) $(cat "$work/$name.rss")"
}

read -r sim_s sim_rss < <(run_timed simulate "$bin" simulate "$work/raw" --size full --calibrator --cal-flux 10 --noise 1.0 --seed 5)
read -r conv_s conv_rss < <(run_timed convert "$bin" convert-files "$work" "$work"/raw/*.hdf5)
ms=$(ls -d "$work"/*.ms)
truth=$(ls "$work"/raw/*.truth.json)
ms_mb=$(du -sm "$ms" | cut -f1)
sync
read -r solve_s solve_rss < <(run_timed solve "$bin" --json solve "$ms" --model "$truth")
read -r apply_s apply_rss < <(run_timed apply "$bin" --json applycal "$ms")
read -r apply2_s apply2_rss < <(run_timed apply2 "$bin" --json applycal "$ms")
/usr/bin/python3 - "$work" "$sim_s" "$conv_s" "$solve_s" "$solve_rss" "$apply_s" "$apply_rss" "$apply2_s" "$ms_mb" <<'PY'
import json, sys
w = sys.argv[1]
sim_s, conv_s, solve_s, solve_rss, apply_s, apply_rss, apply2_s, ms_mb = map(float, sys.argv[2:])
solve = json.load(open(f"{w}/solve.out"))
apply = json.load(open(f"{w}/apply.out"))
cadence = 309.0
print(json.dumps({
    "ms_mb": ms_mb, "simulate_s": sim_s, "convert_s": conv_s,
    "solve": {"wall_s": solve_s, "internal_s": solve["seconds"], "read_solve_s": solve["seconds_read_solve"],
              "write_s": solve["seconds_write"], "bytes_read": solve["bytes_read"],
              "mb_per_s": solve["bytes_read"] / 1e6 / solve["seconds"], "peak_rss_mb": solve_rss / 1024,
              "cadence_fraction": solve_s / cadence, "qa": solve["qa"]},
    "applycal": {"wall_s": apply_s, "internal_s": apply["seconds"], "bytes_read": apply["bytes_read"],
                 "bytes_written": apply["bytes_written"], "mb_per_s": apply["bytes_read"] / 1e6 / apply["seconds"],
                 "peak_rss_mb": apply_rss / 1024, "cadence_fraction": apply_s / cadence,
                 "second_run_wall_s": apply2_s},
}, indent=2))
PY
[ "$keep" = 1 ] || rm -rf "$work"/raw
