// The VLA Calibrator Manual list: a column-aligned text file, parsed by tokens
// with their columns where a column decides (docs/calibrators.md).
#include "catalog/vla_calibrators.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <numbers>
#include <stdexcept>
#include <tuple>

#include "common/error.h"
#include "sky/primary_beam.h"

namespace contimg::catalog {
namespace {

constexpr double kDegToRad = std::numbers::pi / 180.0;

// A single token after the Dec on a J2000 line that starts before this column
// is a POS.REF ("Aug01", "USNO": columns 55-56 in the file), at or after it
// an ALT.NAME ("3C2", "CJ2", "GVAR": columns 63-66).
constexpr std::size_t kAltNameColumn = 60;
// Where "UVMAX(kL)" starts in the file's BAND header lines: a lone uv limit
// starting at or after it is a UVMAX (columns 48-54), before it a UVMIN (37-42).
constexpr std::size_t kDefaultUvmaxColumn = 46;
// The A, B, C, D code columns are 3, 5, 7, 9 columns after the band letter;
// anything starting 11 or more columns after it is the flux and beyond.
constexpr std::size_t kFirstCodeOffset = 3;
constexpr std::size_t kCodeAreaEnd = 11;
constexpr std::string_view kQualityCodes = "PSWXC?";
constexpr std::string_view kPositionCodes = "ABCT";

struct Token {
  std::string_view text;
  std::size_t column;  // 0-based
};

std::vector<Token> tokenize(std::string_view line) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ' || line[i] == '\t') {
      ++i;
      continue;
    }
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    tokens.push_back({line.substr(start, i - start), start});
  }
  return tokens;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char to_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return to_upper(x) == to_upper(y);
         });
}

// Digits only, no sign: "07".
bool parse_uint(std::string_view s, int& out) {
  if (s.empty() || s.size() > 3 || !std::all_of(s.begin(), s.end(), is_digit)) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Plain decimal, no sign or exponent: "33", "0.80", "1.", ".9".
bool parse_decimal(std::string_view s, double& out) {
  if (s.empty() || std::count(s.begin(), s.end(), '.') > 1 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return is_digit(c) || c == '.'; }) ||
      !std::any_of(s.begin(), s.end(), is_digit)) {
    return false;
  }
  std::string buffer(s);  // from_chars rejects a trailing '.' on some libraries
  if (buffer.back() == '.') buffer.push_back('0');
  if (buffer.front() == '.') buffer.insert(buffer.begin(), '0');
  const auto [ptr, ec] = std::from_chars(buffer.data(), buffer.data() + buffer.size(), out);
  return ec == std::errc() && ptr == buffer.data() + buffer.size() && std::isfinite(out);
}

struct Sexagesimal {
  bool negative = false;
  int whole = 0;  // hours or degrees
  int minutes = 0;
  double seconds = 0.0;
};

// Splits "<a><u1><b><u2><c><u3>" at the three unit characters.
bool split_units(std::string_view s, std::string_view units,
                 std::array<std::string_view, 3>& parts) {
  std::size_t start = 0;
  for (std::size_t k = 0; k < 3; ++k) {
    const std::size_t at = s.find(units[k], start);
    if (at == std::string_view::npos) return false;
    parts[k] = s.substr(start, at - start);
    start = at + 1;
  }
  return start == s.size();
}

// "00h01m08.621563s"
std::optional<Sexagesimal> parse_ra(std::string_view s) {
  std::array<std::string_view, 3> p;
  Sexagesimal v;
  if (!split_units(s, "hms", p) || p[0].size() != 2 || p[1].size() != 2 ||
      !parse_uint(p[0], v.whole) || !parse_uint(p[1], v.minutes) ||
      !parse_decimal(p[2], v.seconds)) {
    return std::nullopt;
  }
  if (v.whole >= 24 || v.minutes >= 60 || v.seconds >= 60.0) return std::nullopt;
  return v;
}

// "19d14'33.801860\"", "-06d23'35.3353\"" (positive ones carry no sign; "+" accepted).
std::optional<Sexagesimal> parse_dec(std::string_view s) {
  Sexagesimal v;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    v.negative = s.front() == '-';
    s.remove_prefix(1);
  }
  std::array<std::string_view, 3> p;
  if (!split_units(s, "d'\"", p) || p[0].size() != 2 || p[1].size() != 2 ||
      !parse_uint(p[0], v.whole) || !parse_uint(p[1], v.minutes) ||
      !parse_decimal(p[2], v.seconds)) {
    return std::nullopt;
  }
  if (v.minutes >= 60 || v.seconds >= 60.0) return std::nullopt;
  if (v.whole + v.minutes / 60.0 + v.seconds / 3600.0 > 90.0) return std::nullopt;
  return v;
}

// "0834+555": four digits, sign, three digits.
bool is_list_name(std::string_view s) {
  return s.size() == 8 && (s[4] == '+' || s[4] == '-') &&
         std::all_of(s.begin(), s.begin() + 4, is_digit) &&
         std::all_of(s.begin() + 5, s.end(), is_digit);
}

bool is_rule(std::string_view trimmed, char c) {
  return !trimmed.empty() && trimmed.find_first_not_of(c) == std::string_view::npos;
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r");
  return s.substr(first, last - first + 1);
}

class Parser {
 public:
  explicit Parser(const std::string& source) : source_(source) {}

  void line(std::string_view text, std::size_t line_no) {
    line_no_ = line_no;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    const std::string_view trimmed = trim(text);
    const std::vector<Token> tokens = tokenize(text);

    if (expect_b1950_) {
      if (tokens.size() < 2 || tokens[1].text != "B1950") {
        fail(fmt::format("expected the B1950 line of {} (J2000 line {})", out_.back().iau_name,
                         out_.back().line));
      }
      b1950(tokens);
      expect_b1950_ = false;
      return;
    }
    if (trimmed.empty() || is_rule(trimmed, '=') || is_rule(trimmed, '-')) return;
    if (trimmed.starts_with("IAU NAME")) return;  // the file's column header
    if (trimmed.starts_with("BAND")) {
      const auto at = text.find("UVMAX");
      uvmax_column_ = at == std::string_view::npos ? kDefaultUvmaxColumn : at;
      return;
    }
    if (tokens.size() >= 2 && tokens[1].text == "J2000") {
      j2000(tokens);
      expect_b1950_ = true;
      return;
    }
    if (tokens.size() >= 2 && tokens[1].text == "B1950") {
      fail("B1950 line without a J2000 line before it");
    }
    if (tokens.front().text.ends_with("cm")) {
      band(tokens);
      return;
    }
    fail(fmt::format("unrecognised line '{}'", trimmed));
  }

  std::vector<VlaCalibrator> finish() {
    if (expect_b1950_) {
      fail(fmt::format("the list ends before the B1950 line of {}", out_.back().iau_name));
    }
    if (out_.empty()) throw InputError(fmt::format("{}: no calibrator entries", source_));
    for (VlaCalibrator& c : out_) {
      for (const VlaBand& b : c.bands) {
        if (b.flux_jy) c.band_flux_jy[std::string(1, b.letter)] = *b.flux_jy;
      }
      if (const VlaBand* l = c.band('L')) {
        c.flux_20cm_jy = l->flux_jy;
        c.codes_20cm = l->codes;
      }
    }
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(fmt::format("{}:{}: {}", source_, line_no_, what));
  }

  void j2000(const std::vector<Token>& t) {
    if (t.size() < 5) fail("J2000 line needs name, J2000, position code, RA and Dec");
    if (t.size() > 7) fail("J2000 line has more than POS.REF and ALT.NAME after the Dec");
    VlaCalibrator c;
    c.line = line_no_;
    if (!is_list_name(t[0].text)) {
      fail(fmt::format("name '{}' is not HHMM+DDd", t[0].text));
    }
    c.iau_name = std::string(t[0].text);
    if (t[2].text.size() != 1 || kPositionCodes.find(t[2].text[0]) == std::string_view::npos) {
      fail(fmt::format("{}: position code '{}' is not one of A, B, C, T", c.iau_name, t[2].text));
    }
    c.position_code = t[2].text[0];
    const auto ra = parse_ra(t[3].text);
    if (!ra) fail(fmt::format("{}: RA '{}' is not HHhMMmSS.sss s", c.iau_name, t[3].text));
    const auto dec = parse_dec(t[4].text);
    if (!dec) {
      fail(fmt::format("{}: Dec '{}' is not [-]DDdMM'SS.sss\" within +-90 deg", c.iau_name,
                       t[4].text));
    }
    c.ra_rad = (ra->whole + ra->minutes / 60.0 + ra->seconds / 3600.0) * 15.0 * kDegToRad;
    c.dec_rad = (dec->negative ? -1.0 : 1.0) *
                (dec->whole + dec->minutes / 60.0 + dec->seconds / 3600.0) * kDegToRad;
    // IAU style, truncated: the sign from the text, so "-00d04'" stays "-0004".
    c.name = fmt::format("J{:02d}{:02d}{}{:02d}{:02d}", ra->whole, ra->minutes,
                         dec->negative ? '-' : '+', dec->whole, dec->minutes);
    if (t.size() == 7) {
      c.pos_ref = std::string(t[5].text);
      c.alt_name = std::string(t[6].text);
    } else if (t.size() == 6) {
      (t[5].column < kAltNameColumn ? c.pos_ref : c.alt_name) = std::string(t[5].text);
    }
    out_.push_back(std::move(c));
  }

  void b1950(const std::vector<Token>& t) {
    VlaCalibrator& c = out_.back();
    if (t.size() != 5)
      fail(fmt::format("{}: B1950 line needs name, B1950, position code, RA and Dec", c.iau_name));
    if (!is_list_name(t[0].text)) {
      fail(fmt::format("{}: B1950 name '{}' is not HHMM+DDd", c.iau_name, t[0].text));
    }
    // The B1950 position is not kept, but a garbled one means a garbled entry.
    if (!parse_ra(t[3].text) || !parse_dec(t[4].text)) {
      fail(
          fmt::format("{}: B1950 position '{} {}' is malformed", c.iau_name, t[3].text, t[4].text));
    }
    c.b1950_name = std::string(t[0].text);
  }

  void band(const std::vector<Token>& t) {
    if (out_.empty()) fail("band line before the first calibrator entry");
    VlaCalibrator& c = out_.back();
    VlaBand b;
    b.label = std::string(t[0].text);
    const std::string_view number = t[0].text.substr(0, t[0].text.size() - 2);
    if (!parse_decimal(number, b.wavelength_cm) || b.wavelength_cm <= 0.0) {
      fail(fmt::format("{}: band '{}' is not a wavelength in cm", c.iau_name, t[0].text));
    }
    if (t.size() < 2 || t[1].text.size() != 1 || t[1].text[0] < 'A' || t[1].text[0] > 'Z') {
      fail(fmt::format("{}: {} band line lacks its band letter", c.iau_name, b.label));
    }
    b.letter = t[1].text[0];
    if (c.band(b.letter) != nullptr) {
      fail(fmt::format("{}: band {} appears twice", c.iau_name, b.letter));
    }
    const std::size_t letter_col = t[1].column;
    std::size_t i = 2;
    for (; i < t.size() && t[i].column < letter_col + kCodeAreaEnd; ++i) {
      const std::size_t offset = t[i].column - letter_col;
      const char code = t[i].text.size() == 1 ? to_upper(t[i].text[0]) : '\0';
      if (code == '\0' || kQualityCodes.find(code) == std::string_view::npos) {
        fail(
            fmt::format("{}: '{}' in the A/B/C/D columns of {} is not a quality code "
                        "(P, S, W, X, C, ?)",
                        c.iau_name, t[i].text, b.label));
      }
      if (offset < kFirstCodeOffset || (offset - kFirstCodeOffset) % 2 != 0) {
        fail(fmt::format("{}: quality code '{}' of {} is not in an A/B/C/D column", c.iau_name,
                         t[i].text, b.label));
      }
      b.codes[(offset - kFirstCodeOffset) / 2] = code;
    }
    if (i < t.size()) {
      if (t[i].text != "?") {
        double flux = 0.0;
        if (!parse_decimal(t[i].text, flux)) {
          fail(fmt::format("{}: {} flux '{}' is not a number of Jy", c.iau_name, b.label,
                           t[i].text));
        }
        b.flux_jy = flux;
      }
      ++i;
    }
    std::vector<Token> limits;
    for (; i < t.size(); ++i) {
      if (iequals(t[i].text, "visplot")) {
        b.visplot = true;
        continue;
      }
      double value = 0.0;
      if (!parse_decimal(t[i].text, value)) {
        fail(
            fmt::format("{}: {}: '{}' after the flux is neither a uv limit (kilolambda) nor "
                        "'visplot'",
                        c.iau_name, b.label, t[i].text));
      }
      if (limits.size() == 2)
        fail(fmt::format("{}: {}: more than two uv limits", c.iau_name, b.label));
      limits.push_back(t[i]);
    }
    const auto value = [](const Token& tok) {
      double v = 0.0;
      parse_decimal(tok.text, v);
      return v;
    };
    if (limits.size() == 2) {
      b.uvmin_klambda = value(limits[0]);
      b.uvmax_klambda = value(limits[1]);
    } else if (limits.size() == 1) {
      (limits[0].column >= uvmax_column_ ? b.uvmax_klambda : b.uvmin_klambda) = value(limits[0]);
    }
    c.bands.push_back(std::move(b));
  }

  const std::string& source_;
  std::size_t line_no_ = 0;
  std::size_t uvmax_column_ = kDefaultUvmaxColumn;
  bool expect_b1950_ = false;
  std::vector<VlaCalibrator> out_;
};

void check_direction(double ra_rad, double dec_rad, double radius_rad) {
  if (!std::isfinite(ra_rad) || !std::isfinite(dec_rad) || !std::isfinite(radius_rad)) {
    throw std::invalid_argument("calibrator query: direction and radius must be finite");
  }
  if (std::abs(dec_rad) > std::numbers::pi / 2) {
    throw std::invalid_argument(
        fmt::format("calibrator query: declination {} rad is beyond a pole", dec_rad));
  }
  if (radius_rad < 0.0) {
    throw std::invalid_argument(
        fmt::format("calibrator query: radius {} rad is negative", radius_rad));
  }
}

}  // namespace

const VlaBand* VlaCalibrator::band(char letter) const {
  const auto it = std::find_if(bands.begin(), bands.end(),
                               [letter](const VlaBand& b) { return b.letter == letter; });
  return it == bands.end() ? nullptr : &*it;
}

std::vector<VlaCalibrator> parse_vla_calibrators(std::istream& in, const std::string& source) {
  Parser parser(source);
  std::string text;
  std::size_t line_no = 0;
  while (std::getline(in, text)) parser.line(text, ++line_no);
  if (in.bad()) throw InputError(fmt::format("{}: read error", source));
  return parser.finish();
}

std::vector<VlaCalibrator> load_vla_calibrators(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open the VLA calibrator list", path.string()));
  return parse_vla_calibrators(in, path.string());
}

std::filesystem::path vla_calibrator_path(const std::filesystem::path& data_dir) {
  return data_dir / "catalogs" / "vlacalibrators.txt";
}

VlaCalibratorCatalog::VlaCalibratorCatalog(std::vector<VlaCalibrator> calibrators)
    : by_dec_(std::move(calibrators)) {
  std::sort(by_dec_.begin(), by_dec_.end(), [](const VlaCalibrator& a, const VlaCalibrator& b) {
    return std::tie(a.dec_rad, a.ra_rad, a.line) < std::tie(b.dec_rad, b.ra_rad, b.line);
  });
}

VlaCalibratorCatalog VlaCalibratorCatalog::load(const std::filesystem::path& path) {
  return VlaCalibratorCatalog(load_vla_calibrators(path));
}

namespace {

// The entries whose declination is within `radius_rad` of `dec_rad` (a source
// at angular distance r differs by at most r in declination), with a little
// slack so rounding cannot drop one at exactly the radius.
std::span<const VlaCalibrator> dec_band(std::span<const VlaCalibrator> by_dec, double dec_rad,
                                        double radius_rad) {
  const double slack = 1e-12;
  const double lo = dec_rad - radius_rad - slack, hi = dec_rad + radius_rad + slack;
  const auto first =
      std::lower_bound(by_dec.begin(), by_dec.end(), lo,
                       [](const VlaCalibrator& c, double d) { return c.dec_rad < d; });
  const auto last = std::upper_bound(
      first, by_dec.end(), hi, [](double d, const VlaCalibrator& c) { return d < c.dec_rad; });
  return {first, last};
}

}  // namespace

std::vector<CalibratorMatch> VlaCalibratorCatalog::within(double ra_rad, double dec_rad,
                                                          double radius_rad) const {
  check_direction(ra_rad, dec_rad, radius_rad);
  std::vector<CalibratorMatch> out;
  for (const VlaCalibrator& c : dec_band(by_dec_, dec_rad, radius_rad)) {
    const double d = sky::angular_distance(ra_rad, dec_rad, c.ra_rad, c.dec_rad);
    if (d <= radius_rad) out.push_back({&c, d});
  }
  std::sort(out.begin(), out.end(), [](const CalibratorMatch& a, const CalibratorMatch& b) {
    return std::tie(a.distance_rad, a.calibrator->line) <
           std::tie(b.distance_rad, b.calibrator->line);
  });
  return out;
}

std::optional<CalibratorMatch> VlaCalibratorCatalog::calibrator_in_beam(
    double ra_rad, double dec_rad, double radius_rad,
    const BeamCalibratorCriteria& criteria) const {
  check_direction(ra_rad, dec_rad, radius_rad);
  if (!std::isfinite(criteria.min_flux_20cm_jy)) {
    throw std::invalid_argument("calibrator query: the 20 cm flux threshold must be finite");
  }
  std::size_t config_index = 0;
  if (criteria.configuration) {
    const char cfg = to_upper(*criteria.configuration);
    if (cfg < 'A' || cfg > 'D') {
      throw std::invalid_argument(
          fmt::format("calibrator query: VLA configuration '{}' is not A, B, C or D", cfg));
    }
    config_index = static_cast<std::size_t>(cfg - 'A');
  }
  std::optional<CalibratorMatch> best;
  for (const VlaCalibrator& c : dec_band(by_dec_, dec_rad, radius_rad)) {
    if (!c.flux_20cm_jy || *c.flux_20cm_jy < criteria.min_flux_20cm_jy) continue;
    if (criteria.configuration &&
        criteria.accepted_codes.find(c.codes_20cm[config_index]) == std::string::npos) {
      continue;
    }
    const double d = sky::angular_distance(ra_rad, dec_rad, c.ra_rad, c.dec_rad);
    if (d > radius_rad) continue;
    if (!best || std::make_tuple(d, -*c.flux_20cm_jy, c.line) <
                     std::make_tuple(best->distance_rad, -*best->calibrator->flux_20cm_jy,
                                     best->calibrator->line)) {
      best = CalibratorMatch{&c, d};
    }
  }
  return best;
}

bool matches_name(const VlaCalibrator& c, std::string_view name) {
  return iequals(name, c.name) || iequals(name, c.iau_name) || iequals(name, c.b1950_name) ||
         (!c.alt_name.empty() && iequals(name, c.alt_name));
}

std::optional<VlaCalibrator> find_calibrator(std::span<const VlaCalibrator> list,
                                             std::string_view name) {
  for (const VlaCalibrator& c : list) {
    if (matches_name(c, name)) return c;
  }
  return std::nullopt;
}

std::vector<const VlaCalibrator*> VlaCalibratorCatalog::find(std::string_view name) const {
  std::vector<const VlaCalibrator*> out;
  for (const VlaCalibrator& c : by_dec_) {
    if (matches_name(c, name)) out.push_back(&c);
  }
  return out;
}

}  // namespace contimg::catalog
