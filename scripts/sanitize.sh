#!/usr/bin/env bash
# The unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (run once
# before an issue is resolved): a Debug build in build-asan/ beside the normal
# one. Any report fails the run (UBSAN_OPTIONS halts on the first UB report).
#   scripts/sanitize.sh [--build-dir DIR] [gtest args...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$here/build-asan"
if [ "${1:-}" = "--build-dir" ]; then build="$2"; shift 2; fi
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" >/dev/null
ninja -C "$build" tests/contimg_unit_tests
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export LSAN_OPTIONS="suppressions=$here/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$here/tests/ubsan.supp"
exec "$build/tests/contimg_unit_tests" "$@"
