// IERS Earth orientation (finals2000A.all) and the leap-second cross-check.
#include <erfa.h>
#include <erfam.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "astro/astrometry.h"
#include "common/error.h"

namespace contimg::astro {
namespace {

constexpr double kArcsecToRad = ERFA_DAS2R;

// Bytes [first, last] (1-based, inclusive, as in ReadMe.finals2000A), trimmed;
// empty when the line is shorter.
std::string_view columns(std::string_view line, std::size_t first, std::size_t last) {
  if (line.size() < first) return {};
  std::string_view s = line.substr(first - 1, last - first + 1);
  const auto b = s.find_first_not_of(' ');
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \r");
  return s.substr(b, e - b + 1);
}

// Parses a Fortran F-format field (".143000", "-.1353000" and "0.2" alike).
bool parse_fixed(std::string_view s, double& out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(out);
}

}  // namespace

EarthOrientation EarthOrientation::load(const std::filesystem::path& finals2000a) {
  std::ifstream in(finals2000a);
  const std::string file = finals2000a.string();
  if (!in) throw InputError(fmt::format("{}: cannot open the IERS table", file));

  EarthOrientation eop;
  eop.source_ = finals2000a;
  std::string text;
  int line_no = 0;
  while (std::getline(in, text)) {
    ++line_no;
    const std::string_view line = text;
    if (columns(line, 1, 187).empty()) continue;
    auto value = [&](std::size_t first, std::size_t last, const char* label) {
      double v = 0;
      if (!parse_fixed(columns(line, first, last), v)) {
        throw InputError(fmt::format("{}:{}: {} (bytes {}-{}) '{}' is not a number", file, line_no,
                                     label, first, last, columns(line, first, last)));
      }
      return v;
    };
    const double mjd = value(8, 15, "MJD");
    // Rows beyond the predictions hold only the date: skip them (as astropy).
    if (columns(line, 59, 68).empty() || columns(line, 17, 17).empty()) continue;
    double xp = value(19, 27, "PM_x_A");
    double yp = value(38, 46, "PM_y_A");
    double dut1 = value(59, 68, "UT1_UTC_A");
    // Bulletin B (final) values take precedence where the row has them.
    if (!columns(line, 135, 144).empty() && !columns(line, 145, 154).empty()) {
      xp = value(135, 144, "PM_X_B");
      yp = value(145, 154, "PM_Y_B");
    }
    if (!columns(line, 155, 165).empty()) dut1 = value(155, 165, "UT1_UTC_B");
    if (!eop.mjd_.empty() && mjd <= eop.mjd_.back()) {
      throw InputError(fmt::format("{}:{}: MJD {} does not follow the previous row's {}", file,
                                   line_no, mjd, eop.mjd_.back()));
    }
    if (std::abs(dut1) > 1.0 || std::abs(xp) > 2.0 || std::abs(yp) > 2.0) {
      throw InputError(fmt::format("{}:{}: implausible values UT1-UTC {} s, PM ({}, {}) arcsec",
                                   file, line_no, dut1, xp, yp));
    }
    eop.mjd_.push_back(mjd);
    eop.dut1_.push_back(dut1);
    eop.xp_.push_back(xp * kArcsecToRad);
    eop.yp_.push_back(yp * kArcsecToRad);
  }
  if (in.bad()) throw InputError(fmt::format("{}: read error", file));
  if (eop.mjd_.size() < 2) {
    throw InputError(fmt::format("{}: fewer than two rows with Earth orientation values", file));
  }
  return eop;
}

EarthOrientationValues EarthOrientation::at(double mjd_utc) const {
  if (!(mjd_utc >= mjd_.front() && mjd_utc <= mjd_.back())) {
    throw InputError(fmt::format("{}: MJD {:.5f} (UTC) is outside the IERS table ({} to {})",
                                 source_.string(), mjd_utc, mjd_.front(), mjd_.back()));
  }
  // The interval [mjd_[i0], mjd_[i0 + 1]] holding the time (the last row closes the last one).
  const auto it = std::upper_bound(mjd_.begin(), mjd_.end(), mjd_utc);
  const std::size_t i1 = std::min<std::size_t>(static_cast<std::size_t>(it - mjd_.begin()),
                                               mjd_.size() - 1);
  const std::size_t i0 = i1 - 1;
  const double f = (mjd_utc - mjd_[i0]) / (mjd_[i1] - mjd_[i0]);
  double d_dut1 = dut1_[i1] - dut1_[i0];
  d_dut1 -= std::round(d_dut1);  // a leap second steps UT1-UTC by 1 s at the later row
  return {dut1_[i0] + f * d_dut1, xp_[i0] + f * (xp_[i1] - xp_[i0]),
          yp_[i0] + f * (yp_[i1] - yp_[i0])};
}

double EarthOrientation::first_mjd() const { return mjd_.front(); }
double EarthOrientation::last_mjd() const { return mjd_.back(); }

void verify_leap_seconds(const std::filesystem::path& leap_second_dat) {
  std::ifstream in(leap_second_dat);
  const std::string file = leap_second_dat.string();
  if (!in) throw InputError(fmt::format("{}: cannot open the leap-second table", file));
  std::string line;
  int line_no = 0, entries = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const auto start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos || line[start] == '#') continue;
    std::istringstream fields(line);
    double mjd = 0, tai_utc = 0;
    int day = 0, month = 0, year = 0;
    if (!(fields >> mjd >> day >> month >> year >> tai_utc)) {
      throw InputError(fmt::format("{}:{}: expected 'MJD day month year TAI-UTC'", file,
                                   line_no));
    }
    double dat = 0;
    const int status = eraDat(year, month, day, 0.0, &dat);
    if (status < 0 || dat != tai_utc) {
      throw InputError(fmt::format("{}:{}: TAI-UTC = {} s from {:04d}-{:02d}-{:02d}, but ERFA "
                                   "has {} s: update liberfa",
                                   file, line_no, tai_utc, year, month, day, dat));
    }
    ++entries;
  }
  if (entries == 0) throw InputError(fmt::format("{}: no leap-second entries", file));
}

}  // namespace contimg::astro
