#pragma once
// Reference catalogues for validation (SPEC §7): NVSS as distributed (the
// HEASARC or VizieR FITS table, or CSV/TSV exports with RA/Dec in degrees or
// sexagesimal, S1.4 in mJy, errors and sizes), and an indexed local store of
// them in SQLite with a declination-strip index for fast cone queries
// (docs/validation.md).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace contimg::state {
class Database;
}

namespace contimg::catalog {

struct RefSource {
  std::string name;
  double ra_deg = 0, dec_deg = 0;
  double flux_jy = 0;      // at freq_hz
  double flux_err_jy = 0;  // 0 when unknown
  double freq_hz = 1.4e9;
  double major_arcsec = 0, minor_arcsec = 0, pa_deg = 0;  // deconvolved FWHM; 0 when unresolved/unknown
};

// Reads NVSS-like tables: FITS (first table extension) or delimited text
// (',', ';', tab or '|', '#' comments, VizieR unit/dash lines skipped).
// Column names are matched case-insensitively against the HEASARC and VizieR
// spellings (RA/RAJ2000, DEC/DEJ2000, FLUX_20_CM/S1.4, ...). Fluxes in mJy
// unless the unit says Jy. Throws InputError naming the file and the column.
std::vector<RefSource> read_nvss(const std::filesystem::path& path);

// "12 34 56.7" / "12:34:56.7" (hours for RA) or decimal degrees.
double parse_angle_deg(const std::string& text, bool hours);

// An indexed store (its own SQLite file, not the state database).
class ReferenceStore {
 public:
  explicit ReferenceStore(const std::filesystem::path& path, bool create = true);
  ~ReferenceStore();
  ReferenceStore(const ReferenceStore&) = delete;
  ReferenceStore& operator=(const ReferenceStore&) = delete;

  // Adds the sources under `catalogue` (replacing that catalogue's rows: idempotent).
  std::int64_t import(const std::string& catalogue, const std::vector<RefSource>& sources);
  // Sources within radius_deg of (ra, dec), nearest first.
  std::vector<RefSource> cone(double ra_deg, double dec_deg, double radius_deg) const;
  std::int64_t count() const;
  const std::filesystem::path& path() const;

  static constexpr double kStripDeg = 0.5;  // declination strip height

 private:
  std::unique_ptr<state::Database> db_;
};

// True when the file looks like a ReferenceStore (SQLite header).
bool is_sqlite_file(const std::filesystem::path& path);

}  // namespace contimg::catalog
