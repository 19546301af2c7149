#!/usr/bin/env bash
# Imaging benchmark (SPEC §6, §12): a full-size simulated group (16 x 48
# channels, 96 antennas, 24 integrations) simulated, converted, then imaged
# with `contimg image`: re-phase (read / rotate / write), WSClean, primary
# beam and products, each as a share of the total; peak RSS of contimg and of
# WSClean (GNU time of the whole command; WSClean's own from its log).
# Writes a JSON report and prints a summary.
#   bench/run_image_bench.sh [--workdir DIR] [--out report.json] [--threads N] [--niter N] [--reuse]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$here/out/image-bench"
out=""
threads=2
niter=10000
reuse=0
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) work="$2"; shift ;;
    --out) out="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --niter) niter="$2"; shift ;;
    --reuse) reuse=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
bin="$here/build/contimg"
[ -x "$bin" ] || { echo "build contimg first (ninja -C build contimg)" >&2; exit 2; }
out="${out:-$work/image_report.json}"
mkdir -p "$work"
export CONTIMG_PATHS_STAGE_DIR="$work/stage" CONTIMG_PATHS_SCRATCH_DIR="$work/scratch"
export CONTIMG_PATHS_STATE_DB="$work/state.sqlite3"
now() { date +%s.%N; }

if [ "$reuse" = 0 ] || ! ls "$work"/ms/*.ms >/dev/null 2>&1; then
  rm -rf "$work/in" "$work/ms"
  t0=$(now)
  "$bin" --progress quiet --json simulate "$work/in" --size full --no-gains --random-sources 20 \
      --noise 1.0 --seed 3 > "$work/simulate.json"
  t1=$(now)
  "$bin" --progress quiet --json convert-files "$work/ms" "$work"/in/*_sb*.hdf5 > "$work/convert.json"
  t2=$(now)
  echo "simulate $(echo "$t1 - $t0" | bc -l) s, convert $(echo "$t2 - $t1" | bc -l) s"
fi
ms=$(ls -d "$work"/ms/*.ms | head -1)
rm -rf "$work/products"
t0=$(now)
/usr/bin/time -f "%M %e" -o "$work/image.time" "$bin" --progress quiet --json image "$ms" \
    --out "$work/products" --threads "$threads" --niter "$niter" > "$work/image.json" 2> "$work/image.err"
t1=$(now)
read -r rss_kib wall < "$work/image.time"
log=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['products']['wsclean_log'])" "$work/image.json")
/usr/bin/python3 - "$work/image.json" "$rss_kib" "$wall" "$log" "$out" "$ms" <<'PY'
import json, os, re, subprocess, sys
res = json.load(open(sys.argv[1]))
rss_kib, wall, log, out, ms = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
r = res["rephase"]
total = res["seconds_total"]
steps = {"rephase_read": r["seconds_read"], "rephase_rotate_uvw": r["seconds_rephase"],
         "rephase_write": r["seconds_write"], "wsclean": res["wsclean"]["seconds"],
         "primary_beam": res["seconds_pb"], "products_headers_png_qa": res["seconds_products"]}
other = total - sum(steps.values())
steps["other"] = other
ms_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ms) for f in fs)
report = {"ms": ms, "ms_bytes": ms_bytes, "rows": r["rows"], "image_px": res["wsclean"]["size_px"],
          "cell_arcsec": res["wsclean"]["cell_arcsec"], "seconds_total": total, "wall_command": wall,
          "steps_s": steps, "share": {k: v / total for k, v in steps.items()},
          "wsclean_share": res["wsclean"]["seconds"] / total,
          "rephase_mb_per_s": (r["bytes_read"] + r["bytes_written"]) / 1e6 / r["seconds"],
          "peak_rss_command_mb": rss_kib / 1024.0, "peak_rss_stage_mb": res["peak_rss_bytes"] / 1e6,
          "qa": res["qa"], "nproc": os.cpu_count(),
          "load_avg_at_end": os.getloadavg()}
json.dump(report, open(out, "w"), indent=2)
print(json.dumps(report, indent=2))
PY
