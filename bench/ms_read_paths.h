#pragma once
// The reader access paths ms_write_bench times (--read), on casacore directly
// so that the bench measures casacore's reads and nothing of ours. casacore
// 3.5 does not compile as C++20: ms_read_paths.cc is compiled as C++17 and
// this header stays C++17 and casacore-free (docs/architecture.md).
#include <string>

namespace contimg::bench {

// The whole main table in row order, `nbl` rows a read (imaging): DATA, FLAG
// and WEIGHT_SPECTRUM. Returns the DATA elements read.
double read_all_blocks(const std::string& ms, int nbl);

// One SPW over all integrations (calibration per SPW): DATA, FLAG and
// WEIGHT_SPECTRUM of rows (t * nspw + spw) * nbl, nbl long. Returns the DATA
// elements read.
double read_spw_blocks(const std::string& ms, int ntimes, int nspw, int spw, int nbl);

// One baseline of one SPW over all integrations, cell by cell (calibration
// per baseline): DATA of row (t * nspw + spw) * nbl + nbl / 3. Returns the
// DATA elements read.
double read_baseline_cells(const std::string& ms, int ntimes, int nspw, int spw, int nbl);

}  // namespace contimg::bench
