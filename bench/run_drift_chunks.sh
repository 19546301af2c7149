#!/usr/bin/env bash
# The chunked route to the drifting beam, measured (issue 14 Deliver 3;
# docs/imaging.md 3a): the group's MS imaged once by `contimg image` with the
# drift correction off (its imaging MS kept), then WSClean with contimg's own
# argv plus `-intervals-out K` for each K, the K chunk images combined by
# bench/drift_chunks (the mosaic library, each chunk with the Airy beam
# averaged over its integrations) and validated against the truth. K = 1 is
# the same path with one chunk. One JSON line per K.
#   bench/run_drift_chunks.sh --ms GROUP.ms --truth TRUTH.json --workdir DIR [K ...]   (default K: 1 2 4 8)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$here/build/contimg"
chunks="$here/build/bench/drift_chunks"
ms=""; truth=""; work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ms) ms="$(realpath "$2")"; shift ;;
    --truth) truth="$(realpath "$2")"; shift ;;
    --workdir) work="$(realpath -m "$2")"; shift ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) break ;;
  esac
  shift
done
[ -n "$ms" ] && [ -n "$truth" ] && [ -n "$work" ] || { sed -n 2,10p "$0"; exit 2; }
[ -x "$chunks" ] || { echo "build it first: ninja -C build drift_chunks" >&2; exit 2; }
ks=("$@"); [ ${#ks[@]} -gt 0 ] || ks=(1 2 4 8)
mkdir -p "$work"
export CONTIMG_PATHS_STATE_DB="$work/chunks.sqlite3"
if ! ls -d "$work"/off/*/*.imaging.ms > /dev/null 2>&1; then
  rm -rf "$work/off"
  "$bin" --progress quiet --set imaging.drift_correction=false image "$ms" --out "$work/off" --keep-ms \
      > "$work/off.out" 2> "$work/off.err"
fi
imaging_ms=$(ls -d "$work"/off/*/*.imaging.ms)
argv=$(grep -o -- 'wsclean -name .*' "$work/off.err" | head -1 | sed 's/^wsclean //')
[ -n "$argv" ] || { echo "no WSClean argv in $work/off.err" >&2; exit 1; }
# contimg's options without -name, -temp-dir and the MS (set here).
opts=$(sed -E 's/^-name [^ ]+ -temp-dir [^ ]+ //; s/ [^ ]+$//' <<< "$argv")
now() { date +%s.%N; }
for k in "${ks[@]}"; do
  d="$work/k$k"
  rm -rf "$d"; mkdir -p "$d"
  sync
  t0=$(now)
  extra=""; [ "$k" -gt 1 ] && extra="-intervals-out $k"
  # shellcheck disable=SC2086
  (cd "$d" && wsclean -name "$d/c" -temp-dir "$d" $opts $extra "$imaging_ms" > "$d/wsclean.log" 2>&1)
  t1=$(now)
  if [ "$k" -gt 1 ]; then imgs=$(ls "$d"/c-t*-image.fits); else imgs="$d/c-image.fits"; fi
  # shellcheck disable=SC2086
  "$chunks" "$ms" "$d/mosaic" $imgs > "$d/mosaic.json"
  "$bin" --progress quiet --json validate "$d/mosaic.image.fits" --reference "$truth" --pb "$d/mosaic.pb.fits" \
      --out "$d/val" --group "chunks$k" > "$d/val.json" 2> /dev/null || true
  /usr/bin/python3 - "$k" "$(echo "$t1 - $t0" | bc -l)" "$d/val.json" "$d/wsclean.log" "$d/mosaic.json" "$d/mosaic" <<'PY'
import json, re, sys
import numpy as np
from astropy.io import fits
k, secs, val, log, mos, prefix = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
# The mosaic's rms (MAD) where its noise is within 1/0.7 of the centre's.
im = fits.getdata(prefix + ".image.fits").squeeze().astype(np.float64)
pb = fits.getdata(prefix + ".pb.fits").squeeze().astype(np.float64)
r = im[np.isfinite(im) & np.isfinite(pb) & (pb > 0.7)]
rms = 1.4826 * np.median(np.abs(r - np.median(r)))
try:
    m = json.load(open(val)).get("metrics", {})
except (OSError, ValueError):
    m = {}
t = open(log).read()
inv = re.findall(r"Inversion: ([0-9:.]+), prediction: ([0-9:.]+), deconvolution: ([0-9:.]+)", t)
cycles = [int(x) for x in re.findall(r"(\d+) major iterations were performed", t)]
mj = json.load(open(mos))
print(json.dumps({"K": k, "wsclean_s": round(secs, 1), "major_cycles": cycles, "split": inv,
                  "chunk_sigma_mjy": [round(s * 1e3, 3) for s in mj["sigma_jy"]],
                  "mosaic_s": round(mj["seconds"], 1),
                  "detections": m.get("n_detections"), "matched": m.get("n_matched"),
                  "unmatched": m.get("false_detections", {}).get("n_unmatched"),
                  "astrometry_rms_arcsec": m.get("astrometry", {}).get("rms_arcsec"),
                  "flux_ratio_median": m.get("flux_ratio", {}).get("median"),
                  "completeness": m.get("completeness", {}).get("fraction"),
                  "rms_pb07_mjy": round(rms * 1e3, 3)}))
PY
done
