#include "io/ms/ms_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "support/error_of.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "io/ms/casa_table.h"
#include "io/ms/ms_layout.h"
#include "io/ms/ms_storage.h"
#include "io/ms/ms_weights.h"
#include "io/ms/tiny_ms.h"
#include "support/tiny_uvh5.h"

namespace contimg::ms {
namespace {

using contimg::test::error_of;

namespace fs = std::filesystem;
using contimg::test::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
using test::TinySpec;

// Column readers shaped like casacore's (col(row)) over the casacore-free
// CasaTable: this test is C++20, and casacore 3.5 is not.
template <typename T>
class ScalarCol {
 public:
  ScalarCol(CasaTable t, std::string name) : t_(std::move(t)), name_(std::move(name)) {}
  T operator()(std::uint64_t row) const { return t_.get<T>(name_, row); }

 private:
  CasaTable t_;
  std::string name_;
};

template <typename T>
class ArrayCol {
 public:
  ArrayCol(CasaTable t, std::string name) : t_(std::move(t)), name_(std::move(name)) {}
  CellArray<T> operator()(std::uint64_t row) const { return t_.get_cell<T>(name_, row); }
  Shape shape(std::uint64_t row) const { return t_.cell_shape(name_, row); }

 private:
  CasaTable t_;
  std::string name_;
};

CasaTable open_sub(const fs::path& ms, const std::string& name) {
  return CasaTable((ms / name).string());
}

std::string frame_of(const CasaTable& t, const std::string& column) {
  return t.column_keyword(column, "MEASINFO", "Ref", "");
}

Shape shape2(std::size_t a, std::size_t b) {
  return {a, b};
}

// ---------------------------------------------------------------- weights

TEST(MsWeights, SigmaIsInverseSqrtAndMinusOneForNoWeight) {
  EXPECT_FLOAT_EQ(sigma_from_weight(4.0f), 0.5f);
  EXPECT_FLOAT_EQ(sigma_from_weight(1.0f), 1.0f);
  EXPECT_EQ(sigma_from_weight(0.0f), kSigmaForZeroWeight);
  EXPECT_EQ(sigma_from_weight(-2.0f), kSigmaForZeroWeight);
  EXPECT_EQ(sigma_from_weight(NAN), kSigmaForZeroWeight);
  EXPECT_EQ(kSigmaForZeroWeight, -1.0f);
}

TEST(MsWeights, MedianFollowsNumpy) {
  std::vector<float> scratch(8);
  const std::vector<float> odd = {5, 1, 3};
  const std::vector<float> even = {4, 1, 3, 2};
  const std::vector<float> one = {7};
  EXPECT_FLOAT_EQ(median(odd, scratch), 3.0f);
  EXPECT_FLOAT_EQ(median(even, scratch), 2.5f);
  EXPECT_FLOAT_EQ(median(one, scratch), 7.0f);
  EXPECT_FLOAT_EQ(median(std::span<const float>(), scratch), 0.0f);
  const std::vector<float> with_nan = {NAN, 1, 2};  // NaN sorts last
  EXPECT_FLOAT_EQ(median(with_nan, scratch), 2.0f);
}

TEST(MsWeights, WeightIsPerCorrelationMedianOverChannels) {
  // 2 rows x 3 channels x 2 correlations, [row][chan][corr].
  const std::vector<float> ws = {1, 10, 3, 10, 2, 10,   // row 0: corr0 {1,3,2}, corr1 uniform
                                 0, 0, 0, 0, 0, 0};     // row 1: no weight
  std::vector<float> w(4), s(4);
  compute_weight_sigma(ws, 2, 3, 2, w, s);
  EXPECT_THAT(w, ::testing::ElementsAre(2.0f, 10.0f, 0.0f, 0.0f));
  EXPECT_FLOAT_EQ(s[0], 1.0f / std::sqrt(2.0f));
  EXPECT_FLOAT_EQ(s[1], 1.0f / std::sqrt(10.0f));
  EXPECT_EQ(s[2], kSigmaForZeroWeight);
  EXPECT_EQ(s[3], kSigmaForZeroWeight);
}

TEST(MsWeights, UniformAndNanRows) {
  // 3 rows x 2 channels x 2 correlations: uniform; NaN in every channel of
  // corr 0; one NaN of two channels (NaN sorts last, and a median that takes
  // it in is NaN: SIGMA then says "no weight").
  const std::vector<float> ws = {3, 4, 3, 4, NAN, 1, NAN, 1, NAN, 1, 3, 1};
  std::vector<float> w(6), s(6);
  compute_weight_sigma(ws, 3, 2, 2, w, s);
  EXPECT_FLOAT_EQ(w[0], 3.0f);
  EXPECT_FLOAT_EQ(w[1], 4.0f);
  EXPECT_TRUE(std::isnan(w[2]));
  EXPECT_EQ(s[2], kSigmaForZeroWeight);
  EXPECT_FLOAT_EQ(w[3], 1.0f);
  EXPECT_TRUE(std::isnan(w[4]));  // {NaN, 3}: upper middle NaN
  EXPECT_FLOAT_EQ(w[5], 1.0f);
}

TEST(MsWeights, FlagRowNeedsEverySampleFlagged) {
  const std::vector<std::uint8_t> f = {1, 1, 1, 1, /**/ 1, 0, 1, 1, /**/ 0, 0, 0, 0};
  bool out[12];
  bool rows[3];
  compute_flag_row(f, 3, 4, out, rows);
  EXPECT_TRUE(rows[0]);
  EXPECT_FALSE(rows[1]);
  EXPECT_FALSE(rows[2]);
  EXPECT_TRUE(out[4]);
  EXPECT_FALSE(out[5]);
}

// ---------------------------------------------------------------- tiles

TEST(MsStorage, DsaTilesAlignToTheBaselineBlock) {
  const StorageOptions o{.block_rows = 4656};
  const TileShape data = choose_cell_tile(2, 48, 64, o);
  EXPECT_EQ(data.ncorr, 2u);
  EXPECT_EQ(data.nchan, 48u);
  EXPECT_EQ(data.rows, 1164u);  // 4656 / 4, 894 KB
  EXPECT_EQ(4656 % data.rows, 0u);
  EXPECT_LE(data.bytes(64), o.tile_target_bytes);
  EXPECT_EQ(choose_cell_tile(2, 48, 32, o).rows, 2328u);  // WEIGHT_SPECTRUM
  EXPECT_EQ(choose_cell_tile(2, 48, 1, o).rows, 4656u);   // FLAG: one block per tile
  EXPECT_EQ(choose_tile_rows(3 * 64, o.tile_target_bytes, 4656), 4656u);  // UVW
  // Merged 768-channel SPW: 12 KiB rows.
  EXPECT_EQ(choose_cell_tile(2, 768, 64, o).rows, 48u);
}

TEST(MsStorage, UnknownOrPrimeBlocksFallBackToTheTarget) {
  EXPECT_EQ(choose_tile_rows(2 * 48 * 64, 1 << 20, 0), 1365u);     // DP3's 1 MiB rule
  EXPECT_EQ(choose_tile_rows(2 * 48 * 64, 1 << 20, 4657), 1365u);  // 4657 is prime
  EXPECT_EQ(choose_tile_rows(2 * 48 * 64, 1 << 20, 15), 15u);      // block smaller than a tile
  EXPECT_EQ(choose_tile_rows(1 << 30, 1 << 20, 0), 1u);
  const TileShape huge = choose_cell_tile(4, 65536, 64, StorageOptions{});
  EXPECT_EQ(huge.rows, 1u);
  EXPECT_EQ(huge.nchan, 32768u);  // 1 MiB / (4 corr x 8 B)
}

// ---------------------------------------------------------------- layout

TEST(MsLayoutValidate, RejectsBadLayoutsWithReasons) {
  const TinySpec s;
  EXPECT_NO_THROW(validate(test::tiny_layout(s)));
  {
    auto l = test::tiny_layout(s);
    std::reverse(l.spectral_windows[0].chan_freq_hz.begin(), l.spectral_windows[0].chan_freq_hz.end());
    EXPECT_THAT(error_of<InputError>([&] { validate(l); }), HasSubstr("not strictly ascending"));
  }
  {
    auto l = test::tiny_layout(s);
    std::swap(l.spectral_windows[0], l.spectral_windows[1]);
    EXPECT_THAT(error_of<InputError>([&] { validate(l); }), HasSubstr("not in ascending frequency"));
  }
  {
    auto l = test::tiny_layout(s);
    l.spectral_windows[1].chan_width_hz[2] = -1.0;
    EXPECT_THAT(error_of<InputError>([&] { validate(l); }), HasSubstr("width -1 Hz is not positive"));
  }
  {
    auto l = test::tiny_layout(s);
    l.corr_types = {kCorrXX, 1};
    EXPECT_THAT(error_of<InputError>([&] { validate(l); }), HasSubstr("correlation type 1"));
  }
  {
    auto l = test::tiny_layout(s);
    l.fields.clear();
    EXPECT_THAT(error_of<InputError>([&] { validate(l); }), HasSubstr("no fields"));
  }
  {
    auto l = test::tiny_layout(s);
    l.integration_time_s = 0;
    EXPECT_THAT(error_of<InputError>([&] { validate(l); }), HasSubstr("integration time"));
  }
  EXPECT_EQ(corr_product(kCorrXY), (std::array<std::int32_t, 2>{0, 1}));
  EXPECT_EQ(corr_product(kCorrYY), (std::array<std::int32_t, 2>{1, 1}));
}

// ---------------------------------------------------------------- writing

class MsWriterTest : public ::testing::Test {
 protected:
  TempDir dir_;
  TinySpec spec_;
  fs::path ms_ = dir_ / "tiny.ms";
};

TEST_F(MsWriterTest, MainTableHoldsEveryValueWritten) {
  test::write_tiny_ms(ms_.string(), spec_, StorageOptions{.block_rows = 15});
  const CasaTable t(ms_.string(), CasaTable::Mode::kRead);
  ASSERT_EQ(t.nrow(), static_cast<std::uint64_t>(spec_.rows()));
  const ArrayCol<std::complex<float>> data(t, "DATA");
  const ArrayCol<std::uint8_t> flag(t, "FLAG");
  const ArrayCol<float> ws(t, "WEIGHT_SPECTRUM"), weight(t, "WEIGHT"), sigma(t, "SIGMA");
  const ArrayCol<double> uvw(t, "UVW");
  const ScalarCol<double> time(t, "TIME"), centroid(t, "TIME_CENTROID"),
      interval(t, "INTERVAL"), exposure(t, "EXPOSURE");
  const ScalarCol<std::int32_t> a1(t, "ANTENNA1"), a2(t, "ANTENNA2"), field(t, "FIELD_ID"),
      scan(t, "SCAN_NUMBER"), ddid(t, "DATA_DESC_ID"), array(t, "ARRAY_ID"),
      obs(t, "OBSERVATION_ID"), proc(t, "PROCESSOR_ID"), state(t, "STATE_ID"), feed1(t, "FEED1"),
      feed2(t, "FEED2");
  const ScalarCol<std::uint8_t> flag_row(t, "FLAG_ROW");
  const int nbl = spec_.nbl();
  int autos = 0, all_flagged = 0, zero_weight = 0;
  for (std::uint64_t r = 0; r < t.nrow(); ++r) {
    const int b = static_cast<int>(r) % nbl;
    const int spw = (static_cast<int>(r) / nbl) % spec_.nspw;
    const int ti = static_cast<int>(r) / (nbl * spec_.nspw);
    SCOPED_TRACE(testing::Message() << "row " << r << " t " << ti << " spw " << spw << " bl " << b);
    const auto [e1, e2] = test::tiny_baseline(spec_, b);
    ASSERT_EQ(a1(r), e1);
    ASSERT_EQ(a2(r), e2);
    autos += e1 == e2;
    ASSERT_DOUBLE_EQ(time(r), test::tiny_time(ti));
    ASSERT_DOUBLE_EQ(centroid(r), test::tiny_time(ti));
    ASSERT_DOUBLE_EQ(interval(r), test::kTinyInterval);
    ASSERT_DOUBLE_EQ(exposure(r), test::kTinyInterval);
    ASSERT_EQ(field(r), ti);
    ASSERT_EQ(scan(r), ti + 1);
    ASSERT_EQ(ddid(r), spw);
    ASSERT_EQ(array(r), 0);
    ASSERT_EQ(obs(r), 0);
    ASSERT_EQ(proc(r), 0);
    ASSERT_EQ(state(r), -1);
    ASSERT_EQ(feed1(r), 0);
    ASSERT_EQ(feed2(r), 0);
    const auto u = uvw(r);
    const auto eu = test::tiny_uvw(spec_, b);
    for (int k = 0; k < 3; ++k) ASSERT_DOUBLE_EQ(u[k], eu[k]);

    const auto d = data(r);
    const auto f = flag(r);
    const auto w = ws(r);
    ASSERT_EQ(d.shape, shape2(2, spec_.nchan));  // [corr, chan]
    ASSERT_EQ(f.shape, d.shape);
    ASSERT_EQ(w.shape, d.shape);
    bool every = true;
    for (int c = 0; c < spec_.nchan; ++c) {
      for (int p = 0; p < 2; ++p) {
        ASSERT_EQ(d(p, c), test::tiny_vis(spec_, ti, spw, b, c, p)) << "c " << c << " p " << p;
        ASSERT_EQ(f(p, c), test::tiny_flag(ti, spw, b, c, p)) << "c " << c << " p " << p;
        ASSERT_EQ(w(p, c), test::tiny_weight(spw, b, c, p)) << "c " << c << " p " << p;
        every = every && f(p, c);
      }
    }
    ASSERT_EQ(flag_row(r), every);
    all_flagged += every;

    const auto wt = weight(r), sg = sigma(r);
    ASSERT_EQ(wt.size(), 2u);
    ASSERT_EQ(sg.size(), 2u);
    for (int p = 0; p < 2; ++p) {
      std::vector<float> chans;
      for (int c = 0; c < spec_.nchan; ++c) chans.push_back(test::tiny_weight(spw, b, c, p));
      std::sort(chans.begin(), chans.end());
      const float med = (chans[1] + chans[2]) / 2;  // 4 channels
      ASSERT_FLOAT_EQ(wt[p], med);
      if (med > 0) {
        ASSERT_FLOAT_EQ(sg[p], 1.0f / std::sqrt(med));
      } else {
        ASSERT_EQ(sg[p], -1.0f);
        ++zero_weight;
      }
    }
  }
  EXPECT_EQ(autos, spec_.nant * spec_.ntimes * spec_.nspw);
  EXPECT_EQ(all_flagged, spec_.nspw);     // t = 1, b = 2 in each SPW
  EXPECT_EQ(zero_weight, 2 * spec_.ntimes);  // SPW 1, b = 3, both correlations

  // Storage layout as documented.
  std::map<std::string, std::string> type_of;
  for (const auto& dm : t.data_managers()) {
    for (const auto& c : dm.columns) type_of[c] = dm.type;
  }
  EXPECT_EQ(type_of["DATA"], "TiledColumnStMan");
  EXPECT_EQ(type_of["FLAG"], "TiledColumnStMan");
  EXPECT_EQ(type_of["WEIGHT_SPECTRUM"], "TiledColumnStMan");
  EXPECT_EQ(type_of["UVW"], "TiledColumnStMan");
  EXPECT_EQ(type_of["TIME"], "IncrementalStMan");
  EXPECT_EQ(type_of["ANTENNA1"], "StandardStMan");
  EXPECT_EQ(type_of["WEIGHT"], "TiledColumnStMan");
  EXPECT_EQ(type_of["SIGMA"], "TiledColumnStMan");
  EXPECT_EQ(type_of["FLAG_ROW"], "StandardStMan");
  EXPECT_EQ(type_of["FLAG_CATEGORY"], "IncrementalStMan");
  EXPECT_FALSE(t.has_column("MODEL_DATA"));
  EXPECT_FALSE(t.has_column("CORRECTED_DATA"));
  EXPECT_EQ(t.keyword_number("MS_VERSION"), 2.0);
}

TEST_F(MsWriterTest, SubtablesDescribeTheLayout) {
  test::write_tiny_ms(ms_.string(), spec_);
  const MsLayout layout = test::tiny_layout(spec_);

  const CasaTable ant = open_sub(ms_, "ANTENNA");
  ASSERT_EQ(ant.nrow(), 5u);
  const ArrayCol<double> pos(ant, "POSITION"), off(ant, "OFFSET");
  for (std::uint64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(ScalarCol<std::string>(ant, "NAME")(i), layout.antennas[i].name);
    EXPECT_EQ(ScalarCol<std::string>(ant, "STATION")(i), layout.antennas[i].station);
    EXPECT_EQ(ScalarCol<std::string>(ant, "MOUNT")(i), "ALT-AZ");
    EXPECT_EQ(ScalarCol<std::string>(ant, "TYPE")(i), "GROUND-BASED");
    EXPECT_DOUBLE_EQ(ScalarCol<double>(ant, "DISH_DIAMETER")(i), 4.65);
    EXPECT_FALSE(ScalarCol<std::uint8_t>(ant, "FLAG_ROW")(i));
    const auto p = pos(i);
    for (int k = 0; k < 3; ++k) EXPECT_DOUBLE_EQ(p[k], layout.antennas[i].itrf_m[k]);
    double offset = 0;
    for (double x : off(i).values) offset += std::abs(x);
    EXPECT_EQ(offset, 0.0);
  }
  EXPECT_EQ(frame_of(ant, "POSITION"), "ITRF");

  const CasaTable feed = open_sub(ms_, "FEED");
  ASSERT_EQ(feed.nrow(), 5u);
  const double start = test::kTinyT0, end = test::kTinyT0 + 3 * test::kTinyInterval;
  for (std::uint64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(ScalarCol<std::int32_t>(feed, "ANTENNA_ID")(i), static_cast<std::int32_t>(i));
    EXPECT_EQ(ScalarCol<std::int32_t>(feed, "SPECTRAL_WINDOW_ID")(i), -1);
    EXPECT_EQ(ScalarCol<std::int32_t>(feed, "NUM_RECEPTORS")(i), 2);
    EXPECT_EQ(ScalarCol<std::int32_t>(feed, "FEED_ID")(i), 0);
    const auto types = ArrayCol<std::string>(feed, "POLARIZATION_TYPE")(i);
    EXPECT_EQ(types.size(), 2u);
    EXPECT_EQ(types[0], "X");
    EXPECT_EQ(types[1], "Y");
    const auto ang = ArrayCol<double>(feed, "RECEPTOR_ANGLE")(i);
    EXPECT_DOUBLE_EQ(ang[0], 0.0);
    EXPECT_DOUBLE_EQ(ang[1], M_PI / 2);
    EXPECT_EQ(ArrayCol<double>(feed, "BEAM_OFFSET")(i).shape, shape2(2, 2));
    EXPECT_EQ(ArrayCol<std::complex<float>>(feed, "POL_RESPONSE")(i).shape, shape2(2, 2));
    EXPECT_NEAR(ScalarCol<double>(feed, "TIME")(i), (start + end) / 2, 1e-6);
    EXPECT_NEAR(ScalarCol<double>(feed, "INTERVAL")(i), end - start, 1e-6);
  }

  const CasaTable field = open_sub(ms_, "FIELD");
  ASSERT_EQ(field.nrow(), 3u);
  for (std::uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ScalarCol<std::string>(field, "NAME")(i), "meridian_icrs_t" + std::to_string(i));
    EXPECT_EQ(ScalarCol<std::int32_t>(field, "NUM_POLY")(i), 0);
    EXPECT_EQ(ScalarCol<std::int32_t>(field, "SOURCE_ID")(i), static_cast<std::int32_t>(i));
    EXPECT_DOUBLE_EQ(ScalarCol<double>(field, "TIME")(i), test::tiny_time(static_cast<int>(i)));
    for (const char* col : {"PHASE_DIR", "DELAY_DIR", "REFERENCE_DIR"}) {
      const auto d = ArrayCol<double>(field, col)(i);
      ASSERT_EQ(d.shape, shape2(2, 1)) << col;
      EXPECT_DOUBLE_EQ(d(0, 0), test::tiny_ra(static_cast<int>(i))) << col;
      EXPECT_DOUBLE_EQ(d(1, 0), test::kTinyDec) << col;
    }
  }
  EXPECT_EQ(frame_of(field, "PHASE_DIR"), "ICRS");
  EXPECT_EQ(frame_of(field, "DELAY_DIR"), "ICRS");
  EXPECT_EQ(frame_of(field, "REFERENCE_DIR"), "ICRS");

  const CasaTable source = open_sub(ms_, "SOURCE");
  ASSERT_EQ(source.nrow(), 3u);
  EXPECT_EQ(ScalarCol<std::string>(source, "NAME")(2), "meridian_icrs_t2");
  EXPECT_EQ(ScalarCol<std::int32_t>(source, "SOURCE_ID")(2), 2);
  EXPECT_DOUBLE_EQ(ArrayCol<double>(source, "DIRECTION")(2)[1], test::kTinyDec);
  EXPECT_EQ(frame_of(source, "DIRECTION"), "ICRS");

  const CasaTable spw = open_sub(ms_, "SPECTRAL_WINDOW");
  ASSERT_EQ(spw.nrow(), 2u);
  for (std::uint64_t s = 0; s < 2; ++s) {
    const auto f = ArrayCol<double>(spw, "CHAN_FREQ")(s);
    ASSERT_EQ(f.size(), 4u);
    for (int c = 0; c < 4; ++c) EXPECT_DOUBLE_EQ(f[c], test::tiny_freq(spec_, static_cast<int>(s), c));
    for (const char* col : {"CHAN_WIDTH", "EFFECTIVE_BW", "RESOLUTION"}) {
      const auto w = ArrayCol<double>(spw, col)(s);
      EXPECT_DOUBLE_EQ(w[0], test::kTinyChanWidth) << col;
    }
    EXPECT_EQ(ScalarCol<std::int32_t>(spw, "NUM_CHAN")(s), 4);
    EXPECT_EQ(ScalarCol<std::int32_t>(spw, "MEAS_FREQ_REF")(s), 5);
    EXPECT_EQ(ScalarCol<std::int32_t>(spw, "NET_SIDEBAND")(s), 1);
    EXPECT_DOUBLE_EQ(ScalarCol<double>(spw, "TOTAL_BANDWIDTH")(s), 4 * test::kTinyChanWidth);
    EXPECT_DOUBLE_EQ(ScalarCol<double>(spw, "REF_FREQUENCY")(s), f[0]);
    EXPECT_EQ(ScalarCol<std::string>(spw, "NAME")(s), layout.spectral_windows[s].name);
  }

  const CasaTable pol = open_sub(ms_, "POLARIZATION");
  ASSERT_EQ(pol.nrow(), 1u);
  const auto ct = ArrayCol<std::int32_t>(pol, "CORR_TYPE")(0);
  EXPECT_EQ(ct.size(), 2u);
  EXPECT_EQ(ct[0], 9);
  EXPECT_EQ(ct[1], 12);
  const auto cp = ArrayCol<std::int32_t>(pol, "CORR_PRODUCT")(0);
  ASSERT_EQ(cp.shape, shape2(2, 2));
  EXPECT_EQ(cp(0, 0), 0);  // XX: receptors (0, 0)
  EXPECT_EQ(cp(1, 0), 0);
  EXPECT_EQ(cp(0, 1), 1);  // YY: receptors (1, 1)
  EXPECT_EQ(cp(1, 1), 1);
  EXPECT_EQ(ScalarCol<std::int32_t>(pol, "NUM_CORR")(0), 2);

  const CasaTable dd = open_sub(ms_, "DATA_DESCRIPTION");
  ASSERT_EQ(dd.nrow(), 2u);
  for (std::uint64_t s = 0; s < 2; ++s) {
    EXPECT_EQ(ScalarCol<std::int32_t>(dd, "SPECTRAL_WINDOW_ID")(s), static_cast<std::int32_t>(s));
    EXPECT_EQ(ScalarCol<std::int32_t>(dd, "POLARIZATION_ID")(s), 0);
  }

  const CasaTable obs = open_sub(ms_, "OBSERVATION");
  ASSERT_EQ(obs.nrow(), 1u);
  EXPECT_EQ(ScalarCol<std::string>(obs, "TELESCOPE_NAME")(0), "DSA_110");
  EXPECT_EQ(ScalarCol<std::string>(obs, "OBSERVER")(0), "contimg tests");
  EXPECT_EQ(ScalarCol<std::string>(obs, "PROJECT")(0), "tiny");
  const auto range = ArrayCol<double>(obs, "TIME_RANGE")(0);
  EXPECT_NEAR(range[0], start, 1e-6);  // derived from the rows
  EXPECT_NEAR(range[1], end, 1e-6);

  const CasaTable hist = open_sub(ms_, "HISTORY");
  ASSERT_EQ(hist.nrow(), 1u);
  EXPECT_EQ(ScalarCol<std::string>(hist, "MESSAGE")(0), "written by the tiny MS fixture");
  EXPECT_EQ(ScalarCol<std::string>(hist, "APPLICATION")(0), "contimg");
  EXPECT_EQ(ScalarCol<std::string>(hist, "PRIORITY")(0), "INFO");
  const auto cli = ArrayCol<std::string>(hist, "CLI_COMMAND")(0);
  ASSERT_EQ(cli.size(), 3u);
  EXPECT_EQ(cli[1], "--out");

  const CasaTable proc = open_sub(ms_, "PROCESSOR");
  ASSERT_EQ(proc.nrow(), 1u);
  EXPECT_EQ(ScalarCol<std::string>(proc, "TYPE")(0), "CORRELATOR");
  EXPECT_EQ(open_sub(ms_, "POINTING").nrow(), 0u);
  EXPECT_EQ(open_sub(ms_, "STATE").nrow(), 0u);
  EXPECT_EQ(open_sub(ms_, "FLAG_CMD").nrow(), 0u);
}

TEST_F(MsWriterTest, J2000LabelAndGivenTimeRange) {
  MsLayout l = test::tiny_layout(spec_);
  l.direction_frame = DirectionFrame::kJ2000;
  l.observation.start_mjd_s = 100.0;
  l.observation.end_mjd_s = 200.0;
  l.expected_rows = static_cast<std::uint64_t>(spec_.rows());
  {
    MsWriter w(ms_, l);
    for (int t = 0; t < spec_.ntimes; ++t) {
      for (int s = 0; s < spec_.nspw; ++s) w.append(test::tiny_block(spec_, t, s).view(s));
    }
    EXPECT_EQ(w.rows_written(), static_cast<std::uint64_t>(spec_.rows()));
    w.finish();
    EXPECT_EQ(w.stats().blocks, static_cast<std::uint64_t>(spec_.ntimes * spec_.nspw));
  }
  EXPECT_EQ(frame_of(open_sub(ms_, "FIELD"), "PHASE_DIR"), "J2000");
  const auto range =
      ArrayCol<double>(open_sub(ms_, "OBSERVATION"), "TIME_RANGE")(0);
  EXPECT_EQ(range[0], 100.0);
  EXPECT_EQ(range[1], 200.0);
  EXPECT_EQ(CasaTable(ms_.string()).nrow(), static_cast<std::uint64_t>(spec_.rows()));
}

TEST_F(MsWriterTest, SpectralWindowsOfDifferentWidthsUseTiledShapes) {
  MsLayout l = test::tiny_layout(spec_);
  l.spectral_windows[1].chan_freq_hz.push_back(l.spectral_windows[1].chan_freq_hz.back() + 1e5);
  l.spectral_windows[1].chan_width_hz.push_back(1e5);
  {
    MsWriter w(ms_, l);
    auto b0 = test::tiny_block(spec_, 0, 0);
    w.append(b0.view(0));
    TinySpec wide = spec_;
    wide.nchan = 5;
    auto b1 = test::tiny_block(wide, 0, 1);
    w.append(b1.view(1));
    w.finish();
  }
  const CasaTable t(ms_.string());
  const ArrayCol<std::complex<float>> data(t, "DATA");
  EXPECT_EQ(data.shape(0), shape2(2, 4));
  EXPECT_EQ(data.shape(15), shape2(2, 5));
  TinySpec wide = spec_;
  wide.nchan = 5;
  EXPECT_EQ(data(16)(1, 4), test::tiny_vis(wide, 0, 1, 1, 4, 1));
  EXPECT_EQ(ArrayCol<std::uint8_t>(t, "FLAG").shape(15), shape2(2, 5));
}

TEST_F(MsWriterTest, BadBlocksAreRejectedBeforeAnythingIsWritten) {
  MsWriter w(ms_, test::tiny_layout(spec_));
  auto k = test::tiny_block(spec_, 0, 0);
  RowBlock b = k.view(0);
  b.data = b.data.subspan(1);
  EXPECT_THAT(error_of<InputError>([&] { w.append(b); }),
              AllOf(HasSubstr(ms_.string()), HasSubstr("block 0"), HasSubstr("data has 119 values, expected 120")));
  b = k.view(2);
  EXPECT_THAT(error_of<InputError>([&] { w.append(b); }), HasSubstr("data_desc_id out of range [0, 2)"));
  k.ant2[3] = 5;
  EXPECT_THAT(error_of<InputError>([&] { w.append(k.view(0)); }),
              HasSubstr("row 3: antenna pair (0, 5) out of range [0, 5)"));
  k = test::tiny_block(spec_, 0, 0);
  k.field = 3;
  EXPECT_THAT(error_of<InputError>([&] { w.append(k.view(0)); }), HasSubstr("field_id 3 out of range"));
  EXPECT_EQ(w.rows_written(), 0u);
  k.field = 0;
  w.append(k.view(0));
  EXPECT_EQ(w.rows_written(), 15u);
  w.finish();
  EXPECT_THAT(error_of<InputError>([&] { w.append(k.view(0)); }), HasSubstr("closed"));
  EXPECT_EQ(CasaTable(ms_.string()).nrow(), 15u);
}

TEST_F(MsWriterTest, DerivedValuesGivenByTheCallerAreWrittenAsGiven) {
  // The converter derives WEIGHT, SIGMA and FLAG_ROW in its reader threads.
  // Values unlike the derived ones show that the writer takes them as given;
  // a block without them is still derived (row 0 of the second block).
  MsWriter w(ms_, test::tiny_layout(spec_));
  const auto k = test::tiny_block(spec_, 0, 0);
  const std::size_t n = k.ant1.size();
  std::vector<float> weight(2 * n), sigma(2 * n);
  auto flag_row = std::make_unique<bool[]>(n);
  for (std::size_t i = 0; i < 2 * n; ++i) {
    weight[i] = 100.0f + static_cast<float>(i);
    sigma[i] = 0.5f + static_cast<float>(i);
  }
  for (std::size_t r = 0; r < n; ++r) flag_row[r] = r % 2 == 1;
  RowBlock b = k.view(0);
  b.weight = weight;
  b.sigma = std::span<const float>(sigma).first(2 * n - 1);
  EXPECT_THAT(error_of<InputError>([&] { w.append(b); }), HasSubstr("sigma has 29 values, expected 30"));
  b.sigma = {};
  EXPECT_THAT(error_of<InputError>([&] { w.append(b); }), HasSubstr("weight and sigma must be given together"));
  b.sigma = sigma;
  b.flag_row = {flag_row.get(), n - 1};
  EXPECT_THAT(error_of<InputError>([&] { w.append(b); }), HasSubstr("flag_row has 14 values, expected 15"));
  b.flag_row = {flag_row.get(), n};
  w.append(b);
  w.append(k.view(1));
  w.finish();

  const CasaTable t(ms_.string());
  const ArrayCol<float> wcol(t, "WEIGHT"), scol(t, "SIGMA");
  const ScalarCol<std::uint8_t> frow(t, "FLAG_ROW");
  const ArrayCol<std::uint8_t> flag(t, "FLAG");
  for (std::size_t r = 0; r < n; ++r) {
    const auto row = static_cast<std::uint64_t>(r);
    const auto wv = wcol(row), sv = scol(row);
    EXPECT_EQ(wv(0), weight[2 * r]) << r;
    EXPECT_EQ(wv(1), weight[2 * r + 1]) << r;
    EXPECT_EQ(sv(1), sigma[2 * r + 1]) << r;
    EXPECT_EQ(frow(row), flag_row[r]) << r;
    // FLAG itself is still the caller's flags.
    const auto f = flag(row);
    EXPECT_EQ(f.values[0], k.flags[r * 8] != 0) << r;
  }
  std::vector<float> derived_w(2), derived_s(2);
  const auto k1 = test::tiny_block(spec_, 0, 1);
  compute_weight_sigma(std::span<const float>(k1.weights).first(8), 1, 4, 2, derived_w, derived_s);
  const auto w1 = wcol(static_cast<std::uint64_t>(n));
  EXPECT_EQ(w1(0), derived_w[0]);
  EXPECT_EQ(w1(1), derived_w[1]);
}

TEST_F(MsWriterTest, ColumnsPutFromTwoThreadsGiveTheSameFilesAsFromOne) {
  // parallel_column_puts (the default) puts the weights and UVW from a second
  // thread; every storage-manager file must be byte-identical to a serial write.
  const fs::path serial = dir_ / "serial.ms";
  for (const bool parallel : {false, true}) {
    StorageOptions o{.block_rows = 15};
    o.parallel_column_puts = parallel;
    test::write_tiny_ms((parallel ? ms_ : serial).string(), spec_, o);
  }
  const auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  int compared = 0;
  for (const auto& e : fs::directory_iterator(serial)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("table.f", 0) != 0) continue;  // the storage managers' files
    EXPECT_EQ(slurp(e.path()), slurp(ms_ / name)) << name;
    ++compared;
  }
  EXPECT_GE(compared, 10);  // SSM, ISM and the tiled managers with their data files
}

TEST_F(MsWriterTest, ExpectedRowCountIsEnforced) {
  MsLayout l = test::tiny_layout(spec_);
  l.expected_rows = 30;
  MsWriter w(ms_, l);
  w.append(test::tiny_block(spec_, 0, 0).view(0));
  EXPECT_THAT(error_of<InputError>([&] { w.finish(); }),
              AllOf(HasSubstr(ms_.string()), HasSubstr("15 rows were written, the layout expected 30")));
}

// Bytes the filesystem holds for the tiled columns' data files, and their lengths.
struct TiledFiles {
  std::uint64_t allocated = 0, length = 0;
  int files = 0;
};
TiledFiles tiled_files(const fs::path& ms) {
  TiledFiles t;
  for (const auto& e : fs::directory_iterator(ms)) {
    const std::string name = e.path().filename().string();
    if (name.find("_TSM") == std::string::npos) continue;
    struct stat st {};
    if (::stat(e.path().c_str(), &st) != 0) continue;
    t.allocated += static_cast<std::uint64_t>(st.st_blocks) * 512;
    t.length += static_cast<std::uint64_t>(st.st_size);
    ++t.files;
  }
  return t;
}

// Whether the filesystem under `dir` preallocates past a file's end.
bool preallocates(const fs::path& dir) {
  const fs::path probe = dir / "probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  const bool ok = fd >= 0 && ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20) == 0;
  if (fd >= 0) ::close(fd);
  fs::remove(probe);
  return ok;
}

TEST_F(MsWriterTest, TiledFilesArePreallocatedAndWhatIsNotWrittenIsReleased) {
  if (!preallocates(dir_.path())) GTEST_SKIP() << "this filesystem does not preallocate";
  // 200 blocks expected, so that the preallocation (~200 KB of DATA alone)
  // stands out from the filesystem's block rounding.
  MsLayout l = test::tiny_layout(spec_);
  l.expected_rows = 200 * 15;
  const std::uint64_t data_bytes =
      l.expected_rows * static_cast<std::uint64_t>(spec_.nchan) * 2 * 8;
  {
    MsWriter w(ms_, l, StorageOptions{.block_rows = 15});
    const auto before = tiled_files(ms_);
    EXPECT_EQ(before.files, 6);  // DATA, FLAG, WEIGHT_SPECTRUM, UVW, WEIGHT, SIGMA
    // DATA + WEIGHT_SPECTRUM (1.5 × DATA) at least, before any row is written.
    EXPECT_GE(before.allocated, data_bytes * 3 / 2);
    EXPECT_EQ(before.length, 0u);  // casacore still sees empty files
    for (int t = 0; t < 2; ++t) w.append(test::tiny_block(spec_, t, 0).view(0));
  }  // closed without finish(): 2 of 200 blocks written
  const auto after = tiled_files(ms_);
  EXPECT_GT(after.length, 0u);
  EXPECT_LT(after.allocated, after.length + 6 * 64 * 1024)
      << "the unwritten preallocation was not released";
  EXPECT_EQ(CasaTable(ms_.string()).nrow(), 30u);
}

TEST_F(MsWriterTest, WithoutPreallocationNothingIsAllocatedBeforeTheRows) {
  MsLayout l = test::tiny_layout(spec_);
  l.expected_rows = 200 * 15;
  StorageOptions o{.block_rows = 15};
  o.preallocate = false;
  MsWriter w(ms_, l, o);
  EXPECT_EQ(tiled_files(ms_).allocated, 0u);
}

TEST_F(MsWriterTest, APreallocatedMsIsTheSameMsWithNothingLeftOver) {
  // The same rows with and without preallocation: the same bytes in every
  // storage manager's file, and no block past the end of a finished file.
  const fs::path plain = dir_ / "plain.ms";
  for (const bool prealloc : {false, true}) {
    MsLayout l = test::tiny_layout(spec_);
    l.expected_rows = static_cast<std::uint64_t>(spec_.rows());
    StorageOptions o{.block_rows = 15};
    o.preallocate = prealloc;
    MsWriter w(prealloc ? ms_ : plain, l, o);
    for (int t = 0; t < spec_.ntimes; ++t) {
      for (int spw = 0; spw < spec_.nspw; ++spw)
        w.append(test::tiny_block(spec_, t, spw).view(spw));
    }
    w.finish();
  }
  const auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  for (const auto& e : fs::directory_iterator(plain)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("table.f", 0) == 0) {
      EXPECT_EQ(slurp(e.path()), slurp(ms_ / name)) << name;
    }
  }
  const auto done = tiled_files(ms_);
  EXPECT_LE(done.allocated, done.length + 6 * 4096);
}

TEST_F(MsWriterTest, RowsWithTheirOwnTimesFieldsAndScans) {
  // One block whose rows differ in TIME, FIELD_ID and SCAN_NUMBER (the slow
  // path, row by row), then a constant block, under both storage choices.
  for (const bool incremental : {true, false}) {
    SCOPED_TRACE(incremental ? "IncrementalStMan" : "StandardStMan");
    const fs::path path = dir_ / (incremental ? "ism.ms" : "ssm.ms");
    {
      MsWriter w(path, test::tiny_layout(spec_), StorageOptions{.incremental_for_constant_columns = incremental});
      auto k = test::tiny_block(spec_, 0, 0);
      std::vector<double> times(15), centroids(15);
      std::vector<std::int32_t> fields(15), scans(15);
      for (int i = 0; i < 15; ++i) {
        times[i] = test::tiny_time(i % 3);
        centroids[i] = times[i] + 0.5;
        fields[i] = i % 3;
        scans[i] = 7 + i % 2;
      }
      RowBlock b = k.view(1);
      b.time_mjd_s = times;
      b.time_centroid_mjd_s = centroids;
      b.field_id = fields;
      b.scan_number = scans;
      b.interval_s = 6.0;
      b.exposure_s = 5.0;
      w.append(b);
      w.append(k.view(0));
      w.finish();
    }
    const CasaTable t(path.string());
    ASSERT_EQ(t.nrow(), 30u);
    const ScalarCol<double> time(t, "TIME"), centroid(t, "TIME_CENTROID"),
        interval(t, "INTERVAL"), exposure(t, "EXPOSURE");
    const ScalarCol<std::int32_t> field(t, "FIELD_ID"), scan(t, "SCAN_NUMBER"), ddid(t, "DATA_DESC_ID"),
        state(t, "STATE_ID");
    for (std::uint64_t r = 0; r < 15; ++r) {
      EXPECT_DOUBLE_EQ(time(r), test::tiny_time(static_cast<int>(r % 3)));
      EXPECT_DOUBLE_EQ(centroid(r), time(r) + 0.5);
      EXPECT_EQ(field(r), static_cast<std::int32_t>(r % 3));
      EXPECT_EQ(scan(r), static_cast<std::int32_t>(7 + r % 2));
      EXPECT_EQ(ddid(r), 1);
      EXPECT_EQ(state(r), -1);
      EXPECT_DOUBLE_EQ(interval(r), 6.0);
      EXPECT_DOUBLE_EQ(exposure(r), 5.0);
    }
    for (std::uint64_t r = 15; r < 30; ++r) {
      EXPECT_DOUBLE_EQ(time(r), test::tiny_time(0));
      EXPECT_DOUBLE_EQ(centroid(r), test::tiny_time(0));
      EXPECT_EQ(field(r), 0);
      EXPECT_EQ(scan(r), 1);
      EXPECT_EQ(ddid(r), 0);
      EXPECT_DOUBLE_EQ(interval(r), test::kTinyInterval);
      EXPECT_DOUBLE_EQ(exposure(r), test::kTinyInterval);
    }
    // TIME_RANGE spans all rows, each TIME +- its INTERVAL / 2: the second block (t0, 12.88 s)
    // starts first, the first block's t2 rows (6 s) end last.
    const auto range =
        ArrayCol<double>(CasaTable((path / "OBSERVATION").string()), "TIME_RANGE")(0);
    EXPECT_NEAR(range[0], test::kTinyT0, 1e-6);
    EXPECT_NEAR(range[1], test::tiny_time(2) + 3.0, 1e-6);
  }
}

TEST_F(MsWriterTest, UnwritablePathsAreIoErrorsNamingThePath) {
  const fs::path missing = dir_ / "no_such_dir" / "x.ms";
  EXPECT_THAT(error_of<IoError>([&] { MsWriter w(missing, test::tiny_layout(spec_)); }),
              AllOf(HasSubstr(missing.string()), HasSubstr("does not exist")));

  const fs::path file = dir_ / "plain_file";
  std::ofstream(file) << "x";
  const fs::path under_file = file / "x.ms";
  EXPECT_THAT(error_of<IoError>([&] { MsWriter w(under_file, test::tiny_layout(spec_)); }),
              HasSubstr(under_file.string()));

  // A directory nobody (root included) can create tables in.
  const fs::path in_proc = "/proc/contimg_ms_writer_test.ms";
  EXPECT_THAT(error_of<IoError>([&] { MsWriter w(in_proc, test::tiny_layout(spec_)); }),
              AllOf(HasSubstr(in_proc.string()), HasSubstr("cannot create Measurement Set")));

  if (geteuid() != 0) {  // root ignores permission bits
    const fs::path ro = dir_ / "read_only";
    fs::create_directory(ro);
    ::chmod(ro.c_str(), 0555);
    const fs::path target = ro / "x.ms";
    EXPECT_THAT(error_of<IoError>([&] { MsWriter w(target, test::tiny_layout(spec_)); }),
                AllOf(HasSubstr(target.string()), HasSubstr("cannot create Measurement Set")));
    EXPECT_FALSE(fs::exists(target));
    ::chmod(ro.c_str(), 0755);
  }
}

TEST_F(MsWriterTest, ExistingPathNeedsOverwrite) {
  test::write_tiny_ms(ms_.string(), spec_);
  EXPECT_THAT(error_of<IoError>([&] { test::write_tiny_ms(ms_.string(), spec_); }),
              AllOf(HasSubstr(ms_.string()), HasSubstr("already exists")));
  TinySpec one = spec_;
  one.ntimes = 1;
  test::write_tiny_ms(ms_.string(), one, {}, /*overwrite=*/true);
  EXPECT_EQ(CasaTable(ms_.string()).nrow(), 30u);
  const fs::path not_table = dir_ / "not_a_table";
  fs::create_directory(not_table);
  EXPECT_THAT(error_of<IoError>([&] { test::write_tiny_ms(not_table.string(), one, {}, true); }),
              HasSubstr("not a casacore table"));
}

TEST_F(MsWriterTest, DestructorClosesAnUnfinishedMsWithoutThrowing) {
  {
    MsWriter w(ms_, test::tiny_layout(spec_));
    w.append(test::tiny_block(spec_, 0, 0).view(0));
    w.flush();
  }
  const CasaTable t(ms_.string());
  EXPECT_EQ(t.nrow(), 15u);
  // Moved-from writers are inert.
  MsWriter a(dir_ / "b.ms", test::tiny_layout(spec_));
  MsWriter b = std::move(a);
  b.finish();
}

}  // namespace
}  // namespace contimg::ms
