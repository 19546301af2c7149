#include "io/fits/fits_image.h"

#include <fitsio.h>
#include <wcslib/wcs.h>
#include <wcslib/wcshdr.h>

#include <cmath>
#include <cstdlib>
#include <numbers>
#include <unistd.h>

#include <fmt/format.h>

#include "common/error.h"
#include "common/angles.h"
#include "io/fits/fits_util.h"

namespace contimg::fits {
namespace fs = std::filesystem;
namespace {

void free_wcs(wcsprm* w) {
  if (w) {
    wcsfree(w);
    std::free(w);
  }
}

wcsprm* new_wcs() {
  auto* w = static_cast<wcsprm*>(std::calloc(1, sizeof(wcsprm)));
  if (!w) throw std::bad_alloc();
  w->flag = -1;
  return w;
}

constexpr double kDeg = std::numbers::pi / 180;

}  // namespace

namespace {
CelestialWcs wcs_of_current_hdu(const FitsFile& f, const fs::path& path) {
  char* header = nullptr;
  int ncards = 0, status = 0;
  fits_hdr2str(f.get(), 1, nullptr, 0, &header, &ncards, &status);
  f.check(status, "reading the header");
  const std::string hdr(header);
  fits_free_memory(header, &status);
  return CelestialWcs(hdr, ncards, path.string());
}
}  // namespace

CelestialWcs read_wcs(const fs::path& path) {
  const FitsFile f(path, READONLY);
  return wcs_of_current_hdu(f, path);
}

CelestialWcs::CelestialWcs(const std::string& header, int ncards, const std::string& what)
    : wcs_(nullptr, free_wcs), what_(what) {
  int nreject = 0, nwcs = 0;
  wcsprm* all = nullptr;
  int rc = wcspih(const_cast<char*>(header.c_str()), ncards, WCSHDR_all, 0, &nreject, &nwcs, &all);
  if (rc != 0 || nwcs < 1) {
    if (all) wcsvfree(&nwcs, &all);
    throw InputError(fmt::format("{}: no WCS in the header (wcspih status {})", what, rc));
  }
  wcs_.reset(new_wcs());
  int nsub = 2;
  int axes[2] = {WCSSUB_LONGITUDE, WCSSUB_LATITUDE};
  rc = wcssub(1, &all[0], &nsub, axes, wcs_.get());
  wcsvfree(&nwcs, &all);
  if (rc != 0 || nsub != 2) {
    throw InputError(fmt::format("{}: the WCS has no celestial (longitude and latitude) axes", what));
  }
  if ((rc = wcsset(wcs_.get())) != 0) {
    throw InputError(fmt::format("{}: invalid celestial WCS: {}", what, wcs_errmsg[rc]));
  }
}

CelestialWcs::CelestialWcs(const CelestialWcs& o) : wcs_(new_wcs(), free_wcs), what_(o.what_) {
  if (wcssub(1, o.wcs_.get(), nullptr, nullptr, wcs_.get()) != 0 || wcsset(wcs_.get()) != 0) {
    throw Error(fmt::format("{}: copying the WCS failed", what_));
  }
}

CelestialWcs::~CelestialWcs() = default;

bool CelestialWcs::pixel_to_world(double x, double y, double& ra_deg, double& dec_deg) const {
  double pix[2] = {x + 1, y + 1}, img[2], phi, theta, world[2];
  int stat = 0;
  if (wcsp2s(wcs_.get(), 1, 2, pix, img, &phi, &theta, world, &stat) != 0 || stat != 0) return false;
  ra_deg = wrap_ra_deg(world[0]);
  dec_deg = world[1];
  return std::isfinite(ra_deg) && std::isfinite(dec_deg);
}

bool CelestialWcs::world_to_pixel(double ra_deg, double dec_deg, double& x, double& y) const {
  double world[2] = {ra_deg, dec_deg}, img[2], phi, theta, pix[2];
  int stat = 0;
  if (wcss2p(wcs_.get(), 1, 2, world, &phi, &theta, img, pix, &stat) != 0 || stat != 0) return false;
  x = pix[0] - 1;
  y = pix[1] - 1;
  return std::isfinite(x) && std::isfinite(y);
}

namespace {
// Great-circle distance (deg) between two (RA, Dec) in degrees.
double separation_deg(double ra1, double dec1, double ra2, double dec2) {
  const double s = std::sin((dec2 - dec1) * kDeg / 2), t = std::sin((ra2 - ra1) * kDeg / 2);
  const double h = s * s + std::cos(dec1 * kDeg) * std::cos(dec2 * kDeg) * t * t;
  return 2 * std::asin(std::sqrt(std::min(1.0, h))) / kDeg;
}
}  // namespace

double CelestialWcs::pixel_scale_deg(double x, double y) const {
  double r0, d0, rx, dx, ry, dy;
  if (!pixel_to_world(x, y, r0, d0) || !pixel_to_world(x + 1, y, rx, dx) ||
      !pixel_to_world(x, y + 1, ry, dy)) {
    throw InputError(fmt::format("{}: pixel ({}, {}) lies outside the projection", what_, x, y));
  }
  return std::sqrt(separation_deg(r0, d0, rx, dx) * separation_deg(r0, d0, ry, dy));
}

double CelestialWcs::north_angle_rad(double x, double y) const {
  double ra, dec, xn, yn;
  if (!pixel_to_world(x, y, ra, dec)) {
    throw InputError(fmt::format("{}: pixel ({}, {}) lies outside the projection", what_, x, y));
  }
  const double step = std::min(pixel_scale_deg(x, y), 89.0 - std::abs(dec));
  if (!world_to_pixel(ra, dec + step, xn, yn)) {
    throw InputError(fmt::format("{}: no north direction at pixel ({}, {})", what_, x, y));
  }
  return std::atan2(-(xn - x), yn - y);
}

Image read_image(const fs::path& path) {
  if (!fs::exists(path)) throw InputError(fmt::format("{}: no such FITS image", path.string()));
  FitsFile f(path, READONLY);
  int status = 0, hdutype = 0, naxis = 0, nhdu = 0;
  fits_get_num_hdus(f.get(), &nhdu, &status);
  // The primary HDU, or the first image extension holding data.
  for (int h = 1; h <= nhdu; ++h) {
    fits_movabs_hdu(f.get(), h, &hdutype, &status);
    f.check(status, "moving to an HDU");
    if (hdutype != IMAGE_HDU) continue;
    fits_get_img_dim(f.get(), &naxis, &status);
    if (naxis >= 2) break;
  }
  if (hdutype != IMAGE_HDU || naxis < 2) {
    throw InputError(fmt::format("{}: no image HDU with two or more axes", path.string()));
  }
  std::vector<long> naxes(static_cast<std::size_t>(naxis));
  fits_get_img_size(f.get(), naxis, naxes.data(), &status);
  f.check(status, "reading the image size");
  for (int a = 2; a < naxis; ++a) {
    if (naxes[a] != 1) {
      throw InputError(fmt::format("{}: axis {} has {} planes; only one plane is supported",
                                   path.string(), a + 1, naxes[a]));
    }
  }
  Image img;
  img.path = path;
  img.nx = static_cast<int>(naxes[0]);
  img.ny = static_cast<int>(naxes[1]);
  img.pixels.resize(static_cast<std::size_t>(img.nx) * img.ny);
  std::vector<long> first(static_cast<std::size_t>(naxis), 1);
  int anynul = 0;
  fits_read_pix(f.get(), TFLOAT, first.data(), static_cast<LONGLONG>(img.pixels.size()), nullptr,
                img.pixels.data(), &anynul, &status);
  f.check(status, "reading the pixels");

  img.keys = f.header_keys();
  img.wcs = std::make_shared<CelestialWcs>(wcs_of_current_hdu(f, path));

  auto num = [&](const std::string& k) -> std::optional<double> {
    auto it = img.keys.find(k);
    if (it == img.keys.end()) return std::nullopt;
    try {
      return std::stod(it->second);
    } catch (const std::exception&) {
      throw InputError(fmt::format("{}: header key {} = '{}' is not a number", path.string(), k,
                                   it->second));
    }
  };
  if (auto bmaj = num("BMAJ"), bmin = num("BMIN"); bmaj && bmin && *bmaj > 0 && *bmin > 0) {
    img.beam = Beam{*bmaj, *bmin, num("BPA").value_or(0)};
  }
  for (int a = 1; a <= naxis; ++a) {
    auto it = img.keys.find(fmt::format("CTYPE{}", a));
    if (it != img.keys.end() && it->second.rfind("FREQ", 0) == 0) img.freq_hz = num(fmt::format("CRVAL{}", a));
  }
  if (!img.freq_hz) img.freq_hz = num("RESTFRQ");
  if (!img.freq_hz) img.freq_hz = num("FREQ");
  if (auto it = img.keys.find("DATE-OBS"); it != img.keys.end()) img.date_obs = it->second;
  if (auto it = img.keys.find("BUNIT"); it != img.keys.end()) img.bunit = it->second;
  return img;
}

CelestialWcs wcs_of(const ImageSpec& spec) {
  std::string hdr;
  int n = 0;
  auto card = [&](const std::string& k, const std::string& v) {
    std::string c = k;
    c.resize(8, ' ');
    c += "= " + v;
    c.resize(80, ' ');
    hdr += c;
    ++n;
  };
  card("NAXIS", "2");
  card("NAXIS1", std::to_string(spec.nx));
  card("NAXIS2", std::to_string(spec.ny));
  card("CTYPE1", "'RA---SIN'");
  card("CTYPE2", "'DEC--SIN'");
  // As write_image: CRPIX = n/2 + 1 (1-based), full precision.
  card("CRPIX1", fmt::format("{}", spec.nx / 2 + 1));
  card("CRPIX2", fmt::format("{}", spec.ny / 2 + 1));
  card("CRVAL1", fmt::format("{:.17g}", spec.ra0_deg));
  card("CRVAL2", fmt::format("{:.17g}", spec.dec0_deg));
  card("CDELT1", fmt::format("{:.17g}", -spec.cell_deg));
  card("CDELT2", fmt::format("{:.17g}", spec.cell_deg));
  return CelestialWcs(hdr, n, "image specification");
}

void write_image(const fs::path& path, const std::vector<float>& pixels, const ImageSpec& spec) {
  if (spec.nx <= 0 || spec.ny <= 0 || pixels.size() != static_cast<std::size_t>(spec.nx) * spec.ny) {
    throw InputError(fmt::format("{}: {} pixels for a {}x{} image", path.string(), pixels.size(),
                                 spec.nx, spec.ny));
  }
  StagedPath staged(path);
  {
    FitsFile f(staged.path(), FitsFile::kCreate);
    int status = 0;
    long naxes[4] = {spec.nx, spec.ny, 1, 1};
    fits_create_img(f.get(), FLOAT_IMG, 4, naxes, &status);
    f.check(status, "creating the image");
    f.write_key("BUNIT", spec.bunit);
    f.write_key("CTYPE1", std::string("RA---SIN"));
    f.write_key("CRPIX1", spec.nx / 2 + 1.0);
    f.write_key("CRVAL1", spec.ra0_deg);
    f.write_key("CDELT1", -spec.cell_deg);
    f.write_key("CUNIT1", std::string("deg"));
    f.write_key("CTYPE2", std::string("DEC--SIN"));
    f.write_key("CRPIX2", spec.ny / 2 + 1.0);
    f.write_key("CRVAL2", spec.dec0_deg);
    f.write_key("CDELT2", spec.cell_deg);
    f.write_key("CUNIT2", std::string("deg"));
    f.write_key("CTYPE3", std::string("FREQ"));
    f.write_key("CRPIX3", 1.0);
    f.write_key("CRVAL3", spec.freq_hz);
    f.write_key("CDELT3", spec.bandwidth_hz > 0 ? spec.bandwidth_hz : 1.0);
    f.write_key("CUNIT3", std::string("Hz"));
    f.write_key("CTYPE4", std::string("STOKES"));
    f.write_key("CRPIX4", 1.0);
    f.write_key("CRVAL4", 1.0);
    f.write_key("CDELT4", 1.0);
    f.write_key("RADESYS", std::string("FK5"));
    f.write_key("EQUINOX", 2000.0);
    f.write_key("SPECSYS", std::string("TOPOCENT"));
    if (spec.beam) {
      f.write_key("BMAJ", spec.beam->major_deg);
      f.write_key("BMIN", spec.beam->minor_deg);
      f.write_key("BPA", spec.beam->pa_deg);
    }
    if (!spec.date_obs.empty()) f.write_key("DATE-OBS", spec.date_obs);
    for (const auto& [k, v] : spec.extra_keys) f.write_key(k, v);
    long first[4] = {1, 1, 1, 1};
    fits_write_pix(f.get(), TFLOAT, first, static_cast<LONGLONG>(pixels.size()),
                   const_cast<float*>(pixels.data()), &status);
    f.check(status, "writing the pixels");
    f.close();
  }
  staged.commit();
}

}  // namespace contimg::fits
