// ms_write_bench: benchmark of the Measurement Set writer (docs/ms-layout.md).
//
// Writes a DSA-110-shaped MS with MsWriter — nspw SPWs x ntimes integrations
// x nbl baselines (autocorrelations included) x nchan x 2 correlations, rows
// time-major, one append() per (integration, SPW) as the converter does —
// and measures in ONE run:
//   - write wall time (create + append + finish), MB/s of the MS on disk and
//     of the payload, peak resident memory of the write;
//   - `cp` of a file of the same size on the same filesystem (and, with
//     --sync, `cp` + `sync FILE` against an MS fsynced by finish()), the
//     SPEC §12 yardstick;
//   - with --read, the layout's effect on readers: the whole main table in row
//     order (imaging), one SPW over all integrations (calibration per SPW),
//     one baseline of one SPW over all integrations, cell by cell
//     (calibration per baseline); time and bytes requested from the files
//     (rchar), optionally guest-cold (--cold: drops the page cache; root).
// Storage variants: --tile-kib, --block-rows (0 = unaligned tiles),
// --ssm-only (no IncrementalStMan). Prints key=value lines and, with --json,
// a JSON report. Not a timed test.
#include "io/ms/ms_writer.h"

#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/process_stats.h"
#include "ms_read_paths.h"

namespace {

namespace fs = std::filesystem;
using contimg::ms::MsLayout;
using contimg::ms::MsWriter;
using contimg::ms::RowBlock;
using contimg::ms::StorageOptions;
using Clock = std::chrono::steady_clock;

struct Options {
  fs::path dir = "/tmp/ms_write_bench";
  int nspw = 16, ntimes = 24, nbl = 4656, nchan = 48, nant = 117;
  std::size_t tile_kib = 1024;
  long block_rows = -1;  // -1: nbl
  std::string tiled_io = "default";
  bool ssm_only = false, sync = false, cp = false, read = false, cold = false, keep = false;
  std::string json;
};

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::uint64_t proc_io(const char* key) {
  std::ifstream f("/proc/self/io");
  std::string k;
  std::uint64_t v = 0;
  while (f >> k >> v) {
    if (k == std::string(key) + ":") return v;
  }
  return 0;
}

std::uint64_t tree_bytes(const fs::path& p) {
  std::uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(p)) {
    if (e.is_regular_file()) n += e.file_size();
  }
  return n;
}

bool drop_caches() {
  ::sync();
  std::ofstream f("/proc/sys/vm/drop_caches");
  if (!f) return false;
  f << "3\n";
  return static_cast<bool>(f.flush());
}

double run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const auto t0 = Clock::now();
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  const double s = since(t0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? s : -1;
}

MsLayout layout(const Options& o) {
  MsLayout l;
  for (int a = 0; a < o.nant; ++a) {
    contimg::ms::AntennaInfo ai;
    ai.name = std::to_string(a + 1);
    ai.station = "DSA-" + std::to_string(a + 1);
    ai.itrf_m = {-2409150.0 + a * 10.0, -4478573.0 + a * 3.0, 3838617.0 - a * 2.0};
    l.antennas.push_back(ai);
  }
  for (int s = 0; s < o.nspw; ++s) {
    contimg::ms::SpectralWindowInfo w;
    w.name = "sb" + std::to_string(o.nspw - 1 - s);
    for (int c = 0; c < o.nchan; ++c) {
      w.chan_freq_hz.push_back(1311.387e6 + (s * o.nchan + c) * 244140.625);
      w.chan_width_hz.push_back(244140.625);
    }
    l.spectral_windows.push_back(w);
  }
  for (int t = 0; t < o.ntimes; ++t) {
    l.fields.push_back({"meridian_icrs_t" + std::to_string(t), "", 1.0 + t * 1e-3, 0.28, 5.184e9 + t * 12.884902});
  }
  l.integration_time_s = 12.884902;
  l.expected_rows = static_cast<std::uint64_t>(o.nspw) * o.ntimes * o.nbl;
  return l;
}

struct Block {
  std::vector<std::int32_t> a1, a2;
  std::vector<double> uvw;
  std::vector<std::complex<float>> data;
  std::vector<std::uint8_t> flags;
  std::vector<float> weights;
};

Block make_block(const Options& o, int spw) {
  Block b;
  std::mt19937 rng(1234 + spw);
  std::normal_distribution<float> g(0.0f, 1.0f);
  int i = 0, j = 0;
  for (int r = 0; r < o.nbl; ++r) {
    b.a1.push_back(i % o.nant);
    b.a2.push_back(j % o.nant);
    if (++j >= 96) j = ++i;
    for (int k = 0; k < 3; ++k) b.uvw.push_back(g(rng) * 1000.0);
  }
  const std::size_t n = static_cast<std::size_t>(o.nbl) * o.nchan * 2;
  b.data.resize(n);
  b.flags.resize(n);
  b.weights.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    b.data[k] = {g(rng), g(rng)};
    b.flags[k] = (k % 97) == 0;
    b.weights[k] = 1.0f;
  }
  return b;
}

// Bytes per visibility sample read: DATA (8) + WEIGHT_SPECTRUM (4) + FLAG (1 bit).
constexpr double kCellBytes = 8.0 + 4.0 + 1.0 / 8.0;

struct ReadResult {
  double seconds = 0;
  double mb_requested = 0;
  double mb_disk = 0;
  double mb_needed = 0;
};

template <typename F>
ReadResult measure_read(const Options& o, F&& body) {
  if (o.cold) drop_caches();
  const std::uint64_t r0 = proc_io("rchar"), d0 = proc_io("read_bytes");
  const auto t0 = Clock::now();
  ReadResult res;
  res.mb_needed = body() / 1e6;
  res.seconds = since(t0);
  res.mb_requested = static_cast<double>(proc_io("rchar") - r0) / 1e6;
  res.mb_disk = static_cast<double>(proc_io("read_bytes") - d0) / 1e6;
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--dir") o.dir = next();
    else if (a == "--nspw") o.nspw = std::stoi(next());
    else if (a == "--ntimes") o.ntimes = std::stoi(next());
    else if (a == "--nbl") o.nbl = std::stoi(next());
    else if (a == "--nchan") o.nchan = std::stoi(next());
    else if (a == "--tile-kib") o.tile_kib = std::stoul(next());
    else if (a == "--block-rows") o.block_rows = std::stol(next());
    else if (a == "--ssm-only") o.ssm_only = true;
    else if (a == "--tiled-io") o.tiled_io = next();
    else if (a == "--sync") o.sync = true;
    else if (a == "--cp") o.cp = true;
    else if (a == "--read") o.read = true;
    else if (a == "--cold") o.cold = true;
    else if (a == "--keep") o.keep = true;
    else if (a == "--json") o.json = next();
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  fs::create_directories(o.dir);
  const fs::path ms = o.dir / "bench.ms";
  fs::remove_all(ms);

  std::vector<Block> blocks;
  for (int s = 0; s < o.nspw; ++s) blocks.push_back(make_block(o, s));
  StorageOptions storage;
  storage.tile_target_bytes = o.tile_kib * 1024;
  storage.block_rows = o.block_rows < 0 ? static_cast<std::size_t>(o.nbl) : static_cast<std::size_t>(o.block_rows);
  storage.incremental_for_constant_columns = !o.ssm_only;
  storage.sync_on_finish = o.sync;
  using TiledIo = StorageOptions::TiledIo;
  storage.tiled_io = o.tiled_io == "cache"    ? TiledIo::kCache
                     : o.tiled_io == "buffer" ? TiledIo::kBuffer
                     : o.tiled_io == "mmap"   ? TiledIo::kMmap
                                              : TiledIo::kDefault;

  contimg::reset_peak_memory();
  const std::uint64_t rss_before = contimg::sample_memory().rss_bytes;
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  double append_s = 0, finish_s = 0, create_s = 0;
  std::uint64_t payload = 0;
  contimg::ms::TileShape data_tile;
  {
    MsWriter w(ms, layout(o), storage);
    create_s = since(t0);
    data_tile = w.data_tile();
    for (int t = 0; t < o.ntimes; ++t) {
      const double time = 5.184e9 + t * 12.884902;
      const std::int32_t field = t;
      for (int s = 0; s < o.nspw; ++s) {
        const Block& b = blocks[static_cast<std::size_t>(s)];
        RowBlock rb;
        rb.data_desc_id = s;
        rb.nrows = static_cast<std::size_t>(o.nbl);
        rb.time_mjd_s = {&time, 1};
        rb.field_id = {&field, 1};
        rb.antenna1 = b.a1;
        rb.antenna2 = b.a2;
        rb.uvw_m = b.uvw;
        rb.data = b.data;
        rb.flags = b.flags;
        rb.weight_spectrum = b.weights;
        w.append(rb);
      }
    }
    w.finish();
    append_s = w.stats().seconds_in_append;
    finish_s = w.stats().seconds_in_finish;
    payload = w.stats().payload_bytes;
  }
  const double write_s = since(t0);
  const double write_cpu_s = cpu_seconds() - cpu0;
  const auto mem = contimg::sample_memory();
  const std::uint64_t ms_bytes = tree_bytes(ms);
  const std::uint64_t rows = static_cast<std::uint64_t>(o.nspw) * o.ntimes * o.nbl;

  std::printf("rows=%llu nspw=%d ntimes=%d nbl=%d nchan=%d tile_kib=%zu block_rows=%zu data_tile_rows=%zu "
              "ism=%d sync=%d\n",
              static_cast<unsigned long long>(rows), o.nspw, o.ntimes, o.nbl, o.nchan, o.tile_kib,
              storage.block_rows, data_tile.rows, !o.ssm_only, o.sync);
  std::printf("write_cpu_s=%.3f ", write_cpu_s);
  std::printf("write_s=%.3f create_s=%.3f append_s=%.3f finish_s=%.3f ms_MB=%.1f payload_MB=%.1f "
              "ms_MB/s=%.1f peak_rss_MB=%.1f rss_before_MB=%.1f\n",
              write_s, create_s, append_s, finish_s, ms_bytes / 1e6, payload / 1e6, ms_bytes / 1e6 / write_s,
              mem.peak_rss_bytes / 1e6, rss_before / 1e6);

  double cp_s = -1, cp_fsync_s = -1;
  if (o.cp) {
    const fs::path src = o.dir / "cp_src.bin", dst = o.dir / "cp_dst.bin";
    {
      std::vector<char> buf(8 << 20);
      std::mt19937 rng(7);
      for (auto& c : buf) c = static_cast<char>(rng());
      std::ofstream f(src, std::ios::binary);
      for (std::uint64_t left = ms_bytes; left > 0;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
        f.write(buf.data(), static_cast<std::streamsize>(n));
        left -= n;
      }
    }
    ::sync();
    fs::remove(dst);
    cp_s = run({"cp", src.string(), dst.string()});
    if (o.sync) {
      fs::remove(dst);
      ::sync();
      const double copy_s = run({"cp", src.string(), dst.string()});
      const double sync_s = run({"sync", dst.string()});  // fsync of the copy
      cp_fsync_s = copy_s < 0 || sync_s < 0 ? -1 : copy_s + sync_s;
    }
    fs::remove(src);
    fs::remove(dst);
    std::printf("cp_s=%.3f cp_MB/s=%.1f write/cp=%.2f", cp_s, ms_bytes / 1e6 / cp_s, write_s / cp_s);
    if (o.sync) std::printf(" cp_fsync_s=%.3f write/cp_fsync=%.2f", cp_fsync_s, write_s / cp_fsync_s);
    std::printf("\n");
  }

  ReadResult all, spw, baseline;
  if (o.read) {
    namespace bench = contimg::bench;
    all = measure_read(o, [&] { return bench::read_all_blocks(ms.string(), o.nbl) * kCellBytes; });
    const int the_spw = o.nspw / 2;
    spw = measure_read(o, [&] {
      return bench::read_spw_blocks(ms.string(), o.ntimes, o.nspw, the_spw, o.nbl) * kCellBytes;
    });
    baseline = measure_read(o, [&] {
      return bench::read_baseline_cells(ms.string(), o.ntimes, o.nspw, the_spw, o.nbl) * 8.0;
    });
    const auto show = [](const char* name, const ReadResult& r) {
      std::printf("read_%s_s=%.3f read_%s_needed_MB=%.2f read_%s_requested_MB=%.2f read_%s_disk_MB=%.2f\n", name,
                  r.seconds, name, r.mb_needed, name, r.mb_requested, name, r.mb_disk);
    };
    show("all", all);
    show("spw", spw);
    show("baseline", baseline);
  }

  if (!o.json.empty()) {
    std::ofstream j(o.json);
    j << "{\"rows\":" << rows << ",\"nspw\":" << o.nspw << ",\"ntimes\":" << o.ntimes << ",\"nbl\":" << o.nbl
      << ",\"nchan\":" << o.nchan << ",\"tile_kib\":" << o.tile_kib << ",\"block_rows\":" << storage.block_rows
      << ",\"data_tile_rows\":" << data_tile.rows << ",\"ism\":" << (!o.ssm_only) << ",\"sync\":" << o.sync
      << ",\"write_s\":" << write_s << ",\"write_cpu_s\":" << write_cpu_s << ",\"append_s\":" << append_s << ",\"finish_s\":" << finish_s
      << ",\"ms_bytes\":" << ms_bytes << ",\"payload_bytes\":" << payload
      << ",\"peak_rss_bytes\":" << mem.peak_rss_bytes << ",\"cp_s\":" << cp_s << ",\"cp_fsync_s\":" << cp_fsync_s
      << ",\"read_all_s\":" << all.seconds << ",\"read_all_requested_MB\":" << all.mb_requested
      << ",\"read_spw_s\":" << spw.seconds << ",\"read_spw_requested_MB\":" << spw.mb_requested
      << ",\"read_baseline_s\":" << baseline.seconds << ",\"read_baseline_requested_MB\":" << baseline.mb_requested
      << "}\n";
  }
  if (!o.keep) fs::remove_all(ms);
  return 0;
}
