#include "conversion/ms_verification.h"

#include <casacore/casa/Arrays/Array.h>
#include <casacore/casa/Arrays/Matrix.h>
#include <casacore/casa/Arrays/Vector.h>
#include <casacore/tables/Tables/ArrayColumn.h>
#include <casacore/tables/Tables/ScalarColumn.h>
#include <casacore/tables/Tables/Table.h>
#include <casacore/tables/Tables/TableRecord.h>

#include <cmath>

#include <fmt/format.h>

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
    casacore::Table main(ms.string(), casacore::Table::Old);
    if (main.nrow() != e.rows) fail(fmt::format("row count {} != expected {}", main.nrow(), e.rows));

    casacore::Table spw(main.keywordSet().asTable("SPECTRAL_WINDOW"));
    if (spw.nrow() != e.spectral_windows) {
      fail(fmt::format("{} spectral windows, expected {}", spw.nrow(), e.spectral_windows));
    }
    casacore::ArrayColumn<double> chan_freq(spw, "CHAN_FREQ");
    double previous_top = -1;
    for (casacore::rownr_t r = 0; r < spw.nrow(); ++r) {
      const casacore::Vector<double> f = chan_freq(r);
      for (std::size_t c = 1; c < f.size(); ++c) {
        if (!(f[c] > f[c - 1])) {
          fail(fmt::format("SPW {} frequencies not ascending at channel {}", r, c));
          break;
        }
      }
      if (f.size() && !(f[0] > previous_top)) fail(fmt::format("SPW {} does not start above SPW {}", r, r - 1));
      if (f.size()) previous_top = f[f.size() - 1];
    }

    casacore::Table ant(main.keywordSet().asTable("ANTENNA"));
    casacore::ArrayColumn<double> pos(ant, "POSITION");
    if (ant.nrow() != e.stations.size()) {
      fail(fmt::format("ANTENNA has {} rows, expected {}", ant.nrow(), e.stations.size()));
    } else {
      for (casacore::rownr_t r = 0; r < ant.nrow(); ++r) {
        const casacore::Vector<double> p = pos(r);
        const auto& s = e.stations[r].itrf;
        const double d = std::sqrt(std::pow(p[0] - s[0], 2) + std::pow(p[1] - s[1], 2) + std::pow(p[2] - s[2], 2));
        if (d > e.antenna_tolerance_m) {
          fail(fmt::format("antenna {} is {:.3f} m from its station position", r, d));
        }
      }
    }

    casacore::ScalarColumn<int> a1(main, "ANTENNA1"), a2(main, "ANTENNA2");
    casacore::ArrayColumn<double> uvw_col(main, "UVW");
    casacore::ScalarColumn<double> time(main, "TIME"), interval(main, "INTERVAL");
    if (main.nrow() > 0) {
      const casacore::Vector<int> ant1 = a1.getColumn(), ant2 = a2.getColumn();
      const casacore::Matrix<double> uvw = uvw_col.getColumn();
      std::uint64_t zero = 0, too_long = 0, cross = 0;
      double longest = 0;
      for (casacore::rownr_t r = 0; r < main.nrow(); ++r) {
        if (ant1[r] == ant2[r]) continue;
        ++cross;
        const double len = std::sqrt(uvw(0, r) * uvw(0, r) + uvw(1, r) * uvw(1, r) + uvw(2, r) * uvw(2, r));
        longest = std::max(longest, len);
        if (len == 0) ++zero;
        if (len > e.max_baseline_m) ++too_long;
      }
      if (cross > 0 && zero == cross) fail("all UVW are zero");
      else if (zero) fail(fmt::format("{} cross-correlation rows have zero UVW", zero));
      if (too_long) fail(fmt::format("{} rows have |uvw| > {} m (longest {:.1f} m)", too_long, e.max_baseline_m, longest));
      const casacore::Vector<double> t = time.getColumn();
      const casacore::Vector<double> dt = interval.getColumn();
      double tmin = t[0], tmax = t[0];
      for (double x : t) {
        tmin = std::min(tmin, x);
        tmax = std::max(tmax, x);
      }
      const double span = (tmax - tmin) + dt[0];
      if (span < e.min_duration_s || span > e.max_duration_s) {
        fail(fmt::format("duration {:.2f} s outside [{:.1f}, {:.1f}] s", span, e.min_duration_s, e.max_duration_s));
      }
    }
  } catch (const casacore::AipsError& x) {
    fail(std::string("cannot read back: ") + x.what());
  }
  return rep;
}

}  // namespace contimg::conversion
