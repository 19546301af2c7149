#!/usr/bin/env bash
# Conversion benchmark (SPEC §12): a full-size simulated group converted to one
# MS, timed against `cp -r` of the same 16 input files to the same output
# filesystem in the same run; the defaults, with and without tmpfs staging and parallel
# I/O; peak RSS; and the scaling of cost with antennas, channels and
# integrations. Writes a JSON report. CPU seconds (user + system) are reported
# beside wall time: on a shared machine the CPU ratio is the steadier figure.
#   bench/run_convert_bench.sh [--workdir DIR] [--out report.json] [--skip-scaling] [--keep]
#                              [--input DIR] [--repeat N] [--cases "disk_parallel ..."]
# --input reuses a simulated full-size group (e.g. the one --keep left in
# WORKDIR/in) instead of simulating one; --repeat runs every case N times;
# CONVERT_BENCH_BIN=path/to/contimg times another build (before/after a change).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=/tmp/contimg-convert-bench
out=""
scaling=1
keep=0
input=""
repeat=1
cases="default tmpfs_parallel disk_parallel tmpfs_serial disk_serial"
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) work="$2"; shift ;;
    --out) out="$2"; shift ;;
    --skip-scaling) scaling=0 ;;
    --keep) keep=1 ;;
    --input) input="$2"; shift ;;
    --repeat) repeat="$2"; shift ;;
    --cases) cases="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
build="$here/build"
if [ -z "${CONVERT_BENCH_BIN:-}" ] && [ ! -x "$build/contimg" ]; then
  "$here/scripts/setup.sh" --no-install --build-dir "$build" >/dev/null
fi
bin="${CONVERT_BENCH_BIN:-$build/contimg}"  # compare another build (not CONTIMG_*: those are config keys)
out="${out:-$work/convert_report.json}"
if [ -n "$input" ]; then input="$(cd "$input" && pwd)"; fi
rm -rf "$work/out_"* "$work/cp_"* "$work/stage" "$work/stage_disk" "$work/scratch"
if [ -z "$input" ]; then rm -rf "$work"; fi
mkdir -p "$work"
export CONTIMG_PATHS_STAGE_DIR="$work/stage" CONTIMG_PATHS_SCRATCH_DIR="$work/scratch"

now() { date +%s.%N; }
# bc prints ".76" for 0.76, which is not JSON: every figure goes through calc.
calc() { LC_ALL=C printf '%.6f' "$(echo "$*" | bc -l)"; }
# run_timed NAME CMD...: wall seconds, peak RSS (KiB) and CPU seconds
# (user + system) from GNU time.
run_timed() {
  local name="$1"; shift
  local t0 t1
  t0=$(now)
  /usr/bin/time -f "%M %U %S" -o "$work/$name.rss" "$@" > "$work/$name.out" 2> "$work/$name.err"
  t1=$(now)
  read -r rss user sys < "$work/$name.rss"
  echo "$(calc "$t1 - $t0") $rss $(calc "$user + $sys")"
}

simulated=0
if [ -z "$input" ]; then
  simulated=1
  echo "== simulating a full-size group (16 x 111744 rows x 48 ch x 2 pol)"
  "$bin" --progress quiet simulate "$work/in" --size full --calibrator --noise 1 --seed 7 > /dev/null
  input="$work/in"
fi
in_bytes=$(du -sb "$input" | cut -f1)
sync

results=()
convert_case() {  # NAME EXTRA_FLAGS...
  local name="$1"; shift
  rm -rf "$work/out_$name"; mkdir -p "$work/out_$name"
  # Same run: cp -r of the inputs to the same filesystem, then the conversion.
  # Two clocks for each (issue 14 item 7): the step alone (compute) and the
  # step followed by `sync` (durable: the disk is the floor). Every step
  # starts with the inputs in the page cache and no dirty pages.
  rm -rf "$work/cp_$name"
  cat "$input"/*.hdf5 > /dev/null
  sync
  local t0 t1
  t0=$(now)
  read -r cp_s _ cp_cpu <<< "$(run_timed "cp_$name" cp -r "$input" "$work/cp_$name")"
  sync
  t1=$(now)
  cp_sync_s=$(calc "$t1 - $t0")
  rm -rf "$work/cp_$name"
  cat "$input"/*.hdf5 > /dev/null
  sync
  t0=$(now)
  read -r conv_s rss_kib conv_cpu <<< "$(run_timed "conv_$name" env $case_env "$bin" --progress quiet convert-files "$@" "$work/out_$name" "$input"/*.hdf5)"
  sync
  t1=$(now)
  conv_sync_s=$(calc "$t1 - $t0")
  local ms_bytes
  ms_bytes=$(du -sb "$work/out_$name" | cut -f1)
  rm -rf "$work/out_$name"
  # Each figure computed once: what is printed is what the report records.
  local ratio durable_ratio mbps load1
  ratio=$(calc "$conv_s / $cp_s")
  durable_ratio=$(calc "$conv_sync_s / $cp_sync_s")
  mbps=$(calc "$in_bytes / 1000000 / $conv_s")
  load1=$(cut -d' ' -f1 /proc/loadavg)
  printf '  %-26s durable: convert+sync %6.2f s  cp+sync %6.2f s  ratio %5.2f\n' "$name" "$conv_sync_s" "$cp_sync_s" \
    "$durable_ratio"
  printf '  %-26s convert %6.2f s  cp %6.2f s  ratio %5.2f  %7.1f MB/s  peak RSS %6.0f MiB  CPU %5.2f s / %5.2f s (ratio %5.2f)  load %s\n' \
    "$name" "$conv_s" "$cp_s" "$ratio" "$mbps" "$(calc "$rss_kib / 1024")" \
    "$conv_cpu" "$cp_cpu" "$(calc "$conv_cpu / $cp_cpu")" "$load1"
  grep -o 'secs=.*)' "$work/conv_$name.err" | sed 's/^/      /' || true
  results+=("{\"case\":\"$name\",\"convert_s\":$conv_s,\"cp_s\":$cp_s,\"ratio\":$ratio,\"convert_sync_s\":$conv_sync_s,\"cp_sync_s\":$cp_sync_s,\"durable_ratio\":$durable_ratio,\"convert_cpu_s\":$conv_cpu,\"cp_cpu_s\":$cp_cpu,\"load1\":$load1,\"input_bytes\":$in_bytes,\"ms_bytes\":$ms_bytes,\"mb_per_s\":$mbps,\"peak_rss_kib\":$rss_kib}")
}
echo "== full-size group: $(echo "$in_bytes / 1000000" | bc) MB in"
for ((rep = 0; rep < repeat; rep++)); do
  for c in $cases; do
    case "$c" in
      default) case_env="" convert_case default ;;
      tmpfs_parallel) case_env="CONTIMG_CONVERSION_STAGE_TO_TMPFS=true" convert_case tmpfs_parallel ;;
      disk_parallel) case_env="CONTIMG_CONVERSION_STAGE_TO_TMPFS=false" convert_case disk_parallel ;;
      not_durable) case_env="CONTIMG_CONVERSION_DURABLE=false" convert_case not_durable ;;
      no_prealloc) case_env="CONTIMG_CONVERSION_PREALLOCATE=false" convert_case no_prealloc ;;
      tmpfs_serial) case_env="CONTIMG_CONVERSION_STAGE_TO_TMPFS=true" convert_case tmpfs_serial --no-parallel-io ;;
      disk_serial) case_env="CONTIMG_CONVERSION_STAGE_TO_TMPFS=false" convert_case disk_serial --no-parallel-io ;;
      *) echo "unknown case $c" >&2; exit 2 ;;
    esac
  done
done

scale=()
if [ "$scaling" = 1 ]; then
  echo "== scaling (cost per visibility should be constant)"
  for spec in "24 24 48" "48 24 48" "96 24 48" "96 6 48" "96 12 48" "96 24 12" "96 24 24"; do
    read -r na nt nc <<< "$spec"
    d="$work/scale_${na}_${nt}_${nc}"
    "$bin" --progress quiet simulate "$d/in" --size full --nants "$na" --ntimes "$nt" --nchan "$nc" --seed 3 > /dev/null
    read -r s _ <<< "$(run_timed "scale_${na}_${nt}_${nc}" "$bin" --progress quiet convert-files "$d/out" "$d/in"/*.hdf5)"
    nbls=$(( na * (na + 1) / 2 ))
    vis=$(( 16 * nbls * nt * nc * 2 ))
    printf '  nants %3d ntimes %2d nchan %2d: %6.2f s, %6.1f ns per visibility\n' "$na" "$nt" "$nc" "$s" "$(calc "$s * 1000000000 / $vis")"
    scale+=("{\"nants\":$na,\"ntimes\":$nt,\"nchan\":$nc,\"visibilities\":$vis,\"seconds\":$s,\"ns_per_vis\":$(calc "$s * 1000000000 / $vis")}")
    rm -rf "$d"
  done
fi
{
  echo "{\"machine\":{\"nproc\":$(nproc),\"mem_kib\":$(awk '/MemTotal/{print $2}' /proc/meminfo),\"fs\":\"$(df -T "$work" | awk 'NR==2{print $2}')\"},"
  echo "\"full_size\":[$(IFS=,; echo "${results[*]}")],"
  echo "\"scaling\":[$(IFS=,; echo "${scale[*]:-}")]}"
} > "$out"
echo "report: $out"
# Only a group simulated here is removed (unless --keep); --input is never touched.
[ "$keep" = 1 ] || [ "$simulated" = 0 ] || rm -rf "$work/in"
rm -rf "$work/stage" "$work/scratch" "$work/stage_disk"
