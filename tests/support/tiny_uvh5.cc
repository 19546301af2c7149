#include "support/tiny_uvh5.h"

#include <unistd.h>

#include <random>

#include "io/uvh5/hdf5_handle.h"
#include "common/build_info.h"

namespace contimg::test {
namespace fs = std::filesystem;

uvh5::Uvh5Header tiny_header(int nants, int ntimes, int nfreqs, int npols) {
  uvh5::initialize_hdf5(build::kHdf5PluginDir);
  uvh5::Uvh5Header h;
  h.latitude_deg = 37.2314;
  h.longitude_deg = -118.2817;
  h.altitude_m = 1222.0;
  h.telescope_name = "DSA-110";
  h.instrument = "DSA";
  h.object_name = "drift";
  h.history = "written by contimg tests";
  h.phase_type = "drift";
  h.nants_telescope = nants + 1;  // one station without data, as in DSA-110
  h.nants_data = nants;
  h.nbls = nants * (nants + 1) / 2;
  h.ntimes = ntimes;
  h.nblts = h.nbls * ntimes;
  h.nfreqs = nfreqs;
  h.npols = npols;
  h.nspws = 1;
  for (int a = 0; a < h.nants_telescope; ++a) {
    h.antenna_names.push_back(std::to_string(a + 1));
    h.antenna_numbers.push_back(a);
    h.antenna_positions.push_back({10.0 * a, -5.0 * a, 0.25 * a});
  }
  h.antenna_diameters.assign(static_cast<std::size_t>(h.nants_telescope), 4.65);
  const double t0 = 2460676.5 + 0.25;  // 2025-01-01T06:00 UTC
  const double dt = 12.884902 / 86400.0;
  for (int t = 0; t < ntimes; ++t) {
    for (int a1 = 0; a1 < nants; ++a1) {
      for (int a2 = a1; a2 < nants; ++a2) {
        h.ant_1.push_back(a1);
        h.ant_2.push_back(a2);
        h.time_jd.push_back(t0 + t * dt);
        h.integration_time.push_back(12.884902);
        h.uvw_m.push_back({10.0 * (a2 - a1), -5.0 * (a2 - a1), 0.0});
      }
    }
  }
  for (int c = 0; c < nfreqs; ++c) h.freq_hz.push_back(1498643188.4765625 - c * 244140.625);
  h.channel_width_hz = {-244140.625};
  h.channel_width_scalar = true;
  h.spw = {0};
  h.polarization = npols == 2 ? std::vector<std::int64_t>{-5, -6}
                              : std::vector<std::int64_t>{-5, -7, -8, -6};
  h.extra_keywords = {{"phase_center_dec", 0.9}, {"ha_phase_center", 0.0},
                      {"phase_center_epoch", "HADEC"}, {"applied_delays_ns", "0 0 0"}};
  h.arrays_loaded = true;
  return h;
}

std::complex<float> tiny_vis(std::uint64_t r, std::uint64_t c, std::uint64_t p) {
  return {static_cast<float>(r) + 0.25f * static_cast<float>(c),
          -static_cast<float>(p) - 0.5f * static_cast<float>(c) + 0.125f};
}
bool tiny_flag(std::uint64_t r, std::uint64_t c, std::uint64_t p) { return (r + 3 * c + p) % 5 == 0; }
float tiny_nsamples(std::uint64_t r, std::uint64_t c, std::uint64_t p) {
  return 1.0f - 0.0625f * static_cast<float>((r + c + p) % 4);
}

TinyData tiny_data(const uvh5::Uvh5Header& h) {
  TinyData d;
  const auto nf = static_cast<std::uint64_t>(h.nfreqs), np = static_cast<std::uint64_t>(h.npols);
  for (std::uint64_t r = 0; r < static_cast<std::uint64_t>(h.nblts); ++r) {
    for (std::uint64_t c = 0; c < nf; ++c) {
      for (std::uint64_t p = 0; p < np; ++p) {
        d.vis.push_back(tiny_vis(r, c, p));
        d.flags.push_back(tiny_flag(r, c, p) ? 1 : 0);
        d.nsamples.push_back(tiny_nsamples(r, c, p));
      }
    }
  }
  return d;
}

fs::path write_tiny(const fs::path& path, const uvh5::Uvh5Header& h,
                    const uvh5::WriteOptions& options) {
  const TinyData d = tiny_data(h);
  uvh5::Uvh5Writer w(path, h, options);
  w.write_rows(0, static_cast<std::uint64_t>(h.nblts), {d.vis, d.flags, d.nsamples});
  w.close();
  return path;
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("contimg-test-" + std::to_string(getpid()) + "-" +
                                       std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace contimg::test
