// C++17 translation unit: includes casacore (bench/CMakeLists.txt).
#include "ms_read_paths.h"

#include <casacore/casa/Arrays/Array.h>
#include <casacore/casa/Arrays/Slicer.h>
#include <casacore/tables/Tables/ArrayColumn.h>
#include <casacore/tables/Tables/Table.h>

#include <sys/types.h>

namespace contimg::bench {
namespace cc = casacore;

namespace {

// DATA, FLAG and WEIGHT_SPECTRUM of rows [r, r + nbl).
double read_block(const cc::ArrayColumn<cc::Complex>& d, const cc::ArrayColumn<cc::Bool>& f,
                  const cc::ArrayColumn<cc::Float>& w, ssize_t r, int nbl) {
  const cc::Slicer rows(cc::IPosition(1, r), cc::IPosition(1, nbl), cc::Slicer::endIsLength);
  const double elements = static_cast<double>(d.getColumnRange(rows).nelements());
  f.getColumnRange(rows);
  w.getColumnRange(rows);
  return elements;
}

}  // namespace

double read_all_blocks(const std::string& ms, int nbl) {
  const cc::Table t(ms);
  const cc::ArrayColumn<cc::Complex> d(t, "DATA");
  const cc::ArrayColumn<cc::Bool> f(t, "FLAG");
  const cc::ArrayColumn<cc::Float> w(t, "WEIGHT_SPECTRUM");
  double elements = 0;
  for (cc::rownr_t r = 0; r < t.nrow(); r += static_cast<cc::rownr_t>(nbl)) {
    elements += read_block(d, f, w, static_cast<ssize_t>(r), nbl);
  }
  return elements;
}

double read_spw_blocks(const std::string& ms, int ntimes, int nspw, int spw, int nbl) {
  const cc::Table t(ms);
  const cc::ArrayColumn<cc::Complex> d(t, "DATA");
  const cc::ArrayColumn<cc::Bool> f(t, "FLAG");
  const cc::ArrayColumn<cc::Float> w(t, "WEIGHT_SPECTRUM");
  double elements = 0;
  for (int ti = 0; ti < ntimes; ++ti) {
    elements +=
        read_block(d, f, w, static_cast<ssize_t>((static_cast<long>(ti) * nspw + spw) * nbl), nbl);
  }
  return elements;
}

double read_baseline_cells(const std::string& ms, int ntimes, int nspw, int spw, int nbl) {
  const cc::Table t(ms);
  const cc::ArrayColumn<cc::Complex> d(t, "DATA");
  double elements = 0;
  for (int ti = 0; ti < ntimes; ++ti) {
    const auto r = static_cast<cc::rownr_t>((static_cast<long>(ti) * nspw + spw) * nbl + nbl / 3);
    elements += static_cast<double>(d(r).nelements());
  }
  return elements;
}

}  // namespace contimg::bench
