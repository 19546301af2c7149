#include "conversion/group_converter.h"
#include "conversion/ms_verification.h"

#include <gtest/gtest.h>

#include "astro/time.h"
#include "common/build_info.h"
#include "common/error.h"
#include "grouping/subband_name.h"
#include "io/ms/casa_table.h"
#include "io/uvh5/hdf5_handle.h"
#include "simulation/simulator.h"
#include "support/tiny_uvh5.h"

namespace contimg::conversion {
namespace {

namespace fs = std::filesystem;

class GroupConverterTest : public ::testing::Test {
 protected:
  void SetUp() override { uvh5::initialize_hdf5(build::kHdf5PluginDir); }
  static const astro::SiteData& site() {
    static const astro::SiteData s = astro::load_site_data(build::kDataDir);
    return s;
  }
  // A tiny group of `ntimes` integrations; returns its files by subband.
  std::vector<SubbandFile> simulate(int ntimes, std::vector<int> subbands = {}) {
    simulation::SimulationSpec spec;
    spec.nants = 4;
    spec.ntimes = ntimes;
    spec.nchan = 2;
    spec.subbands = std::move(subbands);
    spec.start_utc = "2025-03-01T10:00:00";
    const auto res = simulation::Simulator(site().observatory, site().stations).run(spec, dir_ / "in");
    std::vector<SubbandFile> files;
    for (const auto& f : res.files) {
      files.push_back({grouping::parse_subband_name(f.filename().string()).name->subband, f});
    }
    return files;
  }
  ConversionOptions options() const { return {}; }
  test::TempDir dir_;
};

TEST_F(GroupConverterTest, FieldWhereACalibratorIsBrightestInTheBeamTakesItsName) {
  const auto files = simulate(5);
  // A 10 Jy calibrator exactly on the meridian of integration 3's centre.
  const double jd3 = astro::iso_to_jd_utc("2025-03-01T10:00:00") + 3.5 * 12.884902 / 86400.0;
  const auto centre = site().observatory.meridian_icrs(jd3, 54.6 * M_PI / 180.0);
  const GroupConverter conv(site(), {{"3C999", centre.ra_rad, centre.dec_rad, 10.0},
                                     {"FARAWAY", centre.ra_rad + 0.3, centre.dec_rad, 100.0}},
                            options());
  const auto r = conv.convert("2025-03-01T10:00:00", files, dir_ / "out");
  EXPECT_EQ(r.calibrator_field, "3C999_t3");
  const ms::CasaTable field = ms::CasaTable(r.ms_path.string()).subtable("FIELD");
  const auto names = field.get_column<std::string>("NAME");
  ASSERT_EQ(names.size(), 5u);
  EXPECT_EQ(names[0], "meridian_icrs_t0");
  EXPECT_EQ(names[3], "3C999_t3");
}

TEST_F(GroupConverterTest, NoCalibratorNearbyKeepsMeridianNames) {
  const auto files = simulate(3);
  const GroupConverter conv(site(), {{"FARAWAY", 0.0, -0.5, 100.0}}, options());
  const auto r = conv.convert("2025-03-01T10:00:00", files, dir_ / "out");
  EXPECT_TRUE(r.calibrator_field.empty());
  EXPECT_TRUE(fs::is_directory(r.ms_path));
}

TEST_F(GroupConverterTest, IncompleteGroupIsRefusedUnlessAllowedAndNothingIsWritten) {
  std::vector<int> present;
  for (int k = 0; k < 16; ++k) {
    if (k != 3 && k != 9) present.push_back(k);
  }
  const auto files = simulate(3, present);
  const GroupConverter strict(site(), {}, options());
  try {
    strict.convert("2025-03-01T10:00:00", files, dir_ / "out");
    FAIL() << "an incomplete group was converted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sb03,sb09"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "out" / "2025-03-01T10:00:00.ms"));
  auto o = options();
  o.allow_incomplete = true;
  const auto r = GroupConverter(site(), {}, o).convert("2025-03-01T10:00:00", files, dir_ / "out");
  EXPECT_EQ(r.missing_subbands, (std::vector<int>{3, 9}));
  EXPECT_EQ(r.rows, 16u * 3u * 10u);  // every SPW present, 10 baselines with autos
}

TEST_F(GroupConverterTest, DurationIsCheckedAgainstTheSpecWindowForAFullObservation) {
  // 24 integrations: (23 + 1) x 12.884902 s = 309.24 s, inside 296-309.5 s.
  const auto files = simulate(24);
  const auto r = GroupConverter(site(), {}, options()).convert("2025-03-01T10:00:00", files, dir_ / "out");
  VerificationExpectations e;
  e.rows = r.rows;
  e.spectral_windows = 16;
  e.stations = site().stations;
  EXPECT_TRUE(verify_ms(r.ms_path, e).ok()) << verify_ms(r.ms_path, e).summary();
  e.max_duration_s = 309.0;  // the window must really be applied
  const auto rep = verify_ms(r.ms_path, e);
  ASSERT_FALSE(rep.ok());
  EXPECT_NE(rep.summary().find("duration 309.24 s"), std::string::npos) << rep.summary();
}

}  // namespace
}  // namespace contimg::conversion
