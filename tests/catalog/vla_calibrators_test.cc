#include "catalog/vla_calibrators.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <random>
#include <sstream>
#include <string>

#include "common/build_info.h"
#include "common/error.h"
#include "sky/primary_beam.h"
#include "support/tiny_uvh5.h"

namespace contimg::catalog {
namespace {

using ::testing::HasSubstr;

constexpr double kDeg = std::numbers::pi / 180.0;

double hms(int h, int m, double s) { return (h + m / 60.0 + s / 3600.0) * 15.0 * kDeg; }
double dms(int sign, int d, int m, double s) { return sign * (d + m / 60.0 + s / 3600.0) * kDeg; }

std::filesystem::path list_path() { return vla_calibrator_path(build::kDataDir); }

const std::vector<VlaCalibrator>& shipped() {
  static const std::vector<VlaCalibrator> list = load_vla_calibrators(list_path());
  return list;
}

const VlaCalibratorCatalog& catalog() {
  static const VlaCalibratorCatalog cat(shipped());
  return cat;
}

const VlaCalibrator& by_iau(const std::string& iau) {
  for (const VlaCalibrator& c : shipped()) {
    if (c.iau_name == iau) return c;
  }
  throw std::runtime_error("no entry " + iau);
}

// The count established independently of the parser: `grep -c J2000` on the
// file gives 1865 (as do `grep -c B1950` and `grep -c ^BAND`); recount here
// the lines whose second field is J2000.
TEST(VlaCalibrators, ParsesEveryEntryOfTheShippedList) {
  std::ifstream in(list_path());
  ASSERT_TRUE(in);
  std::size_t headers = 0, band_lines = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string first, second;
    fields >> first >> second;
    if (second == "J2000") ++headers;
    if (first.size() > 2 && first.ends_with("cm")) ++band_lines;
  }
  EXPECT_EQ(headers, 1865u);
  EXPECT_EQ(band_lines, 5549u);  // grep -cE '^ *[0-9.]+cm '

  ASSERT_EQ(shipped().size(), headers);
  std::size_t bands = 0, with_20cm = 0, bright_20cm = 0;
  for (const VlaCalibrator& c : shipped()) {
    bands += c.bands.size();
    if (c.band('L') != nullptr) ++with_20cm;
    if (c.flux_20cm_jy && *c.flux_20cm_jy >= 1.0) ++bright_20cm;
    EXPECT_EQ(c.name.size(), 10u) << c.iau_name;
    EXPECT_FALSE(c.b1950_name.empty()) << c.iau_name;
  }
  EXPECT_EQ(bands, band_lines);
  EXPECT_EQ(with_20cm, 1042u);   // grep -cE '^ *20cm '
  EXPECT_EQ(bright_20cm, 500u);  // ... | awk '$7+0 >= 1' | wc -l
  EXPECT_EQ(shipped().front().iau_name, "0001+192");
  EXPECT_EQ(shipped().back().iau_name, "2359-315");
}

TEST(VlaCalibrators, J0834Plus5534) {
  const VlaCalibrator& c = by_iau("0834+555");
  EXPECT_EQ(c.name, "J0834+5534");
  EXPECT_EQ(c.b1950_name, "0831+557");
  EXPECT_EQ(c.alt_name, "");  // the list gives no 4C55.16
  EXPECT_EQ(c.pos_ref, "Aug01");
  EXPECT_EQ(c.position_code, 'A');
  EXPECT_NEAR(c.ra_rad, hms(8, 34, 54.904117), 1e-13);
  EXPECT_NEAR(c.dec_rad, dms(+1, 55, 34, 21.070980), 1e-13);
  EXPECT_NEAR(c.ra_rad, 2.2467408288733393, 1e-12);  // Python, same sexagesimal
  EXPECT_NEAR(c.dec_rad, 0.9699234426852997, 1e-12);
  ASSERT_TRUE(c.flux_20cm_jy);
  EXPECT_DOUBLE_EQ(*c.flux_20cm_jy, 8.80);
  EXPECT_EQ(c.codes_20cm, "SPPP");
  const VlaBand* l = c.band('L');
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->label, "20cm");
  EXPECT_FALSE(l->uvmin_klambda);
  EXPECT_EQ(l->uvmax_klambda, 100.0);
  EXPECT_TRUE(l->visplot);
  EXPECT_EQ(c.bands.size(), 6u);
  const std::map<std::string, double> fluxes{{"P", 9},    {"L", 8.80}, {"C", 5.60},
                                             {"X", 3.30}, {"U", 1.60}, {"Q", 0.3}};
  EXPECT_EQ(c.band_flux_jy, fluxes);
  EXPECT_EQ(c.band('P')->codes, "SSSS");
  EXPECT_EQ(c.band('X')->label, "3.7cm");
  EXPECT_DOUBLE_EQ(c.band('X')->wavelength_cm, 3.7);
  EXPECT_EQ(c.band('Q')->codes, "WWWW");
  EXPECT_EQ(c.line, 6103u);
}

struct Primary {
  const char* alt;
  const char* jname;
  const char* iau;
  const char* b1950;
  char position_code;
  double ra_rad, dec_rad, flux_20cm;
  const char* codes_20cm;
  double uvmax_20cm;  // 0: none
};

TEST(VlaCalibrators, PrimaryFluxCalibrators) {
  const Primary expected[] = {
      {"3C286", "J1331+3030", "1331+305", "1328+307", 'A', hms(13, 31, 8.287984),
       dms(+1, 30, 30, 32.958850), 15.00, "SSPP", 0},
      {"3C48", "J0137+3309", "0137+331", "0134+329", 'B', hms(1, 37, 41.299431),
       dms(+1, 33, 9, 35.132990), 16.50, "XPPP", 40},
      {"3C147", "J0542+4951", "0542+498", "0538+498", 'A', hms(5, 42, 36.137916),
       dms(+1, 49, 51, 7.233560), 22.5, "XSPP", 50},
      {"3C138", "J0521+1638", "0521+166", "0518+165", 'A', hms(5, 21, 9.886021),
       dms(+1, 16, 38, 22.051220), 8.47, "XSPP", 45},
  };
  for (const Primary& p : expected) {
    SCOPED_TRACE(p.alt);
    const auto found = catalog().find(p.alt);
    ASSERT_EQ(found.size(), 1u);
    const VlaCalibrator& c = *found.front();
    EXPECT_EQ(c.alt_name, p.alt);
    EXPECT_EQ(c.name, p.jname);
    EXPECT_EQ(c.iau_name, p.iau);
    EXPECT_EQ(c.b1950_name, p.b1950);
    EXPECT_EQ(c.position_code, p.position_code);
    EXPECT_EQ(c.pos_ref, "Aug01");
    EXPECT_NEAR(c.ra_rad, p.ra_rad, 1e-13);
    EXPECT_NEAR(c.dec_rad, p.dec_rad, 1e-13);
    ASSERT_TRUE(c.flux_20cm_jy);
    EXPECT_DOUBLE_EQ(*c.flux_20cm_jy, p.flux_20cm);
    EXPECT_EQ(c.codes_20cm, p.codes_20cm);
    const VlaBand* l = c.band('L');
    ASSERT_NE(l, nullptr);
    EXPECT_FALSE(l->uvmin_klambda);
    if (p.uvmax_20cm > 0) {
      EXPECT_EQ(l->uvmax_klambda, p.uvmax_20cm);
    } else {
      EXPECT_FALSE(l->uvmax_klambda);
    }
    // Every name finds the same entry.
    for (const std::string& n : {c.name, c.iau_name, c.b1950_name}) {
      const auto again = catalog().find(n);
      ASSERT_EQ(again.size(), 1u) << n;
      EXPECT_EQ(again.front(), &c);
    }
  }
  EXPECT_DOUBLE_EQ(catalog().find("3c286").front()->band_flux_jy.at("Q"), 1.45);
  EXPECT_DOUBLE_EQ(catalog().find("3C48").front()->band_flux_jy.at("K"), 1.13);
  EXPECT_DOUBLE_EQ(catalog().find("J1331+3030").front()->band_flux_jy.at("P"), 26.00);
}

TEST(VlaCalibrators, KeepsTheFilesVariations) {
  // POS.REF "USNO" with no ALT.NAME; ALT.NAME with no POS.REF.
  EXPECT_EQ(by_iau("0337+016").pos_ref, "USNO");
  EXPECT_EQ(by_iau("0337+016").alt_name, "");
  EXPECT_EQ(by_iau("0006-000").pos_ref, "");
  EXPECT_EQ(by_iau("0006-000").alt_name, "3C2");
  EXPECT_EQ(by_iau("0209+724").alt_name, "CJ2");
  EXPECT_EQ(by_iau("0003-174").pos_ref, "");
  EXPECT_EQ(by_iau("0003-174").alt_name, "");
  // Negative declination with zero degrees keeps its sign.
  const VlaCalibrator& z = by_iau("0006-000");
  EXPECT_EQ(z.name, "J0006-0004");
  EXPECT_NEAR(z.dec_rad, dms(-1, 0, 4, 24.086), 1e-13);
  EXPECT_EQ(z.position_code, 'T');

  // A lone uv limit is a UVMIN or UVMAX by its column.
  const VlaBand* a = by_iau("0003-174").band('L');
  EXPECT_FALSE(a->uvmin_klambda);
  EXPECT_EQ(a->uvmax_klambda, 7.0);
  const VlaBand* b = by_iau("0006-063").band('L');
  EXPECT_EQ(b->uvmin_klambda, 45.0);
  EXPECT_FALSE(b->uvmax_klambda);
  const VlaBand* lone_min = by_iau("0017+815").band('L');  // shifted line, code C
  EXPECT_EQ(lone_min->codes, "SSSC");
  EXPECT_EQ(lone_min->uvmin_klambda, 6.0);
  EXPECT_TRUE(lone_min->visplot);
  const VlaBand* both = by_iau("0313+413").band('L');
  EXPECT_EQ(both->uvmin_klambda, 15.0);
  EXPECT_EQ(both->uvmax_klambda, 70.0);
  const VlaBand* p = by_iau("0312-148").band('P');  // "X S S X   8   1.5   4"
  EXPECT_EQ(p->uvmin_klambda, 1.5);
  EXPECT_EQ(p->uvmax_klambda, 4.0);
  EXPECT_EQ(by_iau("0014+612").band('P')->uvmin_klambda, 0.7);  // written ".7"
  EXPECT_EQ(by_iau("0014+612").band('X')->uvmax_klambda, 10.0);

  // Missing codes, "?" or blank fluxes, a 0.00 placeholder, lower-case codes.
  const VlaCalibrator& c161 = by_iau("0627-058");
  EXPECT_EQ(c161.alt_name, "3C161");
  EXPECT_EQ(c161.band('P')->codes, "S---");
  EXPECT_EQ(c161.band('P')->flux_jy, 33.0);
  EXPECT_DOUBLE_EQ(*c161.flux_20cm_jy, 18.0);
  EXPECT_EQ(by_iau("1956-076").band('P')->codes, "XSS-");
  const VlaCalibrator& q = by_iau("0922-399");
  EXPECT_EQ(q.codes_20cm, "XXXX");
  EXPECT_FALSE(q.flux_20cm_jy);
  EXPECT_FALSE(q.band_flux_jy.contains("L"));
  EXPECT_EQ(q.band_flux_jy.at("C"), 1.50);
  const VlaCalibrator& blank = by_iau("2149-130");
  EXPECT_FALSE(blank.band('C')->flux_jy);
  EXPECT_EQ(blank.band('C')->codes, "XXXX");
  EXPECT_FALSE(blank.band('U')->flux_jy);
  EXPECT_EQ(blank.band_flux_jy.size(), 3u);
  const VlaBand* zero = by_iau("0253+180").band('U');
  EXPECT_EQ(zero->codes, "----");
  EXPECT_EQ(zero->flux_jy, 0.0);
  EXPECT_EQ(by_iau("0403-360").band('Q')->codes, "SSSS");  // "S S S s"

  // X band also appears as 4cm and 3.6cm.
  EXPECT_EQ(by_iau("0502+416").band('X')->label, "4cm");
  EXPECT_EQ(by_iau("0502+416").band('X')->codes, "SS??");
  std::size_t four_cm = 0, three_six = 0;
  for (const VlaCalibrator& c : shipped()) {
    if (const VlaBand* x = c.band('X')) {
      four_cm += x->label == "4cm";
      three_six += x->label == "3.6cm";
    }
  }
  EXPECT_EQ(four_cm, 6u);
  EXPECT_EQ(three_six, 1u);

  // An entry without band lines; the J2000 and B1950 position codes disagree.
  EXPECT_TRUE(by_iau("1118-465").bands.empty());
  EXPECT_EQ(by_iau("0012-399").position_code, 'C');

  // Duplicate entries are kept as the file gives them.
  EXPECT_EQ(catalog().find("0354+801").size(), 2u);
  EXPECT_EQ(catalog().find("J1914+1636").size(), 2u);
  EXPECT_GT(catalog().find("JVAS").size(), 600u);
  EXPECT_TRUE(catalog().find("4C55.16").empty());
}

TEST(VlaCalibrators, IndexIsSortedByDeclination) {
  const auto all = catalog().calibrators();
  ASSERT_EQ(all.size(), shipped().size());
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LE(all[i - 1].dec_rad, all[i].dec_rad);
}

TEST(VlaCalibrators, FindsTheCalibratorInTheBeam) {
  const VlaCalibrator& target = by_iau("0834+555");
  const double r = 1.5 * kDeg;
  for (const double off : {+0.5, -0.5}) {
    const auto hit = catalog().calibrator_in_beam(target.ra_rad, target.dec_rad + off * kDeg, r);
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->calibrator->name, "J0834+5534");
    EXPECT_NEAR(hit->distance_rad, 0.5 * kDeg, 1e-12);
  }
  // 0.5 deg east along the small circle of the same declination.
  const double dra = 0.5 * kDeg / std::cos(target.dec_rad);
  const auto east = catalog().calibrator_in_beam(target.ra_rad + dra, target.dec_rad, r);
  ASSERT_TRUE(east);
  EXPECT_EQ(east->calibrator, catalog().find("J0834+5534").front());

  // 3 deg away: nothing >= 1 Jy within 1.5 deg (0824+558, 1.2 Jy, is 3.02 deg off).
  EXPECT_FALSE(catalog().calibrator_in_beam(target.ra_rad, target.dec_rad + 3 * kDeg, r));
  EXPECT_FALSE(catalog().calibrator_in_beam(target.ra_rad, target.dec_rad - 3 * kDeg, r));
  const auto around = catalog().within(target.ra_rad, target.dec_rad + 3 * kDeg, r);
  for (const CalibratorMatch& m : around) EXPECT_NE(m.calibrator->name, "J0834+5534");

  // The threshold and the configuration filter: J0834+5534 is 8.8 Jy, code S
  // in A; 0824+558 (1.43 deg from the northern field) is 1.2 Jy, code P in A.
  const double north = target.dec_rad + 0.5 * kDeg;
  BeamCalibratorCriteria ten_jy;
  ten_jy.min_flux_20cm_jy = 10;
  EXPECT_FALSE(catalog().calibrator_in_beam(target.ra_rad, north, r, ten_jy));
  const auto pa = catalog().calibrator_in_beam(target.ra_rad, north, r,
                                               {.configuration = 'A', .accepted_codes = "P"});
  ASSERT_TRUE(pa);
  EXPECT_EQ(pa->calibrator->iau_name, "0824+558");
  const auto pc = catalog().calibrator_in_beam(target.ra_rad, north, r,
                                               {.configuration = 'C', .accepted_codes = "P"});
  ASSERT_TRUE(pc);
  EXPECT_EQ(pc->calibrator->name, "J0834+5534");

  // The radius is inclusive.
  const double d = sky::angular_distance(target.ra_rad, north, target.ra_rad, target.dec_rad);
  const auto exact = catalog().calibrator_in_beam(target.ra_rad, north, d);
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->calibrator->name, "J0834+5534");
  EXPECT_FALSE(catalog().calibrator_in_beam(target.ra_rad, north, std::nextafter(d, 0.0)));

  EXPECT_THROW(catalog().within(0, 2.0, r), std::invalid_argument);
  EXPECT_THROW(catalog().within(0, 0, -r), std::invalid_argument);
  EXPECT_THROW(catalog().within(std::nan(""), 0, r), std::invalid_argument);
  BeamCalibratorCriteria bad_config;
  bad_config.configuration = 'E';
  EXPECT_THROW(catalog().calibrator_in_beam(0, 0, r, bad_config), std::invalid_argument);
}

// The declination-band search must agree with a brute-force scan everywhere,
// poles and the RA wrap included.
TEST(VlaCalibrators, ConeSearchMatchesBruteForce) {
  std::mt19937_64 rng(20240611);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<std::pair<double, double>> fields;
  for (int i = 0; i < 300; ++i) {
    fields.emplace_back(2 * std::numbers::pi * u(rng), std::asin(2 * u(rng) - 1));
  }
  fields.emplace_back(0.0, std::numbers::pi / 2);
  fields.emplace_back(1e-4, 0.3);
  fields.emplace_back(2 * std::numbers::pi - 1e-4, 0.3);
  fields.emplace_back(0.0, -std::numbers::pi / 2);
  for (const auto& [ra, dec] : fields) {
    for (const double r : {0.5 * kDeg, 3.0 * kDeg, 12.0 * kDeg}) {
      std::vector<const VlaCalibrator*> brute;
      const VlaCalibrator* best = nullptr;
      double best_d = 0;
      for (const VlaCalibrator& c : catalog().calibrators()) {
        const double d = sky::angular_distance(ra, dec, c.ra_rad, c.dec_rad);
        if (d > r) continue;
        brute.push_back(&c);
        if (c.flux_20cm_jy && *c.flux_20cm_jy >= 1.0 && (!best || d < best_d)) {
          best = &c;
          best_d = d;
        }
      }
      const auto got = catalog().within(ra, dec, r);
      ASSERT_EQ(got.size(), brute.size()) << ra << " " << dec << " " << r;
      for (std::size_t i = 1; i < got.size(); ++i) {
        EXPECT_LE(got[i - 1].distance_rad, got[i].distance_rad);
      }
      for (const CalibratorMatch& m : got) {
        EXPECT_NE(std::find(brute.begin(), brute.end(), m.calibrator), brute.end());
      }
      const auto beam = catalog().calibrator_in_beam(ra, dec, r);
      ASSERT_EQ(beam.has_value(), best != nullptr);
      if (best) {
        EXPECT_EQ(beam->calibrator, best);
      }
    }
  }
  EXPECT_EQ(catalog().within(0, 0, std::numbers::pi).size(), catalog().size());
}

// ---- malformed input ----

const char* const kGood =
    "IAU NAME EQUINOX  PC RA(hh,mm,ss)    DEC(ddd,mm,ss)   POS.REF ALT.NAME\n"
    "===================================================================\n"
    " \n"
    "0137+331   J2000  B 01h37m41.299431s  33d09'35.132990\"  Aug01  3C48   \n"
    "0134+329   B1950  B 01h34m49.826400s  32d54'20.259000\"\n"
    "-----------------------------------------------------\n"
    "BAND        A B C D    FLUX(Jy)    UVMIN(kL)  UVMAX(kL)\n"
    "=====================================================\n"
    " 20cm L  X P P P      16.50                       40   visplot\n"
    " 6cm C  X S P P       5.48                       40   visplot\n"
    " \n";

std::vector<VlaCalibrator> parse(const std::string& text) {
  std::istringstream in(text);
  return parse_vla_calibrators(in, "test.txt");
}

// Replaces the first occurrence of `from` in kGood by `to`.
std::string good_with(const std::string& from, const std::string& to) {
  std::string s = kGood;
  const auto at = s.find(from);
  if (at == std::string::npos) throw std::logic_error("no " + from);
  return s.replace(at, from.size(), to);
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(VlaCalibratorsMalformed, GoodSnippetParses) {
  const auto list = parse(kGood);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "J0137+3309");
  EXPECT_EQ(list[0].line, 4u);
  EXPECT_EQ(list[0].flux_20cm_jy, 16.5);
  // CRLF line endings are fine.
  std::string crlf;
  for (const char ch : std::string(kGood)) {
    if (ch == '\n') crlf += '\r';
    crlf += ch;
  }
  EXPECT_EQ(parse(crlf)[0].band('C')->uvmax_klambda, 40.0);
}

TEST(VlaCalibratorsMalformed, ErrorsNameTheFileAndLine) {
  EXPECT_THAT(error_of(good_with("01h37m41", "01h67m41")),
              HasSubstr("test.txt:4: 0137+331: RA '01h67m41.299431s'"));
  EXPECT_THAT(error_of(good_with("33d09'35", "33d09 35")), HasSubstr("test.txt:4:"));
  EXPECT_THAT(error_of(good_with("33d09'35.132990\"", "95d09'35.132990\"")),
              HasSubstr("test.txt:4: 0137+331: Dec '95d09'35.132990\"'"));
  EXPECT_THAT(error_of(good_with("J2000  B", "J2000  Z")),
              HasSubstr("test.txt:4: 0137+331: position code 'Z'"));
  EXPECT_THAT(error_of(good_with("0137+331   J2000", "013+331    J2000")),
              HasSubstr("test.txt:4: name '013+331'"));
  EXPECT_THAT(error_of(good_with("  Aug01  3C48", "")), HasSubstr("(no error)"));
  EXPECT_THAT(error_of(good_with("Aug01  3C48", "Aug01 3C48 extra")), HasSubstr("test.txt:4:"));
  EXPECT_THAT(error_of(good_with("0134+329   B1950", "0134+329   B1951")),
              HasSubstr("test.txt:5: expected the B1950 line of 0137+331"));
  EXPECT_THAT(error_of(good_with("32d54'20", "32d54'2x")), HasSubstr("test.txt:5:"));
  EXPECT_THAT(error_of(good_with("16.50", "16.5.0")),
              HasSubstr("test.txt:9: 0137+331: 20cm flux '16.5.0' is not a number of Jy"));
  EXPECT_THAT(error_of(good_with("X P P P", "X P Z P")),
              HasSubstr("test.txt:9: 0137+331: 'Z' in the A/B/C/D columns"));
  EXPECT_THAT(error_of(good_with("X P P P ", "X P PP  ")), HasSubstr("test.txt:9:"));
  EXPECT_THAT(error_of(good_with("40   visplot\n 6cm", "40   vis\n 6cm")),
              HasSubstr("test.txt:9: 0137+331: 20cm: 'vis' after the flux"));
  EXPECT_THAT(error_of(good_with("      16.50", "      16.50  1  2  3")),
              HasSubstr("test.txt:9: 0137+331: 20cm: more than two uv limits"));
  EXPECT_THAT(error_of(good_with(" 6cm C", " 6cm L")),
              HasSubstr("test.txt:10: 0137+331: band L appears twice"));
  EXPECT_THAT(error_of(good_with(" 6cm C", " 6xm C")),
              HasSubstr("test.txt:10: unrecognised line '6xm C"));
  EXPECT_THAT(error_of(good_with(" 6cm C", "cm C")),
              HasSubstr("test.txt:10: 0137+331: band 'cm' is not a wavelength"));
  EXPECT_THAT(error_of(std::string(" 20cm L  X P P P      16.50\n") + kGood),
              HasSubstr("test.txt:1: band line before the first calibrator entry"));
  EXPECT_THAT(error_of(good_with("0134+329   B1950", "\n0134+329   B1950")),
              HasSubstr("test.txt:5: expected the B1950 line"));
  EXPECT_THAT(error_of(std::string(kGood) + "0134+329   B1950  B 01h34m49.8s  32d54'20.2\"\n"),
              HasSubstr("test.txt:12: B1950 line without a J2000 line"));
  EXPECT_THAT(error_of(std::string(kGood) + "0134+329   J2000  B 01h34m49.8s  32d54'20.2\"\n"),
              HasSubstr("test.txt:12: the list ends before the B1950 line of 0134+329"));
  EXPECT_THAT(error_of("IAU NAME\n\n"), HasSubstr("test.txt: no calibrator entries"));
}

TEST(VlaCalibratorsMalformed, FileErrorsNameThePath) {
  test::TempDir dir;
  const auto path = dir / "vlacalibrators.txt";
  {
    std::ofstream out(path);
    out << good_with("X P P P", "X P ! P");
  }
  try {
    load_vla_calibrators(path);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string() + ":9: 0137+331: '!'"));
  }
  try {
    load_vla_calibrators(dir / "missing.txt");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "missing.txt").string() + ": cannot open"));
  }
}

}  // namespace
}  // namespace contimg::catalog
