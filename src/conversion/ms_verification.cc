#include "conversion/ms_verification.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "io/ms/casa_table.h"

namespace contimg::conversion {

std::string VerificationReport::summary() const {
  std::string s;
  for (const auto& f : failures) s += (s.empty() ? "" : "; ") + f;
  return s.empty() ? "ok" : s;
}

VerificationReport verify_ms(const std::filesystem::path& ms, const VerificationExpectations& e) {
  VerificationReport rep;
  auto fail = [&](std::string what) { rep.failures.push_back(std::move(what)); };
  try {
    const ms::CasaTable main(ms.string());
    const std::uint64_t nrow = main.nrow();
    if (nrow != e.rows) fail(fmt::format("row count {} != expected {}", nrow, e.rows));

    const auto spw = main.subtable("SPECTRAL_WINDOW");
    if (spw.nrow() != e.spectral_windows) {
      fail(fmt::format("{} spectral windows, expected {}", spw.nrow(), e.spectral_windows));
    }
    double previous_top = -1;
    for (std::uint64_t r = 0; r < spw.nrow(); ++r) {
      const auto f = spw.get_cell<double>("CHAN_FREQ", r).values;
      for (std::size_t c = 1; c < f.size(); ++c) {
        if (!(f[c] > f[c - 1])) {
          fail(fmt::format("SPW {} frequencies not ascending at channel {}", r, c));
          break;
        }
      }
      if (!f.empty() && !(f.front() > previous_top))
        fail(fmt::format("SPW {} does not start above SPW {}", r, r - 1));
      if (!f.empty()) previous_top = f.back();
    }

    const auto ant = main.subtable("ANTENNA");
    if (ant.nrow() != e.stations.size()) {
      fail(fmt::format("ANTENNA has {} rows, expected {}", ant.nrow(), e.stations.size()));
    } else {
      for (std::uint64_t r = 0; r < ant.nrow(); ++r) {
        const auto p = ant.get_cell<double>("POSITION", r).values;
        const auto& s = e.stations[r].itrf;
        const double d = p.size() < 3
                             ? INFINITY
                             : std::sqrt(std::pow(p[0] - s[0], 2) + std::pow(p[1] - s[1], 2) +
                                         std::pow(p[2] - s[2], 2));
        if (d > e.antenna_tolerance_m) {
          fail(fmt::format("antenna {} is {:.3f} m from its station position", r, d));
        }
      }
    }

    if (nrow > 0) {
      const auto ant1 = main.get_column<std::int32_t>("ANTENNA1"),
                 ant2 = main.get_column<std::int32_t>("ANTENNA2");
      const auto uvw = main.get_range<double>("UVW", 0, nrow).values;  // [row][3]
      std::uint64_t zero = 0, too_long = 0, cross = 0;
      double longest = 0;
      for (std::uint64_t r = 0; r < nrow; ++r) {
        if (ant1[r] == ant2[r]) continue;
        ++cross;
        const double* u = &uvw[3 * r];
        const double len = std::sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
        longest = std::max(longest, len);
        if (len == 0) ++zero;
        if (len > e.max_baseline_m) ++too_long;
      }
      if (cross > 0 && zero == cross) fail("all UVW are zero");
      else if (zero) fail(fmt::format("{} cross-correlation rows have zero UVW", zero));
      if (too_long) fail(fmt::format("{} rows have |uvw| > {} m (longest {:.1f} m)", too_long, e.max_baseline_m, longest));
      const auto t = main.get_column<double>("TIME");
      const double dt = main.get<double>("INTERVAL", 0);
      const auto [tmin, tmax] = std::minmax_element(t.begin(), t.end());
      const double span = (*tmax - *tmin) + dt;
      if (span < e.min_duration_s || span > e.max_duration_s) {
        fail(fmt::format("duration {:.2f} s outside [{:.1f}, {:.1f}] s", span, e.min_duration_s, e.max_duration_s));
      }
    }
  } catch (const ms::TableError& x) {
    fail(std::string("cannot read back: ") + x.what());
  }
  return rep;
}

}  // namespace contimg::conversion
