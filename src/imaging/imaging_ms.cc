#include "imaging/imaging_ms.h"

// Must precede every casacore header (casacore 3.5 under C++20).
#include "common/constants.h"
#include "io/ms/casacore_cxx20.h"

#include <casacore/casa/Arrays/Array.h>
#include <casacore/casa/Arrays/Matrix.h>
#include <casacore/casa/Arrays/Slicer.h>
#include <casacore/casa/Arrays/Vector.h>
#include <casacore/casa/Containers/Record.h>
#include <casacore/tables/Tables/ArrayColumn.h>
#include <casacore/tables/Tables/ScalarColumn.h>
#include <casacore/tables/Tables/Table.h>
#include <casacore/tables/Tables/TableRecord.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "common/build_info.h"
#include "common/error.h"
#include "imaging/channel_average.h"
#include "imaging/rephase.h"
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

casacore::Table subtable(const casacore::Table& main, const char* name, const fs::path& ms) {
  if (!main.keywordSet().isDefined(name)) {
    throw InputError(fmt::format("{}: no {} subtable", ms.string(), name));
  }
  return main.keywordSet().asTable(name);
}

std::string direction_ref(const casacore::Table& field) {
  const auto& kw = casacore::TableColumn(field, "PHASE_DIR").keywordSet();
  if (!kw.isDefined("MEASINFO")) return "J2000";
  const auto& mi = kw.asRecord("MEASINFO");
  return mi.isDefined("Ref") ? std::string(mi.asString("Ref")) : "J2000";
}

struct InputDescription {
  ms::MsLayout layout;
  std::vector<astro::SkyDirection> fields;
  std::vector<double> field_time_mjd_s;
  std::vector<int> ddid_to_spw;
};

InputDescription describe(const casacore::Table& main, const fs::path& ms) {
  InputDescription d;
  auto& L = d.layout;
  {
    const auto t = subtable(main, "ANTENNA", ms);
    casacore::ScalarColumn<casacore::String> name(t, "NAME"), station(t, "STATION"), mount(t, "MOUNT");
    casacore::ArrayColumn<double> pos(t, "POSITION");
    casacore::ScalarColumn<double> diam(t, "DISH_DIAMETER");
    casacore::ScalarColumn<bool> flag(t, "FLAG_ROW");
    for (casacore::rownr_t r = 0; r < t.nrow(); ++r) {
      ms::AntennaInfo a;
      a.name = name(r);
      a.station = station(r);
      a.mount = mount(r);
      const casacore::Vector<double> p = pos(r);
      a.itrf_m = {p[0], p[1], p[2]};
      a.diameter_m = diam(r);
      a.flagged = flag(r);
      L.antennas.push_back(a);
    }
  }
  {
    const auto t = subtable(main, "SPECTRAL_WINDOW", ms);
    casacore::ArrayColumn<double> freq(t, "CHAN_FREQ"), width(t, "CHAN_WIDTH");
    casacore::ScalarColumn<double> ref(t, "REF_FREQUENCY");
    casacore::ScalarColumn<casacore::String> name(t, "NAME");
    casacore::ScalarColumn<int> mfr(t, "MEAS_FREQ_REF"), sideband(t, "NET_SIDEBAND");
    for (casacore::rownr_t r = 0; r < t.nrow(); ++r) {
      ms::SpectralWindowInfo s;
      s.name = name(r);
      const casacore::Vector<double> f = freq(r), w = width(r);
      s.chan_freq_hz.assign(f.begin(), f.end());
      for (double x : w) s.chan_width_hz.push_back(std::abs(x));
      s.ref_frequency_hz = ref(r);
      s.meas_freq_ref = mfr(r);
      s.net_sideband = sideband(r);
      L.spectral_windows.push_back(s);
    }
  }
  {
    const auto t = subtable(main, "DATA_DESCRIPTION", ms);
    casacore::ScalarColumn<int> spw(t, "SPECTRAL_WINDOW_ID"), pol(t, "POLARIZATION_ID");
    for (casacore::rownr_t r = 0; r < t.nrow(); ++r) {
      // MsLayout ties DATA_DESC_ID i to SPW i (as the converter writes it).
      if (spw(r) != static_cast<int>(r) || pol(r) != 0) {
        throw InputError(fmt::format("{}: DATA_DESCRIPTION row {} maps to SPW {} / polarization {}; "
                                     "the imaging MS needs DATA_DESC_ID = SPW and one polarization",
                                     ms.string(), r, spw(r), pol(r)));
      }
      d.ddid_to_spw.push_back(spw(r));
    }
  }
  {
    const auto t = subtable(main, "POLARIZATION", ms);
    casacore::ArrayColumn<int> corr(t, "CORR_TYPE");
    if (t.nrow() < 1) throw InputError(fmt::format("{}: empty POLARIZATION table", ms.string()));
    const casacore::Vector<int> c = corr(0);
    L.corr_types.assign(c.begin(), c.end());
  }
  {
    const auto t = subtable(main, "FIELD", ms);
    casacore::ArrayColumn<double> dir(t, "PHASE_DIR");
    casacore::ScalarColumn<double> time(t, "TIME");
    const std::string ref = direction_ref(t);
    if (ref != "ICRS" && ref != "J2000") {
      throw InputError(fmt::format("{}: FIELD PHASE_DIR frame {} (ICRS or J2000 expected)", ms.string(), ref));
    }
    L.direction_frame = ref == "ICRS" ? ms::DirectionFrame::kIcrs : ms::DirectionFrame::kJ2000;
    for (casacore::rownr_t r = 0; r < t.nrow(); ++r) {
      const casacore::Array<double> a = dir(r);
      const std::vector<double> v(a.begin(), a.end());
      if (v.size() < 2) throw InputError(fmt::format("{}: FIELD row {} has no PHASE_DIR", ms.string(), r));
      d.fields.push_back({v[0], v[1]});
      d.field_time_mjd_s.push_back(time(r));
    }
    if (d.fields.empty()) throw InputError(fmt::format("{}: FIELD table is empty", ms.string()));
  }
  {
    const auto t = subtable(main, "OBSERVATION", ms);
    if (t.nrow() > 0) {
      L.observation.telescope_name = casacore::ScalarColumn<casacore::String>(t, "TELESCOPE_NAME")(0);
      L.observation.observer = casacore::ScalarColumn<casacore::String>(t, "OBSERVER")(0);
      L.observation.project = casacore::ScalarColumn<casacore::String>(t, "PROJECT")(0);
    }
  }
  return d;
}

}  // namespace

bool ms_has_column(const fs::path& ms, const std::string& column) {
  try {
    casacore::Table t(ms.string(), casacore::Table::Old);
    return t.tableDesc().isColumn(column);
  } catch (const casacore::AipsError& e) {
    throw IoError(fmt::format("{}: cannot open the MS: {}", ms.string(), e.what()));
  }
}

ImagingMsResult make_imaging_ms(const fs::path& in_ms, const fs::path& out_ms,
                                const astro::Observatory& observatory, const ImagingMsOptions& options) {
  const auto t_start = Clock::now();
  ImagingMsResult res;
  res.path = out_ms;
  std::unique_ptr<casacore::Table> main;
  try {
    main = std::make_unique<casacore::Table>(in_ms.string(), casacore::Table::Old);
  } catch (const casacore::AipsError& e) {
    throw IoError(fmt::format("{}: cannot open the MS: {}", in_ms.string(), e.what()));
  }
  const std::size_t nrows = main->nrow();
  if (nrows == 0) throw InputError(fmt::format("{}: the MS has no data rows", in_ms.string()));

  const bool has_corrected = main->tableDesc().isColumn("CORRECTED_DATA");
  if (options.data_column == "auto") {
    res.source_column = has_corrected ? "CORRECTED_DATA" : "DATA";
  } else if (options.data_column == "DATA" || options.data_column == "CORRECTED_DATA") {
    res.source_column = options.data_column;
    if (!main->tableDesc().isColumn(res.source_column)) {
      throw InputError(fmt::format("{}: no {} column (imaging.data_column / --data-column asks for it)",
                                   in_ms.string(), res.source_column));
    }
  } else {
    throw ConfigError(fmt::format("imaging.data_column must be auto, DATA or CORRECTED_DATA, got \"{}\"",
                                  options.data_column));
  }
  const bool has_weight_spectrum = main->tableDesc().isColumn("WEIGHT_SPECTRUM");

  InputDescription in;
  std::vector<double> time;
  std::vector<int> ddid, field, ant1, ant2;
  double interval_s = 0;
  try {
    in = describe(*main, in_ms);
    time = casacore::ScalarColumn<double>(*main, "TIME").getColumn().tovector();
    ddid = casacore::ScalarColumn<int>(*main, "DATA_DESC_ID").getColumn().tovector();
    field = casacore::ScalarColumn<int>(*main, "FIELD_ID").getColumn().tovector();
    ant1 = casacore::ScalarColumn<int>(*main, "ANTENNA1").getColumn().tovector();
    ant2 = casacore::ScalarColumn<int>(*main, "ANTENNA2").getColumn().tovector();
    interval_s = casacore::ScalarColumn<double>(*main, "INTERVAL")(0);
  } catch (const casacore::AipsError& e) {
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
  layout.fields = {{"common_centre", "", res.centre.ra_rad, res.centre.dec_rad, res.mid_mjd_s}};
  layout.integration_time_s = interval_s;
  layout.expected_rows = nrows;
  layout.history = {{res.mid_mjd_s,
                     fmt::format("{} of {} re-phased to RA {:.8f} deg, Dec {:.8f} deg (one field)",
                                 res.source_column, in_ms.filename().string(), res.centre.ra_rad * 180 / M_PI,
                                 res.centre.dec_rad * 180 / M_PI),
                     "contimg", fmt::format("contimg image {}", build::kVersion), "INFO", options.command_line, {}}};

  std::vector<astro::Vec3> antennas;
  for (const auto& a : layout.antennas) antennas.push_back(a.itrf_m);
  const UvwCalculator uvw_calc(observatory, antennas);

  // Block size of the input (rows of the first (TIME, DDID) run): the writer's tiles align to it.
  std::size_t first_run = 1;
  while (first_run < nrows && time[first_run] == time[0] && ddid[first_run] == ddid[0]) ++first_run;
  ms::StorageOptions storage;
  storage.block_rows = first_run;
  ms::MsWriter writer(out_ms, layout, storage);

  casacore::ArrayColumn<casacore::Complex> data_col(*main, res.source_column);
  casacore::ArrayColumn<bool> flag_col(*main, "FLAG");
  casacore::ArrayColumn<float> weight_col(*main, has_weight_spectrum ? "WEIGHT_SPECTRUM" : "WEIGHT");
  casacore::ArrayColumn<double> uvw_col(*main, "UVW");
  const std::size_t ncorr = layout.corr_types.size();
  std::vector<double> spw_max_unflagged(layout.spectral_windows.size(), 0.0);
  std::vector<bool> spw_has_data(layout.spectral_windows.size(), false);

  // The uv coverage for the beam prediction: |u|, |v| never exceed the
  // longest physical baseline at the highest frequency.
  std::optional<UvCoverage> coverage;
  if (options.weighting_field_rad > 0) {
    double max_b = 0, max_f = 0;
    for (std::size_t i = 0; i < antennas.size(); ++i)
      for (std::size_t j = i + 1; j < antennas.size(); ++j)
        max_b = std::max(max_b, std::hypot(antennas[i][0] - antennas[j][0], antennas[i][1] - antennas[j][1],
                                           antennas[i][2] - antennas[j][2]));
    for (const auto& spw : layout.spectral_windows)
      for (double f : spw.chan_freq_hz) max_f = std::max(max_f, f);
    if (max_b > 0 && max_f > 0) coverage.emplace(options.weighting_field_rad, 1.01 * max_b * max_f / kSpeedOfLight);
  }

  std::vector<std::uint8_t> flags, avg_flags;
  std::vector<float> weights, avg_weights;
  std::vector<std::complex<float>> avg_data;
  std::vector<double> w_old, uvw_new;
  const std::vector<int> field_zero = {0};
  std::size_t r0 = 0;
  while (r0 < nrows) {
    std::size_t n = 1;
    while (r0 + n < nrows && n < kMaxBlockRows && time[r0 + n] == time[r0] && ddid[r0 + n] == ddid[r0] &&
           field[r0 + n] == field[r0]) {
      ++n;
    }
    const int spw = ddid[r0];
    if (spw < 0 || static_cast<std::size_t>(spw) >= layout.spectral_windows.size()) {
      throw InputError(fmt::format("{}: DATA_DESC_ID {} at row {} has no SPW", in_ms.string(), spw, r0));
    }
    const auto& freqs = in.layout.spectral_windows[static_cast<std::size_t>(spw)].chan_freq_hz;
    const std::size_t nchan = freqs.size();

    auto t0 = Clock::now();
    const casacore::Slicer rows(casacore::IPosition(1, static_cast<long>(r0)), casacore::IPosition(1, static_cast<long>(n)));
    casacore::Array<casacore::Complex> data;
    casacore::Array<bool> flag;
    casacore::Array<float> weight;
    casacore::Array<double> uvw;
    try {
      data = data_col.getColumnRange(rows);
      flag = flag_col.getColumnRange(rows);
      weight = weight_col.getColumnRange(rows);
      uvw = uvw_col.getColumnRange(rows);
    } catch (const casacore::AipsError& e) {
      throw IoError(fmt::format("{}: cannot read rows {}..{}: {}", in_ms.string(), r0, r0 + n - 1, e.what()));
    }
    if (data.nelements() != n * nchan * ncorr || flag.nelements() != data.nelements()) {
      throw InputError(fmt::format("{}: rows {}..{} hold {} visibilities, expected {} (SPW {}: {} channels x {} correlations)",
                                   in_ms.string(), r0, r0 + n - 1, data.nelements(), n * nchan * ncorr, spw, nchan, ncorr));
    }
    res.bytes_read += data.nelements() * (sizeof(casacore::Complex) + 1 + sizeof(float)) + n * 24;
    res.seconds_read += since(t0);

    t0 = Clock::now();
    bool dcopy = false;
    casacore::Complex* dptr = data.getStorage(dcopy);
    std::span<std::complex<float>> vis(reinterpret_cast<std::complex<float>*>(dptr), data.nelements());
    flags.resize(flag.nelements());
    std::transform(flag.begin(), flag.end(), flags.begin(), [](bool f) { return f ? 1 : 0; });
    weights.resize(data.nelements());
    if (has_weight_spectrum) {
      std::copy(weight.begin(), weight.end(), weights.begin());
    } else {  // WEIGHT per correlation: the same for every channel.
      const std::vector<float> w(weight.begin(), weight.end());
      for (std::size_t r = 0; r < n; ++r)
        for (std::size_t c = 0; c < nchan; ++c)
          for (std::size_t p = 0; p < ncorr; ++p) weights[(r * nchan + c) * ncorr + p] = w[r * ncorr + p];
    }
    const std::vector<double> uvw_in(uvw.begin(), uvw.end());
    w_old.resize(n);
    for (std::size_t r = 0; r < n; ++r) w_old[r] = uvw_in[3 * r + 2];
    uvw_new.resize(3 * n);
    const std::span<const int> a1(ant1.data() + r0, n), a2(ant2.data() + r0, n);
    uvw_calc.compute(res.centre, time[r0] / 86400.0 + kMjdToJd, a1, a2, uvw_new);
    std::vector<double> w_new(n);
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
    if (coverage) {  // what WSClean will grid: the imaging MS's channels, Stokes I from every correlation
      const auto& out_freqs = layout.spectral_windows[static_cast<std::size_t>(spw)].chan_freq_hz;
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
    ms::RowBlock block;
    block.data_desc_id = spw;
    block.nrows = n;
    block.time_mjd_s = std::span<const double>(time.data() + r0, 1);
    block.antenna1 = a1;
    block.antenna2 = a2;
    block.field_id = field_zero;
    block.uvw_m = uvw_new;
    if (f > 1) {
      block.data = avg_data;
      block.flags = avg_flags;
      block.weight_spectrum = avg_weights;
    } else {
      block.data = vis;
      block.flags = flags;
      block.weight_spectrum = weights;
    }
    writer.append(block);
    data.putStorage(dptr, dcopy);
    res.bytes_written += block.data.size() * (sizeof(casacore::Complex) + 1 + sizeof(float)) + n * 24;
    res.seconds_write += since(t0);
    r0 += n;
  }
  const auto t_finish = Clock::now();
  writer.finish();
  res.seconds_write += since(t_finish);
  res.rows = nrows;
  for (std::size_t s = 0; s < layout.spectral_windows.size(); ++s) {
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
