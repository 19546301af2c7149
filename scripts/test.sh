#!/usr/bin/env bash
# Sets up a fresh Debian bookworm machine (packages + build) and runs the whole
# test suite: GoogleTest units and the CTest integration tests that check our
# products with independent clients (h5py, ...). Exit status is ctest's.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh" --build-dir "$here/build"
cd "$here/build"
ctest --output-on-failure -j"$(nproc)" "$@"
