#pragma once
// FITS images through cfitsio and their WCS through wcslib: the first plane
// of an image, pixel -> sky, copies with new pixels, header keys. Paths are
// opened as plain disk files (cfitsio's extended file-name syntax is off, so
// brackets or spaces in a path mean nothing special).
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace contimg::imaging {

struct FitsPlane {
  long nx = 0, ny = 0;
  std::vector<float> pixels;  // row-major, y = 0 at the bottom (FITS order)
};

// The first plane (all of NAXIS1 × NAXIS2) of the primary HDU. IoError names the file.
FitsPlane read_fits_plane(const std::filesystem::path& fits);

// ICRS (RA, Dec) in degrees of 0-based pixel positions (x, y) of the first
// plane, from the header's WCS (wcslib; other axes at their reference pixel).
std::vector<std::pair<double, double>> pixel_to_world(const std::filesystem::path& fits,
                                                      const std::vector<std::pair<double, double>>& pixels);

// Writes `out` with `like`'s primary header and `pixels` as its first plane
// (same NAXIS1/NAXIS2; overwrites). NaN pixels are blanks.
void write_fits_like(const std::filesystem::path& like, const std::filesystem::path& out,
                     const std::vector<float>& pixels);

using HeaderValue = std::variant<std::string, double>;
struct HeaderKey {
  std::string name;
  HeaderValue value;
  std::string comment;
};
// Adds or replaces keys in the primary header.
void update_header(const std::filesystem::path& fits, const std::vector<HeaderKey>& keys);

// A numeric / string key of the primary header, if present.
std::optional<double> header_double(const std::filesystem::path& fits, const std::string& key);
std::optional<std::string> header_string(const std::filesystem::path& fits, const std::string& key);

}  // namespace contimg::imaging
