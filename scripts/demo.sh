#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine (packages + build) and runs the demo:
# the installation report, a peek at the bundled real UVH5 samples, then a
# simulated DSA-110 observation (16 subband files with a calibrator transit)
# indexed, grouped and converted to one Measurement Set, which python-casacore
# then opens. Everything is written under out/demo/ (or $1).
# The demo grows with the pipeline: calibration, imaging and validation join
# it as they land.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh" --build-dir "$here/build"
contimg="$here/build/contimg"
demo="$(realpath -m "${1:-$here/out/demo}")"
rm -rf "$demo"
mkdir -p "$demo"
# All state and scratch under the demo directory.
export CONTIMG_PATHS_STAGE_DIR="$demo" CONTIMG_PATHS_SCRATCH_DIR="$demo/scratch"
export CONTIMG_PATHS_STATE_DB="$demo/state/contimg.sqlite3"

echo "== contimg info"
"$contimg" info
echo
echo "== contimg peek (bundled real UVH5 samples)"
"$contimg" peek "$here"/tests/data/uvh5/*.uvh5
echo
echo "== contimg simulate: one observation, 24 antennas, 24 integrations, 16 x 12 channels"
"$contimg" simulate "$demo/incoming" --size small --calibrator --random-sources 10 --noise 0.5 \
  --start 2025-06-01T03:00:00
echo
echo "== contimg index + groups"
"$contimg" index "$demo/incoming"
"$contimg" groups 2025-06-01 2025-06-01
echo
echo "== contimg convert"
"$contimg" convert "$demo/incoming" "$demo/ms" 2025-06-01 2025-06-01
echo
echo "== the MS as python-casacore sees it"
/usr/bin/python3 - "$demo/ms/2025-06-01T03:00:00.ms" <<'PY'
import sys
import casacore.tables as t
ms = t.table(sys.argv[1], ack=False)
spw = t.table(ms.getkeyword("SPECTRAL_WINDOW"), ack=False)
field = t.table(ms.getkeyword("FIELD"), ack=False)
f = spw.getcol("CHAN_FREQ")
print(f"{sys.argv[1]}: {ms.nrows()} rows, {spw.nrows()} SPWs "
      f"{f.min()/1e6:.2f}-{f.max()/1e6:.2f} MHz, {field.nrows()} fields "
      f"({field.getcol('NAME')[0]} ... {field.getcol('NAME')[-1]})")
PY
echo
echo "demo finished: products under $demo"
