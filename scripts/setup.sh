#!/usr/bin/env bash
# Installs every Debian package contimg needs (build, run, test) and builds it.
# Idempotent: re-running only rebuilds what changed.
# Usage: scripts/setup.sh [--no-install] [--build-type Release|RelWithDebInfo|Debug] [--build-dir DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_type=RelWithDebInfo
build_dir="$here/build"
install=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) install=0 ;;
    --build-type) build_type="$2"; shift ;;
    --build-dir) build_dir="$2"; shift ;;
    -h|--help) sed -n 2,5p "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git time bc
  # libraries linked by contimg
  libhdf5-dev hdf5-tools casacore-dev casacore-tools liberfa-dev libcfitsio-dev
  wcslib-dev libfftw3-dev aoflagger-dev libsqlite3-dev libcairo2-dev libpq-dev libpqxx-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libtomlplusplus-dev
  prometheus-cpp-dev libcpp-httplib-dev
  # HDF5 compression plugins (LZF, bitshuffle)
  bitshuffle hdf5-filter-plugin
  # run-time tools
  wsclean
  # tests and benchmarks: independent readers and clients
  libgtest-dev libgmock-dev libbenchmark-dev
  # the performance regression gate counts instructions with callgrind (bench/perf_gate.py)
  valgrind
  # the PostgreSQL server the state-backend tests start (initdb, pg_ctl, postgres)
  postgresql-15
  python3 python3-h5py python3-numpy python3-casacore python3-astropy
  # Prometheus' own exposition-format parser, for the metrics tests
  python3-prometheus-client
  # the HTML report rendered headless in a test
  chromium
  # the single-node Slurm the slurm_pilots test starts (slurmctld, slurmd, sbatch) and its
  # authentication daemon
  slurm-wlm munge
)

if [ "$install" = 1 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type"
cmake --build "$build_dir" -j"$(nproc)"
echo "setup.sh: built $build_dir/contimg"
