#pragma once
// Storage-manager layout of the main table (docs/ms-layout.md has the
// reasoning and the measurements). The choice is a pure function of the
// shapes so it is tested without a table:
//
// - DATA, FLAG and WEIGHT_SPECTRUM: TiledColumnStMan (TiledShapeStMan when the
//   SPWs differ in channel count), one hypercolumn each, tile
//   [ncorr, nchan, rows]: a tile always holds whole cells (all channels and
//   correlations of a row), because calibration and imaging both read whole
//   rows. `rows` divides the rows of one (time, data description) block when
//   that is known, so a block — what the converter writes at once and what a
//   per-SPW reader (calibration) reads at once — is exactly a whole number of
//   tiles: no tile is shared between two SPWs or two integrations.
// - UVW, WEIGHT, SIGMA: TiledColumnStMan [3 or ncorr, rows], rows chosen the
//   same way (a StandardStMan puts fixed-shape arrays row by row: slow).
// - Columns constant over a block (TIME, TIME_CENTROID, INTERVAL, EXPOSURE,
//   FIELD_ID, SCAN_NUMBER, DATA_DESC_ID, ARRAY_ID, OBSERVATION_ID,
//   PROCESSOR_ID, STATE_ID, FEED1, FEED2): IncrementalStMan (optional), and
//   the never-filled FLAG_CATEGORY.
// - ANTENNA1/2, FLAG_ROW: StandardStMan.
#include <cstddef>
#include <cstdint>

namespace contimg::ms {

struct StorageOptions {
  // Target tile size in bytes for the tiled columns (DP3's default: 1 MiB).
  std::size_t tile_target_bytes = 1 << 20;
  // Rows of one (time, data description) block, i.e. baselines per
  // integration (4656 for DSA-110). 0: unknown, tiles are not aligned.
  std::size_t block_rows = 0;
  // IncrementalStMan for the block-constant columns (else StandardStMan).
  bool incremental_for_constant_columns = true;
  // Bucket size of the StandardStMan (casacore's default is small; DP3 32 KiB).
  std::size_t standard_bucket_bytes = 32768;
  // fsync every file of the MS in finish(), after closing it (for staging
  // followed by a rename; casacore's own flush(true) leaves the storage
  // managers' files unsynced).
  bool sync_on_finish = false;
  // How the tiled storage managers do their file I/O while this writer has
  // the table open (casacore TSMOption; not stored in the table). Default,
  // Cache and Buffer measured alike; MMap 1.7x slower (docs/ms-layout.md).
  enum class TiledIo { kDefault, kCache, kBuffer, kMmap };
  TiledIo tiled_io = TiledIo::kDefault;
  // Put WEIGHT_SPECTRUM, WEIGHT, SIGMA and UVW from a second thread while
  // the writer's thread puts the other columns of the block. Safe because
  // each has a storage manager (and files) of its own, rows are only added
  // between blocks, and a put only reads the shared table state (lock
  // checks). docs/perf.md.
  bool parallel_column_puts = true;
  // Bytes set aside (a preallocated file inside the MS, removed by finish())
  // while the MS is written. casacore writes its headers through objects
  // whose destructors flush, and a failed write there is std::terminate: the
  // reserve is freed before the final flush and after a failed write, so that
  // those last writes find room on a full disk (issue 11, D4). 0: none.
  std::uint64_t reserve_bytes = 16u << 20;
  // With the row count known (MsLayout::expected_rows) and one cell shape,
  // allocate the tiled columns' files at their final size before the first
  // write (fallocate, FALLOC_FL_KEEP_SIZE), so that ext4 allocates their
  // blocks once instead of piecewise under the writeback (docs/perf.md
  // "Preallocated storage files"). Best effort: skipped where the filesystem
  // refuses; what is not written is released when the writer closes (finish()
  // or the destructor).
  bool preallocate = true;
};

// The reserve for an MS of about `ms_bytes`: storage.reserve_bytes, but no
// more than an eighth of the MS plus 128 KiB (what a small MS can have
// buffered, and room for every header), so that small disks stay usable.
inline std::uint64_t reserve_for(std::uint64_t ms_bytes, const StorageOptions& storage) {
  const std::uint64_t cap = ms_bytes / 8 + (128u << 10);
  return storage.reserve_bytes < cap ? storage.reserve_bytes : cap;
}

struct TileShape {
  std::size_t ncorr = 0;  // always the full correlation axis
  std::size_t nchan = 0;  // channels per tile (all, unless one cell exceeds the target)
  std::size_t rows = 0;   // rows per tile
  std::size_t bytes(std::size_t element_bits) const {
    return (ncorr * nchan * rows * element_bits + 7) / 8;
  }
};

// Rows per tile for rows of `row_bits` bits (element bits × cell size):
// - block_rows known: the largest divisor of block_rows whose tile fits
//   target_bytes — unless that divisor makes tiles smaller than a quarter of
//   min(target, one block) (a prime block size, say), in which case, and
//   when block_rows is 0, round(target / row size), at least 1.
// The result is never 0.
std::size_t choose_tile_rows(std::size_t row_bits, std::size_t target_bytes,
                             std::size_t block_rows);

// Tile of a [ncorr, nchan] cell column with `element_bits` per value
// (64 complex<float>, 32 float, 1 bool).
TileShape choose_cell_tile(std::size_t ncorr, std::size_t nchan, std::size_t element_bits,
                           const StorageOptions& options);

}  // namespace contimg::ms
