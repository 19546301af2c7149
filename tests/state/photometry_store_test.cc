#include "state/photometry_store.h"

#include <numbers>
#include <random>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sky/primary_beam.h"
#include "state/state_db.h"
#include "support/backends.h"
#include "support/tiny_uvh5.h"

namespace contimg::state {
namespace {

constexpr double kAs = 1.0 / 3600;

std::int64_t scalar(Database& db, const std::string& sql) {
  auto st = db.prepare(sql);
  EXPECT_TRUE(st.step()) << sql;
  return st.get_int(0);
}

PhotometryRecords image_at(const std::string& path, double mjd) {
  PhotometryRecords r;
  r.image.path = path;
  r.image.mjd = mjd;
  r.image.centre_ra_deg = 150;
  r.image.centre_dec_deg = 37;
  r.image.radius_deg = 0.5;
  r.image.freq_hz = 1.4e9;
  r.image.noise_jy = 1e-3;
  r.image.pb_corrected = false;  // flat noise: the limit is noise_jy everywhere in the footprint
  r.image.beam_major_arcsec = 30;
  r.association.method = photometry::AssociationOptions::Method::kFixed;
  r.association.radius_arcsec = 10;
  return r;
}

PhotometryMeasurement blind(double ra, double dec, double flux) {
  PhotometryMeasurement m;
  m.blind = m.detected = true;
  m.ra_deg = ra, m.dec_deg = dec, m.ra_err_arcsec = m.dec_err_arcsec = 1;
  m.flux_jy = flux, m.flux_err_jy = 1e-3;
  return m;
}

PhotometryMeasurement reference(const std::string& name, double ra, double dec, double flux) {
  PhotometryMeasurement m;
  m.ref_name = name;
  m.ra_deg = ra, m.dec_deg = dec;
  m.flux_jy = flux, m.flux_err_jy = 1e-3;
  return m;
}

// On both backends: the store's SQL is what SQLite and PostgreSQL share.
class PhotometryStoreTest : public test::BackendTest {};
INSTANTIATE_TEST_SUITE_P(Backends, PhotometryStoreTest, CONTIMG_BOTH_BACKENDS);

TEST_P(PhotometryStoreTest, NewSourcesNeedAnEarlierImageDeepEnoughAtTheirPosition) {
  StateDb sdb(target("s.sqlite3"));
  auto& db = sdb.database();
  auto a = image_at("/a.fits", 60000);
  a.measurements = {reference("R1", 150, 37, 0.1), blind(150.1, 37, 0.02)};
  const auto sa = store_photometry(db, a, "");
  // First coverage: a catalogue source, not new.
  auto first = sources_in_cone(db, 150.1, 37, 2 * kAs);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].origin, "detection");
  EXPECT_FALSE(first[0].is_new);
  EXPECT_FALSE(first[0].new_sigma);

  auto b = image_at("/b.fits", 60001);
  b.measurements = {reference("R1", 150, 37, 0.1), blind(150.1 + 3 * kAs, 37, 0.02),
                    blind(150.2, 37, 0.02), blind(150.2, 37.1, 0.003), blind(152, 37, 0.02)};
  const auto sb = store_photometry(db, b, "");
  EXPECT_EQ(sb.n_measurements, 5);
  EXPECT_EQ(sb.n_detection_sources, 3);
  EXPECT_EQ(sb.n_new_sources, 1);
  // 3" from the source made in a: associated with it.
  EXPECT_EQ(lightcurve(db, first[0].source_id).size(), 2u);
  const auto bright = sources_in_cone(db, 150.2, 37, 2 * kAs).at(0);
  EXPECT_TRUE(bright.is_new);
  EXPECT_NEAR(*bright.new_sigma, 20, 1e-9);
  EXPECT_EQ(*bright.new_limit_image, sa.phot_image_id);
  const auto faint = sources_in_cone(db, 150.2, 37.1, 2 * kAs).at(0);
  EXPECT_FALSE(faint.is_new);  // 3 sigma of the earlier noise: a could not have seen it
  EXPECT_NEAR(*faint.new_sigma, 3, 1e-9);
  const auto outside = sources_in_cone(db, 152, 37, 2 * kAs).at(0);
  EXPECT_FALSE(outside.is_new);  // a did not cover it
  EXPECT_FALSE(outside.new_sigma);
  EXPECT_EQ(
      scalar(db, "SELECT n FROM source_stats JOIN sources USING (source_id) WHERE name = 'R1'"), 2);
}

TEST_P(PhotometryStoreTest, AmbiguousMatchesAreResolvedOneToOneAndRecorded) {
  StateDb sdb(target("s.sqlite3"));
  auto& db = sdb.database();
  auto a = image_at("/a.fits", 60000);
  a.measurements = {blind(150, 37, 0.02), blind(150, 37 + 8 * kAs, 0.02), blind(150.05, 37, 0.02)};
  store_photometry(db, a, "");
  // b: one detection between the two (nearer the first), one on the first.
  auto b = image_at("/b.fits", 60001);
  // And one 1" from the third source, alone within the radius.
  b.measurements = {blind(150, 37 + 3 * kAs, 0.02), blind(150, 37 + 0.5 * kAs, 0.02),
                    blind(150.05, 37 + kAs, 0.02)};
  store_photometry(db, b, "");
  auto st = db.prepare(
      "SELECT m.assoc_rule, m.n_candidates, s.dec_deg FROM measurements m JOIN sources s USING "
      "(source_id) "
      "JOIN photometry_images i USING (phot_image_id) WHERE i.path = '/b.fits' ORDER BY m.ra_deg, "
      "m.dec_deg");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.get_text(0),
            "ambiguous");  // 0.5" from the first source (the best pair), 7.5" from the second
  EXPECT_EQ(st.get_int(1), 2);
  EXPECT_NEAR(st.get_double(2), 37, 1e-9);
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.get_text(0), "ambiguous");  // its nearest was taken: the second source, recorded
  EXPECT_EQ(st.get_int(1), 2);
  EXPECT_NEAR(st.get_double(2), 37 + 8 * kAs, 1e-9);
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.get_text(0), "matched");  // one candidate
  EXPECT_EQ(st.get_int(1), 1);
  EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM sources"), 3);
}

TEST_P(PhotometryStoreTest, StoringAnImageAgainReplacesItsMeasurements) {
  StateDb sdb(target("s.sqlite3"));
  auto& db = sdb.database();
  auto a = image_at("/a.fits", 60000);
  a.measurements = {reference("R1", 150, 37, 0.1)};
  auto b = image_at("/b.fits", 60001);
  b.measurements = {reference("R1", 150, 37, 0.2)};
  store_photometry(db, a, "");
  store_photometry(db, b, "");
  const auto eta = [&] {
    auto st = db.prepare("SELECT n, eta, max_flux FROM source_stats");
    EXPECT_TRUE(st.step());
    return std::tuple{st.get_int(0), st.get_double(1), st.get_double(2)};
  };
  const auto before = eta();
  EXPECT_EQ(std::get<0>(before), 2);
  EXPECT_NEAR(std::get<1>(before), 0.01 / 2 / 1e-6, 1e-6);  // w (S - xi)^2 summed / (N - 1)
  b.measurements[0].flux_jy = 0.3;
  store_photometry(db, b, "");
  const auto after = eta();
  EXPECT_EQ(std::get<0>(after), 2);
  EXPECT_NEAR(std::get<2>(after), 0.3, 1e-12);
  EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM measurements"), 2);
  EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM photometry_images"), 2);
}

// The catalogue cone searches a right-ascension window (sources_by_ra, migration 13): what it
// returns must equal a brute-force search, across RA 0 (a window in two pieces, and a reference
// given at a negative RA) and over a pole (the declination band).
TEST_P(PhotometryStoreTest, ConeSearchEqualsBruteForceAcrossRaZeroAndOverThePole) {
  StateDb sdb(target("s.sqlite3"));
  auto& db = sdb.database();
  auto img = image_at("/all.fits", 60000);
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::tuple<std::string, double, double>> placed;
  for (int k = 0; k < 400; ++k) {
    // Half near RA 0 at Dec 37, a quarter near the north pole, the rest anywhere.
    double ra, dec;
    if (k % 4 < 2) {
      ra = -1.5 + 3 * u(rng), dec = 36 + 2 * u(rng);
    } else if (k % 4 == 2) {
      ra = 360 * u(rng), dec = 88 + 2 * u(rng);
    } else {
      ra = 360 * u(rng), dec = -80 + 160 * u(rng);
    }
    const std::string name = fmt::format("C{}", k);
    img.measurements.push_back(reference(name, ra, dec, 0.01));  // ra < 0 stored wrapped
    placed.emplace_back(name, ra, dec);
  }
  store_photometry(db, img, "");
  const double kRad = std::numbers::pi / 180;
  struct Cone {
    double ra, dec, r;
  };
  int nonempty = 0;
  for (const Cone c : {Cone{0, 37, 1}, Cone{359.9, 37.2, 0.7}, Cone{0.3, 36.5, 0.4},
                       Cone{120, 89.5, 1}, Cone{300, 88.7, 1.5}, Cone{200, 10, 30}}) {
    std::set<std::string> want, got;
    for (const auto& [name, ra, dec] : placed) {
      if (sky::angular_distance(c.ra * kRad, c.dec * kRad, ra * kRad, dec * kRad) <= c.r * kRad)
        want.insert(name);
    }
    const auto rows = sources_in_cone(db, c.ra, c.dec, c.r);
    for (const auto& s : rows) {
      got.insert(s.name);
      EXPECT_GE(s.ra_deg, 0);
      EXPECT_LT(s.ra_deg, 360);
    }
    EXPECT_EQ(got, want) << "cone " << c.ra << " " << c.dec << " " << c.r;
    EXPECT_TRUE(std::is_sorted(
        rows.begin(), rows.end(),
        [](const SourceRow& a, const SourceRow& b) { return a.source_id < b.source_id; }));
    nonempty += want.empty() ? 0 : 1;
  }
  EXPECT_EQ(nonempty, 6);
}

// The new-source test's coverage query searches a right-ascension window too: an earlier image
// centred across RA 0 from the detection still sets its limit.
TEST_P(PhotometryStoreTest, EarlierCoverageIsFoundAcrossRaZero) {
  StateDb sdb(target("s.sqlite3"));
  auto& db = sdb.database();
  auto a = image_at("/a.fits", 60000);
  a.image.centre_ra_deg = 359.8;
  a.measurements = {reference("R1", 359.8, 37, 0.1)};
  const auto sa = store_photometry(db, a, "");
  auto b = image_at("/b.fits", 60001);
  b.image.centre_ra_deg = 0.2;
  b.measurements = {blind(0.05, 37, 0.02)};
  EXPECT_EQ(store_photometry(db, b, "").n_new_sources, 1);
  const auto s = sources_in_cone(db, 0.05, 37, 2 * kAs).at(0);
  EXPECT_TRUE(s.is_new);
  EXPECT_EQ(*s.new_limit_image, sa.phot_image_id);
  EXPECT_NEAR(*s.new_sigma, 20, 1e-9);
}

// Measurements and statistics go in multi-row statements of 200 rows: 450 sources measured on two
// images (full batches and a shorter last one) keep one statistics row each whose sums equal
// those recomputed from the stored measurements.
TEST_P(PhotometryStoreTest, BatchedIngestKeepsEverySourcesStatistics) {
  StateDb sdb(target("s.sqlite3"));
  auto& db = sdb.database();
  constexpr int kN = 450;
  for (int e = 0; e < 2; ++e) {
    auto img = image_at("/e" + std::to_string(e) + ".fits", 60000 + e);
    for (int k = 0; k < kN; ++k) {
      auto m = reference(fmt::format("B{}", k), 150 + 0.001 * k, 37, 0.01 * (1 + k % 7));
      m.flux_jy *= e ? 1.2 : 1.0;
      m.flux_err_jy = 1e-3 * (1 + k % 3);
      img.measurements.push_back(m);
    }
    EXPECT_EQ(store_photometry(db, img, "").n_measurements, kN);
  }
  EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM measurements"), 2 * kN);
  EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM source_stats WHERE n = 2"), kN);
  for (int k : {0, 199, 200, 399, 449}) {
    const auto s = source_by_name(db, fmt::format("B{}", k));
    ASSERT_TRUE(s);
    auto st = db.prepare(
        "SELECT sum_w, sum_ws, sum_ws2, max_flux, min_flux, last_mjd FROM source_stats WHERE "
        "source_id = ?1");
    st.bind(1, s->source_id);
    ASSERT_TRUE(st.step());
    const double sum_w = st.get_double(0), sum_ws = st.get_double(1), sum_ws2 = st.get_double(2);
    const double max_flux = st.get_double(3), min_flux = st.get_double(4);
    EXPECT_EQ(st.get_double(5), 60001);
    st.reset();
    const auto a = recompute_source_stats(db, s->source_id);
    EXPECT_EQ(a.n, 2);
    EXPECT_NEAR(sum_w, a.sum_w, 1e-9 * a.sum_w);
    EXPECT_NEAR(sum_ws, a.sum_ws, 1e-9 * std::abs(a.sum_ws));
    EXPECT_NEAR(sum_ws2, a.sum_ws2, 1e-9 * a.sum_ws2);
    EXPECT_EQ(max_flux, a.max_flux);
    EXPECT_EQ(min_flux, a.min_flux);
    EXPECT_NEAR(a.max_flux, 1.2 * a.min_flux, 1e-12);
  }
}

}  // namespace
}  // namespace contimg::state
