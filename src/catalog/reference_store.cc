#include "catalog/reference_store.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numbers>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"
#include "common/angles.h"
#include "io/fits/fits_table.h"
#include "sky/primary_beam.h"
#include "state/sqlite.h"

namespace contimg::catalog {
namespace fs = std::filesystem;
namespace {

constexpr double kDeg = std::numbers::pi / 180;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\"");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\"");
  return s.substr(b, e - b + 1);
}

// Column aliases (HEASARC NVSS, VizieR VIII/65, generic exports).
const std::vector<std::string> kRa = {"ra", "raj2000", "_raj2000", "ra_deg", "ra_j2000"};
const std::vector<std::string> kDec = {"dec", "dej2000", "decj2000", "_dej2000", "dec_deg", "dec_j2000"};
const std::vector<std::string> kFlux = {"s1.4", "flux_20_cm", "s1_4", "flux", "s1400", "flux_jy", "flux_mjy"};
const std::vector<std::string> kFluxErr = {"e_s1.4", "flux_20_cm_error", "e_s1_4", "flux_err", "e_flux"};
const std::vector<std::string> kMajor = {"majaxis", "major_axis", "maj", "major"};
const std::vector<std::string> kMinor = {"minaxis", "minor_axis", "min", "minor"};
const std::vector<std::string> kPa = {"pa", "position_angle"};
const std::vector<std::string> kName = {"nvss", "name", "id"};

std::optional<std::size_t> find_col(const std::vector<std::string>& names, const std::vector<std::string>& aliases) {
  for (const auto& a : aliases) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (lower(trim(names[i])) == a) return i;
    }
  }
  return std::nullopt;
}

// Jy per unit of a flux column: mJy unless the unit (or the column name) says Jy.
double flux_scale(const std::string& unit, const std::string& name) {
  const auto u = lower(trim(unit));
  if (u == "jy") return 1.0;
  if (u.empty() && lower(name) == "flux_jy") return 1.0;
  return 1e-3;
}

struct Columns {
  std::size_t ra, dec, flux;
  std::optional<std::size_t> flux_err, major, minor, pa, name;
};

Columns resolve(const fs::path& path, const std::vector<std::string>& names) {
  auto need = [&](const std::vector<std::string>& aliases, const char* what) {
    auto c = find_col(names, aliases);
    if (!c) {
      throw InputError(fmt::format("{}: no {} column (looked for {})", path.string(), what,
                                   fmt::join(aliases, ", ")));
    }
    return *c;
  };
  return {need(kRa, "RA"), need(kDec, "Dec"), need(kFlux, "flux (S1.4)"), find_col(names, kFluxErr),
          find_col(names, kMajor), find_col(names, kMinor), find_col(names, kPa), find_col(names, kName)};
}

double number_or_zero(const std::string& s) {
  const auto t = trim(s);
  if (t.empty()) return 0;
  try {
    return std::stod(t);
  } catch (const std::exception&) {
    return 0;
  }
}

std::vector<RefSource> read_nvss_fits(const fs::path& path) {
  const auto t = fits::read_table(path);
  std::vector<std::string> names;
  for (const auto& c : t.columns) names.push_back(c.name);
  const auto cols = resolve(path, names);
  const std::size_t n = t.columns.empty() ? 0 : t.columns.front().size();
  auto numeric = [&](std::size_t col, std::size_t row, bool hours) -> double {
    const auto& c = t.columns[col];
    if (auto* d = std::get_if<std::vector<double>>(&c.data)) return (*d)[row];
    if (auto* s = std::get_if<std::vector<std::string>>(&c.data)) return parse_angle_deg((*s)[row], hours);
    return static_cast<double>(std::get<std::vector<std::int64_t>>(c.data)[row]);
  };
  const double fscale = flux_scale(t.columns[cols.flux].unit, t.columns[cols.flux].name);
  std::vector<RefSource> out;
  out.reserve(n);
  for (std::size_t r = 0; r < n; ++r) {
    RefSource s;
    // Text RA columns are sexagesimal hours (VizieR); numeric ones degrees.
    s.ra_deg = numeric(cols.ra, r, true);
    s.dec_deg = numeric(cols.dec, r, false);
    s.flux_jy = numeric(cols.flux, r, false) * fscale;
    if (!std::isfinite(s.ra_deg) || !std::isfinite(s.dec_deg) || !std::isfinite(s.flux_jy)) continue;
    if (cols.flux_err) s.flux_err_jy = numeric(*cols.flux_err, r, false) * fscale;
    if (cols.major) s.major_arcsec = numeric(*cols.major, r, false);
    if (cols.minor) s.minor_arcsec = numeric(*cols.minor, r, false);
    if (cols.pa) s.pa_deg = numeric(*cols.pa, r, false);
    if (cols.name) {
      if (auto* sv = std::get_if<std::vector<std::string>>(&t.columns[*cols.name].data)) s.name = (*sv)[r];
    }
    for (double* v : {&s.flux_err_jy, &s.major_arcsec, &s.minor_arcsec, &s.pa_deg}) {
      if (!std::isfinite(*v)) *v = 0;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> split(const std::string& line, char delim) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == delim && !quoted) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::vector<RefSource> read_nvss_text(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open", path.string()));
  std::string line;
  std::vector<std::string> header;
  char delim = ',';
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty() || line[0] == '#') continue;
    for (char d : {'\t', ';', '|', ','}) {
      if (line.find(d) != std::string::npos) {
        delim = d;
        break;
      }
    }
    header = split(line, delim);
    break;
  }
  if (header.empty()) throw InputError(fmt::format("{}: no header line", path.string()));
  const auto cols = resolve(path, header);
  const double fscale = flux_scale("", trim(header[cols.flux]));
  std::vector<RefSource> out;
  std::size_t bad = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (trim(line).empty() || line[0] == '#') continue;
    const auto f = split(line, delim);
    if (f.size() < header.size()) {
      ++bad;
      continue;
    }
    RefSource s;
    try {
      const auto ra = trim(f[cols.ra]);
      const bool sexa = ra.find_first_of(": ") != std::string::npos;
      s.ra_deg = parse_angle_deg(ra, sexa);
      s.dec_deg = parse_angle_deg(trim(f[cols.dec]), false);
      s.flux_jy = std::stod(trim(f[cols.flux])) * fscale;
    } catch (const std::exception&) {
      ++bad;  // VizieR unit and dash lines, blank fluxes
      continue;
    }
    if (cols.flux_err) s.flux_err_jy = number_or_zero(f[*cols.flux_err]) * fscale;
    if (cols.major) s.major_arcsec = number_or_zero(f[*cols.major]);
    if (cols.minor) s.minor_arcsec = number_or_zero(f[*cols.minor]);
    if (cols.pa) s.pa_deg = number_or_zero(f[*cols.pa]);
    if (cols.name) s.name = trim(f[*cols.name]);
    out.push_back(std::move(s));
  }
  // A few header-like lines are normal; a file of unparsable rows is not a catalogue.
  if (out.empty() && bad > 0) {
    throw InputError(fmt::format("{}: none of {} rows has a parsable RA, Dec and flux", path.string(), bad));
  }
  return out;
}

int strip_of(double dec_deg) { return static_cast<int>(std::floor((dec_deg + 90) / ReferenceStore::kStripDeg)); }

}  // namespace

double parse_angle_deg(const std::string& text, bool hours) {
  const auto t = trim(text);
  if (t.find_first_of(": ") == std::string::npos) {
    std::size_t used = 0;
    const double v = std::stod(t, &used);
    if (used != t.size()) throw InputError(fmt::format("'{}' is not an angle", text));
    return v;
  }
  std::string s = t;
  std::replace(s.begin(), s.end(), ':', ' ');
  const bool negative = s.find('-') != std::string::npos;
  std::istringstream is(s);
  double a = 0, b = 0, c = 0;
  if (!(is >> a)) throw InputError(fmt::format("'{}' is not a sexagesimal angle", text));
  is >> b >> c;
  const double v = std::abs(a) + b / 60 + c / 3600;
  return (negative ? -v : v) * (hours ? 15 : 1);
}

std::vector<RefSource> read_nvss(const fs::path& path) {
  if (!fs::exists(path)) throw InputError(fmt::format("{}: no such catalogue file", path.string()));
  const auto ext = lower(path.extension().string());
  const auto name = lower(path.filename().string());
  const bool fits = ext == ".fits" || ext == ".fit" || ext == ".fts" || name.ends_with(".fits.gz");
  return fits ? read_nvss_fits(path) : read_nvss_text(path);
}

bool is_sqlite_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[16] = {};
  in.read(magic, 16);
  return in && std::string(magic, 15) == "SQLite format 3";
}

ReferenceStore::ReferenceStore(const fs::path& path, bool create) {
  if (!create && !fs::exists(path)) {
    throw InputError(fmt::format("{}: no such reference store (create it with contimg catalog import)", path.string()));
  }
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  state::Database::Options o;
  o.create = create;
  db_ = std::make_unique<state::Database>(path, o);
  // Strip = floor((dec + 90) / kStripDeg); the (strip, ra) index turns a cone
  // into a few RA range scans.
  db_->exec(R"sql(
CREATE TABLE IF NOT EXISTS ref_sources (
  id          INTEGER PRIMARY KEY,
  catalogue   TEXT NOT NULL,
  name        TEXT NOT NULL DEFAULT '',
  ra_deg      REAL NOT NULL,
  dec_deg     REAL NOT NULL,
  strip       INTEGER NOT NULL,
  flux_jy     REAL NOT NULL,
  flux_err_jy REAL NOT NULL DEFAULT 0,
  freq_hz     REAL NOT NULL,
  major_arcsec REAL NOT NULL DEFAULT 0,
  minor_arcsec REAL NOT NULL DEFAULT 0,
  pa_deg      REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ref_sources_by_strip ON ref_sources (strip, ra_deg);
CREATE INDEX IF NOT EXISTS ref_sources_by_catalogue ON ref_sources (catalogue);
)sql");
}

ReferenceStore::~ReferenceStore() = default;

const fs::path& ReferenceStore::path() const { return db_->path(); }

std::int64_t ReferenceStore::import(const std::string& catalogue, const std::vector<RefSource>& sources) {
  state::Transaction tx(*db_);
  db_->prepare("DELETE FROM ref_sources WHERE catalogue = ?1").bind(1, catalogue).run();
  auto st = db_->prepare(
      "INSERT INTO ref_sources (catalogue, name, ra_deg, dec_deg, strip, flux_jy, flux_err_jy, freq_hz, "
      "major_arcsec, minor_arcsec, pa_deg) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  for (const auto& s : sources) {
    if (s.dec_deg < -90 || s.dec_deg > 90) {
      throw InputError(fmt::format("{}: source {} has declination {} outside [-90, 90]", catalogue, s.name, s.dec_deg));
    }
    const double ra = wrap_ra_deg(s.ra_deg);
    st.bind(1, catalogue).bind(2, s.name).bind(3, ra).bind(4, s.dec_deg).bind(5, strip_of(s.dec_deg))
        .bind(6, s.flux_jy).bind(7, s.flux_err_jy).bind(8, s.freq_hz).bind(9, s.major_arcsec)
        .bind(10, s.minor_arcsec).bind(11, s.pa_deg);
    st.run();
    st.reset();
  }
  tx.commit();
  return static_cast<std::int64_t>(sources.size());
}

std::int64_t ReferenceStore::count() const {
  auto st = db_->prepare("SELECT COUNT(*) FROM ref_sources");
  st.step();
  return st.get_int(0);
}

std::vector<RefSource> ReferenceStore::cone(double ra_deg, double dec_deg, double radius_deg) const {
  std::vector<std::pair<double, RefSource>> hits;
  const double dlo = std::max(-90.0, dec_deg - radius_deg), dhi = std::min(90.0, dec_deg + radius_deg);
  // Half-width in RA at the strip's most poleward declination; the whole circle near a pole.
  const double cmin = std::cos(std::max(std::abs(dlo), std::abs(dhi)) * kDeg);
  const bool all_ra = dhi >= 90 || dlo <= -90 || radius_deg / std::max(cmin, 1e-12) >= 180;
  const double half = all_ra ? 180 : std::asin(std::min(1.0, std::sin(radius_deg * kDeg) / cmin)) / kDeg;
  const double ra = wrap_ra_deg(ra_deg);
  std::vector<std::pair<double, double>> ranges;
  if (all_ra) {
    ranges = {{0, 360}};
  } else if (ra - half < 0) {
    ranges = {{0, ra + half}, {ra - half + 360, 360}};
  } else if (ra + half >= 360) {
    ranges = {{ra - half, 360}, {0, ra + half - 360}};
  } else {
    ranges = {{ra - half, ra + half}};
  }
  auto& st = db_->cached(
      "SELECT name, ra_deg, dec_deg, flux_jy, flux_err_jy, freq_hz, major_arcsec, minor_arcsec, pa_deg "
      "FROM ref_sources WHERE strip BETWEEN ?1 AND ?2 AND ra_deg BETWEEN ?3 AND ?4");
  const double r_rad = radius_deg * kDeg;
  for (const auto& [lo, hi] : ranges) {
    st.reset();
    st.bind(1, strip_of(dlo)).bind(2, strip_of(dhi)).bind(3, lo).bind(4, hi);
    while (st.step()) {
      RefSource s;
      s.name = st.get_text(0);
      s.ra_deg = st.get_double(1);
      s.dec_deg = st.get_double(2);
      const double d = sky::angular_distance(ra_deg * kDeg, dec_deg * kDeg, s.ra_deg * kDeg, s.dec_deg * kDeg);
      if (d > r_rad) continue;
      s.flux_jy = st.get_double(3);
      s.flux_err_jy = st.get_double(4);
      s.freq_hz = st.get_double(5);
      s.major_arcsec = st.get_double(6);
      s.minor_arcsec = st.get_double(7);
      s.pa_deg = st.get_double(8);
      hits.emplace_back(d, std::move(s));
    }
  }
  std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<RefSource> out;
  out.reserve(hits.size());
  for (auto& h : hits) out.push_back(std::move(h.second));
  return out;
}

}  // namespace contimg::catalog
