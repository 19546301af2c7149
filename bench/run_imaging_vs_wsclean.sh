#!/usr/bin/env bash
# Our imaging against plain WSClean (issue 14 item 8), on the same MS in the
# same run: `contimg image` with the defaults (re-phase + channel average,
# WSClean with our cost options, primary beam, products), then WSClean alone
# on the imaging MS contimg wrote, with the SPEC §6 parameters and nothing
# else (no baseline-dependent averaging, model written back), on the same
# grid; both images divided by the same primary beam and validated against
# the simulator's truth. Prints the time ratio and both fidelity figures.
#   bench/run_imaging_vs_wsclean.sh --ms CALIBRATED.ms --truth TRUTH.json [--workdir DIR] [--repeat N]
# The MS is a calibrated group MS (e.g. the one bench/run_chain_bench.sh
# leaves under WORKDIR/run/ms); it is not modified.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$here/build/contimg"
work=/tmp/contimg-imaging-vs-wsclean
ms=""
truth=""
repeat=1
while [ $# -gt 0 ]; do
  case "$1" in
    --ms) ms="$(realpath "$2")"; shift ;;
    --truth) truth="$(realpath "$2")"; shift ;;
    --workdir) work="$2"; shift ;;
    --repeat) repeat="$2"; shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$ms" ] && [ -n "$truth" ] || { sed -n 2,12p "$0"; exit 2; }
mkdir -p "$work"
work="$(realpath "$work")"
export CONTIMG_PATHS_STATE_DB="$work/state.sqlite3" CONTIMG_PATHS_SCRATCH_DIR="$work/scratch"
now() { date +%s.%N; }
rows=()
for ((r = 0; r < repeat; r++)); do
  rm -rf "$work/ours" "$work/plain" "$work/state.sqlite3"*
  mkdir -p "$work/ours" "$work/plain"
  sync
  t0=$(now)
  "$bin" --progress quiet --json image "$ms" --out "$work/ours" --keep-ms > "$work/ours.json" 2> "$work/ours.err"
  t1=$(now)
  ours_s=$(echo "$t1 - $t0" | bc -l)
  log=$(ls "$work"/ours/*/*.wsclean.log)
  imaging_ms=$(ls -d "$work"/ours/*/*.imaging.ms)
  pb=$(ls "$work"/ours/*/*.pb.fits)
  # The grid contimg chose: its WSClean argv is in its log.
  argv=$(grep -o -- 'wsclean -name .*' "$work/ours.err" | head -1)
  size=$(grep -o -- '-size [0-9]* [0-9]*' <<< "$argv" | cut -d' ' -f2)
  scale=$(grep -o -- '-scale [0-9.e+-]*asec' <<< "$argv" | cut -d' ' -f2)
  niter=$(grep -o -- '-niter [0-9]*' <<< "$argv" | cut -d' ' -f2)
  threads=$(grep -o -- ' -j [0-9]*' <<< "$argv" | cut -d' ' -f3)
  [ -n "$size" ] && [ -n "$scale" ] || { echo "no WSClean argv in $work/ours.err" >&2; exit 1; }
  # SPEC §6: Stokes I, Briggs 0, w-gridder, auto-mask 5, auto-threshold 0.5, mgain 0.8.
  sync
  t0=$(now)
  (cd "$work/plain" && wsclean -name "$work/plain/plain" -temp-dir "$work/plain" -reorder -data-column DATA \
      -pol I -weight briggs 0 -use-wgridder -size "$size" "$size" -scale "$scale" -niter "$niter" \
      -mgain 0.8 -auto-mask 5 -auto-threshold 0.5 ${threads:+-j "$threads"} "$imaging_ms" > "$work/plain.log" 2>&1)
  t1=$(now)
  plain_s=$(echo "$t1 - $t0" | bc -l)
  /usr/bin/python3 "$here/bench/pbcor_fits.py" "$work/plain/plain-image.fits" "$pb" "$work/plain/plain.pbcor.fits"
  pbcor=$(ls "$work"/ours/*/*.pbcor.fits)
  "$bin" --progress quiet --json validate "$pbcor" --reference "$truth" --pb "$pb" --out "$work/ours/val" \
      > "$work/ours.val.json" 2> /dev/null || true
  "$bin" --progress quiet --json validate "$work/plain/plain.pbcor.fits" --reference "$truth" --pb "$pb" \
      --out "$work/plain/val" --group plain > "$work/plain.val.json" 2> /dev/null || true
  row=$(/usr/bin/python3 - "$ours_s" "$plain_s" "$work/ours.val.json" "$work/plain.val.json" "$work/plain.log" "$log" <<'PY'
import json, re, sys
ours_s, plain_s = float(sys.argv[1]), float(sys.argv[2])
def fid(path):
    try:
        v = json.load(open(path))
    except (OSError, ValueError):
        return {"verdict": "no validation output"}
    m = v.get("metrics", {})
    return {"verdict": v.get("verdict"), "detections": m.get("n_detections"),
            "matched": m.get("n_matched"), "reference": m.get("n_reference"),
            "unmatched": m.get("false_detections", {}).get("n_unmatched"),
            "astrometry_rms_arcsec": m.get("astrometry", {}).get("rms_arcsec"),
            "flux_ratio_median": m.get("flux_ratio", {}).get("median"),
            "completeness": m.get("completeness", {}).get("fraction")}
def cycles(path):
    t = open(path).read()
    inv = re.search(r"Inversion: ([0-9:.]+), prediction: ([0-9:.]+), deconvolution: ([0-9:.]+)", t)
    n = re.search(r"(\d+) major iterations were performed", t)
    return {"split": inv.group(0) if inv else None, "major_cycles": int(n.group(1)) if n else None}
print(json.dumps({"ours_s": ours_s, "plain_wsclean_s": plain_s, "ratio_ours_over_plain": ours_s / plain_s,
                  "ours": fid(sys.argv[3]), "plain": fid(sys.argv[4]),
                  "ours_wsclean": cycles(sys.argv[6]), "plain_wsclean": cycles(sys.argv[5])}))
PY
)
  echo "$row"
  rows+=("$row")
done
(IFS=,; echo "[${rows[*]}]") > "$work/report.json"
echo "report: $work/report.json"
