#include "flagging/ms_flagger.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "astro/time.h"
#include "common/durable.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/interrupts.h"
#include "common/progress.h"
#include "config/config.h"
#include "io/ms/casa_table.h"
#include "io/ms/table_release.h"
#include "state/flag_stats.h"

namespace contimg::flagging {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A sample with no row in the MS: treated as flagged, never written, not counted.
constexpr std::uint8_t kAbsent = 0x80;

// A run of rows with one TIME and one DATA_DESC_ID (the converter writes one
// per integration and SPW).
struct Block {
  std::size_t row0 = 0, nrows = 0;
  std::size_t time = 0;
  int ddid = 0;
  bool sorted = true;  // baseline indices ascending: a baseline chunk is a row sub-range
};

struct Layout {
  std::vector<std::string> antenna_names;
  std::size_t npol = 0;
  std::vector<int> ddid_spw;                   // DATA_DESC_ID -> SPW id
  std::vector<std::vector<std::size_t>> gchan;  // [ddid][channel] -> channel in frequency order
  std::vector<std::size_t> chan_nchan;          // [ddid] channels
  std::vector<double> freqs;                   // frequency order
  std::vector<int> chan_spw;                   // frequency-ordered channel -> SPW id
  std::vector<int> spws;                       // SPW ids used, ascending
  std::vector<double> times;                   // distinct TIME (MJD s), ascending
  std::vector<std::pair<int, int>> baselines;  // (a1, a2), ascending
  std::vector<std::uint32_t> row_baseline;     // per row
  std::vector<Block> blocks;
};

[[noreturn]] void not_an_ms(const fs::path& ms, const std::string& why) {
  throw InputError(fmt::format("{}: not a usable Measurement Set: {}", ms.string(), why));
}

Layout read_layout(const fs::path& ms, const ms::CasaTable& main) {
  Layout L;
  for (const char* sub : {"ANTENNA", "SPECTRAL_WINDOW", "DATA_DESCRIPTION", "POLARIZATION"}) {
    if (!main.has_subtable(sub)) not_an_ms(ms, fmt::format("no {} subtable", sub));
  }
  for (const char* col : {"DATA", "FLAG", "TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FLAG_ROW"}) {
    if (!main.has_column(col)) not_an_ms(ms, fmt::format("no {} column", col));
  }
  const ms::CasaTable ant = main.subtable("ANTENNA");
  // Station names ("DSA-034"); NAME holds the bare number in our MS (SPEC §4).
  const bool has_station = ant.has_column("STATION");
  L.antenna_names = ant.get_column<std::string>(has_station ? "STATION" : "NAME");

  const ms::CasaTable dd = main.subtable("DATA_DESCRIPTION");
  const ms::CasaTable spw = main.subtable("SPECTRAL_WINDOW");
  const ms::CasaTable pol = main.subtable("POLARIZATION");
  const std::vector<std::int32_t> dd_spw = dd.get_column<std::int32_t>("SPECTRAL_WINDOW_ID"),
                                  dd_pol = dd.get_column<std::int32_t>("POLARIZATION_ID");
  const std::vector<std::int32_t> num_corr = pol.get_column<std::int32_t>("NUM_CORR");
  const std::size_t nspw_rows = spw.nrow();

  const std::size_t nrow = main.nrow();
  if (nrow == 0) not_an_ms(ms, "the main table has no rows");
  const std::vector<double> time = main.get_column<double>("TIME");
  const std::vector<std::int32_t> a1 = main.get_column<std::int32_t>("ANTENNA1"),
                                  a2 = main.get_column<std::int32_t>("ANTENNA2"),
                                  ddid = main.get_column<std::int32_t>("DATA_DESC_ID");

  // Data descriptions used, their SPW and correlations.
  const std::size_t ndd = dd_spw.size();
  std::vector<int> used(ndd, 0);
  for (std::size_t r = 0; r < nrow; ++r) {
    if (ddid[r] < 0 || static_cast<std::size_t>(ddid[r]) >= ndd) {
      not_an_ms(ms, fmt::format("row {} has DATA_DESC_ID {} (DATA_DESCRIPTION has {} rows)", r, ddid[r], ndd));
    }
    used[static_cast<std::size_t>(ddid[r])] = 1;
  }
  L.ddid_spw.assign(ndd, -1);
  L.gchan.resize(ndd);
  L.chan_nchan.assign(ndd, 0);
  struct Chan {
    double freq;
    std::size_t ddid, chan;
  };
  std::vector<Chan> chans;
  for (std::size_t d = 0; d < ndd; ++d) {
    if (!used[d]) continue;
    const int s = dd_spw[d], p = dd_pol[d];
    if (s < 0 || static_cast<std::size_t>(s) >= nspw_rows || p < 0 || static_cast<std::size_t>(p) >= num_corr.size()) {
      not_an_ms(ms, fmt::format("DATA_DESCRIPTION row {} refers to SPW {} / POLARIZATION {}", d, s, p));
    }
    const auto nc = static_cast<std::size_t>(num_corr[static_cast<std::size_t>(p)]);
    if (L.npol == 0) L.npol = nc;
    if (nc != L.npol) not_an_ms(ms, "data descriptions with different correlation counts");
    L.ddid_spw[d] = s;
    const std::vector<double> f = spw.get_cell<double>("CHAN_FREQ", static_cast<std::uint64_t>(s)).values;
    L.chan_nchan[d] = f.size();
    for (std::size_t c = 0; c < f.size(); ++c) chans.push_back({f[c], d, c});
    L.spws.push_back(s);
  }
  std::sort(L.spws.begin(), L.spws.end());
  std::stable_sort(chans.begin(), chans.end(), [](const Chan& x, const Chan& y) { return x.freq < y.freq; });
  for (std::size_t d = 0; d < ndd; ++d) L.gchan[d].assign(L.chan_nchan[d], 0);
  for (std::size_t g = 0; g < chans.size(); ++g) {
    L.gchan[chans[g].ddid][chans[g].chan] = g;
    L.freqs.push_back(chans[g].freq);
    L.chan_spw.push_back(L.ddid_spw[chans[g].ddid]);
  }

  // Distinct times and baselines.
  L.times.assign(time.begin(), time.end());
  std::sort(L.times.begin(), L.times.end());
  L.times.erase(std::unique(L.times.begin(), L.times.end()), L.times.end());
  const std::size_t nant = L.antenna_names.size();
  std::vector<std::uint32_t> bl_id(nant * nant, UINT32_MAX);
  for (std::size_t r = 0; r < nrow; ++r) {
    if (a1[r] < 0 || a2[r] < 0 || static_cast<std::size_t>(a1[r]) >= nant ||
        static_cast<std::size_t>(a2[r]) >= nant) {
      not_an_ms(ms, fmt::format("row {} has antennas {}-{} (ANTENNA has {} rows)", r, a1[r], a2[r], nant));
    }
    bl_id[static_cast<std::size_t>(a1[r]) * nant + static_cast<std::size_t>(a2[r])] = 0;
  }
  for (std::size_t i = 0; i < nant; ++i) {
    for (std::size_t j = 0; j < nant; ++j) {
      if (bl_id[i * nant + j] == 0) {
        bl_id[i * nant + j] = static_cast<std::uint32_t>(L.baselines.size());
        L.baselines.emplace_back(static_cast<int>(i), static_cast<int>(j));
      }
    }
  }
  L.row_baseline.resize(nrow);
  for (std::size_t r = 0; r < nrow; ++r) {
    L.row_baseline[r] = bl_id[static_cast<std::size_t>(a1[r]) * nant + static_cast<std::size_t>(a2[r])];
  }
  for (std::size_t r = 0; r < nrow;) {
    Block b;
    b.row0 = r;
    b.ddid = ddid[r];
    b.time = static_cast<std::size_t>(std::lower_bound(L.times.begin(), L.times.end(), time[r]) - L.times.begin());
    std::size_t e = r + 1;
    while (e < nrow && time[e] == time[r] && ddid[e] == ddid[r]) {
      if (L.row_baseline[e] <= L.row_baseline[e - 1]) b.sorted = false;
      ++e;
    }
    b.nrows = e - r;
    L.blocks.push_back(b);
    r = e;
  }
  return L;
}

std::uint64_t count_present(std::span<const std::uint8_t> f, std::uint64_t& flagged) {
  std::uint64_t n = 0;
  for (std::uint8_t v : f) {
    if (v & kAbsent) continue;
    ++n;
    if (v) ++flagged;
  }
  return n;
}

}  // namespace

FlagOptions FlagOptions::from_config(const config::Config& cfg) {
  FlagOptions o;
  o.strategy = cfg.get_path("flagging.strategy");
  if (o.strategy.empty()) o.strategy = cfg.get_path("paths.data_dir") / "strategies" / "dsa110-lband.lua";
  o.threads = static_cast<int>(cfg.get_int("flagging.threads"));
  o.dead.dead_fraction = cfg.get_double("flagging.dead_fraction");
  o.dead.auto_ratio = cfg.get_double("flagging.dead_auto_ratio");
  const auto mb = cfg.get_int("flagging.memory_mb");
  if (o.threads < 0) throw ConfigError("flagging.threads must be >= 0");
  if (mb < 1) throw ConfigError(fmt::format("flagging.memory_mb = {} must be >= 1", mb));
  if (!(o.dead.dead_fraction > 0 && o.dead.dead_fraction <= 1)) {
    throw ConfigError("flagging.dead_fraction must be in (0, 1]");
  }
  o.memory_bytes = static_cast<std::uint64_t>(mb) << 20;
  return o;
}

std::string strategy_hash(const fs::path& strategy) {
  std::ifstream in(strategy, std::ios::binary);
  if (!in) throw InputError(fmt::format("flagging strategy {}: cannot be read", strategy.string()));
  Fnv1a64 h;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) h.add(std::string_view(buf, in.gcount()));
  return h.hex();
}

FlagReport MsFlagger::run(const fs::path& ms, const InterruptGuard* interrupts, Progress* progress) const {
  const auto t_start = Clock::now();
  FlagReport rep;
  rep.ms = ms;
  if (!fs::is_directory(ms) || !ms::CasaTable::is_readable(ms.string())) {
    throw InputError(fmt::format("{}: not a Measurement Set (no readable casacore table)", ms.string()));
  }
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const unsigned nthreads = options_.threads > 0 ? static_cast<unsigned>(options_.threads) : hw;
  rep.threads = static_cast<int>(nthreads);
  // Strategies first: a bad strategy fails before any reading.
  std::vector<RfiDetector> detectors;
  for (unsigned i = 0; i < nthreads; ++i) detectors.emplace_back(options_.strategy);

  ms::CasaTable main;
  try {
    main = ms::CasaTable(ms.string(), ms::CasaTable::Mode::kUpdate);
  } catch (const ms::TableError& e) {
    throw InputError(fmt::format("{}: cannot open for update: {}", ms.string(), e.what()));
  }
  Layout L;
  try {
    L = read_layout(ms, main);
  } catch (const ms::TableError& e) {
    throw InputError(fmt::format("{}: {}", ms.string(), e.what()));
  }
  const std::size_t nbl = L.baselines.size(), nt = L.times.size(), nc = L.freqs.size(), np = L.npol;
  const PlaneShape shape{np, nc, nt};
  const std::size_t plane = shape.size();
  rep.nbaselines = nbl;
  rep.ntimes = nt;
  rep.nchan = nc;
  rep.npol = np;
  rep.nspw = L.spws.size();

  // Final flags of every baseline stay in memory (1 byte a sample) until the
  // single write at the end. Visibilities are held in two buffers of a chunk
  // of baselines each: one is read from the MS while the detectors work on
  // the other, so the strategies are not idle while casacore reads.
  std::vector<std::uint8_t> flags(nbl * plane, kAbsent);
  const std::uint64_t per_baseline = plane * (sizeof(Visibility) + 1);
  // At least min_chunks chunks, so that the first read (the only one nothing overlaps) is short.
  const std::size_t min_chunks = std::max<std::size_t>(options_.min_chunks, 1);
  const std::size_t chunk = std::clamp<std::size_t>(
      std::min<std::uint64_t>(options_.memory_bytes / 2 / per_baseline, (nbl + min_chunks - 1) / min_chunks), 1,
      nbl);
  struct Buffer {
    std::vector<Visibility> vis;
    std::vector<std::uint8_t> before;
    std::size_t b0 = 0, b1 = 0;  // the baselines it holds
    std::uint64_t bytes = 0;
  };
  Buffer bufs[2];
  for (int i = 0; i < (chunk < nbl ? 2 : 1); ++i) {
    bufs[i].vis.resize(chunk * plane);
    bufs[i].before.resize(chunk * plane);
  }

  const std::size_t nant = L.antenna_names.size();
  std::vector<AntennaActivity> activity(nant);
  for (const auto& [a, b] : L.baselines) {
    activity[static_cast<std::size_t>(a)].present = true;
    activity[static_cast<std::size_t>(b)].present = true;
  }
  FlagCounter by_chan(nc), by_time(nt), by_bl(nbl);
  std::mutex stats_mutex;
  if (progress) progress->set_total(nbl);

  // Reads the rows of baselines [b0, b1) into `buf` (and their FLAG into `flags`).
  auto read_chunk = [&](Buffer& buf, std::size_t b0, std::size_t b1) {
    buf.b0 = b0;
    buf.b1 = b1;
    buf.bytes = 0;
    std::fill(buf.vis.begin(), buf.vis.end(), Visibility{});
    // Read every block's rows of this chunk: whole row ranges, never row by row.
    for (const Block& blk : L.blocks) {
      if (interrupts) interrupts->throw_if_interrupted();
      std::size_t r0 = blk.row0, r1 = blk.row0 + blk.nrows;
      if (blk.sorted) {
        const auto* rb = L.row_baseline.data();
        r0 = static_cast<std::size_t>(std::lower_bound(rb + r0, rb + r1, b0) - rb);
        r1 = static_cast<std::size_t>(std::lower_bound(rb + r0, rb + r1, b1) - rb);
      }
      if (r1 <= r0) continue;
      ms::CellArray<std::complex<float>> d;
      ms::CellArray<std::uint8_t> f;
      try {
        d = main.get_range<std::complex<float>>("DATA", r0, r1 - r0);
        f = main.get_range<std::uint8_t>("FLAG", r0, r1 - r0);
      } catch (const ms::TableError& e) {
        throw InputError(
            fmt::format("{}: reading rows {}-{}: {}", ms.string(), r0, r1 - 1, e.what()));
      }
      const auto nch = L.chan_nchan[static_cast<std::size_t>(blk.ddid)];
      if (d.shape.size() != 3 || d.shape[0] != np || d.shape[1] != nch || d.shape != f.shape) {
        throw InputError(fmt::format(
            "{}: rows {}-{}: DATA/FLAG cells do not match {} correlations x {} channels",
            ms.string(), r0, r1 - 1, np, nch));
      }
      buf.bytes += (r1 - r0) * np * nch * (sizeof(Visibility) + 1);
      const std::complex<float>* dp = d.values.data();
      const std::uint8_t* fp = f.values.data();
      const auto& gmap = L.gchan[static_cast<std::size_t>(blk.ddid)];
      for (std::size_t r = r0; r < r1; ++r) {
        const std::size_t bl = L.row_baseline[r];
        if (bl < b0 || bl >= b1) continue;
        Visibility* pv = buf.vis.data() + (bl - b0) * plane;
        std::uint8_t* pf = flags.data() + bl * plane;
        const std::size_t cell = (r - r0) * nch * np;
        for (std::size_t c = 0; c < nch; ++c) {
          for (std::size_t p = 0; p < np; ++p) {
            const std::size_t i = shape.index(p, gmap[c], blk.time);
            pv[i] = dp[cell + c * np + p];
            pf[i] = fp[cell + c * np + p] ? 1 : 0;
          }
        }
      }
    }
  };
  // Clips and detects per baseline in parallel: one detector per thread.
  auto detect_chunk = [&](Buffer& buf) {
    const std::size_t b0 = buf.b0, b1 = buf.b1;
    // Clip and detect per baseline in parallel: one detector per thread.
    std::atomic<std::size_t> next{b0};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&](unsigned w) {
      FlagCounter chan_local(nc), time_local(nt);
      std::vector<AntennaActivity> act_local(nant);
      std::uint64_t clipped = 0;
      try {
        for (std::size_t bl = next++; bl < b1; bl = next++) {
          if (interrupts && interrupts->interrupted()) break;
          const auto [a1, a2] = L.baselines[bl];
          std::span<const Visibility> v(buf.vis.data() + (bl - b0) * plane, plane);
          std::span<std::uint8_t> f(flags.data() + bl * plane, plane);
          std::span<std::uint8_t> keep(buf.before.data() + (bl - b0) * plane, plane);
          std::copy(f.begin(), f.end(), keep.begin());
          clipped += clip_invalid(v, f);
          if (a1 != a2) detectors[w].detect(v, f, shape);
          // Before-counts and the activity dead-antenna detection needs.
          std::uint64_t tot = 0, nb = 0, na = 0;
          double amp = 0;
          for (std::size_t p = 0; p < np; ++p) {
            for (std::size_t c = 0; c < nc; ++c) {
              for (std::size_t t = 0; t < nt; ++t) {
                const std::size_t i = shape.index(p, c, t);
                if (keep[i] & kAbsent) continue;
                const bool fb = keep[i] != 0, fa = f[i] != 0;
                ++tot;
                nb += fb;
                na += fa;
                chan_local.add(c, 1, fb, 0);
                time_local.add(t, 1, fb, 0);
                if (!fa) amp += std::abs(v[i]);
              }
            }
          }
          {
            std::lock_guard lock(stats_mutex);
            by_bl.add(bl, tot, nb, 0);
          }
          if (a1 == a2) {
            if (tot > na)
              act_local[static_cast<std::size_t>(a1)].auto_mean = amp / double(tot - na);
          } else {
            for (int a : {a1, a2}) {
              auto& x = act_local[static_cast<std::size_t>(a)];
              x.cross_samples += tot;
              x.cross_flagged += na;
              x.cross_amp_sum += amp;
            }
          }
          if (progress) progress->advance();
        }
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!error) error = std::current_exception();
        next = b1;
      }
      std::lock_guard lock(stats_mutex);
      for (std::size_t c = 0; c < nc; ++c)
        by_chan.add(c, chan_local.total[c], chan_local.before[c], 0);
      for (std::size_t t = 0; t < nt; ++t)
        by_time.add(t, time_local.total[t], time_local.before[t], 0);
      for (std::size_t a = 0; a < nant; ++a) {
        auto& x = activity[a];
        x.cross_samples += act_local[a].cross_samples;
        x.cross_flagged += act_local[a].cross_flagged;
        x.cross_amp_sum += act_local[a].cross_amp_sum;
        if (act_local[a].auto_mean) x.auto_mean = act_local[a].auto_mean;
      }
      rep.flagged_clipped += clipped;
    };
    std::vector<std::thread> pool;
    const unsigned nw = static_cast<unsigned>(std::min<std::size_t>(nthreads, b1 - b0));
    for (unsigned w = 0; w < nw; ++w) pool.emplace_back(worker, w);
    for (auto& th : pool) th.join();
    if (error) std::rethrow_exception(error);
    if (interrupts) interrupts->throw_if_interrupted();
  };

  // The first chunk is read alone; after that, chunk k + 1 is read on a
  // second thread while chunk k is detected. The table is only ever used by
  // one thread at a time (the reader), so casacore needs no locking.
  {
    const auto t0 = Clock::now();
    read_chunk(bufs[0], 0, std::min(nbl, chunk));
    rep.seconds_read += seconds_since(t0);
  }
  for (std::size_t b0 = 0, k = 0; b0 < nbl; b0 += chunk, ++k) {
    Buffer& cur = bufs[k % 2];
    rep.bytes_read += cur.bytes;
    const std::size_t n0 = b0 + chunk;
    std::exception_ptr read_error;
    double read_seconds = 0;
    std::thread reader;
    if (n0 < nbl) {
      reader = std::thread([&, n0] {
        const auto t0 = Clock::now();
        try {
          read_chunk(bufs[(k + 1) % 2], n0, std::min(nbl, n0 + chunk));
        } catch (...) {
          read_error = std::current_exception();
        }
        read_seconds = seconds_since(t0);
      });
    }
    const auto t_detect = Clock::now();
    try {
      detect_chunk(cur);
    } catch (...) {
      if (reader.joinable()) reader.join();
      throw;
    }
    rep.seconds_detect += seconds_since(t_detect);
    if (reader.joinable()) reader.join();
    rep.seconds_read += read_seconds;
    if (read_error) std::rethrow_exception(read_error);
  }

  // Dead antennas: every sample of their baselines.
  rep.dead = find_dead_antennas(activity, options_.dead);
  std::vector<char> is_dead(nant, 0);
  for (const auto& d : rep.dead) {
    is_dead[static_cast<std::size_t>(d.antenna)] = 1;
    rep.dead_names.push_back(L.antenna_names[static_cast<std::size_t>(d.antenna)]);
  }
  for (std::size_t bl = 0; bl < nbl; ++bl) {
    const auto [a1, a2] = L.baselines[bl];
    if (!is_dead[static_cast<std::size_t>(a1)] && !is_dead[static_cast<std::size_t>(a2)]) continue;
    for (std::size_t i = bl * plane; i < (bl + 1) * plane; ++i) {
      if (!(flags[i] & kAbsent)) flags[i] = 1;
    }
  }

  // After-counts on the final flags.
  for (std::size_t bl = 0; bl < nbl; ++bl) {
    std::uint64_t flagged = 0;
    std::span<const std::uint8_t> f(flags.data() + bl * plane, plane);
    count_present(f, flagged);
    by_bl.after[bl] += flagged;
    for (std::size_t p = 0; p < np; ++p) {
      for (std::size_t c = 0; c < nc; ++c) {
        for (std::size_t t = 0; t < nt; ++t) {
          const std::uint8_t v = f[shape.index(p, c, t)];
          if (v == 1) {
            ++by_chan.after[c];
            ++by_time.after[t];
          }
        }
      }
    }
  }

  // Write FLAG and FLAG_ROW back, block by block.
  if (interrupts) interrupts->throw_if_interrupted();
  const auto t_write = Clock::now();
  try {
    for (const Block& blk : L.blocks) {
      const auto nch = L.chan_nchan[static_cast<std::size_t>(blk.ddid)];
      std::vector<std::uint8_t> f(np * nch * blk.nrows), frow(blk.nrows);
      std::uint8_t* fp = f.data();
      const auto& gmap = L.gchan[static_cast<std::size_t>(blk.ddid)];
      for (std::size_t k = 0; k < blk.nrows; ++k) {
        const std::uint8_t* pf = flags.data() + L.row_baseline[blk.row0 + k] * plane;
        bool all = true;
        for (std::size_t c = 0; c < nch; ++c) {
          for (std::size_t p = 0; p < np; ++p) {
            const bool v = pf[shape.index(p, gmap[c], blk.time)] != 0;
            fp[(k * nch + c) * np + p] = v;
            all = all && v;
          }
        }
        frow[k] = all;
      }
      main.put_range("FLAG", blk.row0, {np, nch, blk.nrows}, f.data());
      main.put_range("FLAG_ROW", blk.row0, {blk.nrows}, frow.data());
      rep.bytes_written += blk.nrows * np * nch;
    }
    // Flushed where its errors are caught; then nothing is left for the
    // destructor to write (a failed write there is std::terminate).
    main.flush_or_throw(ms.string() + ": writing FLAG");
    main.release_without_writing();
  } catch (const ms::TableError& e) {
    const std::string note = ms::disk_full_note(ms, e.what());
    main.release_without_writing();
    throw IoError(fmt::format("{}: writing FLAG: {}{}", ms.string(), e.what(), note));
  }
  rep.seconds_write = seconds_since(t_write);
  // FLAG is changed in place and the orchestrator records the flagging as
  // done once this returns: on disk first, or a power cut could leave a
  // recorded flagging with the old flags (docs/state.md "Durability").
  const auto t_sync = Clock::now();
  durable::sync_tree(ms);
  rep.seconds_sync = seconds_since(t_sync);

  // Summary and per-axis statistics.
  for (std::size_t bl = 0; bl < nbl; ++bl) {
    rep.samples += by_bl.total[bl];
    rep.flagged_before += by_bl.before[bl];
    rep.flagged_after += by_bl.after[bl];
  }
  rep.antenna.labels = L.antenna_names;
  rep.antenna.counts = FlagCounter(nant);
  for (std::size_t bl = 0; bl < nbl; ++bl) {
    const auto [a1, a2] = L.baselines[bl];
    rep.antenna.counts.add(static_cast<std::size_t>(a1), by_bl.total[bl], by_bl.before[bl], by_bl.after[bl]);
    if (a2 != a1) {
      rep.antenna.counts.add(static_cast<std::size_t>(a2), by_bl.total[bl], by_bl.before[bl], by_bl.after[bl]);
    }
  }
  const int max_spw = L.spws.empty() ? 0 : L.spws.back();
  FlagCounter spw_counts(static_cast<std::size_t>(max_spw) + 1);
  for (std::size_t c = 0; c < nc; ++c) {
    spw_counts.add(static_cast<std::size_t>(L.chan_spw[c]), by_chan.total[c], by_chan.before[c], by_chan.after[c]);
  }
  for (int s : L.spws) {
    rep.spw.labels.push_back(std::to_string(s));
    const auto i = static_cast<std::size_t>(s);
    rep.spw.counts.total.push_back(spw_counts.total[i]);
    rep.spw.counts.before.push_back(spw_counts.before[i]);
    rep.spw.counts.after.push_back(spw_counts.after[i]);
  }
  for (double f : L.freqs) rep.channel.labels.push_back(fmt::format("{:.4f}", f / 1e6));
  rep.channel.counts = by_chan;
  for (double t : L.times) {
    rep.time.labels.push_back(astro::jd_utc_to_iso(t / astro::kSecondsPerDay + astro::kMjdOffset, 1));
  }
  rep.time.counts = by_time;
  rep.seconds_total = seconds_since(t_start);
  return rep;
}

namespace {

nlohmann::json axis_json(const AxisStats& a) {
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < a.labels.size(); ++i) {
    const double n = static_cast<double>(a.counts.total[i]);
    out.push_back({{"index", i},
                   {"label", a.labels[i]},
                   {"samples", a.counts.total[i]},
                   {"flagged_before", n > 0 ? double(a.counts.before[i]) / n : 0.0},
                   {"flagged_after", n > 0 ? double(a.counts.after[i]) / n : 0.0}});
  }
  return out;
}

}  // namespace

nlohmann::json to_json(const FlagReport& r, bool per_channel) {
  nlohmann::json dead = nlohmann::json::array();
  for (std::size_t i = 0; i < r.dead.size(); ++i) {
    dead.push_back({{"antenna", r.dead[i].antenna}, {"name", r.dead_names[i]}, {"reason", r.dead[i].reason}});
  }
  nlohmann::json j = {{"ms", r.ms.string()},
                      {"baselines", r.nbaselines},
                      {"times", r.ntimes},
                      {"channels", r.nchan},
                      {"correlations", r.npol},
                      {"spws", r.nspw},
                      {"samples", r.samples},
                      {"flagged_before", r.fraction_before()},
                      {"flagged_after", r.fraction_after()},
                      {"clipped_samples", r.flagged_clipped},
                      {"dead_antennas", dead},
                      {"bytes_read", r.bytes_read},
                      {"seconds",
                       {{"read", r.seconds_read},
                        {"detect", r.seconds_detect},
                        {"write", r.seconds_write},
                        {"sync", r.seconds_sync},
                        {"total", r.seconds_total}}},
                      {"threads", r.threads}};
  j["antenna"] = axis_json(r.antenna);
  j["spw"] = axis_json(r.spw);
  j["time"] = axis_json(r.time);
  if (per_channel) j["channel"] = axis_json(r.channel);
  return j;
}

std::vector<state::FlagStatRow> stat_rows(const FlagReport& r) {
  std::vector<state::FlagStatRow> out;
  for (const AxisStats* a : {&r.antenna, &r.spw, &r.channel, &r.time}) {
    for (std::size_t i = 0; i < a->labels.size(); ++i) {
      if (a->counts.total[i] == 0) continue;  // antennas without rows
      const double n = static_cast<double>(a->counts.total[i]);
      const int idx = a == &r.spw ? std::stoi(a->labels[i]) : static_cast<int>(i);
      out.push_back({a->axis, idx, a->labels[i], static_cast<std::int64_t>(a->counts.total[i]),
                     double(a->counts.before[i]) / n, double(a->counts.after[i]) / n});
    }
  }
  return out;
}

}  // namespace contimg::flagging
