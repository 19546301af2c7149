#!/usr/bin/env bash
# Whole-chain benchmark (issue 6, SPEC §8, §12): one full-size simulated group
# (96 antennas, 24 integrations, 16 x 48 channels) with 3C286 transiting
# mid-group and random sources, run through `contimg run`: convert -> flag ->
# solve -> applycal -> image -> validate. Reports wall seconds per stage, the
# real-time factor (309 s / wall time), peak RSS (contimg and, through GNU
# time, its WSClean child) and the validation verdict, as JSON and a table.
#   bench/run_chain_bench.sh [--workdir DIR] [--out report.json] [--niter N] [--reuse]
# --reuse keeps the simulated input; the chain always starts from scratch.
# CHAIN_BENCH_BIN=path/to/contimg times another build (before/after a change).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$here/out/chain-bench"
out=""
niter=""
reuse=0
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) work="$2"; shift ;;
    --out) out="$2"; shift ;;
    --niter) niter="$2"; shift ;;
    --reuse) reuse=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
bin="${CHAIN_BENCH_BIN:-$here/build/contimg}"
[ -x "$bin" ] || { echo "build contimg first (ninja -C build contimg)" >&2; exit 2; }
out="${out:-$work/chain_report.json}"
mkdir -p "$work"
now() { date +%s.%N; }

date="2025-03-20"
if [ "$reuse" = 0 ] || ! ls "$work"/in/*_sb00.hdf5 >/dev/null 2>&1; then
  rm -rf "$work/in"
  t0=$(now)
  # DSA-110's per-visibility noise (SEFD ~ 5800 Jy, 244 kHz x 12.9 s: 2.8 Jy).
  "$bin" --progress quiet simulate "$work/in" --size full --calibrator 3C286 --date "$date" \
      --random-sources 20 --noise 2.8 --seed 11 --field-calibrators > "$work/simulate.log"
  echo "simulate: $(echo "$(now) - $t0" | bc -l) s"
fi
group=$(ls "$work"/in/*_sb00.hdf5 | head -1 | xargs basename | sed 's/_sb00.hdf5//')
input_mb=$(du -sm "$work/in" | cut -f1)
rm -rf "$work/run"
[ -n "$niter" ] && export CONTIMG_IMAGING_NITER="$niter"
# The chain's window: the group's own minute.
start="$group"
end=$(/usr/bin/python3 -c "import datetime,sys; t=datetime.datetime.fromisoformat(sys.argv[1]); print((t+datetime.timedelta(seconds=60)).isoformat())" "$group")
load0=$(cut -d' ' -f1 /proc/loadavg)
/usr/bin/time -f "%M %e" -o "$work/run.time" \
    "$bin" --progress quiet --json run "$work/in" "$start" "$end" --out "$work/run" \
    > "$work/run.json" 2> "$work/run.err" || true
load1=$(cut -d' ' -f1 /proc/loadavg)
read -r rss_kib wall < "$work/run.time"
/usr/bin/python3 - "$work/run.json" "$rss_kib" "$wall" "$input_mb" "$load0" "$load1" "$out" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
rss_kib, wall, input_mb = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
load0, load1, out = sys.argv[5], sys.argv[6], sys.argv[7]
g = res["groups"][0]
stages = [{"stage": s["stage"], "outcome": s["outcome"], "seconds": s["seconds"],
           "peak_rss_mib": s["peak_rss_bytes"] / 2**20} for s in g["stages"]]
o = g.get("outputs", {})
report = {
    "group": g["group_id"], "status": g["status"], "reason": g.get("reason", ""),
    "input_mb": input_mb, "stages": stages,
    "chain_wall_seconds": res["wall_seconds"], "command_wall_seconds": wall,
    "real_time_factor": res["real_time_factor"],
    "peak_rss_mib_with_children": rss_kib / 1024,
    "verdict": o.get("verdict"), "image_rms_jy": o.get("image_rms_jy"),
    "load_average_start_end": [load0, load1],
}
json.dump(report, open(out, "w"), indent=2)
print(f"group {report['group']}: {report['status']} {report['reason']}")
print(f"{'stage':<10} {'outcome':<10} {'seconds':>9} {'share':>7} {'peak RSS MiB':>13}")
total = sum(s["seconds"] for s in stages)
for s in stages:
    print(f"{s['stage']:<10} {s['outcome']:<10} {s['seconds']:9.1f} {100*s['seconds']/total:6.1f}% {s['peak_rss_mib']:13.0f}")
print(f"chain wall {res['wall_seconds']:.1f} s; real-time factor {res['real_time_factor']:.2f} "
      f"(309 s / wall); peak RSS incl. WSClean {rss_kib/1024:.0f} MiB; verdict {report['verdict']}; "
      f"load {load0} -> {load1}")
print(f"report: {out}")
PY
