// Cone queries on an NVSS-sized reference store (docs/perf.md, validation):
// N synthetic sources (default 1.8 M, NVSS's 1.77 M over Dec > -40 deg) are
// imported into a fresh SQLite store, then cone queries at random positions
// are timed for the radii validation uses (an image's 2.5 deg footprint) and
// a point look-up (10"). Prints one JSON report.
//   catalog_cone_bench [--sources N] [--queries Q] [--dir DIR]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/reference_store.h"

namespace fs = std::filesystem;
using contimg::catalog::RefSource;
using contimg::catalog::ReferenceStore;

int main(int argc, char** argv) {
  long n = 1'800'000, queries = 200;
  fs::path dir = fs::temp_directory_path() / "contimg_cone_bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--sources") n = std::stol(argv[i + 1]);
    else if (k == "--queries") queries = std::stol(argv[i + 1]);
    else if (k == "--dir") dir = argv[i + 1];
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  const double kDeg = std::numbers::pi / 180;
  // Uniform on the sphere above Dec -40; fluxes from a steep power law (2.5 mJy upwards).
  std::vector<RefSource> src(static_cast<std::size_t>(n));
  const double smin = std::sin(-40 * kDeg);
  for (auto& s : src) {
    s.ra_deg = 360 * u(rng);
    s.dec_deg = std::asin(smin + (1 - smin) * u(rng)) / kDeg;
    s.flux_jy = 2.5e-3 * std::pow(u(rng), -1 / 0.9);
    s.freq_hz = 1.4e9;
  }
  const auto t0 = std::chrono::steady_clock::now();
  double import_s = 0;
  {
    ReferenceStore store(dir / "store.sqlite3");
    store.import("nvss_synthetic", src);
    import_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const ReferenceStore store(dir / "store.sqlite3", false);
  nlohmann::json report = {{"sources", n}, {"import_s", import_s},
                           {"store_bytes", fs::file_size(dir / "store.sqlite3")}, {"cones", nlohmann::json::array()}};
  for (double radius : {2.5, 1.0, 10.0 / 3600}) {
    std::vector<double> ms;
    double found = 0;
    for (long q = 0; q < queries; ++q) {
      const double ra = 360 * u(rng), dec = std::asin(smin + (1 - smin) * u(rng)) / kDeg;
      const auto a = std::chrono::steady_clock::now();
      found += static_cast<double>(store.cone(ra, dec, radius).size());
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(ms.begin(), ms.end());
    report["cones"].push_back({{"radius_deg", radius},
                               {"queries", queries},
                               {"median_ms", ms[ms.size() / 2]},
                               {"p95_ms", ms[ms.size() * 95 / 100]},
                               {"max_ms", ms.back()},
                               {"mean_rows", found / queries}});
  }
  std::cout << report.dump(2) << "\n";
  fs::remove_all(dir);
  return 0;
}
