#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine (packages + build) and runs the demo:
# `contimg demo` simulates a calibrator transit (3C286) and, two hours later at
# the same declination, a science group with 25 sources of known flux and the
# same instrument; then runs the whole chain on both (convert → flag → solve →
# applycal → image → validate) and prints the verdict and where the HTML
# report is. Everything is written under out/demo/ (or $1); extra arguments go
# to `contimg demo` (e.g. --size full).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh" --build-dir "$here/build"
contimg="$here/build/contimg"
demo="$(realpath -m "${1:-$here/out/demo}")"
shift || true
rm -rf "$demo"

echo "== contimg info"
"$contimg" info | head -20
echo
echo "== contimg demo $demo $*"
"$contimg" demo "$demo" "$@"
