#include "calibration/ms_access.h"

#include <casacore/casa/Arrays/Array.h>
#include <casacore/casa/Arrays/Slicer.h>
#include <casacore/casa/Arrays/Vector.h>
#include <casacore/casa/Exceptions/Error.h>
#include <casacore/tables/DataMan/TiledColumnStMan.h>
#include <casacore/tables/DataMan/TiledShapeStMan.h>
#include <casacore/tables/DataMan/TiledStManAccessor.h>
#include <casacore/tables/Tables/ArrColDesc.h>
#include <casacore/tables/Tables/ArrayColumn.h>
#include <casacore/tables/Tables/ScalarColumn.h>
#include <casacore/tables/Tables/Table.h>
#include <casacore/tables/Tables/TableDesc.h>
#include <casacore/tables/Tables/TableRecord.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/error.h"
#include "io/ms/table_release.h"

namespace contimg::calibration {
namespace cc = casacore;

struct MsVisibilities::Impl {
  cc::Table ms;
  MsMeta meta;
  bool writable = false;
  // Contiguous row runs of each SPW (the converter writes (integration, SPW)
  // blocks, so a SPW is 24 runs of 4656 rows).
  std::vector<std::vector<std::pair<cc::rownr_t, cc::rownr_t>>> runs;
  std::uint64_t bytes_read = 0, bytes_written = 0;

  std::string where() const { return meta.path.string(); }
  void require_column(const std::string& c) const {
    if (!ms.tableDesc().isColumn(c)) {
      throw InputError(fmt::format("{}: not usable for calibration: column {} is missing", where(), c));
    }
  }
};

namespace {

cc::Table open_subtable(const cc::Table& ms, const std::string& name, const std::string& where) {
  if (!ms.keywordSet().isDefined(name)) {
    throw InputError(fmt::format("{}: subtable {} is missing", where, name));
  }
  return ms.keywordSet().asTable(name);
}

template <typename T>
std::vector<T> to_vector(const cc::Vector<T>& v) {
  return std::vector<T>(v.begin(), v.end());
}
std::vector<std::string> to_vector(const cc::Vector<cc::String>& v) {
  return std::vector<std::string>(v.begin(), v.end());
}

}  // namespace

MsVisibilities::MsVisibilities(const std::filesystem::path& path, bool writable)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.meta.path = path;
  m.writable = writable;
  if (!std::filesystem::exists(path / "table.dat")) {
    throw InputError(fmt::format("{}: not a Measurement Set (no table.dat)", path.string()));
  }
  try {
    m.ms = cc::Table(path.string(), writable ? cc::Table::Update : cc::Table::Old);
    for (const char* c : {"DATA", "FLAG", "UVW", "ANTENNA1", "ANTENNA2", "TIME", "FIELD_ID", "DATA_DESC_ID"}) {
      m.require_column(c);
    }
    const auto ant = open_subtable(m.ms, "ANTENNA", m.where());
    m.meta.antenna_names = to_vector(cc::ScalarColumn<cc::String>(ant, "NAME").getColumn());
    const cc::ArrayColumn<double> pos(ant, "POSITION");
    for (cc::rownr_t r = 0; r < ant.nrow(); ++r) {
      const auto p = pos.get(r);
      m.meta.antenna_positions.push_back({p(cc::IPosition(1, 0)), p(cc::IPosition(1, 1)), p(cc::IPosition(1, 2))});
    }
    const auto spw = open_subtable(m.ms, "SPECTRAL_WINDOW", m.where());
    const cc::ArrayColumn<double> freq(spw, "CHAN_FREQ");
    for (cc::rownr_t r = 0; r < spw.nrow(); ++r) m.meta.chan_freq.push_back(to_vector(cc::Vector<double>(freq.get(r))));
    const auto dd = open_subtable(m.ms, "DATA_DESCRIPTION", m.where());
    const auto dd_spw = to_vector(cc::ScalarColumn<int>(dd, "SPECTRAL_WINDOW_ID").getColumn());
    const auto pol = open_subtable(m.ms, "POLARIZATION", m.where());
    m.meta.npol = pol.nrow() > 0 ? cc::ScalarColumn<int>(pol, "NUM_CORR")(0) : 0;
    const auto field = open_subtable(m.ms, "FIELD", m.where());
    m.meta.field_names = to_vector(cc::ScalarColumn<cc::String>(field, "NAME").getColumn());
    const cc::ArrayColumn<double> dir(field, "PHASE_DIR");
    for (cc::rownr_t r = 0; r < field.nrow(); ++r) {
      const auto d = dir.get(r);
      const std::vector<double> v(d.begin(), d.end());
      m.meta.field_dir.push_back({v.at(0), v.at(1)});
    }

    const auto ddid = cc::ScalarColumn<int>(m.ms, "DATA_DESC_ID").getColumn();
    const auto time = cc::ScalarColumn<double>(m.ms, "TIME").getColumn();
    m.bytes_read += ddid.size() * (sizeof(int) + sizeof(double));
    if (m.ms.nrow() == 0) throw InputError(m.where() + ": the MS has no rows");
    m.meta.time_first = *std::min_element(time.begin(), time.end());
    m.meta.time_last = *std::max_element(time.begin(), time.end());
    m.meta.interval = cc::ScalarColumn<double>(m.ms, "INTERVAL")(0);
    m.runs.assign(m.meta.chan_freq.size(), {});
    for (cc::rownr_t r = 0; r < ddid.size();) {
      cc::rownr_t e = r + 1;
      while (e < ddid.size() && ddid[e] == ddid[r]) ++e;
      if (ddid[r] < 0 || static_cast<std::size_t>(ddid[r]) >= dd_spw.size()) {
        throw InputError(fmt::format("{}: row {} has DATA_DESC_ID {} outside DATA_DESCRIPTION", m.where(), r, ddid[r]));
      }
      const int s = dd_spw[static_cast<std::size_t>(ddid[r])];
      if (s < 0 || static_cast<std::size_t>(s) >= m.runs.size()) {
        throw InputError(fmt::format("{}: DATA_DESCRIPTION points at SPW {} outside SPECTRAL_WINDOW", m.where(), s));
      }
      m.runs[static_cast<std::size_t>(s)].push_back({r, e - r});
      r = e;
    }
  } catch (const cc::AipsError& e) {
    throw InputError(fmt::format("{}: cannot read the MS: {}", path.string(), e.what()));
  }
}

// Closing a table opened for update rewrites its headers; on a full disk that
// write fails inside casacore's destructor (std::terminate, issue 11 D4).
// Writers flush where errors are caught (flush()); here, with no room left,
// the table is let go without writing.
MsVisibilities::~MsVisibilities() {
  if (impl_ && impl_->writable && !impl_->ms.isNull() &&
      ms::available_bytes(impl_->meta.path) < ms::kFlushHeadroomBytes) {
    ms::release_without_writing(impl_->ms);
  }
}

const MsMeta& MsVisibilities::meta() const { return impl_->meta; }

bool MsVisibilities::has_rows(int spw) const { return !impl_->runs.at(static_cast<std::size_t>(spw)).empty(); }

VisBlock MsVisibilities::read_spw(int spw, bool weights) {
  auto& m = *impl_;
  VisBlock b;
  b.spw = spw;
  b.nchan = m.meta.chan_freq.at(static_cast<std::size_t>(spw)).size();
  b.npol = static_cast<std::size_t>(m.meta.npol);
  for (const auto& run : m.runs.at(static_cast<std::size_t>(spw))) b.nrows += run.second;
  const std::size_t cell = b.nchan * b.npol;
  b.ant1.resize(b.nrows);
  b.ant2.resize(b.nrows);
  b.field.resize(b.nrows);
  b.time.resize(b.nrows);
  b.uvw.resize(b.nrows * 3);
  b.data.resize(b.nrows * cell);
  b.flag.resize(b.nrows * cell);
  if (weights) b.weight.assign(b.nrows * cell, 1.0f);
  const bool has_ws = weights && m.ms.tableDesc().isColumn("WEIGHT_SPECTRUM") &&
                      cc::ArrayColumn<float>(m.ms, "WEIGHT_SPECTRUM").hasContent();
  try {
    const cc::ScalarColumn<int> a1(m.ms, "ANTENNA1"), a2(m.ms, "ANTENNA2"), fid(m.ms, "FIELD_ID");
    const cc::ScalarColumn<double> tcol(m.ms, "TIME");
    const cc::ArrayColumn<cc::Complex> data(m.ms, "DATA");
    const cc::ArrayColumn<bool> flag(m.ms, "FLAG");
    const cc::ArrayColumn<double> uvw(m.ms, "UVW");
    std::size_t off = 0;
    for (const auto& [start, n] : m.runs[static_cast<std::size_t>(spw)]) {
      const cc::Slicer rows(cc::IPosition(1, static_cast<ssize_t>(start)), cc::IPosition(1, static_cast<ssize_t>(n)));
      const cc::IPosition shape(3, static_cast<ssize_t>(b.npol), static_cast<ssize_t>(b.nchan), static_cast<ssize_t>(n));
      cc::Vector<int> v1(cc::IPosition(1, static_cast<ssize_t>(n)), b.ant1.data() + off, cc::SHARE);
      a1.getColumnRange(rows, v1);
      cc::Vector<int> v2(cc::IPosition(1, static_cast<ssize_t>(n)), b.ant2.data() + off, cc::SHARE);
      a2.getColumnRange(rows, v2);
      cc::Vector<int> vf(cc::IPosition(1, static_cast<ssize_t>(n)), b.field.data() + off, cc::SHARE);
      fid.getColumnRange(rows, vf);
      cc::Vector<double> vt(cc::IPosition(1, static_cast<ssize_t>(n)), b.time.data() + off, cc::SHARE);
      tcol.getColumnRange(rows, vt);
      cc::Array<double> vu(cc::IPosition(2, 3, static_cast<ssize_t>(n)), b.uvw.data() + off * 3, cc::SHARE);
      uvw.getColumnRange(rows, vu);
      cc::Array<cc::Complex> vd(shape, b.data.data() + off * cell, cc::SHARE);
      data.getColumnRange(rows, vd);
      const auto fl = flag.getColumnRange(rows);
      std::transform(fl.begin(), fl.end(), b.flag.begin() + static_cast<std::ptrdiff_t>(off * cell),
                     [](bool f) { return static_cast<std::uint8_t>(f); });
      if (has_ws) {
        cc::Array<float> vw(shape, b.weight.data() + off * cell, cc::SHARE);
        cc::ArrayColumn<float>(m.ms, "WEIGHT_SPECTRUM").getColumnRange(rows, vw);
      } else if (weights && m.ms.tableDesc().isColumn("WEIGHT")) {
        const auto w = cc::ArrayColumn<float>(m.ms, "WEIGHT").getColumnRange(rows);
        const std::vector<float> wv(w.begin(), w.end());
        for (std::size_t r = 0; r < n; ++r) {
          for (std::size_t c = 0; c < b.nchan; ++c) {
            for (std::size_t p = 0; p < b.npol; ++p) b.weight[(off + r) * cell + c * b.npol + p] = wv[r * b.npol + p];
          }
        }
      }
      off += n;
    }
  } catch (const cc::AipsError& e) {
    throw InputError(fmt::format("{}: reading SPW {}: {}", m.where(), spw, e.what()));
  }
  m.bytes_read += b.nrows * (cell * (sizeof(std::complex<float>) + 1 + (has_ws ? sizeof(float) : 0)) + 3 * sizeof(double) + 3 * sizeof(int) + sizeof(double));
  return b;
}

void MsVisibilities::ensure_corrected_data() {
  auto& m = *impl_;
  if (!m.writable) throw InputError(m.where() + ": opened read-only, cannot add CORRECTED_DATA");
  if (m.ms.tableDesc().isColumn("CORRECTED_DATA")) return;
  try {
    const auto& dcol = m.ms.tableDesc().columnDesc("DATA");
    const cc::ROTiledStManAccessor acc(m.ms, "DATA", true);
    const cc::IPosition tile = acc.tileShape(0);
    if (dcol.isFixedShape()) {
      cc::TableDesc td;
      td.addColumn(cc::ArrayColumnDesc<cc::Complex>("CORRECTED_DATA", "corrected visibilities", dcol.shape(),
                                                    cc::ColumnDesc::FixedShape));
      cc::TiledColumnStMan stman("TiledCorrectedData", tile);
      m.ms.addColumn(td, stman);
    } else {
      cc::TableDesc td;
      td.addColumn(cc::ArrayColumnDesc<cc::Complex>("CORRECTED_DATA", "corrected visibilities", 2));
      cc::TiledShapeStMan stman("TiledCorrectedData", tile);
      m.ms.addColumn(td, stman);
    }
    cc::ArrayColumn<cc::Complex> cd(m.ms, "CORRECTED_DATA");
    cd.rwKeywordSet().define("UNIT", "Jy");
  } catch (const cc::AipsError& e) {
    const std::string note = ms::disk_full_note(m.meta.path, e.what());
    ms::release_without_writing(m.ms);
    throw IoError(fmt::format("{}: cannot add CORRECTED_DATA: {}{}", m.where(), e.what(), note));
  }
}

void MsVisibilities::write_corrected(const VisBlock& b) {
  auto& m = *impl_;
  const std::size_t cell = b.nchan * b.npol;
  try {
    cc::ArrayColumn<cc::Complex> cd(m.ms, "CORRECTED_DATA");
    cc::ArrayColumn<bool> flag(m.ms, "FLAG");
    std::size_t off = 0;
    for (const auto& [start, n] : m.runs.at(static_cast<std::size_t>(b.spw))) {
      const cc::Slicer rows(cc::IPosition(1, static_cast<ssize_t>(start)), cc::IPosition(1, static_cast<ssize_t>(n)));
      const cc::IPosition shape(3, static_cast<ssize_t>(b.npol), static_cast<ssize_t>(b.nchan), static_cast<ssize_t>(n));
      const cc::Array<cc::Complex> vd(shape, const_cast<cc::Complex*>(b.data.data() + off * cell), cc::SHARE);
      cd.putColumnRange(rows, vd);
      cc::Array<bool> fl(shape);
      std::transform(b.flag.begin() + static_cast<std::ptrdiff_t>(off * cell),
                     b.flag.begin() + static_cast<std::ptrdiff_t>((off + n) * cell), fl.begin(),
                     [](std::uint8_t f) { return f != 0; });
      flag.putColumnRange(rows, fl);
      off += n;
    }
  } catch (const cc::AipsError& e) {
    const std::string note = ms::disk_full_note(m.meta.path, e.what());
    ms::release_without_writing(m.ms);
    throw IoError(fmt::format("{}: writing CORRECTED_DATA of SPW {}: {}{}", m.where(), b.spw, e.what(), note));
  }
  m.bytes_written += b.nrows * cell * (sizeof(std::complex<float>) + 1);
}

void MsVisibilities::flush() { ms::flush_or_throw(impl_->ms, impl_->where()); }

namespace {
constexpr const char* kAppliedCalsetKeyword = "CONTIMG_APPLIED_CALSET";
}

std::string MsVisibilities::applied_calset() const {
  const auto& m = *impl_;
  if (!m.ms.tableDesc().isColumn("CORRECTED_DATA")) return {};
  const auto& kw = m.ms.keywordSet();
  return kw.isDefined(kAppliedCalsetKeyword) ? std::string(kw.asString(kAppliedCalsetKeyword)) : std::string();
}

void MsVisibilities::set_applied_calset(const std::string& calset_id) {
  auto& m = *impl_;
  if (!m.writable) throw InputError(m.where() + ": opened read-only, cannot record the applied set");
  try {
    auto& kw = m.ms.rwKeywordSet();
    if (calset_id.empty()) {
      if (kw.isDefined(kAppliedCalsetKeyword)) kw.removeField(kAppliedCalsetKeyword);
    } else {
      kw.define(kAppliedCalsetKeyword, calset_id);
    }
  } catch (const cc::AipsError& e) {
    ms::release_without_writing(m.ms);
    throw IoError(fmt::format("{}: recording the applied calibration set: {}", m.where(), e.what()));
  }
  ms::flush_or_throw(m.ms, m.where() + ": recording the applied calibration set");
}

std::uint64_t MsVisibilities::bytes_read() const { return impl_->bytes_read; }
std::uint64_t MsVisibilities::bytes_written() const { return impl_->bytes_written; }

}  // namespace contimg::calibration
