#pragma once
// An RAII cfitsio handle whose errors name the file (paths are plain disk files:
// cfitsio's extended file-name syntax is off, so brackets or spaces mean
// nothing special), and a staging path that becomes the final path only when committed.
#include <filesystem>
#include <map>
#include <string>

#include <fitsio.h>

namespace contimg::fits {

class FitsFile {
 public:
  static constexpr int kCreate = -1;
  // mode: READONLY/READWRITE (cfitsio) or kCreate (overwrites).
  FitsFile(const std::filesystem::path& path, int mode);
  ~FitsFile();
  FitsFile(const FitsFile&) = delete;
  FitsFile& operator=(const FitsFile&) = delete;

  fitsfile* get() const { return f_; }
  // Throws IoError (InputError when reading) naming the file, `what` and cfitsio's message.
  void check(int status, const std::string& what) const;
  void write_key(const std::string& key, double value);
  void write_key(const std::string& key, const std::string& value);
  // Every keyword of the current HDU with its value (string values unquoted).
  std::map<std::string, std::string> header_keys() const;
  void close();

 private:
  std::filesystem::path path_;
  fitsfile* f_ = nullptr;
  bool writing_ = false;
};

class StagedPath {
 public:
  explicit StagedPath(std::filesystem::path final_path);
  ~StagedPath();
  StagedPath(const StagedPath&) = delete;
  StagedPath& operator=(const StagedPath&) = delete;
  const std::filesystem::path& path() const { return staging_; }
  void commit();  // rename onto the final path

 private:
  std::filesystem::path final_, staging_;
  bool committed_ = false;
};

}  // namespace contimg::fits
