#include "imaging/fits_image.h"

#include <fitsio.h>

#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "common/error.h"
#include "io/fits/fits_image.h"
#include "io/fits/fits_util.h"

namespace contimg::imaging {
namespace fs = std::filesystem;
using fits::FitsFile;
namespace {

std::pair<long, long> plane_size(const FitsFile& f, const fs::path& path) {
  int status = 0, naxis = 0;
  long naxes[8] = {0};
  fits_get_img_dim(f.get(), &naxis, &status);
  f.check(status, "reading NAXIS");
  if (naxis < 2 || naxis > 8) throw IoError(fmt::format("{}: image has {} axes", path.string(), naxis));
  fits_get_img_size(f.get(), naxis, naxes, &status);
  f.check(status, "reading the image size");
  return {naxes[0], naxes[1]};
}

}  // namespace

FitsPlane read_fits_plane(const fs::path& path) {
  const FitsFile f(path, READONLY);
  FitsPlane p;
  std::tie(p.nx, p.ny) = plane_size(f, path);
  p.pixels.resize(static_cast<std::size_t>(p.nx * p.ny));
  int status = 0, anynul = 0;
  float nulval = NAN;
  fits_read_img(f.get(), TFLOAT, 1, p.nx * p.ny, &nulval, p.pixels.data(), &anynul, &status);
  f.check(status, "reading the pixels");
  return p;
}

std::vector<std::pair<double, double>> pixel_to_world(const fs::path& path,
                                                      const std::vector<std::pair<double, double>>& pixels) {
  const auto wcs = fits::read_wcs(path);
  std::vector<std::pair<double, double>> out(pixels.size(), {NAN, NAN});
  for (std::size_t i = 0; i < pixels.size(); ++i) {
    double ra = 0, dec = 0;
    if (wcs.pixel_to_world(pixels[i].first, pixels[i].second, ra, dec)) out[i] = {ra, dec};
  }
  return out;
}

void write_fits_like(const fs::path& like, const fs::path& out, const std::vector<float>& pixels) {
  const FitsFile in(like, READONLY);
  const auto [nx, ny] = plane_size(in, like);
  if (pixels.size() != static_cast<std::size_t>(nx * ny)) {
    throw InputError(fmt::format("{}: {} pixels for a {} x {} plane of {}", out.string(), pixels.size(), nx, ny,
                                 like.string()));
  }
  FitsFile o(out, FitsFile::kCreate);
  int status = 0;
  fits_copy_header(in.get(), o.get(), &status);
  o.check(status, "copying the header");
  int bitpix = 0;
  fits_get_img_type(o.get(), &bitpix, &status);
  if (bitpix != FLOAT_IMG) {
    fits_update_key_lng(o.get(), "BITPIX", FLOAT_IMG, nullptr, &status);
    fits_delete_key(o.get(), "BSCALE", &status);
    status = 0;
    fits_delete_key(o.get(), "BZERO", &status);
    status = 0;
    fits_set_hdustruc(o.get(), &status);
  }
  fits_write_img(o.get(), TFLOAT, 1, nx * ny, const_cast<float*>(pixels.data()), &status);
  o.check(status, "writing the pixels");
  o.close();
}

void update_header(const fs::path& fits, const std::vector<HeaderKey>& keys) {
  FitsFile f(fits, READWRITE);
  int status = 0;
  for (const auto& k : keys) {
    if (const auto* s = std::get_if<std::string>(&k.value)) {
      fits_update_key_str(f.get(), k.name.c_str(), s->c_str(), k.comment.c_str(), &status);
    } else {
      fits_update_key_dbl(f.get(), k.name.c_str(), std::get<double>(k.value), -15, k.comment.c_str(), &status);
    }
    f.check(status, "updating " + k.name);
  }
  f.close();
}

std::optional<double> header_double(const fs::path& fits, const std::string& key) {
  const FitsFile f(fits, READONLY);
  int status = 0;
  double v = 0;
  fits_read_key_dbl(f.get(), key.c_str(), &v, nullptr, &status);
  if (status == KEY_NO_EXIST) return std::nullopt;
  f.check(status, "reading " + key);
  return v;
}

std::optional<std::string> header_string(const fs::path& fits, const std::string& key) {
  const FitsFile f(fits, READONLY);
  int status = 0;
  char v[FLEN_VALUE] = {0};
  fits_read_key_str(f.get(), key.c_str(), v, nullptr, &status);
  if (status == KEY_NO_EXIST) return std::nullopt;
  f.check(status, "reading " + key);
  return std::string(v);
}

}  // namespace contimg::imaging
