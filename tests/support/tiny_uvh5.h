#pragma once
// Tiny DSA-110-shaped UVH5 files for tests: a few antennas (autocorrelations
// included), descending channels, XX/YY, time-major rows, deterministic data.
#include <complex>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "io/uvh5/uvh5_header.h"
#include "io/uvh5/uvh5_writer.h"

namespace contimg::test {

struct TinyData {
  std::vector<std::complex<float>> vis;
  std::vector<std::uint8_t> flags;
  std::vector<float> nsamples;
};

uvh5::Uvh5Header tiny_header(int nants = 4, int ntimes = 3, int nfreqs = 8, int npols = 2);

// Value of row r, stored channel c, pol p: distinct for every sample.
std::complex<float> tiny_vis(std::uint64_t r, std::uint64_t c, std::uint64_t p);
bool tiny_flag(std::uint64_t r, std::uint64_t c, std::uint64_t p);
float tiny_nsamples(std::uint64_t r, std::uint64_t c, std::uint64_t p);

TinyData tiny_data(const uvh5::Uvh5Header& h);

// Writes header + data; returns the path.
std::filesystem::path write_tiny(const std::filesystem::path& path, const uvh5::Uvh5Header& h,
                                 const uvh5::WriteOptions& options = {});

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace contimg::test
