#include "imaging/fits_image.h"

#include <fitsio.h>
#include <wcslib/wcs.h>
#include <wcslib/wcshdr.h>

#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "common/error.h"
#include "common/angles.h"

namespace contimg::imaging {
namespace fs = std::filesystem;
namespace {

std::string fits_error(int status) {
  char text[FLEN_STATUS] = {0};
  fits_get_errstatus(status, text);
  return text;
}

// An open FITS file, closed on scope exit.
class FitsFile {
 public:
  FitsFile(const fs::path& path, int mode) : path_(path) {
    int status = 0;
    if (fits_open_diskfile(&f_, path.c_str(), mode, &status)) {
      throw IoError(fmt::format("{}: cannot open FITS file: {}", path.string(), fits_error(status)));
    }
  }
  static FitsFile create(const fs::path& path) {
    std::error_code ec;
    fs::remove(path, ec);
    FitsFile f;
    f.path_ = path;
    int status = 0;
    if (fits_create_diskfile(&f.f_, path.c_str(), &status)) {
      throw IoError(fmt::format("{}: cannot create FITS file: {}", path.string(), fits_error(status)));
    }
    return f;
  }
  FitsFile(FitsFile&& o) noexcept : f_(o.f_), path_(std::move(o.path_)) { o.f_ = nullptr; }
  FitsFile& operator=(FitsFile&&) = delete;
  ~FitsFile() {
    int status = 0;
    if (f_) fits_close_file(f_, &status);
  }
  void close() {
    int status = 0;
    fitsfile* f = f_;
    f_ = nullptr;
    if (fits_close_file(f, &status)) check(status, "close");
  }
  fitsfile* get() const { return f_; }
  void check(int status, const char* what) const {
    if (status) throw IoError(fmt::format("{}: FITS {} failed: {}", path_.string(), what, fits_error(status)));
  }
  std::pair<long, long> plane_size() const {
    int status = 0, naxis = 0;
    long naxes[8] = {0};
    fits_get_img_dim(f_, &naxis, &status);
    check(status, "read of NAXIS");
    if (naxis < 2 || naxis > 8) throw IoError(fmt::format("{}: image has {} axes", path_.string(), naxis));
    fits_get_img_size(f_, naxis, naxes, &status);
    check(status, "read of the image size");
    return {naxes[0], naxes[1]};
  }

 private:
  FitsFile() = default;
  fitsfile* f_ = nullptr;
  fs::path path_;
};

}  // namespace

FitsPlane read_fits_plane(const fs::path& fits) {
  FitsFile f(fits, READONLY);
  FitsPlane p;
  std::tie(p.nx, p.ny) = f.plane_size();
  p.pixels.resize(static_cast<std::size_t>(p.nx * p.ny));
  int status = 0, anynul = 0;
  float nulval = NAN;
  fits_read_img(f.get(), TFLOAT, 1, p.nx * p.ny, &nulval, p.pixels.data(), &anynul, &status);
  f.check(status, "pixel read");
  return p;
}

std::vector<std::pair<double, double>> pixel_to_world(const fs::path& fits,
                                                      const std::vector<std::pair<double, double>>& pixels) {
  FitsFile f(fits, READONLY);
  char* header = nullptr;
  int nkeys = 0, status = 0;
  fits_hdr2str(f.get(), 1, nullptr, 0, &header, &nkeys, &status);
  f.check(status, "header read");
  std::unique_ptr<char, void (*)(void*)> hold(header, [](void* p) { int s = 0; fits_free_memory(p, &s); });
  int nreject = 0, nwcs = 0;
  wcsprm* wcs = nullptr;
  if (wcspih(header, nkeys, WCSHDR_all, 0, &nreject, &nwcs, &wcs) != 0 || nwcs < 1) {
    throw IoError(fmt::format("{}: no usable WCS in the header", fits.string()));
  }
  std::unique_ptr<wcsprm, void (*)(wcsprm*)> hold_wcs(wcs, [](wcsprm* w) { int n = 1; wcsvfree(&n, &w); });
  if (wcsset(wcs) != 0) throw IoError(fmt::format("{}: invalid WCS (wcsset)", fits.string()));
  const int naxis = wcs->naxis;
  if (wcs->lng < 0 || wcs->lat < 0) throw IoError(fmt::format("{}: WCS has no celestial axes", fits.string()));
  const std::size_t n = pixels.size();
  std::vector<double> pix(n * static_cast<std::size_t>(naxis)), img(pix.size()), world(pix.size());
  std::vector<double> phi(n), theta(n);
  std::vector<int> stat(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (int a = 0; a < naxis; ++a) pix[i * naxis + a] = wcs->crpix[a];
    pix[i * naxis + 0] = pixels[i].first + 1.0;  // FITS pixels are 1-based
    pix[i * naxis + 1] = pixels[i].second + 1.0;
  }
  if (n > 0 && wcsp2s(wcs, static_cast<int>(n), naxis, pix.data(), img.data(), phi.data(), theta.data(),
                      world.data(), stat.data()) != 0) {
    // Pixels outside the projection's domain come back with stat != 0: NaN.
    for (std::size_t i = 0; i < n; ++i)
      if (stat[i]) world[i * naxis + wcs->lng] = world[i * naxis + wcs->lat] = NAN;
  }
  std::vector<std::pair<double, double>> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = {wrap_ra_deg(world[i * naxis + wcs->lng]), world[i * naxis + wcs->lat]};
  return out;
}

void write_fits_like(const fs::path& like, const fs::path& out, const std::vector<float>& pixels) {
  FitsFile in(like, READONLY);
  const auto [nx, ny] = in.plane_size();
  if (pixels.size() != static_cast<std::size_t>(nx * ny)) {
    throw InputError(fmt::format("{}: {} pixels for a {} x {} plane of {}", out.string(), pixels.size(), nx, ny,
                                 like.string()));
  }
  FitsFile o = FitsFile::create(out);
  int status = 0;
  fits_copy_header(in.get(), o.get(), &status);
  o.check(status, "header copy");
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
  o.check(status, "pixel write");
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
    f.check(status, ("update of " + k.name).c_str());
  }
  f.close();
}

std::optional<double> header_double(const fs::path& fits, const std::string& key) {
  FitsFile f(fits, READONLY);
  int status = 0;
  double v = 0;
  fits_read_key_dbl(f.get(), key.c_str(), &v, nullptr, &status);
  if (status == KEY_NO_EXIST) return std::nullopt;
  f.check(status, ("read of " + key).c_str());
  return v;
}

std::optional<std::string> header_string(const fs::path& fits, const std::string& key) {
  FitsFile f(fits, READONLY);
  int status = 0;
  char v[FLEN_VALUE] = {0};
  fits_read_key_str(f.get(), key.c_str(), v, nullptr, &status);
  if (status == KEY_NO_EXIST) return std::nullopt;
  f.check(status, ("read of " + key).c_str());
  return std::string(v);
}

}  // namespace contimg::imaging
