#pragma once
// Writes a new Measurement Set (SPEC §4): creates the table and every
// subtable from an MsLayout, then appends rows in blocks from caller-owned
// buffers. Independent of UVH5: the converter feeds it.
//
//   MsWriter w(path, layout, storage);
//   for (each time, each SPW) w.append(block);
//   w.finish();                      // flush, fill derived values, close
//
// One MsWriter per MS, used from one thread (casacore tables are not
// thread-safe; DP3 likewise writes with a single writer thread). append()
// is synchronous: the block's buffers are only read during the call.
// RAII: the destructor closes the table if finish() was not called and never
// throws (the MS is then incomplete: callers write into a staging directory).
//
// A full disk is an IoError, never an abort: after a failed write the writer
// releases casacore's tables without writing to them again (marked for
// delete: the partial MS is removed) and the message says "No space left on
// device" when the filesystem is full. storage.reserve_bytes keeps room for
// casacore's final header writes (see StorageOptions).
#include <complex>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "io/ms/ms_layout.h"
#include "io/ms/ms_storage.h"

namespace contimg::ms {

// One block of rows for one data description (= SPW). Per-row arrays have
// nrows entries; "1 or nrows" arrays may give one value for all rows.
struct RowBlock {
  std::int32_t data_desc_id = 0;
  std::size_t nrows = 0;
  std::span<const double> time_mjd_s;           // 1 or nrows: TIME (centre of integration)
  std::span<const double> time_centroid_mjd_s;  // empty (= TIME), 1 or nrows
  std::span<const std::int32_t> antenna1;       // nrows, ANTENNA row indices
  std::span<const std::int32_t> antenna2;       // nrows
  std::span<const std::int32_t> field_id;       // 1 or nrows
  std::span<const std::int32_t> scan_number;    // empty (= FIELD_ID + 1), 1 or nrows
  std::span<const double> uvw_m;                // nrows × 3: [row][u, v, w]
  // [row][channel][correlation], nrows × nchan(SPW) × ncorr values each.
  std::span<const std::complex<float>> data;
  std::span<const std::uint8_t> flags;  // non-zero = flagged
  std::span<const float> weight_spectrum;
  // Optional, derived by the caller from the same spectra (e.g. in reader
  // threads, in parallel with the writer and while the spectra are still in
  // cache): WEIGHT and SIGMA (nrows × ncorr, as compute_weight_sigma gives
  // them) and FLAG_ROW (nrows, as compute_flag_row gives it). Empty: the
  // writer derives them. They are written as given.
  std::span<const float> weight, sigma;
  std::span<const bool> flag_row;
  double interval_s = 0;  // INTERVAL; 0: layout.integration_time_s
  double exposure_s = 0;  // EXPOSURE; 0: the interval
};

struct WriterStats {
  std::uint64_t rows = 0;
  std::uint64_t blocks = 0;
  std::uint64_t payload_bytes = 0;  // DATA + FLAG(bytes) + WEIGHT_SPECTRUM + UVW handed in
  double seconds_in_append = 0;     // wall time spent inside append()
  double seconds_in_finish = 0;
};

class MsWriter {
 public:
  // Creates the MS at `path` (which must not exist unless `overwrite`), with
  // all subtables filled from `layout`. Throws InputError for an invalid
  // layout and IoError (naming the path) when the table cannot be created.
  MsWriter(const std::filesystem::path& path, const MsLayout& layout,
           const StorageOptions& storage = {}, bool overwrite = false);
  ~MsWriter();
  MsWriter(const MsWriter&) = delete;
  MsWriter& operator=(const MsWriter&) = delete;
  MsWriter(MsWriter&&) noexcept;
  MsWriter& operator=(MsWriter&&) noexcept;

  // Appends block.nrows rows after the last written row (the table grows by
  // the whole block at once). Throws InputError (path, block number, what is
  // wrong) when a buffer has the wrong size or an id is out of range —
  // nothing is written then and the writer stays usable — and IoError when
  // casacore fails to write; the writer is closed then and the partial MS
  // removed.
  void append(const RowBlock& block);

  // Flushes everything, completes OBSERVATION.TIME_RANGE (and the FEED and
  // SOURCE validity intervals) when the layout left it 0, and closes the MS.
  // Throws InputError when layout.expected_rows is set and a different number
  // of rows was written, IoError on write failure. Calling it again does
  // nothing; append() after it is an error.
  void finish();

  // Flushes the table to disk without closing it (e.g. every N integrations).
  // On failure: IoError, and the writer is closed and the MS removed.
  void flush();

  std::uint64_t rows_written() const;
  const WriterStats& stats() const;
  const std::filesystem::path& path() const;
  // The tile shapes chosen for DATA (elements of complex<float>), FLAG,
  // WEIGHT_SPECTRUM and UVW (ncorr = 3, nchan = 1).
  TileShape data_tile() const;
  TileShape flag_tile() const;
  TileShape weight_spectrum_tile() const;
  TileShape uvw_tile() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace contimg::ms
