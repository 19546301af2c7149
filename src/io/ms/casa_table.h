#pragma once
// casacore-free access to a casacore table, for code compiled as C++20.
// casacore 3.5 (Debian bookworm) does not compile as C++20, so only the
// translation units listed in CMakeLists.txt's CONTIMG_CASACORE_SOURCES
// include casacore, and they are compiled as C++17 (docs/architecture.md).
// This header is one of theirs: keep it C++17 and free of casacore.
//
// Values are copied into std::vectors in casacore's memory order (first axis
// fastest: a DATA range is [row][chan][corr]); shapes are casacore's (first
// axis first). casacore's Bool is std::uint8_t here (0 or 1), String is
// std::string. Every casacore failure is a TableError carrying casacore's
// message: callers name the file and choose InputError or IoError.
#include <complex>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace contimg::ms {

class TableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Shape = std::vector<std::size_t>;

// An array cell, or a range of rows of a column (its shape ends with the rows).
template <typename T>
struct CellArray {
  Shape shape;
  std::vector<T> values;
  std::size_t size() const { return values.size(); }
  const T& operator[](std::size_t i) const { return values[i]; }
  const T& operator()(std::size_t i) const { return values[i]; }
  // Element (i, j) of a 2-D cell: i along the first axis (casacore's (i, j)).
  const T& operator()(std::size_t i, std::size_t j) const { return values[i + shape.at(0) * j]; }
};

// casacore's version ("3.5.0").
std::string casacore_version();

// One open casacore table. Copies share the open table (as casacore::Table
// objects do); the table closes when the last copy goes.
//
// Element types: double, float, std::int32_t, std::uint8_t (Bool),
// std::complex<float>, and std::string for the scalar and cell readers.
class CasaTable {
 public:
  enum class Mode { kRead, kUpdate };

  // Whether `path` holds a readable casacore table (false on any error).
  static bool is_readable(const std::string& path) noexcept;

  CasaTable();  // no table
  explicit CasaTable(const std::string& path, Mode mode = Mode::kRead);
  ~CasaTable();
  CasaTable(const CasaTable&);
  CasaTable& operator=(const CasaTable&);
  CasaTable(CasaTable&&) noexcept;
  CasaTable& operator=(CasaTable&&) noexcept;

  bool is_open() const { return impl_ != nullptr; }
  std::string name() const;
  std::uint64_t nrow() const;
  bool has_column(const std::string& column) const;
  std::vector<std::string> column_names() const;
  // A subtable held in a table keyword ("ANTENNA" of an MS).
  bool has_subtable(const std::string& keyword) const;
  CasaTable subtable(const std::string& keyword) const;
  // A numeric table keyword ("MS_VERSION") as double.
  double keyword_number(const std::string& keyword) const;
  // A string table keyword; `fallback` when absent.
  std::string keyword_string(const std::string& keyword, const std::string& fallback = "") const;
  // Defines a string table keyword, or removes it when `value` is empty
  // (kUpdate). Written at the next flush.
  void set_keyword_string(const std::string& keyword, const std::string& value);
  // A string in the column's keywords: `record` "" for a keyword of the
  // column itself, else the sub-record holding `field` (e.g. "MEASINFO",
  // "Ref"). `fallback` when absent.
  std::string column_keyword(const std::string& column, const std::string& record,
                             const std::string& field, const std::string& fallback) const;

  // A scalar cell, a whole scalar column, an array cell and its shape.
  template <typename T>
  T get(const std::string& column, std::uint64_t row) const;
  template <typename T>
  std::vector<T> get_column(const std::string& column) const;
  template <typename T>
  CellArray<T> get_cell(const std::string& column, std::uint64_t row) const;
  Shape cell_shape(const std::string& column, std::uint64_t row) const;
  // Whether the column's cells hold values (an optional column such as
  // WEIGHT_SPECTRUM can exist without any: casacore's hasContent of row 0).
  bool has_content(const std::string& column) const;

  // Rows [row0, row0 + nrows) of a scalar (shape {nrows}) or array column
  // (the cell shape, then nrows; all cells of the range must share a shape).
  template <typename T>
  CellArray<T> get_range(const std::string& column, std::uint64_t row0, std::uint64_t nrows) const;
  // get_range into the caller's memory, `shape` as get_range would give it
  // (the cell shape, then the rows) and `out` its product long: no copy for
  // the element types casacore shares (all but std::uint8_t).
  template <typename T>
  void get_range_into(const std::string& column, std::uint64_t row0, const Shape& shape,
                      T* out) const;
  // Writes rows [row0, row0 + shape.back()) of a column opened for update:
  // `shape` as get_range gives it, `values` its product long.
  template <typename T>
  void put_range(const std::string& column, std::uint64_t row0, const Shape& shape,
                 const T* values);

  // Adds the array column `column` of std::complex<float> (kUpdate) with the
  // shape, storage-manager kind and tile shape of the tiled column `like`
  // (TiledColumnStMan when `like` has a fixed shape, else TiledShapeStMan), and
  // a UNIT keyword: CORRECTED_DATA beside DATA.
  void add_complex_column_like(const std::string& column, const std::string& like,
                               const std::string& comment, const std::string& unit);

  // The rows sorted by `keys` (a reference table in memory), and a deep copy
  // (all values) into a new table at `path`.
  CasaTable sorted(const std::vector<std::string>& keys, bool descending = false) const;
  void deep_copy(const std::string& path) const;

  // io/ms/table_release.h's flush_or_throw and release_without_writing.
  void flush_or_throw(const std::string& what);
  void release_without_writing() noexcept;

  // The storage managers (casacore's dataManagerInfo).
  struct DataManager {
    std::string type, name;
    std::vector<std::string> columns;
  };
  std::vector<DataManager> data_managers() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace contimg::ms
