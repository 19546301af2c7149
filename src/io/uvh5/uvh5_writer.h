#pragma once
// Writing UVH5 files in the old-style DSA-110 layout (SPEC §2): the simulator
// writes groups with it, and tests and benchmarks make compressed or broken
// files with it. Rows can be written in blocks so full-size files stream.
#include <complex>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "io/uvh5/hdf5_handle.h"
#include "io/uvh5/uvh5_header.h"

namespace contimg::uvh5 {

enum class Compression { kNone, kGzip, kLzf, kBitshuffle };
Compression parse_compression(const std::string& name);  // none, gzip, lzf, bitshuffle
const char* to_string(Compression c);

struct WriteOptions {
  VisType vis_type = VisType::kFloat32;
  bool four_d = true;  // (Nblts, 1, Nfreqs, Npols) as DSA-110 writes; else 3-D
  Compression compression = Compression::kNone;
  int gzip_level = 4;
  std::uint64_t chunk_rows = 0;  // rows per chunk; 0 = contiguous (uncompressed only)
};

struct VisBlockConstView {
  std::span<const std::complex<float>> vis;
  std::span<const std::uint8_t> flags;
  std::span<const float> nsamples;
};

class Uvh5Writer {
 public:
  // Writes the Header group from `header` (which must have its arrays) and
  // creates the Data datasets. Throws IoError when the file cannot be written.
  Uvh5Writer(const std::filesystem::path& path, const Uvh5Header& header,
             const WriteOptions& options = {});

  // Rows [row0, row0 + n) from [row][channel][pol] buffers.
  void write_rows(std::uint64_t row0, std::uint64_t nrows, const VisBlockConstView& in);

  // Flushes and closes; further writes are errors. Called by the destructor.
  void close();
  ~Uvh5Writer();

 private:
  std::filesystem::path path_;
  std::uint64_t nblts_, nfreqs_, npols_;
  bool four_d_;
  H5Id file_, vis_, flags_, nsamples_;
};

}  // namespace contimg::uvh5
