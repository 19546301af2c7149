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

// imaging.merge_spws: one SPW with every channel in frequency order and one
// row per (integration, baseline), holding exactly the samples the
// SPW-by-SPW imaging MS holds (the same re-phasing and averaging).
TEST(ImagingMs, MergedSpwsHoldTheSameSamples) {
  test::TempDir dir;
  simulation::SimulationSpec spec;
  spec.nants = 5;
  spec.ntimes = 3;
  spec.nchan = 8;
  spec.noise_jy = 1;
  spec.random_sources = 2;
  spec.start_utc = "2025-03-01T10:00:00";
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
  std::size_t differ = 0;
  for (const auto& [key, s] : a) {
    const auto it = m.find(key);
    if (it == m.end() || it->second.vis != s.vis || it->second.flag != s.flag ||
        it->second.weight != s.weight)
      ++differ;
  }
  EXPECT_EQ(differ, 0u);
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
  simulation::SimulationSpec spec;
  spec.nants = 4;
  spec.ntimes = 2;
  spec.nchan = 4;
  spec.start_utc = "2025-03-01T10:00:00";
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
