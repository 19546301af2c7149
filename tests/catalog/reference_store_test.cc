// NVSS readers (HEASARC FITS, VizieR TSV with sexagesimal columns) and the
// indexed store's cone queries against a brute-force search.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <random>
#include <unistd.h>

#include <fmt/format.h>

#include "catalog/reference_store.h"
#include "common/error.h"
#include "io/fits/fits_table.h"
#include "sky/primary_beam.h"

namespace contimg::catalog {
namespace {
namespace fs = std::filesystem;
constexpr double kDeg = std::numbers::pi / 180;

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / fmt::format("contimg_refstore_{}_{}", name, ::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(ParseAngle, SexagesimalAndDecimal) {
  EXPECT_NEAR(parse_angle_deg("12 30 00.0", true), 187.5, 1e-12);
  EXPECT_NEAR(parse_angle_deg("12:30:00", true), 187.5, 1e-12);
  EXPECT_NEAR(parse_angle_deg("-00 30 00", false), -0.5, 1e-12);
  EXPECT_NEAR(parse_angle_deg("+45 15 36.0", false), 45.26, 1e-12);
  EXPECT_NEAR(parse_angle_deg("123.25", false), 123.25, 1e-12);
  EXPECT_THROW(parse_angle_deg("12x", false), InputError);
}

TEST(ReadNvss, HeasarcFitsTableInMilliJansky) {
  const auto dir = temp_dir("fits");
  fits::Table t;
  t.extname = "NVSS";
  t.columns.push_back({"NAME", "", std::vector<std::string>{"NVSS J000001+000001", "NVSS J120000-300000"}});
  t.columns.push_back({"RA", "deg", std::vector<double>{0.004, 180.0}});
  t.columns.push_back({"DEC", "deg", std::vector<double>{0.0003, -30.0}});
  t.columns.push_back({"FLUX_20_CM", "mJy", std::vector<double>{12.5, 250.0}});
  t.columns.push_back({"FLUX_20_CM_ERROR", "mJy", std::vector<double>{0.5, 7.5}});
  t.columns.push_back({"MAJOR_AXIS", "arcsec", std::vector<double>{0, 20}});
  fits::write_table(dir / "nvss.fits", t);
  const auto s = read_nvss(dir / "nvss.fits");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[1].name, "NVSS J120000-300000");
  EXPECT_DOUBLE_EQ(s[1].ra_deg, 180.0);
  EXPECT_DOUBLE_EQ(s[1].flux_jy, 0.25);
  EXPECT_DOUBLE_EQ(s[1].flux_err_jy, 0.0075);
  EXPECT_DOUBLE_EQ(s[1].major_arcsec, 20);
  fs::remove_all(dir);
}

TEST(ReadNvss, VizierTsvWithSexagesimalColumnsAndUnitLines) {
  const auto dir = temp_dir("tsv");
  std::ofstream(dir / "nvss.tsv") << "#RESOURCE=yCat_8065\n"
                                  << "NVSS\tRAJ2000\tDEJ2000\tS1.4\te_S1.4\n"
                                  << "\t\"h:m:s\"\t\"d:m:s\"\tmJy\tmJy\n"
                                  << "----\t----\t----\t----\t----\n"
                                  << "J1\t10 00 00.00\t-05 30 00.0\t 15.2\t0.6\n"
                                  << "J2\t23 59 59.90\t+89 00 00.0\t3.1\t0.4\n";
  const auto s = read_nvss(dir / "nvss.tsv");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_NEAR(s[0].ra_deg, 150.0, 1e-9);
  EXPECT_NEAR(s[0].dec_deg, -5.5, 1e-9);
  EXPECT_NEAR(s[0].flux_jy, 0.0152, 1e-12);
  EXPECT_NEAR(s[1].dec_deg, 89.0, 1e-9);
  std::ofstream(dir / "bad.csv") << "a,b\n1,2\n";
  EXPECT_THROW(read_nvss(dir / "bad.csv"), InputError);
  fs::remove_all(dir);
}

TEST(ReferenceStore, ConeQueriesMatchBruteForceIncludingRaWrapAndPole) {
  const auto dir = temp_dir("store");
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<RefSource> src(20000);
  for (std::size_t i = 0; i < src.size(); ++i) {
    src[i].name = std::to_string(i);
    src[i].ra_deg = 360 * u(rng);
    src[i].dec_deg = std::asin(2 * u(rng) - 1) / kDeg;
    src[i].flux_jy = 0.01;
  }
  ReferenceStore store(dir / "s.sqlite3");
  EXPECT_EQ(store.import("test", src), 20000);
  EXPECT_EQ(store.import("test", src), 20000);  // replaces: no duplicates
  EXPECT_EQ(store.count(), 20000);
  struct Q {
    double ra, dec, r;
  };
  for (const Q& q : {Q{0.5, 10, 3}, Q{359.8, -20, 4}, Q{120, 88.5, 3}, Q{200, -89, 2}, Q{45, 0, 0.5}, Q{300, 60, 10}}) {
    std::size_t expected = 0;
    for (const auto& s : src) {
      if (sky::angular_distance(q.ra * kDeg, q.dec * kDeg, s.ra_deg * kDeg, s.dec_deg * kDeg) <= q.r * kDeg) ++expected;
    }
    const auto hits = store.cone(q.ra, q.dec, q.r);
    EXPECT_EQ(hits.size(), expected) << "cone " << q.ra << " " << q.dec << " " << q.r;
    for (std::size_t i = 1; i < hits.size(); ++i) {
      EXPECT_LE(sky::angular_distance(q.ra * kDeg, q.dec * kDeg, hits[i - 1].ra_deg * kDeg, hits[i - 1].dec_deg * kDeg),
                sky::angular_distance(q.ra * kDeg, q.dec * kDeg, hits[i].ra_deg * kDeg, hits[i].dec_deg * kDeg));
    }
  }
  EXPECT_THROW(ReferenceStore(dir / "missing.sqlite3", false), InputError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace contimg::catalog
