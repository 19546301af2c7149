#pragma once
// FITS binary tables via cfitsio: a writer with units (TUNITn) for catalogues
// and a reader for reference catalogues (NVSS from HEASARC/VizieR).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace contimg::fits {

struct Column {
  std::string name;
  std::string unit;  // TUNITn; empty for none
  std::variant<std::vector<double>, std::vector<std::int64_t>, std::vector<std::string>> data;
  std::size_t size() const;
};

struct Table {
  std::string extname;
  std::vector<Column> columns;
  std::map<std::string, std::string> keys;  // extra header keywords (string values)

  // Case-insensitive; nullptr when absent.
  const Column* find(const std::string& name) const;
};

// One binary-table extension after an empty primary HDU. Staged and renamed;
// throws InputError for ragged columns, IoError for the file system.
void write_table(const std::filesystem::path& path, const Table& table);

// The first binary or ASCII table extension: numeric columns as doubles
// (integers too), character columns as strings; vector columns are refused.
Table read_table(const std::filesystem::path& path);

}  // namespace contimg::fits
