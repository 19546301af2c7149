#pragma once
// The run-time data astrometry needs, loaded from paths.data_dir.
#include <filesystem>
#include <vector>

#include "astro/astrometry.h"

namespace contimg::astro {

struct SiteData {
  std::vector<Station> stations;  // 117, by number
  Observatory observatory;        // DSA-110 reference location + IERS table
};

// data_dir/DSA110_Station_Coordinates.csv and data_dir/iers/finals2000A.all.
SiteData load_site_data(const std::filesystem::path& data_dir);

}  // namespace contimg::astro
