#!/usr/bin/env bash
# Two (or three) configurations of the chain, interleaved (A B [C] A B [C] ...), on the same
# full-size input: bench/run_chain_bench.sh for each run, the page cache
# dropped and the inputs read back first, each image validated against the
# truth. A configuration is a space-separated list of CONTIMG_* environment
# settings ("" = the defaults).
#   bench/run_chain_ab.sh --workdir /work/bench-runs/chainfc --out DIR [--rounds 3] \
#       --a "CONTIMG_CALIBRATION_APPLY_IN_IMAGE_PASS=false" --b "" [--c "..."]
# (CHAIN_BENCH_BIN=/path/to/contimg in a configuration runs another build.)
# Writes DIR/{A,B,C}<round>.{json,log,err,wsclean.log}, DIR/val{A,B,C}<round>.json
# and DIR/progress.log (one line per run with its chain wall).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="" out="" rounds=3 a="" b="" c="" arms="A B"
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) work="$2"; shift ;;
    --out) out="$2"; shift ;;
    --rounds) rounds="$2"; shift ;;
    --a) a="$2"; shift ;;
    --b) b="$2"; shift ;;
    --c) c="$2"; arms="A B C"; shift ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$work" ] && [ -n "$out" ] || { sed -n 2,11p "$0"; exit 2; }
mkdir -p "$out"
bin="$here/build/contimg"
for ((round = 1; round <= rounds; round++)); do
  for who in $arms; do
    settings=$a
    [ $who = B ] && settings=$b
    [ $who = C ] && settings=$c
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    cat "$work"/in/*.hdf5 > /dev/null; sync
    echo "$(date -u +%T) round $round $who ($settings) start load $(cut -d' ' -f1 /proc/loadavg)" >> "$out/progress.log"
    # shellcheck disable=SC2086
    env $settings "$here/bench/run_chain_bench.sh" --workdir "$work" --reuse --out "$out/$who$round.json" \
        > "$out/$who$round.log" 2>&1
    cp "$work"/run/products/*/*.wsclean.log "$out/$who$round.wsclean.log" 2>/dev/null
    cp "$work/run.err" "$out/$who$round.err" 2>/dev/null
    "$bin" --progress quiet --json validate "$work"/run/products/*/*.pbcor.fits --reference "$work"/in/*.truth.json \
        --pb "$work"/run/products/*/*.pb.fits --out "$out/val$who$round" --group v > "$out/val$who$round.json" 2>/dev/null
    wall=$(/usr/bin/python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['chain_wall_seconds'], 1))" \
        "$out/$who$round.json" 2>/dev/null || echo "?")
    echo "$(date -u +%T) round $round $who done $wall" >> "$out/progress.log"
  done
done
