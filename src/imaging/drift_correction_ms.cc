#include "imaging/drift_correction_ms.h"

#include <algorithm>
#include <chrono>
#include <complex>

#include <fmt/format.h>

#include "common/error.h"
#include "common/parallel.h"
#include "io/ms/casa_table.h"
#include "io/ms/ms_layout.h"

namespace contimg::imaging {
namespace fs = std::filesystem;
namespace {
constexpr std::uint64_t kBlockRows = 8192;
// Rows per parallel work item: enough to amortise the hand-off.
constexpr std::size_t kRowsPerItem = 256;
bool is_parallel_hand(int t) {
  return t == ms::kCorrRR || t == ms::kCorrLL || t == ms::kCorrXX || t == ms::kCorrYY;
}
}  // namespace

DriftCorrectionStats correct_drift_in_ms(const fs::path& ms,
                                         std::span<const DriftComponent> components,
                                         const astro::SkyDirection& centre,
                                         std::span<const astro::SkyDirection> pointings,
                                         std::span<const double> beam_freqs_hz,
                                         double negligible_jy, int threads) {
  const auto t0 = std::chrono::steady_clock::now();
  DriftCorrectionStats st;
  const std::string where = ms.string();
  ms::CasaTable main;
  try {
    main = ms::CasaTable(ms.string(), ms::CasaTable::Mode::kUpdate);
    // Every channel of every SPW, concatenated; DATA_DESC_ID -> SPW.
    std::vector<double> freqs;
    std::vector<std::size_t> spw_chan0, spw_nchan;
    {
      const auto spw = main.subtable("SPECTRAL_WINDOW");
      for (std::uint64_t r = 0; r < spw.nrow(); ++r) {
        const auto f = spw.get_cell<double>("CHAN_FREQ", r).values;
        spw_chan0.push_back(freqs.size());
        spw_nchan.push_back(f.size());
        freqs.insert(freqs.end(), f.begin(), f.end());
      }
    }
    const auto dd_spw =
        main.subtable("DATA_DESCRIPTION").get_column<std::int32_t>("SPECTRAL_WINDOW_ID");
    std::vector<std::size_t> hands;
    {
      const auto corr = main.subtable("POLARIZATION").get_cell<std::int32_t>("CORR_TYPE", 0).values;
      for (std::size_t p = 0; p < corr.size(); ++p)
        if (is_parallel_hand(corr[p])) hands.push_back(p);
      if (hands.empty())
        throw InputError(fmt::format("{}: no parallel-hand correlation to correct", where));
    }
    const DriftCorrection corr(components, centre, pointings, freqs, beam_freqs_hz, negligible_jy);
    st.components = corr.components();
    st.kept = corr.kept();
    st.left_out = corr.left_out();
    st.left_out_error_jy = corr.left_out_error_jy();
    const std::uint64_t nrows = main.nrow();
    st.rows = nrows;
    if (corr.components() == 0 || nrows == 0) {
      main.release_without_writing();
      return st;
    }
    const auto time = main.get_column<double>("TIME");
    const auto ddid = main.get_column<std::int32_t>("DATA_DESC_ID");
    std::vector<double> times(time);
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());
    if (times.size() != pointings.size()) {
      throw InputError(fmt::format("{}: {} distinct TIME values for {} integrations", where,
                                   times.size(), pointings.size()));
    }
    std::vector<std::size_t> integration(nrows);
    for (std::uint64_t r = 0; r < nrows; ++r) {
      integration[r] = static_cast<std::size_t>(
          std::lower_bound(times.begin(), times.end(), time[r]) - times.begin());
    }
    std::uint64_t r0 = 0;
    while (r0 < nrows) {
      std::uint64_t n = 1;
      while (r0 + n < nrows && n < kBlockRows && ddid[r0 + n] == ddid[r0]) ++n;
      const int dd = ddid[r0];
      if (dd < 0 || static_cast<std::size_t>(dd) >= dd_spw.size() ||
          dd_spw[static_cast<std::size_t>(dd)] < 0 ||
          static_cast<std::size_t>(dd_spw[static_cast<std::size_t>(dd)]) >= spw_nchan.size()) {
        throw InputError(
            fmt::format("{}: DATA_DESC_ID {} at row {} has no spectral window", where, dd, r0));
      }
      const auto spw = static_cast<std::size_t>(dd_spw[static_cast<std::size_t>(dd)]);
      auto data = main.get_range<std::complex<float>>("DATA", r0, n);
      const auto uvw = main.get_range<double>("UVW", r0, n);
      const std::size_t ncorr = data.shape.at(0), nchan = data.shape.at(1);
      if (nchan != spw_nchan[spw] || uvw.size() != 3 * n) {
        throw InputError(fmt::format("{}: rows {}..{} hold {} channels, SPW {} has {}", where, r0,
                                     r0 + n - 1, nchan, spw, spw_nchan[spw]));
      }
      const auto tc = std::chrono::steady_clock::now();
      const std::size_t items = (static_cast<std::size_t>(n) + kRowsPerItem - 1) / kRowsPerItem;
      parallel_for(items, threads, [&](std::size_t item, std::size_t) {
        const std::size_t a = item * kRowsPerItem, b = std::min<std::size_t>(a + kRowsPerItem, n);
        corr.subtract(data.values.data() + a * nchan * ncorr, b - a, nchan, spw_chan0[spw], ncorr,
                      hands, uvw.values.data() + 3 * a, integration.data() + r0 + a);
      });
      st.seconds_compute +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - tc).count();
      main.put_range<std::complex<float>>("DATA", r0, data.shape, data.values.data());
      st.bytes_read += data.size() * sizeof(std::complex<float>) + uvw.size() * sizeof(double);
      st.bytes_written += data.size() * sizeof(std::complex<float>);
      r0 += n;
    }
    main.flush_or_throw(where + ": writing the drift-corrected DATA");
  } catch (const ms::TableError& e) {
    main.release_without_writing();  // a half-corrected MS is never flushed; the caller drops it
    throw IoError(fmt::format("{}: drift correction: {}", where, e.what()));
  } catch (...) {
    main.release_without_writing();
    throw;
  }
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace contimg::imaging
