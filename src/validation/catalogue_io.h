#pragma once
// The source catalogue products (SPEC §7): a FITS binary table with units
// (TUNITn) and the same columns as CSV.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "validation/source_finder.h"

namespace contimg::validation {

// Both staged and renamed. `keys` go into the FITS header (IMAGE, GROUP, ...).
void write_catalogue_fits(const std::filesystem::path& path, const std::vector<Detection>& detections,
                          const std::map<std::string, std::string>& keys);
void write_catalogue_csv(const std::filesystem::path& path, const std::vector<Detection>& detections);

}  // namespace contimg::validation
