#include "imaging/imaging_ms.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "common/bounded_queue.h"
#include "common/build_info.h"
#include "common/constants.h"
#include "common/error.h"
#include "imaging/channel_average.h"
#include "imaging/rephase.h"
#include "io/ms/casa_table.h"
#include "io/ms/ms_writer.h"

namespace contimg::imaging {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

constexpr double kMjdToJd = 2400000.5;
// A run of rows with one (TIME, DATA_DESC_ID, FIELD_ID) is at most this long
// per pass: bounds memory whatever the row order of the input.
constexpr std::size_t kMaxBlockRows = 16384;

ms::CasaTable subtable(const ms::CasaTable& main, const char* name, const fs::path& ms) {
  if (!main.has_subtable(name)) {
    throw InputError(fmt::format("{}: no {} subtable", ms.string(), name));
  }
  return main.subtable(name);
}

std::string direction_ref(const ms::CasaTable& field) {
  return field.column_keyword("PHASE_DIR", "MEASINFO", "Ref", "J2000");
}

struct InputDescription {
  ms::MsLayout layout;
  std::vector<astro::SkyDirection> fields;
  std::vector<double> field_time_mjd_s;
  std::vector<int> ddid_to_spw;
};

InputDescription describe(const ms::CasaTable& main, const fs::path& ms) {
  InputDescription d;
  auto& L = d.layout;
  {
    const auto t = subtable(main, "ANTENNA", ms);
    for (std::uint64_t r = 0; r < t.nrow(); ++r) {
      ms::AntennaInfo a;
      a.name = t.get<std::string>("NAME", r);
      a.station = t.get<std::string>("STATION", r);
      a.mount = t.get<std::string>("MOUNT", r);
      const auto p = t.get_cell<double>("POSITION", r);
      if (p.size() < 3) throw InputError(fmt::format("{}: ANTENNA row {} has no POSITION", ms.string(), r));
      a.itrf_m = {p[0], p[1], p[2]};
      a.diameter_m = t.get<double>("DISH_DIAMETER", r);
      a.flagged = t.get<std::uint8_t>("FLAG_ROW", r) != 0;
      L.antennas.push_back(a);
    }
  }
  {
    const auto t = subtable(main, "SPECTRAL_WINDOW", ms);
    for (std::uint64_t r = 0; r < t.nrow(); ++r) {
      ms::SpectralWindowInfo s;
      s.name = t.get<std::string>("NAME", r);
      s.chan_freq_hz = t.get_cell<double>("CHAN_FREQ", r).values;
      for (double x : t.get_cell<double>("CHAN_WIDTH", r).values) s.chan_width_hz.push_back(std::abs(x));
      s.ref_frequency_hz = t.get<double>("REF_FREQUENCY", r);
      s.meas_freq_ref = t.get<std::int32_t>("MEAS_FREQ_REF", r);
      s.net_sideband = t.get<std::int32_t>("NET_SIDEBAND", r);
      L.spectral_windows.push_back(s);
    }
  }
  {
    const auto t = subtable(main, "DATA_DESCRIPTION", ms);
    const auto spw = t.get_column<std::int32_t>("SPECTRAL_WINDOW_ID");
    const auto pol = t.get_column<std::int32_t>("POLARIZATION_ID");
    for (std::size_t r = 0; r < spw.size(); ++r) {
      // MsLayout ties DATA_DESC_ID i to SPW i (as the converter writes it).
      if (spw[r] != static_cast<int>(r) || pol[r] != 0) {
        throw InputError(fmt::format("{}: DATA_DESCRIPTION row {} maps to SPW {} / polarization {}; "
                                     "the imaging MS needs DATA_DESC_ID = SPW and one polarization",
                                     ms.string(), r, spw[r], pol[r]));
      }
      d.ddid_to_spw.push_back(spw[r]);
    }
  }
  {
    const auto t = subtable(main, "POLARIZATION", ms);
    if (t.nrow() < 1) throw InputError(fmt::format("{}: empty POLARIZATION table", ms.string()));
    L.corr_types = t.get_cell<std::int32_t>("CORR_TYPE", 0).values;
  }
  {
    const auto t = subtable(main, "FIELD", ms);
    const std::string ref = direction_ref(t);
    if (ref != "ICRS" && ref != "J2000") {
      throw InputError(fmt::format("{}: FIELD PHASE_DIR frame {} (ICRS or J2000 expected)", ms.string(), ref));
    }
    L.direction_frame = ref == "ICRS" ? ms::DirectionFrame::kIcrs : ms::DirectionFrame::kJ2000;
    for (std::uint64_t r = 0; r < t.nrow(); ++r) {
      const std::vector<double> v = t.get_cell<double>("PHASE_DIR", r).values;
      if (v.size() < 2) throw InputError(fmt::format("{}: FIELD row {} has no PHASE_DIR", ms.string(), r));
      d.fields.push_back({v[0], v[1]});
      d.field_time_mjd_s.push_back(t.get<double>("TIME", r));
    }
    if (d.fields.empty()) throw InputError(fmt::format("{}: FIELD table is empty", ms.string()));
  }
  {
    const auto t = subtable(main, "OBSERVATION", ms);
    if (t.nrow() > 0) {
      L.observation.telescope_name = t.get<std::string>("TELESCOPE_NAME", 0);
      L.observation.observer = t.get<std::string>("OBSERVER", 0);
      L.observation.project = t.get<std::string>("PROJECT", 0);
    }
  }
  return d;
}

}  // namespace

bool ms_has_column(const fs::path& ms, const std::string& column) {
  try {
    return ms::CasaTable(ms.string()).has_column(column);
  } catch (const ms::TableError& e) {
    throw IoError(fmt::format("{}: cannot open the MS: {}", ms.string(), e.what()));
  }
}

ImagingMsResult make_imaging_ms(const fs::path& in_ms, const fs::path& out_ms,
                                const astro::Observatory& observatory, const ImagingMsOptions& options) {
  const auto t_start = Clock::now();
  ImagingMsResult res;
  res.path = out_ms;
  std::unique_ptr<ms::CasaTable> main;
  try {
    main = std::make_unique<ms::CasaTable>(in_ms.string());
  } catch (const ms::TableError& e) {
    throw IoError(fmt::format("{}: cannot open the MS: {}", in_ms.string(), e.what()));
  }
  const std::size_t nrows = main->nrow();
  if (nrows == 0) throw InputError(fmt::format("{}: the MS has no data rows", in_ms.string()));

  const bool has_corrected = main->has_column("CORRECTED_DATA");
  if (options.data_column == "auto") {
    res.source_column = has_corrected ? "CORRECTED_DATA" : "DATA";
  } else if (options.data_column == "DATA" || options.data_column == "CORRECTED_DATA") {
    res.source_column = options.data_column;
    if (!main->has_column(res.source_column)) {
      throw InputError(fmt::format("{}: no {} column (imaging.data_column / --data-column asks for it)",
                                   in_ms.string(), res.source_column));
    }
  } else {
    throw ConfigError(fmt::format("imaging.data_column must be auto, DATA or CORRECTED_DATA, got \"{}\"",
                                  options.data_column));
  }
  if (options.correct) {
    if (res.source_column != "DATA") {
      throw ConfigError(fmt::format("{}: a solution is applied while imaging only to DATA, not {}",
                                    in_ms.string(), res.source_column));
    }
    res.applied_in_pass = options.correct_label;
  } else if (options.write_back) {
    throw ConfigError(fmt::format(
        "{}: CORRECTED_DATA is written back only by a pass that calibrates", in_ms.string()));
  }
  const bool has_weight_spectrum = main->has_column("WEIGHT_SPECTRUM");

  InputDescription in;
  std::vector<double> time;
  std::vector<int> ddid, field, ant1, ant2;
  double interval_s = 0;
  try {
    in = describe(*main, in_ms);
    time = main->get_column<double>("TIME");
    ddid = main->get_column<std::int32_t>("DATA_DESC_ID");
    field = main->get_column<std::int32_t>("FIELD_ID");
    ant1 = main->get_column<std::int32_t>("ANTENNA1");
    ant2 = main->get_column<std::int32_t>("ANTENNA2");
    interval_s = main->get<double>("INTERVAL", 0);
  } catch (const ms::TableError& e) {
    throw IoError(fmt::format("{}: cannot read the MS: {}", in_ms.string(), e.what()));
  }

  // Group timing and the common centre.
  const auto [tmin, tmax] = std::minmax_element(time.begin(), time.end());
  res.mid_mjd_s = 0.5 * (*tmin + *tmax);
  res.first_mjd_s = *tmin - 0.5 * interval_s;
  res.integration_s = interval_s;
  res.mid_jd_utc = res.mid_mjd_s / 86400.0 + kMjdToJd;
  res.pointing_dec_rad = pointing_dec(observatory, in.fields[0], in.field_time_mjd_s[0] / 86400.0 + kMjdToJd);
  res.centre = options.centre ? *options.centre : observatory.meridian_icrs(res.mid_jd_utc, res.pointing_dec_rad);

  // One pointing per integration: the field its rows were phased to (the
  // meridian at that time).
  {
    std::map<double, int> field_of_time;
    for (std::size_t r = 0; r < nrows; ++r) field_of_time.emplace(time[r], field[r]);
    for (const auto& [t, f] : field_of_time) {
      if (f < 0 || static_cast<std::size_t>(f) >= in.fields.size()) {
        throw InputError(fmt::format("{}: FIELD_ID {} outside the FIELD table", in_ms.string(), f));
      }
      res.pointings.push_back(in.fields[static_cast<std::size_t>(f)]);
    }
  }

  ms::MsLayout layout = in.layout;
  // The imaging MS's channels: `factor[spw]` input channels each.
  std::vector<std::size_t> factor(layout.spectral_windows.size(), 1);
  for (std::size_t s = 0; s < layout.spectral_windows.size(); ++s) {
    auto& spw = layout.spectral_windows[s];
    if (spw.chan_width_hz.empty()) continue;
    factor[s] = channel_average_factor(spw.chan_width_hz.front(), options.max_channel_width_hz);
    if (factor[s] == 1) continue;
    std::vector<double> f, w;
    average_channel_axis(spw.chan_freq_hz, spw.chan_width_hz, factor[s], f, w);
    spw.chan_freq_hz = std::move(f);
    spw.chan_width_hz = std::move(w);
  }
  if (!factor.empty()) res.channel_average = factor.front();
  // Each input SPW's channels in the imaging MS (after averaging).
  std::vector<std::vector<double>> spw_out_freqs;
  for (const auto& spw : layout.spectral_windows) spw_out_freqs.push_back(spw.chan_freq_hz);

  // Merging needs the rows of one integration together (time-ordered rows,
  // as the converter writes them); otherwise the SPWs are kept.
  res.merged_spws = options.merge_spws && layout.spectral_windows.size() > 1 &&
                    std::is_sorted(time.begin(), time.end());
  // merged_channel[s][c]: the merged SPW's channel of SPW s's channel c.
  std::vector<std::vector<std::size_t>> merged_channel;
  std::size_t merged_nchan = 0;
  if (res.merged_spws) {
    struct Chan {
      double freq, width;
      std::size_t spw, chan;
    };
    std::vector<Chan> all;
    for (std::size_t sp = 0; sp < layout.spectral_windows.size(); ++sp) {
      const auto& w = layout.spectral_windows[sp];
      for (std::size_t c = 0; c < w.chan_freq_hz.size(); ++c)
        all.push_back({w.chan_freq_hz[c], w.chan_width_hz[c], sp, c});
    }
    std::stable_sort(all.begin(), all.end(),
                     [](const Chan& a, const Chan& b) { return a.freq < b.freq; });
    merged_channel.resize(layout.spectral_windows.size());
    for (std::size_t sp = 0; sp < layout.spectral_windows.size(); ++sp) {
      merged_channel[sp].assign(layout.spectral_windows[sp].chan_freq_hz.size(), 0);
    }
    ms::SpectralWindowInfo merged = layout.spectral_windows.front();
    merged.name = "merged";
    merged.chan_freq_hz.clear();
    merged.chan_width_hz.clear();
    for (std::size_t k = 0; k < all.size(); ++k) {
      merged_channel[all[k].spw][all[k].chan] = k;
      merged.chan_freq_hz.push_back(all[k].freq);
      merged.chan_width_hz.push_back(all[k].width);
    }
    merged.ref_frequency_hz = merged.chan_freq_hz.front();
    merged_nchan = all.size();
    layout.spectral_windows = {merged};
  }
  layout.fields = {{"common_centre", "", res.centre.ra_rad, res.centre.dec_rad, res.mid_mjd_s}};
  layout.integration_time_s = interval_s;
  layout.expected_rows = nrows;
  // A baseline's slot in per-integration tables (merging needs no more than nant^2).
  const std::size_t nant = layout.antennas.size();
  for (std::size_t r = 0; r < nrows; ++r) {
    if (ant1[r] < 0 || ant2[r] < 0 || static_cast<std::size_t>(ant1[r]) >= nant ||
        static_cast<std::size_t>(ant2[r]) >= nant) {
      throw InputError(fmt::format("{}: row {} has antennas {}-{} (ANTENNA has {} rows)",
                                   in_ms.string(), r, ant1[r], ant2[r], nant));
    }
  }
  auto baseline_slot = [nant](int a, int b) {
    return static_cast<std::size_t>(a) * nant + static_cast<std::size_t>(b);
  };
  if (res.merged_spws) {  // one row per (integration, baseline): rows are in time order
    std::vector<std::size_t> seen_in(nant * nant, SIZE_MAX);  // the last integration run holding it
    std::uint64_t rows = 0;
    std::size_t run = 0;
    for (std::size_t r = 0; r < nrows; ++r) {
      if (r > 0 && time[r] != time[r - 1]) ++run;
      auto& seen = seen_in[baseline_slot(ant1[r], ant2[r])];
      if (seen != run) ++rows;
      seen = run;
    }
    layout.expected_rows = rows;
  }
  layout.history = {
      {res.mid_mjd_s,
       fmt::format("{}{} of {} re-phased to RA {:.8f} deg, Dec {:.8f} deg (one field)",
                   res.source_column,
                   res.applied_in_pass.empty() ? "" : " calibrated with " + res.applied_in_pass,
                   in_ms.filename().string(), res.centre.ra_rad * 180 / M_PI,
                   res.centre.dec_rad * 180 / M_PI),
       "contimg",
       fmt::format("contimg image {}", build::kVersion),
       "INFO",
       options.command_line,
       {}}};

  std::vector<astro::Vec3> antennas;
  for (const auto& a : layout.antennas) antennas.push_back(a.itrf_m);
  const UvwCalculator uvw_calc(observatory, antennas);

  // Block size of the input (rows of the first (TIME, DDID) run): the writer's tiles align to it.
  std::size_t first_run = 1;
  while (first_run < nrows && time[first_run] == time[0] && ddid[first_run] == ddid[0]) ++first_run;
  ms::StorageOptions storage;
  storage.block_rows = first_run;
  ms::MsWriter writer(out_ms, layout, storage);

  const std::string weight_column = has_weight_spectrum ? "WEIGHT_SPECTRUM" : "WEIGHT";
  const std::size_t ncorr = layout.corr_types.size();
  const std::size_t nspw_in = in.layout.spectral_windows.size();
  std::vector<double> spw_max_unflagged(nspw_in, 0.0);
  std::vector<bool> spw_has_data(nspw_in, false);

  // The uv coverage for the beam prediction: |u|, |v| never exceed the
  // longest physical baseline at the highest frequency.
  std::optional<UvCoverage> coverage;
  if (options.weighting_field_rad > 0) {
    double max_b = 0, max_f = 0;
    for (std::size_t i = 0; i < antennas.size(); ++i)
      for (std::size_t j = i + 1; j < antennas.size(); ++j)
        max_b = std::max(
            max_b, std::hypot(antennas[i][0] - antennas[j][0], antennas[i][1] - antennas[j][1],
                              antennas[i][2] - antennas[j][2]));
    for (const auto& freqs : spw_out_freqs)
      for (double f : freqs) max_f = std::max(max_f, f);
    if (max_b > 0 && max_f > 0)
      coverage.emplace(options.weighting_field_rad, 1.01 * max_b * max_f / kSpeedOfLight);
  }

  // The writer's side: scratch for one block at a time.
  std::vector<std::uint8_t> avg_flags;
  std::vector<float> weights, avg_weights;
  std::vector<std::complex<float>> avg_data;
  std::vector<double> w_old, w_new, uvw_new;
  const std::vector<int> field_zero = {0};

  // The merged rows of the current integration: one per baseline, in the
  // order the baselines first appear; channels no SPW filled stay flagged
  // with zero weight.
  struct Merged {
    double time = 0;
    std::vector<std::size_t> row_of;  // baseline_slot -> row, SIZE_MAX when absent
    std::vector<int> a1, a2;
    std::vector<double> uvw;
    std::vector<std::complex<float>> data;
    std::vector<std::uint8_t> flags;
    std::vector<float> weights;
  } merged;
  if (res.merged_spws) merged.row_of.assign(nant * nant, SIZE_MAX);
  const std::size_t merged_row_len = merged_nchan * ncorr;
  // One block of rows into the imaging MS (one TIME, FIELD 0).
  auto append = [&](int dd, std::size_t rows, const double* t, std::span<const int> a1s,
                    std::span<const int> a2s, std::span<const double> uvws,
                    std::span<const std::complex<float>> d, std::span<const std::uint8_t> fl,
                    std::span<const float> w) {
    ms::RowBlock block;
    block.data_desc_id = dd;
    block.nrows = rows;
    block.time_mjd_s = std::span<const double>(t, 1);
    block.antenna1 = a1s;
    block.antenna2 = a2s;
    block.field_id = field_zero;
    block.uvw_m = uvws;
    block.data = d;
    block.flags = fl;
    block.weight_spectrum = w;
    writer.append(block);
    res.bytes_written += d.size() * (sizeof(std::complex<float>) + 1 + sizeof(float)) + rows * 24;
  };
  auto flush_merged = [&] {
    if (merged.a1.empty()) return;
    append(0, merged.a1.size(), &merged.time, merged.a1, merged.a2, merged.uvw, merged.data,
           merged.flags, merged.weights);
    for (std::size_t i = 0; i < merged.a1.size(); ++i)
      merged.row_of[baseline_slot(merged.a1[i], merged.a2[i])] = SIZE_MAX;
    merged.a1.clear();
    merged.a2.clear();
    merged.uvw.clear();
    merged.data.clear();
    merged.flags.clear();
    merged.weights.clear();
  };

  // One run of rows with one (TIME, DATA_DESC_ID, FIELD_ID), read and
  // calibrated.
  struct Block {
    std::size_t r0 = 0, n = 0;
    int spw = 0;
    std::vector<std::complex<float>> vis;
    std::vector<std::uint8_t> flags;
    std::vector<float> weight;  // WEIGHT_SPECTRUM, or WEIGHT per correlation
    std::vector<double> uvw;
  };
  // The reader's side: the input MS (and CORRECTED_DATA written back to it)
  // is only ever used by this side, one thread at a time.
  auto read_block = [&](std::size_t r0) {
    Block b;
    b.r0 = r0;
    b.n = 1;
    while (r0 + b.n < nrows && b.n < kMaxBlockRows && time[r0 + b.n] == time[r0] &&
           ddid[r0 + b.n] == ddid[r0] && field[r0 + b.n] == field[r0]) {
      ++b.n;
    }
    const std::size_t n = b.n;
    b.spw = ddid[r0];
    if (b.spw < 0 || static_cast<std::size_t>(b.spw) >= nspw_in) {
      throw InputError(
          fmt::format("{}: DATA_DESC_ID {} at row {} has no SPW", in_ms.string(), b.spw, r0));
    }
    const std::size_t nchan =
        in.layout.spectral_windows[static_cast<std::size_t>(b.spw)].chan_freq_hz.size();
    auto t0 = Clock::now();
    try {
      b.vis = main->get_range<std::complex<float>>(res.source_column, r0, n).values;
      b.flags = main->get_range<std::uint8_t>("FLAG", r0, n).values;
      b.weight = main->get_range<float>(weight_column, r0, n).values;
      b.uvw = main->get_range<double>("UVW", r0, n).values;
    } catch (const ms::TableError& e) {
      throw IoError(
          fmt::format("{}: cannot read rows {}..{}: {}", in_ms.string(), r0, r0 + n - 1, e.what()));
    }
    if (b.vis.size() != n * nchan * ncorr || b.flags.size() != b.vis.size() ||
        b.weight.size() != (has_weight_spectrum ? b.vis.size() : n * ncorr) ||
        b.uvw.size() != 3 * n) {
      throw InputError(fmt::format(
          "{}: rows {}..{} hold {} visibilities, expected {} (SPW {}: {} channels x {} "
          "correlations)",
          in_ms.string(), r0, r0 + n - 1, b.vis.size(), n * nchan * ncorr, b.spw, nchan, ncorr));
    }
    res.bytes_read += b.vis.size() * (sizeof(std::complex<float>) + 1 + sizeof(float)) + n * 24;
    res.seconds_read += since(t0);
    if (options.correct) {
      t0 = Clock::now();
      options.correct(b.spw, std::span<const double>(time.data() + r0, n),
                      std::span<const int>(ant1.data() + r0, n),
                      std::span<const int>(ant2.data() + r0, n), nchan, ncorr, b.vis, b.flags);
      res.seconds_apply += since(t0);
      if (options.write_back) {
        t0 = Clock::now();
        options.write_back(r0, n, nchan, ncorr, b.vis, b.flags);
        res.seconds_write_back += since(t0);
      }
    }
    return b;
  };

  // The writer's side: re-phase, average, gather the uv coverage and append
  // to the imaging MS, in the reader's block order.
  auto write_block = [&](Block& b) {
    auto t0 = Clock::now();
    const std::size_t r0 = b.r0, n = b.n;
    const int spw = b.spw;
    const auto& freqs = in.layout.spectral_windows[static_cast<std::size_t>(spw)].chan_freq_hz;
    const std::size_t nchan = freqs.size();
    const std::span<std::complex<float>> vis(b.vis);
    const std::vector<std::uint8_t>& flags = b.flags;
    if (has_weight_spectrum) {
      weights.swap(b.weight);
    } else {  // WEIGHT per correlation: the same for every channel.
      weights.resize(b.vis.size());
      const std::vector<float>& w = b.weight;
      for (std::size_t r = 0; r < n; ++r)
        for (std::size_t c = 0; c < nchan; ++c)
          for (std::size_t p = 0; p < ncorr; ++p)
            weights[(r * nchan + c) * ncorr + p] = w[r * ncorr + p];
    }
    const std::vector<double>& uvw_in = b.uvw;
    w_old.resize(n);
    for (std::size_t r = 0; r < n; ++r) w_old[r] = uvw_in[3 * r + 2];
    uvw_new.resize(3 * n);
    const std::span<const int> a1(ant1.data() + r0, n), a2(ant2.data() + r0, n);
    uvw_calc.compute(res.centre, time[r0] / 86400.0 + kMjdToJd, a1, a2, uvw_new);
    w_new.resize(n);
    for (std::size_t r = 0; r < n; ++r) w_new[r] = uvw_new[3 * r + 2];
    rephase_visibilities(vis, ncorr, freqs, w_old, w_new);
    // The longest unflagged baseline and highest unflagged frequency set the cell size.
    auto& spw_top = spw_max_unflagged[static_cast<std::size_t>(spw)];
    const std::size_t per_row = nchan * ncorr;
    for (std::size_t r = 0; r < n; ++r) {
      if (a1[r] == a2[r]) continue;
      bool any = false;
      for (std::size_t k = 0; k < per_row; ++k) {
        if (flags[r * per_row + k] || !(weights[r * per_row + k] > 0)) continue;
        any = true;
        spw_top = std::max(spw_top, freqs[k / ncorr]);
      }
      if (!any) continue;
      spw_has_data[static_cast<std::size_t>(spw)] = true;
      res.max_uv_m = std::max(res.max_uv_m, std::hypot(uvw_new[3 * r], uvw_new[3 * r + 1]));
    }
    const std::size_t f = factor[static_cast<std::size_t>(spw)];
    if (f > 1) average_channels(vis, flags, weights, n, ncorr, f, avg_data, avg_flags, avg_weights);
    if (coverage) {  // what WSClean will grid: the imaging MS's channels, Stokes I from every
                     // correlation
      const auto& out_freqs = spw_out_freqs[static_cast<std::size_t>(spw)];
      const std::size_t nout = out_freqs.size();
      const auto& fl = f > 1 ? avg_flags : flags;
      const auto& wt = f > 1 ? avg_weights : weights;
      for (std::size_t r = 0; r < n; ++r) {
        if (a1[r] == a2[r]) continue;
        for (std::size_t c = 0; c < nout; ++c) {
          double w = 0;
          for (std::size_t p = 0; p < ncorr; ++p) {
            const std::size_t k = (r * nout + c) * ncorr + p;
            if (!fl[k] && wt[k] > 0) w += wt[k];
          }
          const double scale = out_freqs[c] / kSpeedOfLight;
          coverage->add(uvw_new[3 * r] * scale, uvw_new[3 * r + 1] * scale, w);
        }
      }
    }
    res.seconds_rephase += since(t0);

    t0 = Clock::now();
    const std::span<const std::complex<float>> out_data =
        f > 1 ? std::span<const std::complex<float>>(avg_data) : vis;
    const std::vector<std::uint8_t>& out_flags = f > 1 ? avg_flags : flags;
    const std::vector<float>& out_weights = f > 1 ? avg_weights : weights;
    if (res.merged_spws) {
      if (!merged.a1.empty() && merged.time != time[r0]) flush_merged();
      merged.time = time[r0];
      const auto& chan_map = merged_channel[static_cast<std::size_t>(spw)];
      const std::size_t nout = chan_map.size();
      for (std::size_t r = 0; r < n; ++r) {
        std::size_t& row = merged.row_of[baseline_slot(a1[r], a2[r])];
        if (row == SIZE_MAX) {
          row = merged.a1.size();
          merged.a1.push_back(a1[r]);
          merged.a2.push_back(a2[r]);
          merged.uvw.insert(merged.uvw.end(), uvw_new.begin() + 3 * r, uvw_new.begin() + 3 * r + 3);
          merged.data.resize(merged.data.size() + merged_row_len);
          merged.flags.resize(merged.flags.size() + merged_row_len, 1);
          merged.weights.resize(merged.weights.size() + merged_row_len, 0.0f);
        }
        for (std::size_t c = 0; c < nout; ++c) {
          const std::size_t to = (row * merged_nchan + chan_map[c]) * ncorr,
                            from = (r * nout + c) * ncorr;
          for (std::size_t p = 0; p < ncorr; ++p) {
            merged.data[to + p] = out_data[from + p];
            merged.flags[to + p] = out_flags[from + p];
            merged.weights[to + p] = out_weights[from + p];
          }
        }
      }
    } else {
      append(spw, n, time.data() + r0, a1, a2, uvw_new, out_data, out_flags, out_weights);
    }
    res.seconds_write += since(t0);
  };

  // After the last block: CORRECTED_DATA flushed (the reader's side).
  auto finish_reading = [&] {
    if (!options.write_back || !options.write_back_done) return;
    const auto t0 = Clock::now();
    options.write_back_done();
    res.seconds_write_back += since(t0);
  };

  // Reading and calibrating (casacore's reads, the apply, CORRECTED_DATA) and
  // re-phasing and writing cost about the same (docs/perf.md "The image
  // stage's pass on two threads"): with two threads in the budget they run as a
  // pipeline, the reader one block ahead. Each side keeps to its own tables,
  // and the blocks reach the writer in order, so the imaging MS is the same
  // byte for byte.
  if (options.threads < 2) {
    for (std::size_t r0 = 0; r0 < nrows;) {
      Block b = read_block(r0);
      r0 += b.n;
      write_block(b);
    }
    finish_reading();
  } else {
    BoundedQueue<Block> ready(2);
    std::thread reader([&] {
      try {
        for (std::size_t r0 = 0; r0 < nrows;) {
          Block b = read_block(r0);
          r0 += b.n;
          if (!ready.push(std::move(b))) return;
        }
        finish_reading();
        ready.close();
      } catch (...) {
        ready.close(std::current_exception());
      }
    });
    try {
      while (auto b = ready.pop()) write_block(*b);
    } catch (...) {
      ready.close();
      reader.join();
      throw;
    }
    reader.join();
    if (auto err = ready.error()) std::rethrow_exception(err);
  }
  const auto t_finish = Clock::now();
  flush_merged();
  writer.finish();
  res.seconds_write += since(t_finish);
  res.rows = nrows;
  for (std::size_t s = 0; s < nspw_in; ++s) {
    if (!spw_has_data[s]) continue;
    const auto& f = in.layout.spectral_windows[s].chan_freq_hz;
    res.spw_centre_hz.push_back(0.5 * (f.front() + f.back()));
    res.max_freq_hz = std::max(res.max_freq_hz, spw_max_unflagged[s]);
  }
  if (res.spw_centre_hz.empty()) {
    throw InputError(fmt::format("{}: every cross-correlation is flagged; nothing to image", in_ms.string()));
  }
  if (coverage) {
    try {
      res.predicted_beam = coverage->predicted_beam(options.briggs);
    } catch (const InputError& e) {
      res.beam_estimate_error = e.what();
    }
  }
  res.seconds_total = since(t_start);
  return res;
}

}  // namespace contimg::imaging
