#include "astro/site_data.h"

namespace contimg::astro {

SiteData load_site_data(const std::filesystem::path& data_dir) {
  // A leap second newer than ERFA's built-in table must fail loudly.
  verify_leap_seconds(data_dir / "iers" / "Leap_Second.dat");
  return SiteData{load_stations(data_dir / "DSA110_Station_Coordinates.csv"),
                  Observatory(kDsa110Location,
                              EarthOrientation::load(data_dir / "iers" / "finals2000A.all"))};
}

}  // namespace contimg::astro
