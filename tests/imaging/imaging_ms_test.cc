#include "imaging/imaging_ms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <complex>
#include <map>
#include <tuple>

#include "astro/site_data.h"
#include "common/build_info.h"
#include "common/error.h"
#include "io/ms/casa_table.h"
#include "support/simulated_ms.h"
#include "support/small_tmpfs.h"
#include "support/tiny_uvh5.h"

namespace contimg::imaging {
namespace {

namespace fs = std::filesystem;

struct Sample {
  std::complex<float> vis;
  std::uint8_t flag;
  float weight;
};
// (TIME, ANTENNA1, ANTENNA2, channel frequency, correlation) -> the sample.
using Samples = std::map<std::tuple<double, int, int, double, std::size_t>, Sample>;

Samples read_samples(const fs::path& path, std::size_t* nrows, std::size_t* nspw) {
  const ms::CasaTable t(path.string());
  const auto spw = t.subtable("SPECTRAL_WINDOW");
  std::vector<std::vector<double>> freqs;
  for (std::uint64_t s = 0; s < spw.nrow(); ++s)
    freqs.push_back(spw.get_cell<double>("CHAN_FREQ", s).values);
  *nrows = t.nrow();
  *nspw = freqs.size();
  const auto time = t.get_column<double>("TIME");
  const auto a1 = t.get_column<std::int32_t>("ANTENNA1"),
             a2 = t.get_column<std::int32_t>("ANTENNA2"),
             dd = t.get_column<std::int32_t>("DATA_DESC_ID");
  Samples out;
  for (std::uint64_t r = 0; r < t.nrow(); ++r) {
    const auto d = t.get_cell<std::complex<float>>("DATA", r);
    const auto f = t.get_cell<std::uint8_t>("FLAG", r);
    const auto w = t.get_cell<float>("WEIGHT_SPECTRUM", r);
    const std::size_t ncorr = d.shape.at(0), nchan = d.shape.at(1);
    const auto& fr = freqs.at(static_cast<std::size_t>(dd[r]));
    for (std::size_t c = 0; c < nchan; ++c) {
      for (std::size_t p = 0; p < ncorr; ++p) {
        out[{time[r], a1[r], a2[r], fr.at(c), p}] = {d(p, c), f(p, c), w(p, c)};
      }
    }
  }
  return out;
}

// A small simulated group: `nants` antennas, `ntimes` integrations of
// `nchan` channels per SPW; with sources and noise when `sky`.
simulation::SimulationSpec small_spec(int nants, int ntimes, int nchan, bool sky) {
  simulation::SimulationSpec spec;
  spec.nants = nants;
  spec.ntimes = ntimes;
  spec.nchan = nchan;
  if (sky) {
    spec.noise_jy = 1;
    spec.random_sources = 2;
  }
  spec.start_utc = "2025-03-01T10:00:00";
  return spec;
}

// Samples of `a` missing from `b` or different there (value, flag or weight).
std::size_t samples_differing(const Samples& a, const Samples& b) {
  std::size_t differ = 0;
  for (const auto& [key, s] : a) {
    const auto it = b.find(key);
    if (it == b.end() || it->second.vis != s.vis || it->second.flag != s.flag ||
        it->second.weight != s.weight)
      ++differ;
  }
  return differ;
}

// imaging.merge_spws: one SPW with every channel in frequency order and one
// row per (integration, baseline), holding exactly the samples the
// SPW-by-SPW imaging MS holds (the same re-phasing and averaging).
TEST(ImagingMs, MergedSpwsHoldTheSameSamples) {
  test::TempDir dir;
  const simulation::SimulationSpec spec = small_spec(5, 3, 8, true);
  const fs::path ms = test::make_simulated_ms(dir.path(), spec);
  const auto site = astro::load_site_data(build::kDataDir);
  ImagingMsOptions o;
  o.max_channel_width_hz = 1e6;  // 4 channels into 1
  o.merge_spws = false;
  const auto apart = make_imaging_ms(ms, dir / "apart.ms", site.observatory, o);
  o.merge_spws = true;
  const auto merged = make_imaging_ms(ms, dir / "merged.ms", site.observatory, o);
  EXPECT_FALSE(apart.merged_spws);
  EXPECT_TRUE(merged.merged_spws);
  std::size_t rows_a = 0, rows_m = 0, spw_a = 0, spw_m = 0;
  const Samples a = read_samples(dir / "apart.ms", &rows_a, &spw_a);
  const Samples m = read_samples(dir / "merged.ms", &rows_m, &spw_m);
  EXPECT_EQ(spw_a, 16u);
  EXPECT_EQ(spw_m, 1u);
  EXPECT_EQ(rows_a, 16 * rows_m);
  ASSERT_EQ(a.size(), m.size());
  EXPECT_EQ(samples_differing(a, m), 0u);
  // The merged SPW's channels ascend; the beam and cell inputs are the same.
  const auto spw = ms::CasaTable((dir / "merged.ms").string()).subtable("SPECTRAL_WINDOW");
  const auto f = spw.get_cell<double>("CHAN_FREQ", 0).values;
  EXPECT_EQ(f.size(), 16u * 2u);
  EXPECT_TRUE(std::is_sorted(f.begin(), f.end()));
  EXPECT_EQ(apart.spw_centre_hz, merged.spw_centre_hz);
  EXPECT_EQ(apart.max_freq_hz, merged.max_freq_hz);
  EXPECT_EQ(apart.max_uv_m, merged.max_uv_m);
}

}  // namespace
}  // namespace contimg::imaging

namespace contimg::imaging {
namespace {

// An ANTENNA1 outside the ANTENNA table is an InputError naming the MS and
// the row, before any table indexed by antenna is touched (the merged
// imaging MS keeps one slot per antenna pair).
TEST(ImagingMs, AnAntennaOutsideTheAntennaTableIsAnInputError) {
  test::TempDir dir;
  const simulation::SimulationSpec spec = small_spec(4, 2, 4, false);
  const fs::path ms = test::make_simulated_ms(dir.path(), spec);
  {
    ms::CasaTable t(ms.string(), ms::CasaTable::Mode::kUpdate);
    const std::int32_t bad = 500;  // ANTENNA lists every DSA-110 station (117)
    t.put_range<std::int32_t>("ANTENNA1", 3, {1}, &bad);
    t.flush_or_throw("test");
  }
  const auto site = astro::load_site_data(build::kDataDir);
  for (bool merge : {true, false}) {
    ImagingMsOptions o;
    o.merge_spws = merge;
    const fs::path out = dir / (merge ? "merged.ms" : "apart.ms");
    try {
      make_imaging_ms(ms, out, site.observatory, o);
      ADD_FAILURE() << "no error (merge " << merge << ")";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("row 3 has antennas 500-"), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find(ms.string()), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace contimg::imaging

namespace contimg::imaging {
namespace {

// The pass on two threads (reader one block ahead of the writer) writes the
// same imaging MS, calls the corrector and the write-back for the same rows
// in the same order, and reports the same beam and cell inputs as on one.
TEST(ImagingMs, TwoThreadsWriteTheSameImagingMsAsOne) {
  test::TempDir dir;
  const simulation::SimulationSpec spec = small_spec(6, 4, 8, true);
  const fs::path ms = test::make_simulated_ms(dir.path(), spec);
  const auto site = astro::load_site_data(build::kDataDir);
  for (bool merge : {false, true}) {
    SCOPED_TRACE(merge ? "merged SPWs" : "SPW by SPW");
    std::vector<std::vector<std::uint64_t>> written(2);
    std::vector<int> done(2, 0);
    std::vector<ImagingMsResult> res;
    for (int threads : {1, 2}) {
      auto& rows = written[static_cast<std::size_t>(threads - 1)];
      ImagingMsOptions o;
      o.max_channel_width_hz = 1e6;
      o.merge_spws = merge;
      o.weighting_field_rad = 0.05;
      o.threads = threads;
      // A corrector that scales and flags: the writer must see its output.
      o.correct = [](int spw, std::span<const double>, std::span<const int> a1,
                     std::span<const int>, std::size_t, std::size_t,
                     std::span<std::complex<float>> d, std::span<std::uint8_t> f) {
        for (auto& v : d) v *= 2.0f + static_cast<float>(spw);
        if (!a1.empty() && a1[0] == 0) f[0] = 1;
      };
      o.write_back = [&rows](std::uint64_t row0, std::size_t n, std::size_t, std::size_t,
                             std::span<const std::complex<float>>, std::span<const std::uint8_t>) {
        rows.push_back(row0);
        rows.push_back(n);
      };
      o.write_back_done = [&done, threads] { ++done[static_cast<std::size_t>(threads - 1)]; };
      res.push_back(
          make_imaging_ms(ms, dir / (std::to_string(merge) + "t" + std::to_string(threads) + ".ms"),
                          site.observatory, o));
    }
    EXPECT_EQ(written[0], written[1]);
    EXPECT_FALSE(written[0].empty());
    EXPECT_EQ(done[0], 1);
    EXPECT_EQ(done[1], 1);
    std::size_t rows1 = 0, rows2 = 0, spw1 = 0, spw2 = 0;
    const Samples one = read_samples(dir / (std::to_string(merge) + "t1.ms"), &rows1, &spw1);
    const Samples two = read_samples(dir / (std::to_string(merge) + "t2.ms"), &rows2, &spw2);
    EXPECT_EQ(rows1, rows2);
    ASSERT_EQ(one.size(), two.size());
    EXPECT_EQ(samples_differing(one, two), 0u);
    EXPECT_EQ(res[0].max_uv_m, res[1].max_uv_m);
    EXPECT_EQ(res[0].max_freq_hz, res[1].max_freq_hz);
    EXPECT_EQ(res[0].spw_centre_hz, res[1].spw_centre_hz);
    EXPECT_EQ(res[0].bytes_read, res[1].bytes_read);
    EXPECT_EQ(res[0].bytes_written, res[1].bytes_written);
    ASSERT_TRUE(res[0].predicted_beam && res[1].predicted_beam);
    EXPECT_EQ(res[0].predicted_beam->bmaj_rad, res[1].predicted_beam->bmaj_rad);
    EXPECT_EQ(res[0].predicted_beam->bmin_rad, res[1].predicted_beam->bmin_rad);
  }
}

// An error on either side stops the pass with that error, and nothing hangs.
TEST(ImagingMs, AnErrorOnEitherThreadStopsThePassWithIt) {
  test::TempDir dir;
  const simulation::SimulationSpec spec = small_spec(5, 3, 4, false);
  const fs::path ms = test::make_simulated_ms(dir.path(), spec);
  const auto site = astro::load_site_data(build::kDataDir);
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    int calls = 0;
    ImagingMsOptions o;
    o.threads = threads;
    o.correct = [&calls](int, std::span<const double>, std::span<const int>, std::span<const int>,
                         std::size_t, std::size_t, std::span<std::complex<float>>,
                         std::span<std::uint8_t>) {
      if (++calls == 5) throw IoError("reader side failed");
    };
    try {
      make_imaging_ms(ms, dir / ("r" + std::to_string(threads) + ".ms"), site.observatory, o);
      ADD_FAILURE() << "no error";
    } catch (const IoError& e) {
      EXPECT_STREQ(e.what(), "reader side failed");
    }
    EXPECT_EQ(calls, 5);
  }
  // The writer's side: its disk fills up in the middle of the pass (the
  // imaging MS: ~17 MB; room: the 16 MB reserve and 8 MB).
  test::SmallTmpfs disk(48u << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << disk.why();
  simulation::SimulationSpec big = spec;
  big.nants = 20;
  big.ntimes = 6;
  big.nchan = 32;
  const fs::path big_ms = test::make_simulated_ms(dir.path() / "big", big);
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    disk.fill(24u << 20);
    ImagingMsOptions o;
    o.threads = threads;
    try {
      make_imaging_ms(big_ms, disk.path() / ("w" + std::to_string(threads) + ".ms"),
                      site.observatory, o);
      ADD_FAILURE() << "no error";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos)
          << e.what();
      EXPECT_EQ(std::string(e.what()).find("cannot create"), std::string::npos)
          << "meant to fail while writing rows: " << e.what();
    }
    EXPECT_FALSE(fs::exists(disk.path() / ("w" + std::to_string(threads) + ".ms")));
    disk.unfill();
  }
}

}  // namespace
}  // namespace contimg::imaging
