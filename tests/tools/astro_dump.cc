// Test-only helper for tests/tools/astro_astropy_check.py: prints contimg's
// astrometry as JSON for the times, declinations and baselines of a request.
//
//   astro_dump DATA_DIR < request.json > answer.json
//
// request: {"jd_utc": [...], "dec_deg": [...], "baselines": [[ant1, ant2], ...]}
// (station numbers). DATA_DIR holds DSA110_Station_Coordinates.csv and
// iers/finals2000A.all. Per (time, dec): the meridian ICRS centre, its observed
// HA/Dec, LAST, pyuvdata's app_ra/app_dec/frame_pa for that centre, and the UVW
// (m) of every baseline (antenna 2 - antenna 1).
#include <exception>
#include <filesystem>
#include <iostream>
#include <numbers>

#include <nlohmann/json.hpp>

#include "astro/astrometry.h"
#include "astro/time.h"

namespace astro = contimg::astro;
using nlohmann::json;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: astro_dump DATA_DIR < request.json\n";
    return 2;
  }
  try {
    const std::filesystem::path data = argv[1];
    const json request = json::parse(std::cin);
    const auto stations = astro::load_stations(data / "DSA110_Station_Coordinates.csv");
    const astro::Observatory obs(astro::kDsa110Location,
                                 astro::EarthOrientation::load(data / "iers" / "finals2000A.all"));
    astro::verify_leap_seconds(data / "iers" / "Leap_Second.dat");

    json out;
    out["site_itrf"] = astro::geodetic_to_itrf(obs.site());
    json st = json::array();
    for (const auto& s : stations) {
      st.push_back({{"number", s.number},
                    {"name", s.name},
                    {"height_m", s.geodetic.height_m},
                    {"itrf", s.itrf}});
    }
    out["stations"] = st;

    std::vector<std::pair<int, int>> baselines;
    for (const auto& b : request.at("baselines")) baselines.emplace_back(b.at(0), b.at(1));

    json eop = json::array();
    for (double jd : request.at("jd_utc")) {
      const auto v = obs.earth_orientation().at(jd - astro::kMjdOffset);
      eop.push_back({{"jd_utc", jd}, {"dut1_s", v.dut1_s}, {"xp_rad", v.xp_rad},
                     {"yp_rad", v.yp_rad}, {"last", obs.local_apparent_sidereal_time(jd)}});
    }
    out["eop"] = eop;

    json results = json::array();
    for (double dec_deg : request.at("dec_deg")) {
      for (double jd : request.at("jd_utc")) {
        const auto centre = obs.meridian_icrs(jd, dec_deg * std::numbers::pi / 180.0);
        const auto hadec = obs.observed_hadec(centre, jd);
        const auto frame = obs.uvw_frame(centre, jd);
        json uvw = json::array();
        for (const auto& [a1, a2] : baselines) {
          const auto& p1 = stations.at(static_cast<std::size_t>(a1 - 1)).itrf;
          const auto& p2 = stations.at(static_cast<std::size_t>(a2 - 1)).itrf;
          uvw.push_back(obs.uvw(frame, {p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]}));
        }
        results.push_back({{"jd_utc", jd},
                           {"dec_deg", dec_deg},
                           {"meridian_ra", centre.ra_rad},
                           {"meridian_dec", centre.dec_rad},
                           {"observed_ha", hadec.ra_rad},
                           {"observed_dec", hadec.dec_rad},
                           {"app_ra", frame.app_ra},
                           {"app_dec", frame.app_dec},
                           {"frame_pa", frame.frame_pa},
                           {"last", frame.last},
                           {"uvw", uvw}});
      }
    }
    out["results"] = results;
    std::cout << out.dump() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "astro_dump: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
