#pragma once
// A tiny DSA-110-shaped Measurement Set for tests (header-only: used by the
// unit tests and by tests/tools/ms_write_tiny.cc, whose MS
// tests/tools/ms_casacore_check.py checks independently; that script
// repeats the value formulas below, keep them in step).
//
// nant antennas around OVRO (autocorrelations included, ant1 <= ant2), ntimes
// integrations of 12.884902 s, nspw SPWs of nchan ascending channels, XX/YY.
// Rows are time-major: row = (t * nspw + s) * nbl + b, one block per (t, s).
// Every DATA value is distinct; some samples are flagged, one row of every
// (t=1, s) block is fully flagged, one row of SPW 1 has zero weights.
#include <array>
#include <cmath>
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include "io/ms/ms_layout.h"
#include "io/ms/ms_writer.h"

namespace contimg::ms::test {

struct TinySpec {
  int nant = 5;
  int ntimes = 3;
  int nspw = 2;
  int nchan = 4;
  bool point_source = false;  // DATA = 1 + 0j (cross), 10 (auto): an image with a centred peak
  int nbl() const { return nant * (nant + 1) / 2; }
  int rows() const { return ntimes * nspw * nbl(); }
};

inline constexpr double kTinyT0 = 60000.25 * 86400.0;  // MJD s
inline constexpr double kTinyInterval = 12.884902;
inline constexpr double kTinyDec = 0.2827433388230814;  // 16.2 deg
inline constexpr double kTinyLat = 37.2314 * M_PI / 180.0;
inline constexpr double kTinyLon = -118.2817 * M_PI / 180.0;
inline constexpr double kTinyHeight = 1222.0;
inline constexpr double kTinyFreq0 = 1311.387e6;  // SPW 0 channel 0 (Hz)
inline constexpr double kTinyChanWidth = 244140.625;

// East/north offsets (m) of the antennas from the array centre.
inline std::array<double, 2> tiny_enu(int a) {
  static const double e[] = {0.0, 30.0, -40.0, 100.0, -150.0, 250.0, -300.0, 420.0};
  static const double n[] = {0.0, 5.0, 60.0, -20.0, -200.0, 310.0, 90.0, -380.0};
  return {e[a % 8] + 7.0 * (a / 8), n[a % 8] - 11.0 * (a / 8)};
}

inline std::array<double, 3> tiny_itrf(int a) {
  // WGS84 geodetic -> ECEF of the centre, plus the rotated ENU offset.
  const double f = 1.0 / 298.257223563, a_e = 6378137.0, e2 = f * (2 - f);
  const double sl = std::sin(kTinyLat), cl = std::cos(kTinyLat);
  const double so = std::sin(kTinyLon), co = std::cos(kTinyLon);
  const double nrad = a_e / std::sqrt(1 - e2 * sl * sl);
  const double x0 = (nrad + kTinyHeight) * cl * co, y0 = (nrad + kTinyHeight) * cl * so;
  const double z0 = (nrad * (1 - e2) + kTinyHeight) * sl;
  const auto [e, n] = tiny_enu(a);
  return {x0 - so * e - sl * co * n, y0 + co * e - sl * so * n, z0 + cl * n};
}

inline double tiny_time(int t) { return kTinyT0 + (t + 0.5) * kTinyInterval; }
inline double tiny_freq(const TinySpec& s, int spw, int c) {
  return kTinyFreq0 + (spw * s.nchan + c) * kTinyChanWidth;
}
inline double tiny_ra(int t) { return 1.0 + t * kTinyInterval * 7.2921159e-5; }

// Baseline b of nbl in (0,0), (0,1), ..., (0,n-1), (1,1), ... order.
inline std::array<int, 2> tiny_baseline(const TinySpec& s, int b) {
  for (int i = 0; i < s.nant; ++i) {
    const int count = s.nant - i;
    if (b < count) return {i, i + b};
    b -= count;
  }
  return {-1, -1};
}

// Meridian UVW (HA = 0, Dec = kTinyDec) of ant2 - ant1, from ENU offsets.
inline std::array<double, 3> tiny_uvw(const TinySpec& s, int b) {
  const auto [a1, a2] = tiny_baseline(s, b);
  const auto p1 = tiny_enu(a1), p2 = tiny_enu(a2);
  const double e = p2[0] - p1[0], n = p2[1] - p1[1];
  const double x = -std::sin(kTinyLat) * n, z = std::cos(kTinyLat) * n;
  return {e, -std::sin(kTinyDec) * x + std::cos(kTinyDec) * z,
          std::cos(kTinyDec) * x + std::sin(kTinyDec) * z};
}

inline std::complex<float> tiny_vis(const TinySpec& s, int t, int spw, int b, int c, int p) {
  if (s.point_source) {
    const auto ab = tiny_baseline(s, b);
    return ab[0] == ab[1] ? std::complex<float>(10.0f, 0.0f) : std::complex<float>(1.0f, 0.0f);
  }
  return {static_cast<float>(1000 * t + 100 * spw + b + 0.01 * c),
          static_cast<float>(p + 0.1 * c)};
}
inline bool tiny_row_all_flagged(int t, int b) { return t == 1 && b == 2; }
inline bool tiny_row_zero_weight(int spw, int b) { return spw == 1 && b == 3; }
inline bool tiny_flag(int t, int spw, int b, int c, int p) {
  return tiny_row_all_flagged(t, b) || (t + spw + b + c + p) % 7 == 0;
}
inline float tiny_weight(int spw, int b, int c, int p) {
  if (tiny_row_zero_weight(spw, b)) return 0.0f;
  if (b % 2 == 0) return 2.0f + p;                // uniform over channels
  return 1.0f + 0.5f * static_cast<float>((b + c * c + p) % 5);  // varies
}

inline MsLayout tiny_layout(const TinySpec& s) {
  MsLayout l;
  for (int a = 0; a < s.nant; ++a) {
    AntennaInfo ai;
    ai.name = std::to_string(a + 1);
    ai.station = "DSA-" + std::string(a + 1 < 10 ? "00" : "0") + std::to_string(a + 1);
    ai.itrf_m = tiny_itrf(a);
    l.antennas.push_back(ai);
  }
  for (int spw = 0; spw < s.nspw; ++spw) {
    SpectralWindowInfo w;
    w.name = "sb" + std::to_string(s.nspw - 1 - spw);
    for (int c = 0; c < s.nchan; ++c) {
      w.chan_freq_hz.push_back(tiny_freq(s, spw, c));
      w.chan_width_hz.push_back(kTinyChanWidth);
    }
    l.spectral_windows.push_back(w);
  }
  for (int t = 0; t < s.ntimes; ++t) {
    l.fields.push_back({"meridian_icrs_t" + std::to_string(t), "", tiny_ra(t), kTinyDec, tiny_time(t)});
  }
  l.observation.observer = "contimg tests";
  l.observation.project = "tiny";
  l.integration_time_s = kTinyInterval;
  l.history.push_back({kTinyT0, "written by the tiny MS fixture", "contimg", "tests", "INFO",
                       {"ms_write_tiny", "--out", "x.ms"}, {"nant=5"}});
  return l;
}

// The block of integration t, SPW spw, with its owned buffers.
struct TinyBlock {
  std::vector<std::int32_t> ant1, ant2;
  std::vector<double> uvw;
  std::vector<std::complex<float>> data;
  std::vector<std::uint8_t> flags;
  std::vector<float> weights;
  double time = 0;
  std::int32_t field = 0;
  RowBlock view(int spw) const {
    RowBlock b;
    b.data_desc_id = spw;
    b.nrows = ant1.size();
    b.time_mjd_s = {&time, 1};
    b.field_id = {&field, 1};
    b.antenna1 = ant1;
    b.antenna2 = ant2;
    b.uvw_m = uvw;
    b.data = data;
    b.flags = flags;
    b.weight_spectrum = weights;
    return b;
  }
};

inline TinyBlock tiny_block(const TinySpec& s, int t, int spw) {
  TinyBlock k;
  k.time = tiny_time(t);
  k.field = t;
  for (int b = 0; b < s.nbl(); ++b) {
    const auto [a1, a2] = tiny_baseline(s, b);
    k.ant1.push_back(a1);
    k.ant2.push_back(a2);
    for (double v : tiny_uvw(s, b)) k.uvw.push_back(v);
    for (int c = 0; c < s.nchan; ++c) {
      for (int p = 0; p < 2; ++p) {
        k.data.push_back(tiny_vis(s, t, spw, b, c, p));
        k.flags.push_back(tiny_flag(t, spw, b, c, p) ? 1 : 0);
        k.weights.push_back(tiny_weight(spw, b, c, p));
      }
    }
  }
  return k;
}

// Writes the whole tiny MS, time-major.
inline void write_tiny_ms(const std::string& path, const TinySpec& s,
                          const StorageOptions& storage = {}, bool overwrite = false) {
  MsWriter w(path, tiny_layout(s), storage, overwrite);
  for (int t = 0; t < s.ntimes; ++t) {
    for (int spw = 0; spw < s.nspw; ++spw) w.append(tiny_block(s, t, spw).view(spw));
  }
  w.finish();
}

}  // namespace contimg::ms::test
