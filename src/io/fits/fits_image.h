#pragma once
// FITS images as WSClean and CASA write them (SPEC §6, §7): a 2-D plane (the
// first plane when there are degenerate frequency/Stokes axes) with its
// celestial WCS (wcslib: any projection, pixel <-> world), the restoring beam
// and the frequency. And a writer for SIN-projection 4-axis images (tests,
// synthetic products). Pixels are 0-based everywhere in this API; row-major
// with x fastest and y = 0 at the bottom (FITS order).
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct wcsprm;

namespace contimg::fits {

struct Beam {
  double major_deg = 0, minor_deg = 0, pa_deg = 0;  // FWHM; PA east of north
};

// The celestial part of an image's WCS. Owns a wcslib wcsprm (copyable).
class CelestialWcs {
 public:
  // From a FITS header (80-char cards, as fits_hdr2str gives); `what` names the
  // source in errors. Throws InputError when no celestial WCS is found.
  CelestialWcs(const std::string& header, int ncards, const std::string& what);
  CelestialWcs(const CelestialWcs& o);
  CelestialWcs(CelestialWcs&&) noexcept = default;
  CelestialWcs& operator=(const CelestialWcs&) = delete;
  ~CelestialWcs();

  // 0-based pixel -> (RA, Dec) in degrees; false when outside the projection.
  bool pixel_to_world(double x, double y, double& ra_deg, double& dec_deg) const;
  bool world_to_pixel(double ra_deg, double dec_deg, double& x, double& y) const;
  // Angular size of one pixel (deg) near pixel (x, y), the geometric mean of both axes.
  double pixel_scale_deg(double x, double y) const;
  // Angle (rad) of the direction of increasing Dec in the pixel frame, measured
  // from +y towards -x (0 for the usual north-up, east-left image).
  double north_angle_rad(double x, double y) const;

 private:
  std::unique_ptr<wcsprm, void (*)(wcsprm*)> wcs_;
  std::string what_;
};

struct Image {
  std::filesystem::path path;
  int nx = 0, ny = 0;
  std::vector<float> pixels;  // nx*ny, NaN = blank
  std::shared_ptr<const CelestialWcs> wcs;
  std::optional<Beam> beam;      // BMAJ/BMIN/BPA
  std::optional<double> freq_hz;  // the spectral axis' CRVAL, else RESTFRQ/FREQ
  std::string date_obs;
  std::string bunit;
  std::map<std::string, std::string> keys;  // every header keyword's value (strings unquoted)

  float at(int x, int y) const { return pixels[static_cast<std::size_t>(y) * nx + x]; }
};

// The celestial WCS of the primary HDU's header, without reading pixels.
CelestialWcs read_wcs(const std::filesystem::path& path);

// Reads the primary HDU (or the first image HDU with data). Throws InputError
// naming the file for a missing file, a non-image, or more than one plane.
Image read_image(const std::filesystem::path& path);

// A SIN (WSClean-like) 4-axis image: RA---SIN, DEC--SIN, FREQ, STOKES.
struct ImageSpec {
  int nx = 0, ny = 0;
  double ra0_deg = 0, dec0_deg = 0;  // at the centre pixel (nx/2, ny/2), 0-based
  double cell_deg = 0;
  double freq_hz = 1.4e9;
  double bandwidth_hz = 0;
  std::optional<Beam> beam;
  std::string date_obs;
  std::string bunit = "JY/BEAM";
  std::map<std::string, std::string> extra_keys;  // written as string keywords
};

// The celestial WCS write_image gives `spec` (SIN, reference pixel at nx/2, ny/2
// 0-based), without writing a file: a grid to reproject onto or render into.
CelestialWcs wcs_of(const ImageSpec& spec);

// Written to a staging name beside `path` and renamed (never partial). Throws IoError.
void write_image(const std::filesystem::path& path, const std::vector<float>& pixels,
                 const ImageSpec& spec);

}  // namespace contimg::fits
