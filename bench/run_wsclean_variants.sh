#!/usr/bin/env bash
# WSClean cost options measured for time and fidelity (issue 14 item 2): on
# the imaging MS that bench/run_imaging_vs_wsclean.sh kept (WORKDIR/ours),
# WSClean is run with contimg's own argv (from WORKDIR/ours.err), then with
# that argv plus each variant's extra arguments (a later option overrides an
# earlier one), in turn, N rounds; each image is divided by contimg's primary
# beam and validated against the truth. One JSON line per run.
#   bench/run_wsclean_variants.sh --workdir DIR --truth TRUTH.json [--repeat N] "" "-wgridder-accuracy 1e-3" ...
# The empty variant is contimg's argv unchanged (the reference).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$here/build/contimg"
work=""
truth=""
repeat=1
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) work="$(realpath "$2")"; shift ;;
    --truth) truth="$(realpath "$2")"; shift ;;
    --repeat) repeat="$2"; shift ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) break ;;
  esac
  shift
done
[ -n "$work" ] && [ -n "$truth" ] && [ $# -gt 0 ] || { sed -n 2,9p "$0"; exit 2; }
imaging_ms=$(ls -d "$work"/ours/*/*.imaging.ms)
pb=$(ls "$work"/ours/*/*.pb.fits)
argv=$(grep -o -- 'wsclean -name .*' "$work/ours.err" | head -1)
[ -n "$argv" ] || { echo "no WSClean argv in $work/ours.err" >&2; exit 1; }
# contimg's options without -name, -temp-dir and the MS (set here).
opts=$(sed -E 's/^wsclean -name [^ ]+ -temp-dir [^ ]+ //; s/ [^ ]+$//' <<< "$argv")
export CONTIMG_PATHS_STATE_DB="$work/variants.sqlite3"
now() { date +%s.%N; }
for ((r = 0; r < repeat; r++)); do
  i=0
  for v in "$@"; do
    d="$work/variant$i"
    rm -rf "$d"
    mkdir -p "$d"
    sync
    t0=$(now)
    # shellcheck disable=SC2086
    (cd "$d" && wsclean -name "$d/v" -temp-dir "$d" $opts $v "$imaging_ms" > "$d/wsclean.log" 2>&1)
    t1=$(now)
    /usr/bin/python3 "$here/bench/pbcor_fits.py" "$d/v-image.fits" "$pb" "$d/v.pbcor.fits"
    "$bin" --progress quiet --json validate "$d/v.pbcor.fits" --reference "$truth" --pb "$pb" --out "$d/val" \
        --group "variant$i" > "$d/val.json" 2> /dev/null || true
    /usr/bin/python3 - "$v" "$(echo "$t1 - $t0" | bc -l)" "$d/val.json" "$d/wsclean.log" "$d/v-residual.fits" <<'PY'
import json, re, sys
import numpy as np
from astropy.io import fits
v, secs, val, log, resid = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
try:
    m = json.load(open(val)).get("metrics", {})
except (OSError, ValueError):
    m = {}
t = open(log).read()
inv = re.search(r"Inversion: ([0-9:.]+), prediction: ([0-9:.]+), deconvolution: ([0-9:.]+)", t)
n = re.search(r"(\d+) major iterations were performed", t)
r = fits.getdata(resid).astype(np.float64).ravel()
r = r[np.isfinite(r)]
mad = 1.4826 * np.median(np.abs(r - np.median(r)))
print(json.dumps({"variant": v or "(contimg's argv)", "wsclean_s": secs,
                  "split": inv.group(0) if inv else None, "major_cycles": int(n.group(1)) if n else None,
                  "residual_mad_rms_jy": mad, "residual_max_abs_jy": float(np.max(np.abs(r))),
                  "detections": m.get("n_detections"), "matched": m.get("n_matched"),
                  "unmatched": m.get("false_detections", {}).get("n_unmatched"),
                  "astrometry_rms_arcsec": m.get("astrometry", {}).get("rms_arcsec"),
                  "flux_ratio_median": m.get("flux_ratio", {}).get("median"),
                  "completeness": m.get("completeness", {}).get("fraction")}))
PY
    i=$((i + 1))
  done
done
