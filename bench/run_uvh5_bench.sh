#!/usr/bin/env bash
# Builds bench_uvh5 (RelWithDebInfo) if needed, runs it on generated full-size
# DSA-110 subband files and writes the JSON report; then counts the
# instructions of one header peek with callgrind. See docs/perf.md.
#
# Usage: bench/run_uvh5_bench.sh [options] [-- extra bench_uvh5 arguments]
#   --workdir DIR    where the test files go (default /tmp/contimg_bench_uvh5.<pid>)
#   --out FILE       JSON report (default <build dir>/bench/bench_uvh5_report.json);
#                    the printed table goes to FILE with .txt instead of .json
#   --build-dir DIR  build directory (default <repo>/build if it is RelWithDebInfo
#                    or Release, else <repo>/build-bench)
#   --small          quick run: 4 integrations instead of 24
#   --keep           keep the generated files
#   --no-callgrind   skip the callgrind instruction count
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKDIR="/tmp/contimg_bench_uvh5.$$"
OUT=""
BUILD=""
KEEP=0
CALLGRIND=1
BENCH_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workdir) WORKDIR="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --build-dir) BUILD="$2"; shift 2 ;;
    --small) BENCH_ARGS+=(--small); shift ;;
    --keep) KEEP=1; shift ;;
    --no-callgrind) CALLGRIND=0; shift ;;
    --) shift; BENCH_ARGS+=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run_uvh5_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# ---- build ----------------------------------------------------------------------
build_type_of() { sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$1/CMakeCache.txt" 2>/dev/null || true; }
if [[ -z "$BUILD" ]]; then
  BUILD="$ROOT/build"
  if [[ -f "$BUILD/CMakeCache.txt" ]]; then
    case "$(build_type_of "$BUILD")" in
      RelWithDebInfo|Release) ;;
      *) BUILD="$ROOT/build-bench" ;;
    esac
  fi
fi
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
echo "build: $BUILD ($(build_type_of "$BUILD"))"
cmake --build "$BUILD" --target bench_uvh5
BENCH="$BUILD/bench/bench_uvh5"
[[ -n "$OUT" ]] || OUT="$BUILD/bench/bench_uvh5_report.json"
mkdir -p "$(dirname "$OUT")"
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
TXT="${OUT%.json}.txt"

# ---- clean-up: only what the benchmark made --------------------------------------
CREATED_WORKDIR=0
[[ -e "$WORKDIR" ]] || CREATED_WORKDIR=1
cleanup() {
  if [[ $KEEP -eq 1 ]]; then
    echo "kept the generated files in $WORKDIR"
    return
  fi
  rm -f "$WORKDIR"/{none,gzip,lzf,bitshuffle}.hdf5 "$WORKDIR"/callgrind.peek.*.out
  rm -rf "$WORKDIR/group"
  if [[ $CREATED_WORKDIR -eq 1 ]]; then rmdir "$WORKDIR" 2>/dev/null || true; fi
}
trap cleanup EXIT
mkdir -p "$WORKDIR"

# ---- run ---------------------------------------------------------------------------
echo "workdir: $WORKDIR ($(stat -f -c %T "$WORKDIR")), report: $OUT"
start=$(date +%s)
"$BENCH" --workdir "$WORKDIR" --json "$OUT" "${BENCH_ARGS[@]}" | tee "$TXT"

# ---- instruction counts of one peek ----------------------------------------------------
# perf's hardware counters are used only where `perf stat -e instructions` works
# (not in most VMs); callgrind counts instructions deterministically anywhere.
PERF_OK=0
if command -v perf >/dev/null 2>&1 &&
   perf stat -x, -e instructions true 2>&1 >/dev/null | grep -q '^[0-9]'; then
  PERF_OK=1
fi
PEEK_FILE="$WORKDIR/gzip.hdf5"
CG_FIRST="" CG_ELEVEN="" PERF_INSTR=""
if [[ $CALLGRIND -eq 1 ]] && command -v valgrind >/dev/null 2>&1; then
  for reps in 1 11; do
    valgrind --tool=callgrind --callgrind-out-file="$WORKDIR/callgrind.peek.$reps.out" \
      --toggle-collect='*bench_peek_once*' "$BENCH" --peek-only "$PEEK_FILE" --reps "$reps" \
      >/dev/null 2>&1
  done
  CG_FIRST=$(sed -n 's/^totals: *//p' "$WORKDIR/callgrind.peek.1.out" | awk '{print $1}')
  CG_ELEVEN=$(sed -n 's/^totals: *//p' "$WORKDIR/callgrind.peek.11.out" | awk '{print $1}')
  echo "callgrind: first peek $CG_FIRST Ir; 11 peeks $CG_ELEVEN Ir" | tee -a "$TXT"
fi
if [[ $PERF_OK -eq 1 ]]; then
  PERF_INSTR=$(perf stat -x, -e instructions "$BENCH" --peek-only "$PEEK_FILE" --reps 100 2>&1 >/dev/null |
               awk -F, '/instructions/ {print $1}')
  echo "perf stat: $PERF_INSTR instructions for the process with 100 peeks" | tee -a "$TXT"
else
  echo "perf stat -e instructions: not supported here (no hardware counters); callgrind used" | tee -a "$TXT"
fi

# ---- merge the counts into the report ----------------------------------------------------
python3 - "$OUT" "$CG_FIRST" "$CG_ELEVEN" "$PERF_OK" "$PERF_INSTR" "$PEEK_FILE" <<'EOF' | tee -a "$TXT"
import json, sys
out, first, eleven, perf_ok, perf_instr, peek_file = sys.argv[1:7]
with open(out) as f:
    report = json.load(f)
ic = {"file": peek_file, "perf_stat_instructions_supported": perf_ok == "1"}
if first and eleven:
    first, eleven = int(first), int(eleven)
    ic["callgrind"] = {
        "what": "valgrind --tool=callgrind --toggle-collect='*bench_peek_once*': "
                "Uvh5File(path, kMetadata) + peek(), HDF5 already initialised",
        "first_peek_Ir": first,
        "eleven_peeks_Ir": eleven,
        "steady_peek_Ir": (eleven - first) // 10,
    }
if perf_instr:
    ic["perf_stat_process_instructions_100_peeks"] = perf_instr
report["peek_instructions"] = ic
with open(out, "w") as f:
    json.dump(report, f, indent=2)
    f.write("\n")
if "callgrind" in ic:
    print(f"callgrind: steady-state peek {ic['callgrind']['steady_peek_Ir']:,} Ir "
          f"(first peek {ic['callgrind']['first_peek_Ir']:,} Ir)")
EOF
echo "total wall time $(( $(date +%s) - start )) s; report $OUT, table $TXT"
