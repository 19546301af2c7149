#pragma once
// The casacore half of MsWriter (io/ms/ms_writer.h): creates the MS with its
// storage managers and subtables and puts checked row blocks. casacore 3.5
// does not compile as C++20, so this half is one of the C++17 translation
// units (CMakeLists.txt, CONTIMG_CASACORE_SOURCES; docs/architecture.md) and
// this header stays C++17 and casacore-free. MsWriter (C++20) checks each
// RowBlock, derives FLAG as bool, FLAG_ROW, WEIGHT and SIGMA, and hands the
// buffers over as pointer and count.
#include <complex>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "io/ms/ms_layout.h"
#include "io/ms/ms_storage.h"

namespace contimg::ms::detail {

// A read-only view of caller memory (std::span is C++20).
template <typename T>
struct Values {
  const T* data = nullptr;
  std::size_t size = 0;
  bool empty() const { return size == 0; }
  const T& operator[](std::size_t i) const { return data[i]; }
  const T* begin() const { return data; }
  const T* end() const { return data + size; }
};

// One checked block of rows, as MsWriter::append puts it (RowBlock's fields;
// the derived ones filled in).
struct TableRows {
  std::int32_t data_desc_id = 0;
  std::size_t nrows = 0;
  Values<double> time_mjd_s;           // 1 or nrows
  Values<double> time_centroid_mjd_s;  // 1 or nrows (never empty)
  Values<std::int32_t> antenna1, antenna2;
  Values<std::int32_t> field_id;     // 1 or nrows
  Values<std::int32_t> scan_number;  // empty (= FIELD_ID + 1), 1 or nrows
  Values<double> uvw_m;              // nrows × 3
  Values<std::complex<float>> data;  // nrows × nchan × ncorr
  Values<bool> flags;                // as data
  Values<float> weight_spectrum;     // as data
  Values<float> weight, sigma;       // nrows × ncorr
  Values<bool> flag_row;             // nrows
  double interval_s = 0;             // resolved: > 0
  double exposure_s = 0;
};

class MsTableWriter {
 public:
  // Creates the MS at `path` (replacing a casacore table there when
  // `overwrite`) from a validated layout. IoError naming the path on failure.
  MsTableWriter(const std::filesystem::path& path, const MsLayout& layout,
                const StorageOptions& storage, bool overwrite);
  // release(): never throws.
  ~MsTableWriter();
  MsTableWriter(const MsTableWriter&) = delete;
  MsTableWriter& operator=(const MsTableWriter&) = delete;

  bool is_open() const;
  // Appends the rows after the last one. IoError when casacore fails: the
  // MS is then abandoned (removed) and the writer closed.
  void put(const TableRows& rows, std::uint64_t block_no);
  // Flushes without closing. IoError as put().
  void flush();
  // Sets OBSERVATION.TIME_RANGE (and FEED/SOURCE validity) to [start, end],
  // flushes, closes, and fsyncs when storage.sync_on_finish. IoError as put().
  void finish(double start_mjd_s, double end_mjd_s);
  // Closes without finishing (the MS stays, incomplete). Never throws.
  void close() noexcept;
  // The destructor's close: normal when the disk has room, else abandon.
  void release() noexcept;

  TileShape data_tile() const;
  TileShape flag_tile() const;
  TileShape weight_spectrum_tile() const;
  TileShape uvw_tile() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace contimg::ms::detail
