// Station table (data/DSA110_Station_Coordinates.csv) and WGS84 -> ITRF.
#include <erfa.h>
#include <erfam.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <string_view>

#include <fmt/format.h>

#include "astro/astrometry.h"
#include "common/error.h"

namespace contimg::astro {
namespace {

constexpr double kDegToRad = ERFA_DD2R;
constexpr int kStationCount = 117;

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\"");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\"");
  return s.substr(first, last - first + 1);
}

std::vector<std::string_view> split_csv(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const auto comma = line.find(',', start);
    fields.push_back(trim(line.substr(start, comma == std::string_view::npos ? comma : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return fields;
}

bool parse_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size() && std::isfinite(out);
}

}  // namespace

Vec3 geodetic_to_itrf(const Geodetic& g) {
  Vec3 xyz{};
  const int status = eraGd2gc(ERFA_WGS84, g.lon_deg * kDegToRad, g.lat_deg * kDegToRad,
                              g.height_m, xyz.data());
  if (status != 0) {
    throw InputError(fmt::format("geodetic position lat {} deg, lon {} deg, height {} m is "
                                 "invalid (eraGd2gc status {})",
                                 g.lat_deg, g.lon_deg, g.height_m, status));
  }
  return xyz;
}

std::vector<Station> load_stations(const std::filesystem::path& csv) {
  std::ifstream in(csv);
  if (!in) throw InputError(fmt::format("{}: cannot open the station table", csv.string()));
  const std::string file = csv.string();

  std::vector<Station> stations;
  std::string line;
  int line_no = 0;
  // Column indices, found on the header row ("Station Number", "Latitude", ...).
  int col_name = -1, col_lat = -1, col_lon = -1, col_height = -1;
  while (std::getline(in, line)) {
    ++line_no;
    const auto fields = split_csv(line);
    auto field = [&](int i) -> std::string_view {
      return i < static_cast<int>(fields.size()) ? fields[static_cast<std::size_t>(i)]
                                                 : std::string_view{};
    };
    if (col_name < 0) {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        const int idx = static_cast<int>(i);
        if (fields[i] == "Station Number") col_name = idx;
        if (fields[i] == "Latitude") col_lat = idx;
        if (fields[i] == "Longitude") col_lon = idx;
        if (fields[i].starts_with("Elevation")) col_height = idx;
      }
      if (col_name >= 0 && (col_lat < 0 || col_lon < 0 || col_height < 0)) {
        throw InputError(fmt::format("{}:{}: header row lacks Latitude, Longitude or "
                                     "Elevation columns",
                                     file, line_no));
      }
      continue;
    }
    if (std::all_of(fields.begin(), fields.end(), [](auto f) { return f.empty(); })) continue;

    const std::string_view name = field(col_name);
    if (name.starts_with("200")) continue;  // legacy 200E/200W entries
    const auto dash = name.rfind('-');
    int number = 0;
    const std::string_view digits =
        dash == std::string_view::npos ? std::string_view{} : name.substr(dash + 1);
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() ||
        number < 1 || number > kStationCount) {
      throw InputError(fmt::format("{}:{}: station name '{}' is not DSA-001..DSA-{:03d}", file,
                                   line_no, name, kStationCount));
    }
    Station st;
    st.number = number;
    st.name = std::string(name);
    if (!parse_double(field(col_lat), st.geodetic.lat_deg) ||
        std::abs(st.geodetic.lat_deg) > 90.0) {
      throw InputError(fmt::format("{}:{}: {}: latitude '{}' is not a number of degrees in "
                                   "[-90, 90]",
                                   file, line_no, name, field(col_lat)));
    }
    if (!parse_double(field(col_lon), st.geodetic.lon_deg) ||
        std::abs(st.geodetic.lon_deg) > 360.0) {
      throw InputError(fmt::format("{}:{}: {}: longitude '{}' is not a number of degrees", file,
                                   line_no, name, field(col_lon)));
    }
    const std::string_view height = field(col_height);
    if (height.empty()) {
      st.geodetic.height_m = kDsa117Height;
    } else if (!parse_double(height, st.geodetic.height_m) ||
               std::abs(st.geodetic.height_m) > 10000.0) {
      throw InputError(fmt::format("{}:{}: {}: elevation '{}' is not a number of metres", file,
                                   line_no, name, height));
    }
    for (const auto& other : stations) {
      if (other.number == number) {
        throw InputError(fmt::format("{}:{}: station {} appears twice", file, line_no, name));
      }
    }
    st.itrf = geodetic_to_itrf(st.geodetic);
    stations.push_back(std::move(st));
  }
  if (in.bad()) throw InputError(fmt::format("{}: read error", file));
  if (col_name < 0) {
    throw InputError(fmt::format("{}: no 'Station Number' header row", file));
  }
  if (static_cast<int>(stations.size()) != kStationCount) {
    throw InputError(fmt::format("{}: {} stations, expected DSA-001..DSA-{:03d} ({})", file,
                                 stations.size(), kStationCount, kStationCount));
  }
  std::sort(stations.begin(), stations.end(),
            [](const Station& a, const Station& b) { return a.number < b.number; });
  return stations;
}

}  // namespace contimg::astro
