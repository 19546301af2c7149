#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine (packages + build) and runs the demo.
# The demo grows with the pipeline: today it reports the installation
# (`contimg info`) and peeks the bundled real UVH5 samples; with the converter
# it becomes a simulated observation taken through the whole chain.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh" --build-dir "$here/build"
contimg="$here/build/contimg"
echo "== contimg info"
"$contimg" info
echo
echo "== contimg peek (bundled real UVH5 samples)"
"$contimg" peek "$here"/tests/data/uvh5/*.uvh5
