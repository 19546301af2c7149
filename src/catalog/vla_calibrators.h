#pragma once
// The NRAO VLA Calibrator Manual list (data/catalogs/vlacalibrators.txt):
// parser and sky queries. The format, its quirks and the "calibrator in the
// beam" rule are described in docs/calibrators.md.
#include <cstddef>
#include <filesystem>
#include <istream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace contimg::catalog {

// One band line of an entry, e.g. " 20cm    L  X S P P       8.47          45".
struct VlaBand {
  std::string label;           // wavelength as the file gives it: "20cm", "3.7cm", "4cm", ...
  double wavelength_cm = 0.0;  // the number in `label`
  char letter = ' ';           // VLA band code: P L C X U K Q
  // Quality codes for the A, B, C, D configurations, upper-cased: P, S, W, X,
  // C or ? (legend in docs/calibrators.md); '-' where the file gives none.
  std::string codes = "----";
  std::optional<double> flux_jy;        // none where the file has "?" or nothing
  std::optional<double> uvmin_klambda;  // restrict the calibrator to uv >= this
  std::optional<double> uvmax_klambda;  // ... and uv <= this
  bool visplot = false;                 // the manual has a visibility plot
};

struct VlaCalibrator {
  std::string name;          // J2000 name from the J2000 position, JHHMM+DDMM: "J0834+5534"
  std::string iau_name;      // the entry's own name (first column): "0834+555"
  std::string b1950_name;    // first column of the B1950 line: "0831+557"
  std::string alt_name;      // ALT.NAME column verbatim ("3C286", "JVAS", "CJ2", ...) or ""
  std::string pos_ref;       // POS.REF column ("Aug01", "USNO", ...) or ""
  double ra_rad = 0.0;       // J2000
  double dec_rad = 0.0;      // J2000
  char position_code = ' ';  // A (< 2 mas), B (2-10 mas), C (10-150 mas), T (> 150 mas)
  std::optional<double> flux_20cm_jy;  // the L-band line's flux
  std::string codes_20cm;              // the L-band line's A,B,C,D codes; "" without one
  // Known fluxes by band letter ("L", "C", "X", ...): X covers 3.7cm, 4cm and 3.6cm.
  std::map<std::string, double> band_flux_jy;
  std::vector<VlaBand> bands;  // in file order
  std::size_t line = 0;        // 1-based line of the J2000 header in the file

  // The band with letter `letter` ('L' for 20 cm), or nullptr.
  const VlaBand* band(char letter) const;
};

// Parses the list. `source` names the input in error messages. Throws
// contimg::InputError "<source>:<line>: <problem>" on malformed input.
std::vector<VlaCalibrator> parse_vla_calibrators(std::istream& in, const std::string& source);

// Reads and parses the file; entries in file order (1865 in the shipped list).
std::vector<VlaCalibrator> load_vla_calibrators(const std::filesystem::path& path);

// data_dir/catalogs/vlacalibrators.txt
std::filesystem::path vla_calibrator_path(const std::filesystem::path& data_dir);

// True when `name` equals the entry's J2000 name, IAU name, B1950 name or
// ALT.NAME (ASCII case-insensitive).
bool matches_name(const VlaCalibrator& c, std::string_view name);

// The first entry (in list order) that matches_name, or none. The list has
// duplicate names ("0354+801" twice); callers wanting all use VlaCalibratorCatalog::find.
std::optional<VlaCalibrator> find_calibrator(std::span<const VlaCalibrator> list,
                                             std::string_view name);

struct CalibratorMatch {
  const VlaCalibrator* calibrator = nullptr;
  double distance_rad = 0.0;
};

// Selection for VlaCalibratorCatalog::calibrator_in_beam.
struct BeamCalibratorCriteria {
  double min_flux_20cm_jy = 1.0;  // catalogue 20 cm flux, not beam-attenuated
  // If set ('A'..'D'), the 20 cm quality code for that VLA configuration must
  // also be one of `accepted_codes`.
  std::optional<char> configuration;
  std::string accepted_codes = "PS";
};

// The list indexed for position queries: entries sorted by declination, so a
// query binary-searches the declination band [dec - r, dec + r] and measures
// the true angular distance of the entries inside it.
class VlaCalibratorCatalog {
 public:
  explicit VlaCalibratorCatalog(std::vector<VlaCalibrator> calibrators);
  static VlaCalibratorCatalog load(const std::filesystem::path& path);

  // Sorted by dec_rad (ties by RA, then file line).
  std::span<const VlaCalibrator> calibrators() const { return by_dec_; }
  std::size_t size() const { return by_dec_.size(); }

  // Entries within `radius_rad` (inclusive) of (ra_rad, dec_rad), nearest first.
  // Throws std::invalid_argument for a non-finite direction or radius, |dec| > pi/2
  // or a negative radius.
  std::vector<CalibratorMatch> within(double ra_rad, double dec_rad, double radius_rad) const;

  // "The calibrator in the primary beam of a field": of the entries within
  // `radius_rad` of the field centre whose 20 cm flux is known and >=
  // criteria.min_flux_20cm_jy (and, if asked, whose 20 cm code suits the
  // configuration), the nearest; ties go to the brighter. None if no entry qualifies.
  std::optional<CalibratorMatch> calibrator_in_beam(
      double ra_rad, double dec_rad, double radius_rad,
      const BeamCalibratorCriteria& criteria = {}) const;

  // Entries whose name, iau_name, b1950_name or alt_name equals `name`
  // (ASCII case-insensitive), in declination order. The list has duplicate
  // names ("0354+801" twice) and survey tags ("JVAS") in ALT.NAME, hence a vector.
  std::vector<const VlaCalibrator*> find(std::string_view name) const;

 private:
  std::vector<VlaCalibrator> by_dec_;
};

}  // namespace contimg::catalog
