// io/ms's CasaTable calls the calibration layer uses since it moved onto it:
// row ranges read into the caller's memory, string keywords, hasContent, and
// a complex column added with another column's shape and tiles.
#include "io/ms/casa_table.h"

#include <gtest/gtest.h>

#include "io/ms/tiny_ms.h"
#include "support/tiny_uvh5.h"

namespace contimg::ms {
namespace {

TEST(CasaTable, RangesReadIntoTheCallersMemoryEqualGetRange) {
  contimg::test::TempDir dir;
  const test::TinySpec spec;
  const auto path = (dir.path() / "t.ms").string();
  test::write_tiny_ms(path, spec);
  const CasaTable t(path);
  const std::uint64_t row0 = 3, n = 7;
  const std::size_t ncorr = 2, nchan = static_cast<std::size_t>(spec.nchan);
  std::vector<std::complex<float>> data(ncorr * nchan * n);
  t.get_range_into<std::complex<float>>("DATA", row0, {ncorr, nchan, n}, data.data());
  EXPECT_EQ(data, t.get_range<std::complex<float>>("DATA", row0, n).values);
  std::vector<std::uint8_t> flag(data.size());
  t.get_range_into<std::uint8_t>("FLAG", row0, {ncorr, nchan, n}, flag.data());
  EXPECT_EQ(flag, t.get_range<std::uint8_t>("FLAG", row0, n).values);
  std::vector<std::int32_t> ant1(n);
  t.get_range_into<std::int32_t>("ANTENNA1", row0, {n}, ant1.data());
  EXPECT_EQ(ant1, t.get_range<std::int32_t>("ANTENNA1", row0, n).values);
  std::vector<double> uvw(3 * n);
  t.get_range_into<double>("UVW", row0, {3, n}, uvw.data());
  EXPECT_EQ(uvw, t.get_range<double>("UVW", row0, n).values);
  // A shape that is not the column's is an error, not a partial read.
  std::vector<std::complex<float>> wrong(ncorr * (nchan + 1) * n);
  EXPECT_THROW(
      t.get_range_into<std::complex<float>>("DATA", row0, {ncorr, nchan + 1, n}, wrong.data()),
      TableError);
  EXPECT_TRUE(t.has_content("WEIGHT_SPECTRUM"));
}

TEST(CasaTable, KeywordsAndAColumnAddedLikeAnotherSurviveReopening) {
  contimg::test::TempDir dir;
  const test::TinySpec spec;
  const auto path = (dir.path() / "t.ms").string();
  test::write_tiny_ms(path, spec);
  {
    CasaTable t(path, CasaTable::Mode::kUpdate);
    EXPECT_EQ(t.keyword_string("CONTIMG_X", "none"), "none");
    t.set_keyword_string("CONTIMG_X", "set-1");
    t.add_complex_column_like("CORRECTED_DATA", "DATA", "corrected visibilities", "Jy");
    const std::uint64_t n = t.nrow();
    std::vector<std::complex<float>> v(2 * static_cast<std::size_t>(spec.nchan) * n, {1.5f, -2.0f});
    t.put_range<std::complex<float>>("CORRECTED_DATA", 0,
                                     {2, static_cast<std::size_t>(spec.nchan), n}, v.data());
    t.flush_or_throw("test");
  }
  {
    const CasaTable t(path);
    EXPECT_EQ(t.keyword_string("CONTIMG_X"), "set-1");
    ASSERT_TRUE(t.has_column("CORRECTED_DATA"));
    EXPECT_EQ(t.column_keyword("CORRECTED_DATA", "", "UNIT", ""), "Jy");
    EXPECT_EQ(t.cell_shape("CORRECTED_DATA", 0), t.cell_shape("DATA", 0));
    const auto c = t.get_range<std::complex<float>>("CORRECTED_DATA", 0, t.nrow());
    EXPECT_EQ(c.values.front(), std::complex<float>(1.5f, -2.0f));
    EXPECT_EQ(c.values.back(), std::complex<float>(1.5f, -2.0f));
    bool tiled = false;
    for (const auto& dm : t.data_managers()) {
      for (const auto& col : dm.columns)
        tiled |= col == "CORRECTED_DATA" && dm.type.rfind("Tiled", 0) == 0;
    }
    EXPECT_TRUE(tiled) << "stored like DATA, in a tiled storage manager";
  }
  {
    CasaTable t(path, CasaTable::Mode::kUpdate);
    t.set_keyword_string("CONTIMG_X", "");  // removes it
    t.flush_or_throw("test");
  }
  EXPECT_EQ(CasaTable(path).keyword_string("CONTIMG_X", "gone"), "gone");
}

}  // namespace
}  // namespace contimg::ms
