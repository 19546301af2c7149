// C++17 translation unit (CONTIMG_CASACORE_SOURCES): includes casacore.
#include "io/ms/casa_table.h"

#include <casacore/casa/Arrays/Array.h>
#include <casacore/casa/Arrays/IPosition.h>
#include <casacore/casa/Arrays/Slicer.h>
#include <casacore/casa/Arrays/Vector.h>
#include <casacore/casa/Containers/Block.h>
#include <casacore/casa/Containers/Record.h>
#include <casacore/casa/Exceptions/Error.h>
#include <casacore/casa/Utilities/Sort.h>
#include <casacore/casa/version.h>
#include <casacore/tables/DataMan/TiledColumnStMan.h>
#include <casacore/tables/DataMan/TiledShapeStMan.h>
#include <casacore/tables/DataMan/TiledStManAccessor.h>
#include <casacore/tables/Tables/ArrColDesc.h>
#include <casacore/tables/Tables/ArrayColumn.h>
#include <casacore/tables/Tables/ColumnDesc.h>
#include <casacore/tables/Tables/ScalarColumn.h>
#include <casacore/tables/Tables/Table.h>
#include <casacore/tables/Tables/TableColumn.h>
#include <casacore/tables/Tables/TableDesc.h>
#include <casacore/tables/Tables/TableRecord.h>

#include <algorithm>
#include <functional>
#include <type_traits>
#include <utility>

#include "io/ms/table_release.h"

namespace contimg::ms {
namespace cc = casacore;

struct CasaTable::Impl {
  cc::Table table;
};

namespace {

// Our element type -> casacore's.
template <typename T>
struct Casa {
  using type = T;
};
template <>
struct Casa<std::uint8_t> {
  using type = cc::Bool;
};
template <>
struct Casa<std::string> {
  using type = cc::String;
};
template <typename T>
using casa_t = typename Casa<T>::type;

static_assert(std::is_same_v<cc::Int, std::int32_t>);
static_assert(std::is_same_v<cc::Complex, std::complex<float>>);

// Runs `f`, turning a casacore exception into TableError.
template <typename F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const cc::AipsError& e) {
    throw TableError(e.what());
  }
}

// The open table (a template: CasaTable::Impl is private).
template <typename ImplPtr>
const cc::Table& table_of(const ImplPtr& impl) {
  if (!impl) throw TableError("no table is open");
  return impl->table;
}

Shape shape_of(const cc::IPosition& p) {
  Shape s(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) s[i] = static_cast<std::size_t>(p[i]);
  return s;
}

cc::IPosition ipos(const Shape& s) {
  cc::IPosition p(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) p[i] = static_cast<::ssize_t>(s[i]);
  return p;
}

template <typename T>
CellArray<T> copy_out(const cc::Array<casa_t<T>>& a) {
  CellArray<T> out;
  out.shape = shape_of(a.shape());
  out.values.resize(a.nelements());
  bool del = false;
  const casa_t<T>* p = a.getStorage(del);
  std::copy(p, p + a.nelements(), out.values.begin());
  a.freeStorage(p, del);
  return out;
}

cc::Slicer row_slicer(std::uint64_t row0, std::uint64_t nrows) {
  return cc::Slicer(cc::IPosition(1, static_cast<::ssize_t>(row0)),
                    cc::IPosition(1, static_cast<::ssize_t>(nrows)));
}

bool is_scalar(const cc::Table& t, const std::string& column) {
  return t.tableDesc().columnDesc(column).isScalar();
}

}  // namespace

std::string casacore_version() {
  return cc::getVersion();
}

bool CasaTable::is_readable(const std::string& path) noexcept {
  try {
    return cc::Table::isReadable(path);
  } catch (...) {
    return false;  // a table.dat casacore cannot parse: not a table
  }
}

CasaTable::CasaTable() = default;
CasaTable::CasaTable(const std::string& path, Mode mode) {
  impl_ = guarded([&] {
    auto impl = std::make_shared<Impl>();
    impl->table = cc::Table(path, mode == Mode::kUpdate ? cc::Table::Update : cc::Table::Old);
    return impl;
  });
}
CasaTable::~CasaTable() = default;
CasaTable::CasaTable(const CasaTable&) = default;
CasaTable& CasaTable::operator=(const CasaTable&) = default;
CasaTable::CasaTable(CasaTable&&) noexcept = default;
CasaTable& CasaTable::operator=(CasaTable&&) noexcept = default;

std::string CasaTable::name() const {
  return table_of(impl_).tableName();
}

std::uint64_t CasaTable::nrow() const {
  return guarded([&] { return static_cast<std::uint64_t>(table_of(impl_).nrow()); });
}

bool CasaTable::has_column(const std::string& column) const {
  return guarded([&] { return table_of(impl_).tableDesc().isColumn(column); });
}

std::vector<std::string> CasaTable::column_names() const {
  return guarded([&] {
    const cc::Vector<cc::String> names = table_of(impl_).tableDesc().columnNames();
    return std::vector<std::string>(names.begin(), names.end());
  });
}

bool CasaTable::has_subtable(const std::string& keyword) const {
  return guarded([&] {
    const cc::TableRecord& kw = table_of(impl_).keywordSet();
    return kw.isDefined(keyword) && kw.type(kw.fieldNumber(keyword)) == cc::TpTable;
  });
}

CasaTable CasaTable::subtable(const std::string& keyword) const {
  return guarded([&] {
    const cc::TableRecord& kw = table_of(impl_).keywordSet();
    if (!kw.isDefined(keyword))
      throw TableError(std::string(table_of(impl_).tableName()) + ": no " + keyword + " subtable");
    CasaTable sub;
    sub.impl_ = std::make_shared<Impl>();
    sub.impl_->table = kw.asTable(keyword);
    return sub;
  });
}

double CasaTable::keyword_number(const std::string& keyword) const {
  return guarded(
      [&] { return static_cast<double>(table_of(impl_).keywordSet().asDouble(keyword)); });
}

std::string CasaTable::keyword_string(const std::string& keyword,
                                      const std::string& fallback) const {
  return guarded([&]() -> std::string {
    const cc::TableRecord& kw = table_of(impl_).keywordSet();
    return kw.isDefined(keyword) ? std::string(kw.asString(keyword)) : fallback;
  });
}

void CasaTable::set_keyword_string(const std::string& keyword, const std::string& value) {
  guarded([&] {
    cc::Table t = table_of(impl_);  // shares the open table
    cc::TableRecord& kw = t.rwKeywordSet();
    if (value.empty()) {
      if (kw.isDefined(keyword)) kw.removeField(keyword);
    } else {
      kw.define(keyword, cc::String(value));
    }
  });
}

bool CasaTable::has_content(const std::string& column) const {
  return guarded([&] {
    const cc::Table& t = table_of(impl_);
    return t.nrow() > 0 && cc::TableColumn(t, column).hasContent(0);
  });
}

void CasaTable::add_complex_column_like(const std::string& column, const std::string& like,
                                        const std::string& comment, const std::string& unit) {
  guarded([&] {
    cc::Table t = table_of(impl_);
    const cc::ColumnDesc& desc = t.tableDesc().columnDesc(like);
    const cc::ROTiledStManAccessor acc(t, like, true);
    const cc::IPosition tile = acc.tileShape(0);
    cc::TableDesc td;
    const std::string manager = "Tiled" + column;
    if (desc.isFixedShape()) {
      td.addColumn(cc::ArrayColumnDesc<cc::Complex>(column, comment, desc.shape(),
                                                    cc::ColumnDesc::FixedShape));
      cc::TiledColumnStMan stman(manager, tile);
      t.addColumn(td, stman);
    } else {
      td.addColumn(
          cc::ArrayColumnDesc<cc::Complex>(column, comment, desc.ndim() > 0 ? desc.ndim() : 2));
      cc::TiledShapeStMan stman(manager, tile);
      t.addColumn(td, stman);
    }
    cc::TableColumn(t, column).rwKeywordSet().define("UNIT", cc::String(unit));
  });
}

std::string CasaTable::column_keyword(const std::string& column, const std::string& record,
                                      const std::string& field, const std::string& fallback) const {
  return guarded([&]() -> std::string {
    const cc::TableColumn col(table_of(impl_), column);
    const cc::TableRecord& kw = col.keywordSet();
    if (record.empty()) return kw.isDefined(field) ? std::string(kw.asString(field)) : fallback;
    if (!kw.isDefined(record)) return fallback;
    const cc::TableRecord& sub = kw.asRecord(record);
    return sub.isDefined(field) ? std::string(sub.asString(field)) : fallback;
  });
}

template <typename T>
T CasaTable::get(const std::string& column, std::uint64_t row) const {
  return guarded([&] {
    const cc::ScalarColumn<casa_t<T>> c(table_of(impl_), column);
    return static_cast<T>(c(static_cast<cc::rownr_t>(row)));
  });
}

template <typename T>
std::vector<T> CasaTable::get_column(const std::string& column) const {
  return guarded([&] {
    const cc::ScalarColumn<casa_t<T>> c(table_of(impl_), column);
    return copy_out<T>(c.getColumn()).values;
  });
}

template <typename T>
CellArray<T> CasaTable::get_cell(const std::string& column, std::uint64_t row) const {
  return guarded([&] {
    const cc::ArrayColumn<casa_t<T>> c(table_of(impl_), column);
    return copy_out<T>(c(static_cast<cc::rownr_t>(row)));
  });
}

Shape CasaTable::cell_shape(const std::string& column, std::uint64_t row) const {
  return guarded([&] {
    return shape_of(cc::TableColumn(table_of(impl_), column).shape(static_cast<cc::rownr_t>(row)));
  });
}

template <typename T>
CellArray<T> CasaTable::get_range(const std::string& column, std::uint64_t row0,
                                  std::uint64_t nrows) const {
  return guarded([&] {
    const cc::Table& t = table_of(impl_);
    if (is_scalar(t, column)) {
      const cc::ScalarColumn<casa_t<T>> c(t, column);
      return copy_out<T>(c.getColumnRange(row_slicer(row0, nrows)));
    }
    const cc::ArrayColumn<casa_t<T>> c(t, column);
    return copy_out<T>(c.getColumnRange(row_slicer(row0, nrows)));
  });
}

template <typename T>
void CasaTable::get_range_into(const std::string& column, std::uint64_t row0, const Shape& shape,
                               T* out) const {
  guarded([&] {
    const cc::Table& t = table_of(impl_);
    if (shape.empty()) throw TableError(column + ": get_range_into without a shape");
    const cc::Slicer rows = row_slicer(row0, shape.back());
    const bool scalar = is_scalar(t, column);
    if constexpr (std::is_same_v<casa_t<T>, T>) {
      cc::Array<T> a(ipos(shape), out, cc::SHARE);
      if (scalar) {
        cc::Vector<T> v(a);  // references a's storage: ours
        cc::ScalarColumn<T>(t, column).getColumnRange(rows, v);
      } else {
        cc::ArrayColumn<T>(t, column).getColumnRange(rows, a);
      }
    } else {
      cc::Array<casa_t<T>> a(ipos(shape));
      if (scalar) {
        cc::Vector<casa_t<T>> v(a);
        cc::ScalarColumn<casa_t<T>>(t, column).getColumnRange(rows, v);
      } else {
        cc::ArrayColumn<casa_t<T>>(t, column).getColumnRange(rows, a);
      }
      bool del = false;
      const casa_t<T>* p = a.getStorage(del);
      std::transform(p, p + a.nelements(), out,
                     [](const casa_t<T>& x) { return static_cast<T>(x); });
      a.freeStorage(p, del);
    }
  });
}

template <typename T>
void CasaTable::put_range(const std::string& column, std::uint64_t row0, const Shape& shape,
                          const T* values) {
  guarded([&] {
    const cc::Table& t = table_of(impl_);
    if (shape.empty()) throw TableError(column + ": put_range without a shape");
    cc::Array<casa_t<T>> a;
    if constexpr (std::is_same_v<casa_t<T>, T>) {
      // casacore only reads a put's array: share the caller's memory.
      a.takeStorage(ipos(shape), const_cast<T*>(values), cc::SHARE);
    } else {
      a.resize(ipos(shape));
      bool del = false;
      casa_t<T>* p = a.getStorage(del);
      std::transform(values, values + a.nelements(), p,
                     [](const T& x) { return static_cast<casa_t<T>>(x); });
      a.putStorage(p, del);
    }
    const cc::Slicer rows = row_slicer(row0, shape.back());
    if (is_scalar(t, column)) {
      cc::ScalarColumn<casa_t<T>> c(t, column);
      c.putColumnRange(rows, cc::Vector<casa_t<T>>(a));
    } else {
      cc::ArrayColumn<casa_t<T>> c(t, column);
      c.putColumnRange(rows, a);
    }
  });
}

CasaTable CasaTable::sorted(const std::vector<std::string>& keys, bool descending) const {
  return guarded([&] {
    cc::Block<cc::String> names(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) names[i] = keys[i];
    CasaTable out;
    out.impl_ = std::make_shared<Impl>();
    out.impl_->table =
        table_of(impl_).sort(names, descending ? cc::Sort::Descending : cc::Sort::Ascending);
    return out;
  });
}

void CasaTable::deep_copy(const std::string& path) const {
  guarded([&] { table_of(impl_).deepCopy(path, cc::Table::New, true); });
}

void CasaTable::flush_or_throw(const std::string& what) {
  if (!impl_) return;
  ms::flush_or_throw(impl_->table, what);
}

void CasaTable::release_without_writing() noexcept {
  if (impl_) ms::release_without_writing(impl_->table);
}

std::vector<CasaTable::DataManager> CasaTable::data_managers() const {
  return guarded([&] {
    std::vector<DataManager> out;
    const cc::Record dm = table_of(impl_).dataManagerInfo();
    for (cc::uInt i = 0; i < dm.nfields(); ++i) {
      const cc::Record& sub = dm.subRecord(i);
      DataManager m;
      m.type = sub.asString("TYPE");
      m.name = sub.asString("NAME");
      const cc::Vector<cc::String> cols = sub.asArrayString("COLUMNS");
      m.columns.assign(cols.begin(), cols.end());
      out.push_back(std::move(m));
    }
    return out;
  });
}

// The element types of the header's contract.
#define CONTIMG_CASA_TABLE_CELL(T)                                            \
  template T CasaTable::get<T>(const std::string&, std::uint64_t) const;      \
  template std::vector<T> CasaTable::get_column<T>(const std::string&) const; \
  template CellArray<T> CasaTable::get_cell<T>(const std::string&, std::uint64_t) const;
#define CONTIMG_CASA_TABLE_RANGE(T)                                                               \
  template CellArray<T> CasaTable::get_range<T>(const std::string&, std::uint64_t, std::uint64_t) \
      const;                                                                                      \
  template void CasaTable::get_range_into<T>(const std::string&, std::uint64_t, const Shape&, T*) \
      const;                                                                                      \
  template void CasaTable::put_range<T>(const std::string&, std::uint64_t, const Shape&, const T*);

CONTIMG_CASA_TABLE_CELL(double)
CONTIMG_CASA_TABLE_CELL(float)
CONTIMG_CASA_TABLE_CELL(std::int32_t)
CONTIMG_CASA_TABLE_CELL(std::uint8_t)
CONTIMG_CASA_TABLE_CELL(std::complex<float>)
CONTIMG_CASA_TABLE_CELL(std::string)
CONTIMG_CASA_TABLE_RANGE(double)
CONTIMG_CASA_TABLE_RANGE(float)
CONTIMG_CASA_TABLE_RANGE(std::int32_t)
CONTIMG_CASA_TABLE_RANGE(std::uint8_t)
CONTIMG_CASA_TABLE_RANGE(std::complex<float>)

}  // namespace contimg::ms
