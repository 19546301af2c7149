#include "io/fits/fits_util.h"

#include <fitsio.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/durable.h"
#include "common/error.h"
#include "common/interrupts.h"

namespace contimg::fits {
namespace fs = std::filesystem;

FitsFile::FitsFile(const fs::path& path, int mode) : path_(path), writing_(mode != READONLY) {
  int status = 0;
  if (mode == kCreate) {
    std::error_code ec;
    fs::remove(path, ec);
    fits_create_diskfile(&f_, path.c_str(), &status);
  } else {
    fits_open_diskfile(&f_, path.c_str(), mode, &status);
  }
  if (status != 0) {
    f_ = nullptr;
    check(status, mode == kCreate ? "creating" : "opening");
  }
}

FitsFile::~FitsFile() {
  if (f_) {
    int status = 0;
    fits_close_file(f_, &status);
  }
}

void FitsFile::close() {
  int status = 0;
  fits_close_file(f_, &status);
  f_ = nullptr;
  check(status, "closing");
}

void FitsFile::check(int status, const std::string& what) const {
  if (status == 0) return;
  char text[FLEN_STATUS] = {};
  fits_get_errstatus(status, text);
  char detail[FLEN_ERRMSG] = {};
  std::string stack;
  while (fits_read_errmsg(detail)) stack += std::string(" ") + detail;
  const auto msg = fmt::format("{}: FITS error {} {}: {}{}", path_.string(), what, status, text, stack);
  if (writing_) throw IoError(msg);
  throw InputError(msg);
}

void FitsFile::write_key(const std::string& key, double value) {
  int status = 0;
  fits_update_key(f_, TDOUBLE, key.c_str(), &value, nullptr, &status);
  check(status, "writing keyword " + key);
}

void FitsFile::write_key(const std::string& key, const std::string& value) {
  int status = 0;
  fits_update_key(f_, TSTRING, key.c_str(), const_cast<char*>(value.c_str()), nullptr, &status);
  check(status, "writing keyword " + key);
}

std::map<std::string, std::string> FitsFile::header_keys() const {
  std::map<std::string, std::string> out;
  int status = 0, nkeys = 0, more = 0;
  fits_get_hdrspace(f_, &nkeys, &more, &status);
  check(status, "reading the header");
  for (int i = 1; i <= nkeys; ++i) {
    char name[FLEN_KEYWORD] = {}, value[FLEN_VALUE] = {}, comment[FLEN_COMMENT] = {};
    fits_read_keyn(f_, i, name, value, comment, &status);
    check(status, "reading the header");
    std::string v(value);
    if (!v.empty() && v.front() == '\'') {
      char unquoted[FLEN_VALUE] = {};
      fits_read_key(f_, TSTRING, name, unquoted, nullptr, &status);
      if (status != 0) {
        status = 0;
        v = v.substr(1, v.rfind('\'') - 1);
      } else {
        v = unquoted;
      }
      while (!v.empty() && v.back() == ' ') v.pop_back();
    }
    if (name[0] != '\0' && std::string(name) != "COMMENT" && std::string(name) != "HISTORY") {
      out.emplace(name, v);
    }
  }
  return out;
}

StagedPath::StagedPath(fs::path final_path) : final_(std::move(final_path)) {
  // The one temporary naming scheme: a kill -9 leaves what the next run sweeps.
  staging_ = temp_path_in(final_.parent_path(), final_.filename().string());
}

StagedPath::~StagedPath() {
  if (!committed_) {
    std::error_code ec;
    fs::remove(staging_, ec);
  }
}

void StagedPath::commit() {
  durable::rename_into_place(staging_, final_);
  committed_ = true;
}

}  // namespace contimg::fits
