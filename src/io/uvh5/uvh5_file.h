#pragma once
// Reading one UVH5 file with the HDF5 C API: header peek, full header, and
// block reads of visibilities, flags and nsamples into caller-owned buffers.
#include <complex>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "io/uvh5/cache_profile.h"
#include "io/uvh5/hdf5_handle.h"
#include "io/uvh5/uvh5_header.h"

namespace contimg::uvh5 {

enum class ChannelOrder { kAsStored, kAscending };

// Caller-owned output of a block read, laid out [row][channel][pol]
// (the spectral-window axis of 4-D files is squeezed out). Each span must hold
// nrows * nfreqs * npols elements; an empty span skips that dataset.
struct VisBlockView {
  std::span<std::complex<float>> vis;
  std::span<std::uint8_t> flags;  // 0 or 1
  std::span<float> nsamples;
};

// Not for concurrent use: give each thread its own Uvh5File (HDF5 serialises
// calls anyway). The Data datasets stay open between reads so that the chunk
// cache of the chosen profile survives from one read to the next.
class Uvh5File {
 public:
  // Opens `path` read-only with the chunk cache of `profile`. Throws
  // InputError for a missing, non-HDF5 or truncated file.
  Uvh5File(const std::filesystem::path& path, CacheProfile profile,
           const CacheProfiles& profiles = {});

  const std::filesystem::path& path() const { return path_; }
  CacheProfile profile() const { return profile_; }
  const CacheSettings& cache() const { return cache_; }
  // The chunk cache HDF5 actually holds for this open file (read back from HDF5).
  CacheSettings applied_cache() const;

  // Scalars, per-channel arrays, time range, data layouts: no visibilities.
  Uvh5Header peek() const;
  // Everything, including per-row and per-antenna arrays.
  Uvh5Header read_header() const;
  // The same from a peek already made of this file (no second peek).
  Uvh5Header complete_header(Uvh5Header peeked) const;

  // Only the per-row arrays that say which row is which (baselines, times):
  // what a caller comparing files needs, without uvw or antenna tables.
  struct RowAxes {
    std::vector<std::int64_t> ant_1, ant_2;
    std::vector<double> time_jd;
  };
  RowAxes read_row_axes(const Uvh5Header& peeked) const;

  // Rows [row0, row0 + nrows) of the data datasets. Validates the datasets'
  // types and shapes against `header` first (InputError naming the dataset).
  void read_rows(const Uvh5Header& header, std::uint64_t row0, std::uint64_t nrows,
                 const VisBlockView& out, ChannelOrder order = ChannelOrder::kAsStored) const;

  // The rows whose time lies in the unique-time index range [t0, t1), in file
  // order; their indices are returned. `header` must be a full header.
  std::vector<std::uint64_t> read_times(const Uvh5Header& header, std::size_t t0, std::size_t t1,
                                        const VisBlockView& out,
                                        ChannelOrder order = ChannelOrder::kAsStored) const;

  // Runs of rows [start, start + count), read into consecutive output rows:
  // for callers that precompute a selection once and reuse it per file.
  using RowRuns = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
  void read_runs(const Uvh5Header& header, const RowRuns& runs, const VisBlockView& out,
                 ChannelOrder order = ChannelOrder::kAsStored) const;

  // Rows per chunk along the row axis of visdata (Nblts when contiguous):
  // streaming readers use multiples of it so every chunk is decompressed once.
  std::uint64_t chunk_rows(const Uvh5Header& header) const;

 private:
  void read_selection(const Uvh5Header& header, const RowRuns& runs, std::uint64_t nrows,
                      const VisBlockView& out, ChannelOrder order) const;

  enum class DataSet { kVis = 0, kFlags = 1, kNsamples = 2 };
  struct OpenDataset {
    H5Id dataset;
    H5Id mem_type;
  };
  // Opens (once) and type-checks a Data dataset; InputError on a wrong type.
  const OpenDataset& open_data(DataSet which) const;

  std::filesystem::path path_;
  CacheProfile profile_;
  CacheSettings cache_;
  H5Id file_;
  mutable OpenDataset data_[3];
};

// Sorted unique times (JD) of a full header, and each row's index into them.
struct TimeIndex {
  std::vector<double> times_jd;
  std::vector<std::uint32_t> row_time;
};
TimeIndex build_time_index(const Uvh5Header& header);

}  // namespace contimg::uvh5
