#include "io/uvh5/uvh5_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/build_info.h"
#include "common/error.h"
#include "io/uvh5/hdf5_handle.h"
#include "io/uvh5/uvh5_writer.h"
#include "support/tiny_uvh5.h"

namespace contimg::uvh5 {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

const fs::path kSamples = fs::path(CONTIMG_TEST_DATA_DIR) / "uvh5";

struct Buffers {
  explicit Buffers(const Uvh5Header& h, std::uint64_t nrows)
      : vis(nrows * h.nfreqs * h.npols), flags(vis.size()), nsamples(vis.size()) {}
  VisBlockView view() { return {vis, flags, nsamples}; }
  std::vector<std::complex<float>> vis;
  std::vector<std::uint8_t> flags;
  std::vector<float> nsamples;
};

// Runs `f` and returns the InputError's message; fails the test if none is thrown.
template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError thrown";
  return {};
}

class Uvh5FileTest : public ::testing::Test {
 protected:
  void SetUp() override { initialize_hdf5(build::kHdf5PluginDir); }
  TempDir dir_;
};

TEST_F(Uvh5FileTest, PeekReadsLegacySampleDimensionsWithoutArrays) {
  const Uvh5File f(kSamples / "zen.2458661.23480.HH.uvh5", CacheProfile::kMetadata);
  const Uvh5Header h = f.peek();
  EXPECT_EQ(h.layout, Layout::kLegacy);
  EXPECT_EQ(h.nblts, 200);
  EXPECT_EQ(h.ntimes, 20);
  EXPECT_EQ(h.nbls, 10);
  EXPECT_EQ(h.nfreqs, 4);
  EXPECT_EQ(h.npols, 2);
  EXPECT_EQ(h.vis_type, VisType::kFloat64);
  EXPECT_EQ(h.visdata.shape, (std::vector<std::uint64_t>{200, 1, 4, 2}));
  EXPECT_THAT(h.flags.filters, ::testing::ElementsAre("lzf"));
  EXPECT_TRUE(h.channel_width_scalar);
  EXPECT_FALSE(h.arrays_loaded);
  EXPECT_TRUE(h.time_jd.empty());
  EXPECT_LT(h.time_min_jd, h.time_max_jd);
}

TEST_F(Uvh5FileTest, ReadsV1LayoutWithPhaseCenterCatalogAndInt32Data) {
  const Uvh5File f(kSamples / "zen.2458432.34569.uvh5", CacheProfile::kStandard);
  const Uvh5Header h = f.read_header();
  EXPECT_EQ(h.layout, Layout::kV1);
  EXPECT_EQ(h.version, "1.2");
  ASSERT_EQ(h.phase_centers.size(), 1u);
  EXPECT_EQ(h.phase_centers[0].name, "zenith");
  EXPECT_EQ(h.phase_centers[0].type, "unprojected");
  EXPECT_EQ(h.vis_type, VisType::kInt32);
  EXPECT_EQ(h.visdata.shape.size(), 3u);
  EXPECT_FALSE(h.channel_width_scalar);
  EXPECT_EQ(h.channel_width_hz.size(), 64u);
  EXPECT_EQ(h.polarization, (std::vector<std::int64_t>{-5, -6, -7, -8}));
  // Zenith drift: the pointing declination is the latitude.
  ASSERT_TRUE(h.pointing_dec_rad());
  EXPECT_NEAR(*h.pointing_dec_rad(), h.latitude_deg * M_PI / 180, 1e-12);
  Buffers b(h, 2);
  f.read_rows(h, 0, 2, b.view());
  // int32 visibilities arrive as exact floats.
  for (const auto& v : b.vis) EXPECT_EQ(v.real(), std::round(v.real()));
}

TEST_F(Uvh5FileTest, FullHeaderOfTinyFileMatchesWhatWasWritten) {
  const Uvh5Header w = test::tiny_header();
  const auto path = test::write_tiny(dir_ / "tiny_sb00.hdf5", w);
  const Uvh5Header h = Uvh5File(path, CacheProfile::kStandard).read_header();
  EXPECT_EQ(h.ant_1, w.ant_1);
  EXPECT_EQ(h.ant_2, w.ant_2);
  EXPECT_EQ(h.time_jd, w.time_jd);
  EXPECT_EQ(h.antenna_names, w.antenna_names);
  EXPECT_EQ(h.antenna_positions, w.antenna_positions);
  EXPECT_EQ(h.freq_hz, w.freq_hz);
  EXPECT_TRUE(h.freq_descending());
  EXPECT_EQ(h.extra_keywords.at("phase_center_dec").get<double>(), 0.9);
  EXPECT_EQ(h.extra_keywords.at("phase_center_epoch").get<std::string>(), "HADEC");
  EXPECT_EQ(*h.pointing_dec_rad(), 0.9);
  // uvw is stored as float32, as the correlator writes it.
  for (std::size_t i = 0; i < h.uvw_m.size(); ++i) {
    for (int k = 0; k < 3; ++k) EXPECT_EQ(h.uvw_m[i][k], static_cast<double>(static_cast<float>(w.uvw_m[i][k])));
  }
}

// Rows [r0, r0 + n) of a tiny file hold the stored values, and the ascending
// read holds them with the channels reversed.
void expect_stored_and_reversed(const fs::path& path, std::uint64_t r0, std::uint64_t n) {
  const Uvh5File f(path, CacheProfile::kStandard);
  const Uvh5Header h = f.read_header();
  const auto nf = static_cast<std::uint64_t>(h.nfreqs), np = static_cast<std::uint64_t>(h.npols);
  Buffers stored(h, n), asc(h, n);
  f.read_rows(h, r0, n, stored.view(), ChannelOrder::kAsStored);
  f.read_rows(h, r0, n, asc.view(), ChannelOrder::kAscending);
  std::uint64_t mismatches = 0;
  for (std::uint64_t r = 0; r < n; ++r) {
    for (std::uint64_t c = 0; c < nf; ++c) {
      for (std::uint64_t p = 0; p < np; ++p) {
        const auto k = (r * nf + c) * np + p;
        const auto k_asc = (r * nf + (nf - 1 - c)) * np + p;
        const bool ok = stored.vis[k] == test::tiny_vis(r0 + r, c, p) &&
                        stored.flags[k] == (test::tiny_flag(r0 + r, c, p) ? 1 : 0) &&
                        stored.nsamples[k] == test::tiny_nsamples(r0 + r, c, p) &&
                        asc.vis[k_asc] == stored.vis[k] && asc.flags[k_asc] == stored.flags[k] &&
                        asc.nsamples[k_asc] == stored.nsamples[k];
        if (!ok && ++mismatches <= 5) ADD_FAILURE() << "row " << r0 + r << " channel " << c << " pol " << p;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST_F(Uvh5FileTest, BlockReadReturnsStoredValuesAndAscendingOrderReversesChannels) {
  expect_stored_and_reversed(test::write_tiny(dir_ / "a.hdf5", test::tiny_header(4, 3, 8, 2)), 5, 7);
}

TEST_F(Uvh5FileTest, AscendingReadsOfManyRowsReverseEveryPiece) {
  // Descending files are read and reversed in pieces of <= 1 MiB: with 1024
  // channels x 2 pols, visdata comes in pieces of 64 rows and nsamples of
  // 128, so 300 rows from row 5 span several pieces and a partial last one.
  expect_stored_and_reversed(test::write_tiny(dir_ / "m.hdf5", test::tiny_header(8, 10, 1024, 2)), 5,
                             300);
}

TEST_F(Uvh5FileTest, ReadTimesSelectsTheRowsOfThoseIntegrations) {
  const Uvh5Header w = test::tiny_header(3, 4, 4, 2);  // 6 baselines x 4 times
  const auto path = test::write_tiny(dir_ / "t.hdf5", w);
  const Uvh5File f(path, CacheProfile::kStandard);
  const Uvh5Header h = f.read_header();
  Buffers b(h, 12);
  const auto rows = f.read_times(h, 1, 3, b.view());
  ASSERT_EQ(rows.size(), 12u);
  EXPECT_EQ(rows.front(), 6u);
  EXPECT_EQ(rows.back(), 17u);
  EXPECT_EQ(b.vis[0], test::tiny_vis(6, 0, 0));
  EXPECT_THROW(f.read_times(h, 2, 5, b.view()), std::out_of_range);
}

TEST_F(Uvh5FileTest, EveryCompressionAndStoredTypeReadsBackIdentically) {
  const Uvh5Header w = test::tiny_header(4, 5, 8, 2);
  const auto expected = test::tiny_data(w);
  for (auto comp : {Compression::kNone, Compression::kGzip, Compression::kLzf, Compression::kBitshuffle}) {
    for (auto type : {VisType::kFloat32, VisType::kFloat64, VisType::kInt32}) {
      for (bool four_d : {true, false}) {
        SCOPED_TRACE(std::string(to_string(comp)) + " " + to_string(type) + (four_d ? " 4-D" : " 3-D"));
        WriteOptions o;
        o.compression = comp;
        o.vis_type = type;
        o.four_d = four_d;
        o.chunk_rows = comp == Compression::kNone ? 0 : 7;
        const auto path = test::write_tiny(dir_ / "c.hdf5", w, o);
        for (auto profile : {CacheProfile::kMetadata, CacheProfile::kStandard,
                             CacheProfile::kStreaming, CacheProfile::kRandom}) {
          const Uvh5File f(path, profile);
          const Uvh5Header h = f.peek();
          EXPECT_EQ(h.vis_type, type);
          if (comp != Compression::kNone) {
            ASSERT_EQ(h.visdata.filters.size(), 1u);
            EXPECT_EQ(h.visdata.filters[0], to_string(comp));
            EXPECT_EQ(f.chunk_rows(h), 7u);
          }
          Buffers b(h, static_cast<std::uint64_t>(h.nblts));
          f.read_rows(h, 0, static_cast<std::uint64_t>(h.nblts), b.view());
          EXPECT_EQ(b.flags, expected.flags);
          EXPECT_EQ(b.nsamples, expected.nsamples);
          if (type == VisType::kInt32) {
            for (std::size_t i = 0; i < b.vis.size(); ++i) {
              // Stored as integers: the writer truncates toward zero.
              ASSERT_EQ(b.vis[i], std::complex<float>(std::trunc(expected.vis[i].real()),
                                                      std::trunc(expected.vis[i].imag())));
            }
          } else {
            EXPECT_EQ(b.vis, expected.vis);
          }
        }
      }
    }
  }
}

TEST_F(Uvh5FileTest, CacheProfileIsAppliedToTheOpenFile) {
  const auto path = test::write_tiny(dir_ / "p.hdf5", test::tiny_header());
  CacheProfiles profiles;
  profiles.random.bytes = 3u << 20;
  for (auto p : {CacheProfile::kMetadata, CacheProfile::kStandard, CacheProfile::kStreaming,
                 CacheProfile::kRandom}) {
    const Uvh5File f(path, p, profiles);
    EXPECT_EQ(f.applied_cache().bytes, profiles.get(p).bytes) << to_string(p);
    EXPECT_EQ(f.applied_cache().slots, profiles.get(p).slots) << to_string(p);
  }
  EXPECT_EQ(CacheProfiles{}.metadata.bytes, 1u << 20);
  EXPECT_EQ(CacheProfiles{}.standard.bytes, 16u << 20);
  EXPECT_EQ(CacheProfiles{}.streaming.bytes, 0u);
  EXPECT_EQ(CacheProfiles{}.random.bytes, 64u << 20);
}

// ---- bad input ---------------------------------------------------------------

TEST_F(Uvh5FileTest, NonHdf5FileIsAClearError) {
  const auto path = dir_ / "notes_sb03.hdf5";
  std::ofstream(path) << "this is not HDF5\n";
  const auto msg = input_error([&] { Uvh5File f(path, CacheProfile::kMetadata); });
  EXPECT_THAT(msg, AllOf(HasSubstr(path.string()), HasSubstr("not an HDF5 file")));
}

TEST_F(Uvh5FileTest, MissingFileIsAClearError) {
  const auto msg = input_error([&] { Uvh5File f(dir_ / "absent.hdf5", CacheProfile::kMetadata); });
  EXPECT_THAT(msg, AllOf(HasSubstr("absent.hdf5"), HasSubstr("no such file")));
}

TEST_F(Uvh5FileTest, TruncatedFileIsAClearError) {
  const auto path = test::write_tiny(dir_ / "trunc.hdf5", test::tiny_header(6, 6, 16, 2));
  const auto full = fs::file_size(path);
  for (double frac : {0.5, 0.9}) {
    fs::resize_file(path, static_cast<std::uintmax_t>(full * frac));
    const auto msg = input_error([&] {
      Uvh5File f(path, CacheProfile::kStandard);
      const auto h = f.read_header();
      Buffers b(h, static_cast<std::uint64_t>(h.nblts));
      f.read_rows(h, 0, static_cast<std::uint64_t>(h.nblts), b.view());
    });
    EXPECT_THAT(msg, AllOf(HasSubstr(path.string()), HasSubstr("truncated")));
  }
}

TEST_F(Uvh5FileTest, MissingVisdataNamesTheDataset) {
  const auto path = test::write_tiny(dir_ / "novis.hdf5", test::tiny_header());
  {
    H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_GE(H5Ldelete(file.get(), "Data/visdata", H5P_DEFAULT), 0);
  }
  const auto msg = input_error([&] { Uvh5File(path, CacheProfile::kMetadata).peek(); });
  EXPECT_THAT(msg, AllOf(HasSubstr(path.string()), HasSubstr("Data/visdata"), HasSubstr("missing")));
}

TEST_F(Uvh5FileTest, MissingHeaderFieldNamesTheDataset) {
  const auto path = test::write_tiny(dir_ / "nofreq.hdf5", test::tiny_header());
  {
    H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_GE(H5Ldelete(file.get(), "Header/freq_array", H5P_DEFAULT), 0);
  }
  const auto msg = input_error([&] { Uvh5File(path, CacheProfile::kMetadata).peek(); });
  EXPECT_THAT(msg, AllOf(HasSubstr("Header/freq_array"), HasSubstr("missing")));
}

// Replaces Data/<name> by a dataset of another type or shape.
void replace_dataset(const fs::path& path, const char* name, hid_t type,
                     const std::vector<hsize_t>& dims) {
  H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
  ASSERT_GE(H5Ldelete(file.get(), name, H5P_DEFAULT), 0);
  H5Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  H5Id ds(H5Dcreate2(file.get(), name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  ASSERT_TRUE(ds);
}

TEST_F(Uvh5FileTest, WrongShapeNamesDatasetAndShape) {
  const auto h = test::tiny_header(4, 3, 8, 2);
  const auto path = test::write_tiny(dir_ / "shape.hdf5", h);
  H5Id vis_type(H5Tcreate(H5T_COMPOUND, 8));
  H5Tinsert(vis_type.get(), "r", 0, H5T_IEEE_F32LE);
  H5Tinsert(vis_type.get(), "i", 4, H5T_IEEE_F32LE);
  replace_dataset(path, "Data/visdata", vis_type.get(),
                  {static_cast<hsize_t>(h.nblts), 1, 7, 2});  // 7 channels, header says 8
  const auto msg = input_error([&] { Uvh5File(path, CacheProfile::kMetadata).peek(); });
  EXPECT_THAT(msg, AllOf(HasSubstr(path.string()), HasSubstr("Data/visdata"),
                         HasSubstr("wrong shape"), HasSubstr("Nfreqs=8")));
}

TEST_F(Uvh5FileTest, WrongDtypeNamesDatasetAndType) {
  const auto h = test::tiny_header(4, 3, 8, 2);
  const auto path = test::write_tiny(dir_ / "dtype.hdf5", h);
  replace_dataset(path, "Data/visdata", H5T_IEEE_F64LE, {static_cast<hsize_t>(h.nblts), 1, 8, 2});
  auto msg = input_error([&] { Uvh5File(path, CacheProfile::kMetadata).peek(); });
  EXPECT_THAT(msg, AllOf(HasSubstr("Data/visdata"), HasSubstr("wrong type")));

  const auto path2 = test::write_tiny(dir_ / "dtype2.hdf5", h);
  replace_dataset(path2, "Data/flags", H5T_IEEE_F32LE, {static_cast<hsize_t>(h.nblts), 1, 8, 2});
  const Uvh5File f(path2, CacheProfile::kStandard);
  const auto hh = f.peek();
  Buffers b(hh, 2);
  msg = input_error([&] { f.read_rows(hh, 0, 2, b.view()); });
  EXPECT_THAT(msg, AllOf(HasSubstr("Data/flags"), HasSubstr("wrong type")));
}

TEST_F(Uvh5FileTest, MissingFilterPluginIsReportedAsAReadFailure) {
  // A dataset using an unregistered filter id: HDF5 cannot decode it.
  const auto h = test::tiny_header(4, 3, 8, 2);
  const auto path = dir_ / "filter.hdf5";
  test::write_tiny(path, h);
  {
    H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
    ASSERT_GE(H5Ldelete(file.get(), "Data/nsamples", H5P_DEFAULT), 0);
    const hsize_t dims[] = {static_cast<hsize_t>(h.nblts), 1, 8, 2};
    const hsize_t chunk[] = {4, 1, 8, 2};
    H5Id space(H5Screate_simple(4, dims, nullptr));
    H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
    H5Pset_chunk(dcpl.get(), 4, chunk);
    H5Pset_filter(dcpl.get(), 32999, H5Z_FLAG_OPTIONAL, 0, nullptr);  // unknown filter
    H5Id ds(H5Dcreate2(file.get(), "Data/nsamples", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT,
                       dcpl.get(), H5P_DEFAULT));
    // Optional filters are skipped on write; mark the chunk as filtered by writing raw bytes.
    std::vector<float> raw(4 * 8 * 2, 1.0f);
    const hsize_t off[] = {0, 0, 0, 0};
    ASSERT_GE(H5Dwrite_chunk(ds.get(), H5P_DEFAULT, 0u, off, raw.size() * sizeof(float), raw.data()), 0);
  }
  const Uvh5File f(path, CacheProfile::kStandard);
  const auto hh = f.peek();
  EXPECT_THAT(hh.nsamples.filters, ::testing::ElementsAre("filter-32999"));
  Buffers b(hh, 2);
  const auto msg = input_error([&] { f.read_rows(hh, 0, 2, b.view()); });
  EXPECT_THAT(msg, AllOf(HasSubstr("Data/nsamples"), HasSubstr("read failed")));
}

TEST_F(Uvh5FileTest, BufferTooSmallIsAProgrammingError) {
  const auto path = test::write_tiny(dir_ / "buf.hdf5", test::tiny_header());
  const Uvh5File f(path, CacheProfile::kStandard);
  const auto h = f.peek();
  Buffers b(h, 1);
  EXPECT_THROW(f.read_rows(h, 0, 2, b.view()), std::invalid_argument);
  EXPECT_THROW(f.read_rows(h, static_cast<std::uint64_t>(h.nblts), 1, b.view()), std::out_of_range);
}

}  // namespace
}  // namespace contimg::uvh5
