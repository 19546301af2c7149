#!/usr/bin/env bash
# Conversion benchmark (SPEC §12): a full-size simulated group converted to one
# MS, timed against `cp -r` of the same 16 input files to the same output
# filesystem in the same run; with and without tmpfs staging and parallel
# I/O; peak RSS; and the scaling of cost with antennas, channels and
# integrations. Writes a JSON report.
#   bench/run_convert_bench.sh [--workdir DIR] [--out report.json] [--skip-scaling] [--keep]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=/tmp/contimg-convert-bench
out=""
scaling=1
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) work="$2"; shift ;;
    --out) out="$2"; shift ;;
    --skip-scaling) scaling=0 ;;
    --keep) keep=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
build="$here/build"
[ -x "$build/contimg" ] || "$here/scripts/setup.sh" --no-install --build-dir "$build" >/dev/null
bin="$build/contimg"
out="${out:-$work/convert_report.json}"
rm -rf "$work"; mkdir -p "$work"
export CONTIMG_PATHS_STAGE_DIR="$work/stage" CONTIMG_PATHS_SCRATCH_DIR="$work/scratch"

now() { date +%s.%N; }
# run_timed NAME CMD...: wall seconds and peak RSS (KiB) from GNU time.
run_timed() {
  local name="$1"; shift
  local t0 t1
  t0=$(now)
  /usr/bin/time -f "%M" -o "$work/$name.rss" "$@" > "$work/$name.out" 2> "$work/$name.err"
  t1=$(now)
  echo "$(echo "$t1 - $t0" | bc -l) $(cat "$work/$name.rss")"
}

echo "== simulating a full-size group (16 x 111744 rows x 48 ch x 2 pol)"
"$bin" --progress quiet simulate "$work/in" --size full --calibrator --noise 1 --seed 7 > /dev/null
in_bytes=$(du -sb "$work/in" | cut -f1)
sync

results=()
convert_case() {  # NAME EXTRA_FLAGS...
  local name="$1"; shift
  rm -rf "$work/out_$name"; mkdir -p "$work/out_$name"
  # Same run: cp -r of the inputs to the same filesystem, then the conversion.
  rm -rf "$work/cp_$name"
  read -r cp_s _ <<< "$(run_timed "cp_$name" cp -r "$work/in" "$work/cp_$name")"
  rm -rf "$work/cp_$name"
  read -r conv_s rss_kib <<< "$(run_timed "conv_$name" "$bin" --progress quiet convert-files "$@" "$work/out_$name" "$work/in"/*.hdf5)"
  local ms_bytes
  ms_bytes=$(du -sb "$work/out_$name" | cut -f1)
  rm -rf "$work/out_$name"
  printf '  %-26s convert %6.2f s  cp %6.2f s  ratio %5.2f  %7.1f MB/s  peak RSS %6.0f MiB\n' \
    "$name" "$conv_s" "$cp_s" "$(echo "$conv_s / $cp_s" | bc -l)" \
    "$(echo "$in_bytes / 1000000 / $conv_s" | bc -l)" "$(echo "$rss_kib / 1024" | bc -l)"
  results+=("{\"case\":\"$name\",\"convert_s\":$conv_s,\"cp_s\":$cp_s,\"ratio\":$(echo "$conv_s / $cp_s" | bc -l),\"input_bytes\":$in_bytes,\"ms_bytes\":$ms_bytes,\"mb_per_s\":$(echo "$in_bytes / 1000000 / $conv_s" | bc -l),\"peak_rss_kib\":$rss_kib}")
}
echo "== full-size group: $(echo "$in_bytes / 1000000" | bc) MB in"
convert_case tmpfs_parallel
convert_case disk_parallel --stage-dir "$work/stage_disk"
convert_case tmpfs_serial --no-parallel-io
convert_case disk_serial --no-parallel-io --stage-dir "$work/stage_disk"

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
    printf '  nants %3d ntimes %2d nchan %2d: %6.2f s, %6.1f ns per visibility\n' "$na" "$nt" "$nc" "$s" "$(echo "$s * 1000000000 / $vis" | bc -l)"
    scale+=("{\"nants\":$na,\"ntimes\":$nt,\"nchan\":$nc,\"visibilities\":$vis,\"seconds\":$s,\"ns_per_vis\":$(echo "$s * 1000000000 / $vis" | bc -l)}")
    rm -rf "$d"
  done
fi
{
  echo "{\"machine\":{\"nproc\":$(nproc),\"mem_kib\":$(awk '/MemTotal/{print $2}' /proc/meminfo),\"fs\":\"$(df -T "$work" | awk 'NR==2{print $2}')\"},"
  echo "\"full_size\":[$(IFS=,; echo "${results[*]}")],"
  echo "\"scaling\":[$(IFS=,; echo "${scale[*]:-}")]}"
} > "$out"
echo "report: $out"
[ "$keep" = 1 ] || rm -rf "$work/in" "$work/stage" "$work/scratch" "$work/stage_disk"
