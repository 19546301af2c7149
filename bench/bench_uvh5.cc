// bench_uvh5: benchmark of the UVH5 reader (issue "foundation"; docs/perf.md).
//
// Generates DSA-110-sized subband files with Uvh5Writer in a work directory,
// then measures in ONE run (so that ratios compare like with like):
//   - header peek time per file (open + peek, kMetadata profile), warm and,
//     where /proc/sys/vm/drop_caches may be written, guest-cold;
//   - sequential block reads of visdata+flags+nsamples (chunk-aligned blocks,
//     ascending channels, as the converter reads) under the streaming and
//     standard profiles, against `cat FILE > /dev/null` and a plain read(2)
//     loop on the same file, and (gzip) against inflating the raw chunks;
//   - the chunk-cache effect on the gzip file with ~3 MiB visdata chunks:
//     strided and random single-row reads under the 1 MiB (metadata), 16 MiB
//     (standard), 64 MiB (random) and 0 (streaming) cache profiles, through
//     Uvh5File::read_rows and through a raw HDF5 dataset handle kept open;
//   - peak resident memory per phase.
// Prints a table and writes a JSON report (--json). Not a timed test.
//
// `bench_uvh5 --peek-only FILE [--reps N]` only peeks FILE N times, for
// instruction counts under `valgrind --tool=callgrind
// --toggle-collect='*bench_peek_once*'` (see bench/run_uvh5_bench.sh).
#include <fcntl.h>
#include <hdf5.h>
#include <spawn.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/build_info.h"
#include "common/process_stats.h"
#include "io/uvh5/cache_profile.h"
#include "io/uvh5/hdf5_handle.h"
#include "io/uvh5/uvh5_file.h"
#include "io/uvh5/uvh5_header.h"
#include "io/uvh5/uvh5_writer.h"

namespace {

namespace fs = std::filesystem;
using contimg::uvh5::CacheProfile;
using contimg::uvh5::CacheProfiles;
using contimg::uvh5::ChannelOrder;
using contimg::uvh5::Compression;
using contimg::uvh5::H5Id;
using contimg::uvh5::Uvh5File;
using contimg::uvh5::Uvh5Header;
using contimg::uvh5::Uvh5Writer;
using contimg::uvh5::VisBlockView;
using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
using cfloat = std::complex<float>;

constexpr double kF0Hz = 1498643188.4765625;  // sb00 channel 0 (SPEC §2)
constexpr double kDfHz = 244140.625;
constexpr double kIntegrationS = 12.884902;
constexpr std::uint64_t kGenBlockRows = 4096;  // data are a function of (row block, seed)
constexpr std::uint32_t kDataSeed = 110;
constexpr double kMB = 1e6;  // MB = 10^6 bytes throughout; cache sizes in MiB

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Stats {
  double median = 0, p90 = 0, min = 0, max = 0, mean = 0;
  std::size_t n = 0;
};

Stats stats_of(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.n = v.size();
  s.min = v.front();
  s.max = v.back();
  const std::size_t mid = v.size() / 2;
  s.median = v.size() % 2 ? v[mid] : 0.5 * (v[mid - 1] + v[mid]);
  // Nearest-rank percentile.
  const auto rank = static_cast<std::size_t>(std::ceil(0.9 * static_cast<double>(v.size())));
  s.p90 = v[std::max<std::size_t>(rank, 1) - 1];
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

Json to_json_ms(const Stats& s) {
  return Json{{"n", s.n},
              {"median_ms", s.median * 1e3},
              {"p90_ms", s.p90 * 1e3},
              {"min_ms", s.min * 1e3},
              {"max_ms", s.max * 1e3},
              {"mean_ms", s.mean * 1e3}};
}

double mib(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// ---- machine -----------------------------------------------------------------

std::string fs_type_name(const fs::path& p) {
  struct statfs sf {};
  if (statfs(p.c_str(), &sf) != 0) return "unknown";
  switch (static_cast<unsigned long>(sf.f_type)) {
    case 0xEF53: return "ext2/3/4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794C7630: return "overlayfs";
    case 0x6969: return "nfs";
    default: return fmt::format("0x{:x}", static_cast<unsigned long>(sf.f_type));
  }
}

std::string first_line_with(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      std::string v = colon == std::string::npos ? line : line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

// Writes 3 to /proc/sys/vm/drop_caches after a sync. False when not permitted.
bool drop_caches() {
  ::sync();
  std::ofstream out("/proc/sys/vm/drop_caches");
  if (!out) return false;
  out << "3\n";
  out.flush();
  return static_cast<bool>(out);
}

// ---- synthetic DSA-110 subband file -------------------------------------------

struct Dims {
  std::int64_t ntimes = 24;
  std::int64_t nants = 96;
  std::int64_t nants_telescope = 117;
  std::int64_t nfreqs = 48;
  std::int64_t npols = 2;
  std::int64_t nbls() const { return nants * (nants + 1) / 2; }  // autos included
  std::int64_t nblts() const { return ntimes * nbls(); }
  std::uint64_t elems_per_row() const { return static_cast<std::uint64_t>(nfreqs * npols); }
};

Uvh5Header make_header(const Dims& d, int subband) {
  Uvh5Header h;
  h.arrays_loaded = true;
  h.latitude_deg = 37.2314;
  h.longitude_deg = -118.2817;
  h.altitude_m = 1222.0;
  h.telescope_name = "OVRO_MMA";
  h.instrument = "DSA";
  h.object_name = "search";
  h.history = "bench_uvh5 synthetic subband file";
  h.phase_type = "drift";
  h.vis_units = "uncalib";
  h.nants_data = d.nants;
  h.nants_telescope = d.nants_telescope;
  h.nbls = d.nbls();
  h.nblts = d.nblts();
  h.nfreqs = d.nfreqs;
  h.npols = d.npols;
  h.nspws = 1;
  h.ntimes = d.ntimes;
  for (std::int64_t j = 0; j < d.nfreqs; ++j) {
    h.freq_hz.push_back(kF0Hz - static_cast<double>(48 * subband + j) * kDfHz);  // descending
  }
  h.channel_width_hz.assign(static_cast<std::size_t>(d.nfreqs), -kDfHz);
  h.spw = {0};
  h.polarization = {-5, -6};
  h.extra_keywords = {
      {"phase_center_dec", 0.7101}, {"ha_phase_center", 0.0}, {"phase_center_epoch", "HADEC"}};
  for (std::int64_t a = 0; a < d.nants_telescope; ++a) {
    h.antenna_names.push_back(std::to_string(a + 1));
    h.antenna_numbers.push_back(a);
    // A T-shaped array: an east-west arm and a north-south arm (ECEF offsets, m).
    const double x = a < 64 ? -1200.0 + 37.5 * static_cast<double>(a) : 0.0;
    const double y = a < 64 ? 0.0 : -800.0 + 30.0 * static_cast<double>(a - 64);
    h.antenna_positions.push_back({x * 0.3, x * 0.9 + y * 0.2, y * 0.8});
    h.antenna_diameters.push_back(4.65);
  }
  const double jd0 = 2460800.5 + static_cast<double>(subband) * 1.5 / 86400.0;
  for (std::int64_t t = 0; t < d.ntimes; ++t) {
    const double jd = jd0 + (static_cast<double>(t) + 0.5) * kIntegrationS / 86400.0;
    for (std::int64_t a1 = 0; a1 < d.nants; ++a1) {
      for (std::int64_t a2 = a1; a2 < d.nants; ++a2) {
        h.ant_1.push_back(a1);
        h.ant_2.push_back(a2);
        h.time_jd.push_back(jd);
        h.integration_time.push_back(kIntegrationS);
        const auto& p1 = h.antenna_positions[static_cast<std::size_t>(a1)];
        const auto& p2 = h.antenna_positions[static_cast<std::size_t>(a2)];
        h.uvw_m.push_back({p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]});
      }
    }
  }
  return h;
}

struct Block {
  std::vector<cfloat> vis;
  std::vector<std::uint8_t> flags;
  std::vector<float> nsamples;
};

// Rows [b * kGenBlockRows, ...) in file (descending-channel) order: float32
// gaussian noise (sigma 10), ~1.6% of samples flagged, nsamples 1.0.
void fill_block(const Dims& d, std::uint64_t b, std::uint64_t nrows, Block& out) {
  const std::uint64_t n = nrows * d.elems_per_row();
  out.vis.resize(n);
  out.flags.resize(n);
  out.nsamples.assign(n, 1.0f);
  std::mt19937 rng(kDataSeed * 1000003u + static_cast<std::uint32_t>(b));
  std::normal_distribution<float> gauss(0.0f, 10.0f);
  for (auto& v : out.vis) {
    const float re = gauss(rng);
    const float im = gauss(rng);
    v = {re, im};
  }
  std::uint64_t s = 0x9E3779B97F4A7C15ull * (b + 1);  // splitmix64
  for (auto& f : out.flags) {
    s += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    f = (z & 63u) == 0 ? 1 : 0;
  }
}

struct DataFile {
  std::string name;
  Compression compression = Compression::kNone;
  fs::path path;
  std::uint64_t bytes = 0;
  double write_s = 0;
  Uvh5Header header;  // peeked after writing
};

double write_data_file(const Dims& d, const fs::path& path, const contimg::uvh5::WriteOptions& o) {
  const auto t0 = Clock::now();
  const Uvh5Header h = make_header(d, 0);
  Uvh5Writer w(path, h, o);
  Block blk;
  const auto nblts = static_cast<std::uint64_t>(d.nblts());
  for (std::uint64_t row0 = 0, b = 0; row0 < nblts; row0 += kGenBlockRows, ++b) {
    const std::uint64_t n = std::min(kGenBlockRows, nblts - row0);
    fill_block(d, b, n, blk);
    w.write_rows(row0, n, {blk.vis, blk.flags, blk.nsamples});
  }
  w.close();
  return since(t0);
}

// Reads generation blocks back (as stored) and compares them bit for bit.
void verify_data_file(const Dims& d, const DataFile& f) {
  Uvh5File file(f.path, CacheProfile::kStandard);
  const Uvh5Header h = file.peek();
  const auto nblts = static_cast<std::uint64_t>(d.nblts());
  const std::uint64_t nblocks = (nblts + kGenBlockRows - 1) / kGenBlockRows;
  for (std::uint64_t b : {std::uint64_t{0}, nblocks / 2, nblocks - 1}) {
    const std::uint64_t row0 = b * kGenBlockRows;
    const std::uint64_t n = std::min(kGenBlockRows, nblts - row0);
    Block want, got;
    fill_block(d, b, n, want);
    got.vis.resize(want.vis.size());
    got.flags.resize(want.flags.size());
    got.nsamples.resize(want.nsamples.size());
    file.read_rows(h, row0, n, {got.vis, got.flags, got.nsamples}, ChannelOrder::kAsStored);
    if (std::memcmp(want.vis.data(), got.vis.data(), want.vis.size() * sizeof(cfloat)) != 0 ||
        want.flags != got.flags || want.nsamples != got.nsamples) {
      throw std::runtime_error(f.path.string() + ": data read back differ from data written");
    }
  }
}

// ---- peek --------------------------------------------------------------------

// Kept out of line so callgrind can count exactly this (--toggle-collect).
[[gnu::noinline]] std::int64_t bench_peek_once(const fs::path& p) {
  const Uvh5File f(p, CacheProfile::kMetadata);
  const Uvh5Header h = f.peek();
  return h.nblts;
}

std::vector<double> time_peeks(const fs::path& p, int reps) {
  for (int i = 0; i < 5; ++i) bench_peek_once(p);  // warm the page cache
  std::vector<double> t;
  t.reserve(static_cast<std::size_t>(reps));
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    if (bench_peek_once(p) <= 0) throw std::runtime_error("peek returned no rows");
    t.push_back(since(t0));
  }
  return t;
}

// ---- sequential reads --------------------------------------------------------

double time_cat(const fs::path& p) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::string arg0 = "cat", arg1 = p.string();
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  const auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawnp(&pid, "cat", &fa, nullptr, argv, environ) != 0) {
    throw std::runtime_error("cannot run cat");
  }
  int status = 0;
  waitpid(pid, &status, 0);
  const double s = since(t0);
  posix_spawn_file_actions_destroy(&fa);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("cat failed");
  return s;
}

double time_read_loop(const fs::path& p) {
  std::vector<char> buf(1 << 20);
  const auto t0 = Clock::now();
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + p.string());
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) throw std::runtime_error("read failed");
    if (n == 0) break;
  }
  ::close(fd);
  return since(t0);
}

// Open, peek and read every row in `block_rows` blocks, ascending channels.
double time_reader(const fs::path& p, CacheProfile profile, std::uint64_t block_rows,
                   double* checksum) {
  const auto t0 = Clock::now();
  const Uvh5File f(p, profile);
  const Uvh5Header h = f.peek();
  const std::uint64_t per_row = static_cast<std::uint64_t>(h.nfreqs * h.npols);
  Block b;
  b.vis.resize(block_rows * per_row);
  b.flags.resize(block_rows * per_row);
  b.nsamples.resize(block_rows * per_row);
  const auto nblts = static_cast<std::uint64_t>(h.nblts);
  double sum = 0;
  for (std::uint64_t row0 = 0; row0 < nblts; row0 += block_rows) {
    const std::uint64_t n = std::min(block_rows, nblts - row0);
    f.read_rows(h, row0, n, {b.vis, b.flags, b.nsamples}, ChannelOrder::kAscending);
    sum += static_cast<double>(b.vis[0].real()) + b.flags[0] + static_cast<double>(b.nsamples[0]);
  }
  const double s = since(t0);
  if (checksum) *checksum = sum;
  return s;
}

H5Id complex_mem_type() {
  H5Id t(H5Tcreate(H5T_COMPOUND, sizeof(cfloat)));
  H5Tinsert(t.get(), "r", 0, H5T_NATIVE_FLOAT);
  H5Tinsert(t.get(), "i", sizeof(float), H5T_NATIVE_FLOAT);
  return t;
}

// The same block reads with the raw HDF5 C API (no Uvh5File), channels as
// stored. `shaped_memspace` false: a 1-D memory dataspace of nrows*nf*np
// elements, as Uvh5File::read_selection uses; true: a memory dataspace of the
// file selection's own shape (nrows, 1, nf, np), which lets HDF5 map the
// memory selection onto chunks without visiting every element.
double time_raw_sequential(const fs::path& p, CacheProfile profile, std::uint64_t block_rows,
                           bool shaped_memspace) {
  const auto& c = CacheProfiles{}.get(profile);
  const auto t0 = Clock::now();
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_cache(fapl.get(), 0, c.slots, c.bytes, c.w0);
  H5Id file(H5Fopen(p.c_str(), H5F_ACC_RDONLY, fapl.get()));
  if (!file) throw std::runtime_error("cannot open " + p.string());
  struct Ds {
    H5Id ds, space, mem_type;
    std::vector<hsize_t> shape;
    std::vector<unsigned char> buf;
  };
  std::vector<Ds> sets;
  for (const char* name : {"Data/visdata", "Data/flags", "Data/nsamples"}) {
    Ds d;
    d.ds = H5Id(H5Dopen2(file.get(), name, H5P_DEFAULT));
    if (!d.ds) throw std::runtime_error(std::string("cannot open ") + name);
    d.space = H5Id(H5Dget_space(d.ds.get()));
    d.shape.resize(static_cast<std::size_t>(H5Sget_simple_extent_ndims(d.space.get())));
    H5Sget_simple_extent_dims(d.space.get(), d.shape.data(), nullptr);
    H5Id ft(H5Dget_type(d.ds.get()));
    if (H5Tget_class(ft.get()) == H5T_COMPOUND) {
      d.mem_type = complex_mem_type();
    } else if (H5Tget_class(ft.get()) == H5T_ENUM) {
      d.mem_type = H5Id(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND));
    } else {
      d.mem_type = H5Id(H5Tcopy(H5T_NATIVE_FLOAT));
    }
    hsize_t per_row = 1;
    for (std::size_t i = 1; i < d.shape.size(); ++i) per_row *= d.shape[i];
    d.buf.resize(block_rows * per_row * H5Tget_size(d.mem_type.get()));
    sets.push_back(std::move(d));
  }
  const hsize_t nblts = sets[0].shape[0];
  for (hsize_t row0 = 0; row0 < nblts; row0 += block_rows) {
    const hsize_t n = std::min<hsize_t>(block_rows, nblts - row0);
    for (auto& d : sets) {
      std::vector<hsize_t> start(d.shape.size(), 0), count = d.shape;
      start[0] = row0;
      count[0] = n;
      H5Sselect_hyperslab(d.space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                          nullptr);
      hsize_t total = 1;
      for (hsize_t x : count) total *= x;
      H5Id mem(shaped_memspace
                   ? H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr)
                   : H5Screate_simple(1, &total, nullptr));
      if (H5Dread(d.ds.get(), d.mem_type.get(), mem.get(), d.space.get(), H5P_DEFAULT,
                  d.buf.data()) < 0) {
        throw std::runtime_error("H5Dread failed: " + contimg::uvh5::take_hdf5_error_stack());
      }
    }
  }
  return since(t0);
}

struct RawChunks {
  std::vector<std::vector<unsigned char>> data;
  std::vector<std::size_t> out_bytes;  // uncompressed size of each
  std::size_t stored = 0, logical = 0;
};

// The raw (still compressed) chunks of one dataset, read with H5Dread_chunk.
RawChunks raw_chunks(const fs::path& p, const char* name) {
  RawChunks rc;
  H5Id file(H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  H5Id ds(H5Dopen2(file.get(), name, H5P_DEFAULT));
  if (!ds) throw std::runtime_error(std::string("cannot open ") + name);
  H5Id type(H5Dget_type(ds.get()));
  H5Id dcpl(H5Dget_create_plist(ds.get()));
  H5Id space(H5Dget_space(ds.get()));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> chunk(static_cast<std::size_t>(rank));
  H5Pget_chunk(dcpl.get(), rank, chunk.data());
  std::size_t chunk_bytes = H5Tget_size(type.get());
  for (hsize_t c : chunk) chunk_bytes *= c;
  hsize_t nchunks = 0;
  if (H5Dget_num_chunks(ds.get(), space.get(), &nchunks) < 0 || nchunks == 0) {
    throw std::runtime_error(std::string("no chunks in ") + name + ": " +
                             contimg::uvh5::take_hdf5_error_stack());
  }
  for (hsize_t i = 0; i < nchunks; ++i) {
    std::vector<hsize_t> offset(static_cast<std::size_t>(rank));
    unsigned mask = 0;
    haddr_t addr = 0;
    hsize_t size = 0;
    if (H5Dget_chunk_info(ds.get(), space.get(), i, offset.data(), &mask, &addr, &size) < 0) {
      throw std::runtime_error("H5Dget_chunk_info failed");
    }
    std::vector<unsigned char> buf(size);
    uint32_t mask32 = 0;
    if (H5Dread_chunk(ds.get(), H5P_DEFAULT, offset.data(), &mask32, buf.data()) < 0) {
      throw std::runtime_error("H5Dread_chunk failed");
    }
    rc.stored += size;
    rc.logical += chunk_bytes;
    rc.data.push_back(std::move(buf));
    rc.out_bytes.push_back(chunk_bytes);
  }
  return rc;
}

double time_inflate(const std::vector<RawChunks>& sets) {
  std::size_t cap = 0;
  for (const auto& s : sets) {
    for (std::size_t b : s.out_bytes) cap = std::max(cap, b);
  }
  std::vector<unsigned char> out(cap);
  const auto t0 = Clock::now();
  for (const auto& s : sets) {
    for (std::size_t i = 0; i < s.data.size(); ++i) {
      uLongf n = static_cast<uLongf>(cap);
      if (uncompress(out.data(), &n, s.data[i].data(), static_cast<uLong>(s.data[i].size())) !=
              Z_OK ||
          n != s.out_bytes[i]) {
        throw std::runtime_error("zlib uncompress of a raw chunk failed");
      }
    }
  }
  return since(t0);
}

// ---- chunk-cache effect ------------------------------------------------------

struct Pattern {
  std::string name, description;
  std::vector<std::uint64_t> rows;  // in read order
  std::uint64_t distinct_chunks = 0;
};

Pattern make_strided(std::uint64_t chunk_rows, std::uint64_t nblts, std::uint64_t nchunks_region,
                     std::size_t nreads) {
  Pattern p;
  p.name = "strided";
  // Start one chunk in when the file has room, so the region is not the file's start.
  const std::uint64_t row0 = nblts / chunk_rows > nchunks_region ? chunk_rows : 0;
  const std::uint64_t span = std::min(nchunks_region * chunk_rows, nblts - row0);
  const std::uint64_t stride = std::max<std::uint64_t>(1, span / nreads);
  for (std::uint64_t r = row0; r < row0 + span && p.rows.size() < nreads; r += stride)
    p.rows.push_back(r);
  std::set<std::uint64_t> chunks;
  for (auto r : p.rows) chunks.insert(r / chunk_rows);
  p.distinct_chunks = chunks.size();
  p.description = fmt::format("one row every {} rows over rows [{}, {}) ({} chunks of {} rows)",
                              stride, row0, row0 + span, p.distinct_chunks, chunk_rows);
  return p;
}

Pattern make_random(std::uint64_t chunk_rows, std::uint64_t nblts, std::uint64_t nchunks_window,
                    std::size_t nreads, std::uint32_t seed) {
  Pattern p;
  p.name = "random";
  const std::uint64_t span = std::min(nchunks_window * chunk_rows, nblts);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint64_t> pick(0, span - 1);
  for (std::size_t i = 0; i < nreads; ++i) p.rows.push_back(pick(rng));
  std::set<std::uint64_t> chunks;
  for (auto r : p.rows) chunks.insert(r / chunk_rows);
  p.distinct_chunks = chunks.size();
  p.description =
      fmt::format("{} uniformly random rows (seed {}) in rows [0, {}) ({} chunks of {} rows)",
                  nreads, seed, span, p.distinct_chunks, chunk_rows);
  return p;
}

// Single-row reads of visdata through the project's reader: one read_rows call per row.
double chunk_reads_uvh5file(const fs::path& p, CacheProfile profile, const Pattern& pat, double*) {
  const Uvh5File f(p, profile);
  const Uvh5Header h = f.peek();
  std::vector<cfloat> vis(static_cast<std::size_t>(h.nfreqs * h.npols));
  const VisBlockView view{vis, {}, {}};
  const auto t0 = Clock::now();
  for (auto r : pat.rows) f.read_rows(h, r, 1, view, ChannelOrder::kAscending);
  return since(t0);
}

struct RawDataset {
  H5Id file, ds, space, mem_type;
  std::vector<hsize_t> shape;
};

RawDataset open_raw(const fs::path& p, CacheProfile profile) {
  const auto& c = CacheProfiles{}.get(profile);
  RawDataset r;
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_cache(fapl.get(), 0, c.slots, c.bytes, c.w0);
  r.file = H5Id(H5Fopen(p.c_str(), H5F_ACC_RDONLY, fapl.get()));
  r.ds = H5Id(H5Dopen2(r.file.get(), "Data/visdata", H5P_DEFAULT));
  if (!r.ds) throw std::runtime_error("cannot open Data/visdata");
  r.space = H5Id(H5Dget_space(r.ds.get()));
  r.shape.resize(static_cast<std::size_t>(H5Sget_simple_extent_ndims(r.space.get())));
  H5Sget_simple_extent_dims(r.space.get(), r.shape.data(), nullptr);
  r.mem_type = complex_mem_type();
  return r;
}

// Single-row reads with one dataset handle kept open for all of them (as an
// h5py Dataset does): the chunk cache persists between reads.
// With `second_pass`, the same rows are read again on the same handle, and
// that time is stored there: the cost of reads whose chunks are all cached.
double chunk_reads_persistent(const fs::path& p, CacheProfile profile, const Pattern& pat,
                              double* second_pass) {
  RawDataset r = open_raw(p, profile);
  std::vector<hsize_t> start(r.shape.size(), 0), count = r.shape;
  count[0] = 1;
  hsize_t per_row = 1;
  for (std::size_t i = 1; i < r.shape.size(); ++i) per_row *= r.shape[i];
  H5Id mem(H5Screate_simple(1, &per_row, nullptr));
  std::vector<cfloat> vis(per_row);
  auto pass = [&] {
    const auto t0 = Clock::now();
    for (auto row : pat.rows) {
      start[0] = row;
      H5Sselect_hyperslab(r.space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                          nullptr);
      if (H5Dread(r.ds.get(), r.mem_type.get(), mem.get(), r.space.get(), H5P_DEFAULT, vis.data()) <
          0) {
        throw std::runtime_error("H5Dread failed: " + contimg::uvh5::take_hdf5_error_stack());
      }
    }
    return since(t0);
  };
  const double first = pass();
  if (second_pass) *second_pass = pass();
  return first;
}

// All rows of the pattern in ONE H5Dread (a union of row hyperslabs).
double chunk_reads_single_call(const fs::path& p, CacheProfile profile, const Pattern& pat,
                               double*) {
  RawDataset r = open_raw(p, profile);
  std::vector<std::uint64_t> rows = pat.rows;
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  std::vector<hsize_t> start(r.shape.size(), 0), count = r.shape;
  count[0] = 1;
  hsize_t per_row = 1;
  for (std::size_t i = 1; i < r.shape.size(); ++i) per_row *= r.shape[i];
  const hsize_t total = per_row * rows.size();
  std::vector<cfloat> vis(total);
  const auto t0 = Clock::now();
  bool first = true;
  for (auto row : rows) {
    start[0] = row;
    H5Sselect_hyperslab(r.space.get(), first ? H5S_SELECT_SET : H5S_SELECT_OR, start.data(),
                        nullptr, count.data(), nullptr);
    first = false;
  }
  H5Id mem(H5Screate_simple(1, &total, nullptr));
  if (H5Dread(r.ds.get(), r.mem_type.get(), mem.get(), r.space.get(), H5P_DEFAULT, vis.data()) <
      0) {
    throw std::runtime_error("H5Dread failed: " + contimg::uvh5::take_hdf5_error_stack());
  }
  return since(t0);
}

// ---- memory ------------------------------------------------------------------

struct Phase {
  bool reset_ok = false;
  void begin() { reset_ok = contimg::reset_peak_memory(); }
  double max_peak_mib = 0;
  Json end() {
    const auto m = contimg::sample_memory();
    max_peak_mib = std::max(max_peak_mib, mib(m.peak_rss_bytes));
    return Json{{"peak_rss_mib", mib(m.peak_rss_bytes)},
                {"rss_mib", mib(m.rss_bytes)},
                {"peak_is_per_phase", reset_ok}};
  }
};

// ---- main driver --------------------------------------------------------------

struct Options {
  fs::path workdir = "/tmp/contimg_bench_uvh5";
  fs::path json_out;
  bool small = false;
  bool reuse = false;
  bool cold = true;
  int peek_reps = 100;
  int seq_reps = 3;
  int cache_reads = 0;     // 0: 256 (full size) or 64 (--small)
  int uvh5file_reads = 0;  // 0: 64 (full size) or 32 (--small)
  std::uint64_t chunk_rows = 4096;
  int gzip_level = 4;
  std::string phases = "peek,seq,cache";
  std::string peek_only;
  int reps = 1;
  bool has(const char* phase) const { return phases.find(phase) != std::string::npos; }
};

int peek_only(const Options& o) {
  std::int64_t n = 0;
  for (int i = 0; i < o.reps; ++i) n += bench_peek_once(o.peek_only);
  fmt::print("peeked {} {} times ({} rows each)\n", o.peek_only, o.reps, n / std::max(o.reps, 1));
  return 0;
}

const char* profile_key(CacheProfile p) {
  switch (p) {
    case CacheProfile::kMetadata: return "metadata_1MiB";
    case CacheProfile::kStandard: return "standard_16MiB";
    case CacheProfile::kRandom: return "random_64MiB";
    case CacheProfile::kStreaming: return "streaming_0";
  }
  return "?";
}

int run(const Options& o) {
  const auto run_t0 = Clock::now();
  Json report;
  Dims d;
  if (o.small) d.ntimes = 4;
  const auto nblts = static_cast<std::uint64_t>(d.nblts());
  const std::uint64_t row_bytes_mem = d.elems_per_row() * (sizeof(cfloat) + 1 + sizeof(float));
  const std::uint64_t logical_bytes = nblts * row_bytes_mem;
  fs::create_directories(o.workdir);
  const bool on_shm = fs::weakly_canonical(o.workdir).string().rfind("/dev/shm", 0) == 0;

  report["benchmark"] = "bench_uvh5";
  report["machine"] = {
      {"nproc", std::thread::hardware_concurrency()},
      {"cpu", first_line_with("/proc/cpuinfo", "model name")},
      {"mem_total", first_line_with("/proc/meminfo", "MemTotal")},
      {"kernel", first_line_with("/proc/version", "Linux")},
      {"workdir", o.workdir.string()},
      {"workdir_fs", fs_type_name(o.workdir)},
      {"dev_shm_used", on_shm},
      {"hdf5", contimg::uvh5::hdf5_version()},
      {"build_type", contimg::build::kBuildType},
      {"compiler", contimg::build::kCompiler},
      {"loadavg_at_start", first_line_with("/proc/loadavg", "")},
  };
  report["config"] = {{"small", o.small},
                      {"nblts", nblts},
                      {"ntimes", d.ntimes},
                      {"nbls", d.nbls()},
                      {"nants_data", d.nants},
                      {"nfreqs", d.nfreqs},
                      {"npols", d.npols},
                      {"chunk_rows", o.chunk_rows},
                      {"visdata_chunk_bytes", o.chunk_rows * d.elems_per_row() * sizeof(cfloat)},
                      {"nsamples_chunk_bytes", o.chunk_rows * d.elems_per_row() * sizeof(float)},
                      {"flags_chunk_bytes", o.chunk_rows * d.elems_per_row()},
                      {"gzip_level", o.gzip_level},
                      {"logical_bytes", logical_bytes},
                      {"units", "MB = 1e6 bytes; cache sizes in MiB"}};

  fmt::print("bench_uvh5: {} rows x {} ch x {} pol ({:.1f} MB in memory) in {} ({})\n", nblts,
             d.nfreqs, d.npols, static_cast<double>(logical_bytes) / kMB, o.workdir.string(),
             fs_type_name(o.workdir));
  fmt::print("load average at start: {} (a shared machine: the numbers are noisy)\n",
             first_line_with("/proc/loadavg", ""));

  // -- generate -----------------------------------------------------------------
  Phase phase;
  phase.begin();
  std::vector<DataFile> files;
  auto add = [&](const std::string& name, Compression c) {
    DataFile f;
    f.name = name;
    f.compression = c;
    f.path = o.workdir / (name + ".hdf5");
    files.push_back(f);
  };
  add("none", Compression::kNone);
  add("gzip", Compression::kGzip);
  if (contimg::uvh5::filter_available(32000)) add("lzf", Compression::kLzf);
  if (contimg::uvh5::filter_available(32008)) add("bitshuffle", Compression::kBitshuffle);
  Json jfiles = Json::array();
  Json jskipped = Json::array();
  for (auto it = files.begin(); it != files.end();) {
    auto& f = *it;
    contimg::uvh5::WriteOptions wo;
    wo.compression = f.compression;
    wo.gzip_level = o.gzip_level;
    wo.chunk_rows = f.compression == Compression::kNone ? 0 : o.chunk_rows;
    bool reused = false;
    if (o.reuse && fs::exists(f.path)) {
      try {
        const auto h = Uvh5File(f.path, CacheProfile::kMetadata).peek();
        reused = static_cast<std::uint64_t>(h.nblts) == nblts &&
                 (wo.chunk_rows == 0
                      ? h.visdata.chunks.empty()
                      : !h.visdata.chunks.empty() && h.visdata.chunks[0] == wo.chunk_rows);
      } catch (const std::exception&) {
        reused = false;
      }
    }
    if (!reused) {
      try {
        f.write_s = write_data_file(d, f.path, wo);
      } catch (const std::exception& e) {
        // The optional filters may refuse data they cannot shrink (LZF does).
        if (f.compression == Compression::kNone || f.compression == Compression::kGzip) throw;
        fmt::print("  skipped {:<8} the writer failed: {}\n", f.name, e.what());
        jskipped.push_back({{"name", f.name}, {"error", e.what()}});
        fs::remove(f.path);
        it = files.erase(it);
        continue;
      }
    }
    verify_data_file(d, f);
    f.bytes = fs::file_size(f.path);
    f.header = Uvh5File(f.path, CacheProfile::kMetadata).peek();
    Json jf = {
        {"name", f.name},
        {"compression", contimg::uvh5::to_string(f.compression)},
        {"path", f.path.string()},
        {"file_bytes", f.bytes},
        {"visdata_chunks", f.header.visdata.chunks},
        {"visdata_stored_bytes", f.header.visdata.storage_bytes},
        {"flags_stored_bytes", f.header.flags.storage_bytes},
        {"nsamples_stored_bytes", f.header.nsamples.storage_bytes},
        {"file_over_logical", static_cast<double>(f.bytes) / static_cast<double>(logical_bytes)},
        {"verified", true},
        {"reused", reused}};
    if (!reused) {
      jf["write_s"] = f.write_s;
      jf["write_MBps_logical"] = static_cast<double>(logical_bytes) / kMB / f.write_s;
    }
    fmt::print("  wrote {:<10} {:8.1f} MB on disk ({:.3f} of logical){}\n", f.name,
               static_cast<double>(f.bytes) / kMB,
               static_cast<double>(f.bytes) / static_cast<double>(logical_bytes),
               reused ? " (reused)" : fmt::format(" in {:.2f} s", f.write_s));
    jfiles.push_back(jf);
    ++it;
  }
  // A simulated group: 16 files with the full-size header and unwritten
  // (unallocated) data datasets; a peek reads exactly what it reads in a full file.
  const fs::path group_dir = o.workdir / "group";
  fs::create_directories(group_dir);
  std::vector<fs::path> group;
  for (int sb = 0; sb < 16; ++sb) {
    const fs::path p = group_dir / fmt::format("2025-06-01T12:00:{:02}_sb{:02}.hdf5", sb % 4, sb);
    if (!(o.reuse && fs::exists(p))) {
      Uvh5Writer w(p, make_header(d, sb), {});
      w.close();
    }
    group.push_back(p);
  }
  report["files"] = jfiles;
  if (!jskipped.empty()) report["files_not_written"] = jskipped;
  report["memory"]["generate"] = phase.end();
  const DataFile& fnone = files[0];
  const DataFile& fgzip = files[1];

  // -- peek -----------------------------------------------------------------------
  bool can_drop = false;
  if (o.has("peek")) {
    phase.begin();
    Json jpeek;
    fmt::print("\npeek (open + peek, kMetadata profile, warm page cache, {} reps)\n", o.peek_reps);
    for (const auto* f : {&fnone, &fgzip}) {
      const Stats s = stats_of(time_peeks(f->path, o.peek_reps));
      jpeek["warm"][f->name] = to_json_ms(s);
      fmt::print("  {:<24} median {:6.3f} ms   p90 {:6.3f} ms   min {:6.3f} ms\n",
                 f->name + " file", s.median * 1e3, s.p90 * 1e3, s.min * 1e3);
    }
    {
      for (const auto& p : group) bench_peek_once(p);
      std::vector<double> per_file;
      const int rounds = std::max(5, o.peek_reps / 5);
      for (int r = 0; r < rounds; ++r) {
        const auto t0 = Clock::now();
        for (const auto& p : group) bench_peek_once(p);
        per_file.push_back(since(t0) / static_cast<double>(group.size()));
      }
      const Stats s = stats_of(per_file);
      jpeek["warm"]["group_of_16"] = to_json_ms(s);
      jpeek["warm"]["group_of_16"]["note"] =
          "per-file time of peeking all 16 files of a group, per round";
      fmt::print("  {:<24} median {:6.3f} ms/file (16 files, {} rounds)\n", "group of 16 (warm)",
                 s.median * 1e3, rounds);
    }
    can_drop = o.cold && drop_caches();
    report["machine"]["drop_caches_permitted"] = can_drop;
    if (can_drop) {
      std::vector<double> cold_per_file;
      for (int r = 0; r < 3; ++r) {
        drop_caches();
        const auto t0 = Clock::now();
        for (const auto& p : group) bench_peek_once(p);
        cold_per_file.push_back(since(t0) / static_cast<double>(group.size()));
      }
      const Stats s = stats_of(cold_per_file);
      jpeek["cold"]["group_of_16"] = to_json_ms(s);
      jpeek["cold"]["note"] =
          "after echo 3 > /proc/sys/vm/drop_caches in this VM (guest-cold; the host may still "
          "cache "
          "the block device)";
      fmt::print("  {:<24} median {:6.3f} ms/file (after drop_caches, 3 rounds)\n",
                 "group of 16 (cold)", s.median * 1e3);
    }
    report["peek"] = jpeek;
    report["memory"]["peek"] = phase.end();
  }

  // -- sequential -----------------------------------------------------------------
  if (!o.has("peek")) can_drop = o.cold && drop_caches();
  if (o.has("seq")) {
    phase.begin();
    Json jseq;
    const std::uint64_t block_rows = o.chunk_rows;
    jseq["block_rows"] = block_rows;
    jseq["what"] =
        "open + peek + read_rows of visdata+flags+nsamples in chunk-aligned blocks, "
        "ChannelOrder::kAscending; warm page cache; median of interleaved rounds";
    fmt::print(
        "\nsequential read, warm page cache, {}-row blocks, median of {} interleaved rounds\n",
        block_rows, o.seq_reps);
    fmt::print("  {:<11}{:>9} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>11}\n", "file", "disk MB",
               "cat ms", "read2 ms", "stream ms", "std ms", "stream/cat", "std/cat", "MB/s(mem)");
    for (const auto& f : files) {
      time_cat(f.path);  // warm
      std::vector<double> tc, tr, ts, td, t1d, tnd;
      double chk = 0, peak_stream = 0, peak_std = 0;
      // The peak resident memory of one reader pass (where the kernel lets the
      // high-water mark be reset; else it is the process peak so far).
      auto with_peak = [](double* peak, auto&& fn) {
        contimg::reset_peak_memory();
        const double t = fn();
        *peak = std::max(*peak, mib(contimg::sample_memory().peak_rss_bytes));
        return t;
      };
      for (int r = 0; r < o.seq_reps; ++r) {
        tc.push_back(time_cat(f.path));
        tr.push_back(time_read_loop(f.path));
        ts.push_back(with_peak(&peak_stream, [&] {
          return time_reader(f.path, CacheProfile::kStreaming, block_rows, &chk);
        }));
        td.push_back(with_peak(&peak_std, [&] {
          return time_reader(f.path, CacheProfile::kStandard, block_rows, &chk);
        }));
        // The raw 1-D variant reproduces the reader's own path: once is enough.
        if (r == 0)
          t1d.push_back(time_raw_sequential(f.path, CacheProfile::kStreaming, block_rows, false));
        tnd.push_back(time_raw_sequential(f.path, CacheProfile::kStreaming, block_rows, true));
      }
      const Stats sc = stats_of(tc), sr = stats_of(tr), ss = stats_of(ts), sd = stats_of(td);
      const Stats s1d = stats_of(t1d), snd = stats_of(tnd);
      const double disk_mb = static_cast<double>(f.bytes) / kMB;
      const double mem_mb = static_cast<double>(logical_bytes) / kMB;
      Json j = {{"file_MB", disk_mb},
                {"logical_MB", mem_mb},
                {"cat", to_json_ms(sc)},
                {"read_1MiB_loop", to_json_ms(sr)},
                {"reader_streaming", to_json_ms(ss)},
                {"reader_standard", to_json_ms(sd)},
                {"cat_MBps_file", disk_mb / sc.median},
                {"reader_streaming_MBps_file", disk_mb / ss.median},
                {"reader_standard_MBps_file", disk_mb / sd.median},
                {"reader_streaming_MBps_logical", mem_mb / ss.median},
                {"reader_standard_MBps_logical", mem_mb / sd.median},
                {"ratio_streaming_over_cat", ss.median / sc.median},
                {"ratio_standard_over_cat", sd.median / sc.median},
                {"ratio_streaming_over_read_loop", ss.median / sr.median},
                {"reader_streaming_peak_rss_mib", peak_stream},
                {"reader_standard_peak_rss_mib", peak_std},
                {"raw_hdf5_1d_memspace", to_json_ms(s1d)},
                {"raw_hdf5_shaped_memspace", to_json_ms(snd)},
                {"raw_hdf5_shaped_memspace_MBps_logical", mem_mb / snd.median},
                {"ratio_raw_shaped_over_cat", snd.median / sc.median},
                {"raw_note",
                 "raw HDF5 C API, streaming profile, channels as stored: 1-D memory dataspace (as "
                 "Uvh5File) vs memory dataspace shaped like the file selection"}};
      fmt::print("  {:<11}{:9.1f} {:9.1f} {:9.1f} {:10.1f} {:10.1f} {:9.2f}x {:8.2f}x {:11.0f}\n",
                 f.name, disk_mb, sc.median * 1e3, sr.median * 1e3, ss.median * 1e3,
                 sd.median * 1e3, ss.median / sc.median, sd.median / sc.median, mem_mb / ss.median);
      fmt::print(
          "  {:<11}raw HDF5 (streaming): 1-D memspace {:.1f} ms, shaped memspace {:.1f} ms "
          "({:.2f}x cat, {:.0f} MB/s mem); reader peak RSS {:.0f} / {:.0f} MiB\n",
          "", s1d.median * 1e3, snd.median * 1e3, snd.median / sc.median, mem_mb / snd.median,
          peak_stream, peak_std);
      if (f.compression == Compression::kGzip) {
        std::vector<RawChunks> sets;
        for (const char* n : {"Data/visdata", "Data/flags", "Data/nsamples"})
          sets.push_back(raw_chunks(f.path, n));
        std::size_t stored = 0, inflated = 0, vis_chunks = sets[0].data.size();
        for (const auto& s : sets) {
          stored += s.stored;
          inflated += s.logical;
        }
        std::vector<double> ti, tv;
        for (int r = 0; r < o.seq_reps; ++r) {
          ti.push_back(time_inflate(sets));
          tv.push_back(time_inflate({sets[0]}));
        }
        const Stats si = stats_of(ti), sv = stats_of(tv);
        j["inflate_bound"] = {
            {"what",
             "zlib uncompress() of every raw chunk (read beforehand with H5Dread_chunk), 1 thread"},
            {"stored_MB", static_cast<double>(stored) / kMB},
            {"inflated_MB", static_cast<double>(inflated) / kMB},
            {"time", to_json_ms(si)},
            {"MBps_out", static_cast<double>(inflated) / kMB / si.median},
            {"MBps_in", static_cast<double>(stored) / kMB / si.median},
            {"visdata_chunk_inflate_ms", sv.median * 1e3 / static_cast<double>(vis_chunks)},
            {"ratio_streaming_over_inflate", ss.median / si.median},
            {"ratio_standard_over_inflate", sd.median / si.median}};
        fmt::print(
            "  {:<11}inflate only (zlib, all raw chunks): {:.1f} ms = {:.0f} MB/s out; "
            "reader streaming / inflate = {:.2f}x; one visdata chunk = {:.2f} ms\n",
            "", si.median * 1e3, static_cast<double>(inflated) / kMB / si.median,
            ss.median / si.median, sv.median * 1e3 / static_cast<double>(vis_chunks));
      }
      jseq["warm"][f.name] = j;
    }
    if (can_drop) {
      Json jc;
      jc["note"] =
          "each measurement right after drop_caches (guest-cold; the host may still cache)";
      for (const auto* f : {&fnone, &fgzip}) {
        drop_caches();
        const double c = time_cat(f->path);
        drop_caches();
        const double s = time_reader(f->path, CacheProfile::kStreaming, block_rows, nullptr);
        drop_caches();
        const double t = time_reader(f->path, CacheProfile::kStandard, block_rows, nullptr);
        const double disk_mb = static_cast<double>(f->bytes) / kMB;
        jc[f->name] = {{"cat_ms", c * 1e3},
                       {"reader_streaming_ms", s * 1e3},
                       {"reader_standard_ms", t * 1e3},
                       {"cat_MBps_file", disk_mb / c},
                       {"reader_streaming_MBps_file", disk_mb / s},
                       {"ratio_streaming_over_cat", s / c},
                       {"ratio_standard_over_cat", t / c}};
        fmt::print(
            "  {:<11}cold: cat {:.1f} ms, streaming {:.1f} ms ({:.2f}x), standard {:.1f} ms "
            "({:.2f}x)\n",
            f->name, c * 1e3, s * 1e3, s / c, t * 1e3, t / c);
      }
      jseq["cold"] = jc;
    }
    report["sequential"] = jseq;
    report["memory"]["sequential"] = phase.end();
  }

  // -- chunk cache ------------------------------------------------------------------
  if (o.has("cache")) {
    phase.begin();
    Json jcc;
    const std::uint64_t nchunks = (nblts + o.chunk_rows - 1) / o.chunk_rows;
    const auto nreads =
        static_cast<std::size_t>(o.cache_reads > 0 ? o.cache_reads : (o.small ? 64 : 256));
    const std::size_t uvh5file_reads =
        static_cast<std::size_t>(o.uvh5file_reads > 0 ? o.uvh5file_reads : (o.small ? 32 : 64));
    std::vector<Pattern> patterns = {
        make_strided(o.chunk_rows, nblts, 4, nreads),
        make_random(o.chunk_rows, nblts, std::min<std::uint64_t>(16, nchunks), nreads, 20240601u)};
    const std::vector<CacheProfile> profiles = {CacheProfile::kMetadata, CacheProfile::kStandard,
                                                CacheProfile::kRandom, CacheProfile::kStreaming};
    jcc["file"] = fgzip.path.string();
    jcc["visdata_chunk_MiB"] = mib(o.chunk_rows * d.elems_per_row() * sizeof(cfloat));
    jcc["what"] =
        "single-row reads of Data/visdata only (96 complex64 = 768 B each). uvh5file: one "
        "Uvh5File::read_rows call per row (first uvh5file_reads rows of the pattern only); "
        "persistent_dataset: raw HDF5, one dataset handle open for all reads (as an h5py Dataset), "
        "second_pass = the same rows again on that handle; single_call: all rows of the pattern in "
        "one H5Dread. Times exclude opening the file. speedup_vs_1MiB compares profiles within one "
        "mode.";
    fmt::print(
        "\nchunk cache, gzip file, visdata chunk {:.2f} MiB, {} single-row reads per pattern\n",
        mib(o.chunk_rows * d.elems_per_row() * sizeof(cfloat)), nreads);
    using Fn = double (*)(const fs::path&, CacheProfile, const Pattern&, double*);
    const std::vector<std::pair<std::string, Fn>> modes = {
        {"persistent_dataset", &chunk_reads_persistent},
        {"uvh5file", &chunk_reads_uvh5file},
        {"single_call", &chunk_reads_single_call}};
    for (const auto& pat : patterns) {
      Json jp;
      jp["description"] = pat.description;
      jp["reads"] = pat.rows.size();
      jp["distinct_chunks"] = pat.distinct_chunks;
      jp["reads_per_chunk"] =
          static_cast<double>(pat.rows.size()) / static_cast<double>(pat.distinct_chunks);
      fmt::print("  {}: {}\n", pat.name, pat.description);
      fmt::print("    {:<20}{:>16}{:>7}{:>11}{:>10}{:>9}{:>10}\n", "mode", "profile", "reads",
                 "time ms", "ms/read", "reads/s", "speed-up");
      // Through Uvh5File every read costs the same under every profile (see
      // docs/perf.md), so that mode reads only a prefix of the pattern.
      Pattern prefix = pat;
      prefix.rows.resize(std::min(prefix.rows.size(), uvh5file_reads));
      jp["uvh5file_reads"] = prefix.rows.size();
      for (const auto& [mode, fn] : modes) {
        double base = 0;
        const Pattern& used = mode == "uvh5file" ? prefix : pat;
        for (CacheProfile prof : profiles) {
          time_cat(fgzip.path);  // keep the file in the page cache
          // A second pass over the same rows only where the cache can hold chunks
          // (at 1 MiB or 0 it would cost as much as the first, for nothing new).
          const bool second =
              mode == "persistent_dataset" && CacheProfiles{}.get(prof).bytes >= (16u << 20);
          double s2 = 0;
          const double s = fn(fgzip.path, prof, used, second ? &s2 : nullptr);
          if (prof == CacheProfile::kMetadata) base = s;
          const double n = static_cast<double>(used.rows.size());
          Json j = {{"cache_MiB", mib(CacheProfiles{}.get(prof).bytes)},
                    {"reads", used.rows.size()},
                    {"time_ms", s * 1e3},
                    {"ms_per_read", s * 1e3 / n},
                    {"reads_per_s", n / s},
                    {"speedup_vs_1MiB", base / s}};
          if (second) {
            j["second_pass"] = {{"time_ms", s2 * 1e3},
                                {"ms_per_read", s2 * 1e3 / n},
                                {"speedup_vs_1MiB_first_pass", base / s2}};
          }
          jp[mode][profile_key(prof)] = j;
          fmt::print(
              "    {:<20}{:>16}{:7}{:11.1f}{:10.3f}{:9.0f}{:9.1f}x{}\n", mode, profile_key(prof),
              used.rows.size(), s * 1e3, s * 1e3 / n, n / s, base / s,
              second ? fmt::format("   again: {:.3f} ms/read ({:.0f}x)", s2 * 1e3 / n, base / s2)
                     : std::string());
        }
      }
      jcc[pat.name] = jp;
    }
    report["chunk_cache"] = jcc;
    report["memory"]["chunk_cache"] = phase.end();
  }

  const auto m = contimg::sample_memory();
  const double process_peak = std::max(phase.max_peak_mib, mib(m.peak_rss_bytes));
  report["memory"]["process_peak_rss_mib"] = process_peak;
  std::string rss_line;
  for (const auto& [key, value] : report["memory"].items()) {
    if (value.is_object())
      rss_line += fmt::format(" {} {:.0f},", key, value["peak_rss_mib"].get<double>());
  }
  fmt::print("\npeak RSS per phase (MiB, per-phase reset {}):{} process {:.0f}\n",
             phase.reset_ok ? "worked" : "refused", rss_line, process_peak);

  report["machine"]["loadavg_at_end"] = first_line_with("/proc/loadavg", "");
  report["run_time_s"] = since(run_t0);
  fmt::print("benchmark run time {:.1f} s\n", since(run_t0));
  if (!o.json_out.empty()) {
    std::ofstream out(o.json_out);
    out << report.dump(2) << "\n";
    if (!out) throw std::runtime_error("cannot write " + o.json_out.string());
    fmt::print("JSON report: {}\n", o.json_out.string());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"UVH5 reader benchmark (docs/perf.md)"};
  app.add_option("--workdir", o.workdir, "directory for the generated files");
  app.add_option("--json", o.json_out, "write the JSON report here");
  app.add_flag("--small", o.small, "4 integrations instead of 24 (quick run)");
  app.add_flag("--reuse", o.reuse, "reuse data files already in the work directory");
  app.add_flag("!--no-cold", o.cold, "skip the drop_caches (cold) measurements");
  app.add_option("--peek-reps", o.peek_reps, "peek repetitions per file (>= 50)");
  app.add_option("--seq-reps", o.seq_reps, "rounds of sequential reads");
  app.add_option("--cache-reads", o.cache_reads, "single-row reads per chunk-cache pattern");
  app.add_option("--uvh5file-reads", o.uvh5file_reads,
                 "reads of each pattern through Uvh5File (a prefix of the pattern)");
  app.add_option("--chunk-rows", o.chunk_rows, "rows per chunk of the compressed files");
  app.add_option("--gzip-level", o.gzip_level, "gzip level of the gzip file");
  app.add_option("--phases", o.phases, "comma-separated subset of peek,seq,cache");
  app.add_option("--peek-only", o.peek_only, "only peek this file --reps times (for callgrind)");
  app.add_option("--reps", o.reps, "repetitions for --peek-only");
  CLI11_PARSE(app, argc, argv);
  try {
    contimg::uvh5::initialize_hdf5(contimg::build::kHdf5PluginDir);
    if (!o.peek_only.empty()) return peek_only(o);
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_uvh5: %s\n", e.what());
    return 1;
  }
}
