#include "calibration/caltable.h"

#include <casacore/casa/Arrays/Array.h>
#include <casacore/casa/Arrays/Vector.h>
#include <casacore/casa/Containers/Record.h>
#include <casacore/casa/Exceptions/Error.h>
#include <casacore/tables/DataMan/StandardStMan.h>
#include <casacore/tables/Tables/ArrColDesc.h>
#include <casacore/tables/Tables/ArrayColumn.h>
#include <casacore/tables/Tables/ScaColDesc.h>
#include <casacore/tables/Tables/ScalarColumn.h>
#include <casacore/tables/Tables/SetupNewTab.h>
#include <casacore/tables/Tables/Table.h>
#include <casacore/tables/Tables/TableDesc.h>
#include <casacore/tables/Tables/TableRecord.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>

#include "common/build_info.h"
#include "common/durable.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "io/ms/table_release.h"

namespace contimg::calibration {
namespace cc = casacore;
namespace fs = std::filesystem;
namespace {

constexpr const char* kSubtables[] = {"OBSERVATION", "ANTENNA", "FIELD", "SPECTRAL_WINDOW", "HISTORY"};

struct CalRow {
  double time = 0, interval = 0;
  int field = 0, spw = 0, ant1 = 0, ant2 = -1, scan = 0;
  cc::Array<cc::Complex> cparam;
  cc::Array<float> paramerr, snr, weight;
  cc::Array<bool> flag;
};

cc::TableDesc caltable_desc() {
  cc::TableDesc td("", "", cc::TableDesc::Scratch);
  td.addColumn(cc::ScalarColumnDesc<double>("TIME"));
  td.addColumn(cc::ScalarColumnDesc<int>("FIELD_ID"));
  td.addColumn(cc::ScalarColumnDesc<int>("SPECTRAL_WINDOW_ID"));
  td.addColumn(cc::ScalarColumnDesc<int>("ANTENNA1"));
  td.addColumn(cc::ScalarColumnDesc<int>("ANTENNA2"));
  td.addColumn(cc::ScalarColumnDesc<double>("INTERVAL"));
  td.addColumn(cc::ScalarColumnDesc<int>("SCAN_NUMBER"));
  td.addColumn(cc::ScalarColumnDesc<int>("OBSERVATION_ID"));
  td.addColumn(cc::ArrayColumnDesc<cc::Complex>("CPARAM"));
  td.addColumn(cc::ArrayColumnDesc<float>("PARAMERR"));
  td.addColumn(cc::ArrayColumnDesc<bool>("FLAG"));
  td.addColumn(cc::ArrayColumnDesc<float>("SNR"));
  td.addColumn(cc::ArrayColumnDesc<float>("WEIGHT"));
  const cc::Vector<cc::String> seconds(1, "s");
  td.rwColumnDesc("TIME").rwKeywordSet().define("QuantumUnits", seconds);
  cc::Record measinfo;
  measinfo.define("type", "epoch");
  measinfo.define("Ref", "UTC");
  td.rwColumnDesc("TIME").rwKeywordSet().defineRecord("MEASINFO", measinfo);
  td.rwColumnDesc("INTERVAL").rwKeywordSet().define("QuantumUnits", seconds);
  return td;
}

void write_table(const fs::path& path, const std::string& viscal, const std::vector<CalRow>& rows,
                 const CaltableInfo& info) {
  // Staged under the one temporary naming scheme (swept after a kill -9),
  // beside the final path so that publishing is a rename.
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  ScopedTempDir stage_dir(parent, "caltable");
  const fs::path staging = stage_dir.path() / path.filename();
  // casacore cannot report a full disk from its destructors (std::terminate):
  // a table that does not fit is refused before it is started.
  const std::uint64_t cell_bytes = rows.empty() ? 0 : rows.front().cparam.nelements() * (8 + 4 + 4 + 4 + 1);
  const std::uint64_t needed = rows.size() * (cell_bytes + 64) + ms::kFlushHeadroomBytes;
  if (const auto avail = ms::available_bytes(parent); avail < needed) {
    throw IoError(fmt::format("{}: No space left on device for the {} table ({:.1f} MB needed, {:.1f} MB free in {})",
                              path.string(), viscal, needed / 1e6, avail / 1e6, parent.string()));
  }
  try {
    {
      const cc::Table ms(info.ms.string(), cc::Table::Old);
      cc::SetupNewTable setup(staging.string(), caltable_desc(), cc::Table::New);
      cc::StandardStMan ssm("MSMTAB", 2560);
      setup.bindAll(ssm);
      cc::Table tab(setup, rows.size());
      // After a failure the table goes without writing (its directory is
      // temporary); after the flush there is nothing left to write.
      try {
        tab.tableInfo().setType("Calibration");
        tab.tableInfo().setSubType(viscal);
        tab.flushTableInfo();
        auto& kw = tab.rwKeywordSet();
        kw.define("ParType", "Complex");
        kw.define("MSName", info.ms.filename().string());
        kw.define("VisCal", viscal);
        kw.define("PolBasis", "unknown");
        kw.define("CASA_Version", fmt::format("contimg {}", build::kVersion));
        for (const char* name : kSubtables) {
          if (!ms.keywordSet().isDefined(name)) {
            throw InputError(fmt::format("{}: subtable {} is missing", info.ms.string(), name));
          }
          const auto dst = (staging / name).string();
          ms.keywordSet().asTable(name).deepCopy(dst, cc::Table::New);
          kw.defineTable(name, cc::Table(dst, cc::Table::Update));
        }
        {
          cc::Table hist = kw.asTable("HISTORY");
          hist.reopenRW();
          const auto r = hist.nrow();
          hist.addRow();
          const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
          cc::ScalarColumn<double>(hist, "TIME").put(r, now + 3506716800.0);  // Unix -> MJD seconds
          cc::ScalarColumn<cc::String>(hist, "MESSAGE").put(r, fmt::format("{} solved by contimg", viscal));
          cc::ScalarColumn<cc::String>(hist, "APPLICATION").put(r, "contimg solve");
          cc::ScalarColumn<cc::String>(hist, "ORIGIN").put(r, "contimg");
          cc::ScalarColumn<cc::String>(hist, "PRIORITY").put(r, "NORMAL");
          cc::ArrayColumn<cc::String>(hist, "CLI_COMMAND").put(r, cc::Vector<cc::String>(1, info.history));
          cc::ArrayColumn<cc::String>(hist, "APP_PARAMS").put(r, cc::Vector<cc::String>(1, ""));
        }
        cc::ScalarColumn<double> time(tab, "TIME"), interval(tab, "INTERVAL");
        cc::ScalarColumn<int> field(tab, "FIELD_ID"), spw(tab, "SPECTRAL_WINDOW_ID"), a1(tab, "ANTENNA1"),
            a2(tab, "ANTENNA2"), scan(tab, "SCAN_NUMBER"), obs(tab, "OBSERVATION_ID");
        cc::ArrayColumn<cc::Complex> cparam(tab, "CPARAM");
        cc::ArrayColumn<float> perr(tab, "PARAMERR"), snr(tab, "SNR"), weight(tab, "WEIGHT");
        cc::ArrayColumn<bool> flag(tab, "FLAG");
        for (std::size_t i = 0; i < rows.size(); ++i) {
          const auto& r = rows[i];
          time.put(i, r.time);
          interval.put(i, r.interval);
          field.put(i, r.field);
          spw.put(i, r.spw);
          a1.put(i, r.ant1);
          a2.put(i, r.ant2);
          scan.put(i, r.scan);
          obs.put(i, 0);
          cparam.put(i, r.cparam);
          perr.put(i, r.paramerr);
          flag.put(i, r.flag);
          snr.put(i, r.snr);
          weight.put(i, r.weight);
        }
        ms::flush_or_throw(tab, path.string() + ": writing the " + viscal + " table");
      } catch (...) {
        ms::release_without_writing(tab);
        throw;
      }
      ms::release_without_writing(tab);
    }
    // Verify before publishing: it opens and holds every row.
    const cc::Table check(staging.string(), cc::Table::Old);
    if (check.nrow() != rows.size() || std::string(check.tableInfo().subType()) != viscal) {
      throw IoError(fmt::format("{}: the written table does not read back", staging.string()));
    }
  } catch (const cc::AipsError& e) {
    throw IoError(fmt::format("{}: writing the {} table: {}{}", path.string(), viscal, e.what(),
                              ms::disk_full_note(parent, e.what())));
  }
  std::error_code ec;
  fs::remove_all(path, ec);
  durable::rename_into_place(staging, path);
}

// One solution cell (npol x nchan) of a row.
CalRow make_row(int npol, std::size_t nchan) {
  CalRow r;
  const cc::IPosition shape(2, npol, static_cast<ssize_t>(nchan));
  r.cparam.resize(shape);
  r.paramerr.resize(shape);
  r.snr.resize(shape);
  r.weight.resize(shape);
  r.flag.resize(shape);
  return r;
}

void set_cell(CalRow& row, int pol, std::size_t chan, std::complex<float> g, bool flagged, float snr) {
  const cc::IPosition at(2, pol, static_cast<ssize_t>(chan));
  row.cparam(at) = g;
  row.flag(at) = flagged;
  row.snr(at) = snr;
  row.paramerr(at) = snr > 0 ? std::abs(g) / snr : -1.0f;
  row.weight(at) = flagged ? 0.0f : 1.0f;
}

cc::Table open_caltable(const fs::path& path, const std::string& viscal) {
  if (!fs::exists(path / "table.dat")) {
    throw InputError(fmt::format("{}: no calibration table there", path.string()));
  }
  cc::Table t(path.string(), cc::Table::Old);
  if (std::string(t.tableInfo().type()) != "Calibration" || std::string(t.tableInfo().subType()) != viscal) {
    throw InputError(fmt::format("{}: not a {} calibration table (type \"{}\", subtype \"{}\")", path.string(),
                                 viscal, std::string(t.tableInfo().type()), std::string(t.tableInfo().subType())));
  }
  return t;
}

}  // namespace

void write_bandpass_table(const fs::path& path, const BandpassSolution& bp, const CaltableInfo& info) {
  std::vector<CalRow> rows;
  for (std::size_t spw = 0; spw < bp.freqs.size(); ++spw) {
    const auto nchan = bp.freqs[spw].size();
    for (int a = 0; a < bp.nant; ++a) {
      auto row = make_row(bp.npol, nchan);
      row.time = bp.time;
      row.interval = bp.interval;
      row.field = bp.field;
      row.spw = static_cast<int>(spw);
      row.ant1 = a;
      row.ant2 = info.refant;
      row.scan = bp.field + 1;
      for (int p = 0; p < bp.npol; ++p) {
        for (std::size_t c = 0; c < nchan; ++c) {
          const auto i = bp.index(static_cast<int>(spw), a, p, c);
          set_cell(row, p, c, bp.gain[spw][i], bp.flag[spw][i] != 0, bp.snr[spw][i]);
        }
      }
      rows.push_back(std::move(row));
    }
  }
  write_table(path, "B Jones", rows, info);
}

void write_gain_table(const fs::path& path, const GainSolution& g, int nspw, const CaltableInfo& info) {
  std::vector<CalRow> rows;
  for (std::size_t t = 0; t < g.time.size(); ++t) {
    for (int spw = 0; spw < nspw; ++spw) {
      for (int a = 0; a < g.nant; ++a) {
        auto row = make_row(g.npol, 1);
        row.time = g.time[t];
        row.interval = g.interval;
        row.field = g.field[t];
        row.spw = spw;
        row.ant1 = a;
        row.ant2 = info.refant;
        row.scan = g.field[t] + 1;
        for (int p = 0; p < g.npol; ++p) {
          const auto i = g.index(t, a, p);
          set_cell(row, p, 0, g.gain[i], g.flag[i] != 0, g.snr[i]);
        }
        rows.push_back(std::move(row));
      }
    }
  }
  write_table(path, "G Jones", rows, info);
}

BandpassSolution read_bandpass_table(const fs::path& path) {
  try {
    const auto t = open_caltable(path, "B Jones");
    BandpassSolution bp;
    bp.nant = static_cast<int>(t.keywordSet().asTable("ANTENNA").nrow());
    const auto spwt = t.keywordSet().asTable("SPECTRAL_WINDOW");
    const cc::ArrayColumn<double> freq(spwt, "CHAN_FREQ");
    for (cc::rownr_t r = 0; r < spwt.nrow(); ++r) {
      const cc::Vector<double> f = freq.get(r);
      bp.freqs.emplace_back(f.begin(), f.end());
    }
    const cc::ScalarColumn<int> spw(t, "SPECTRAL_WINDOW_ID"), a1(t, "ANTENNA1"), field(t, "FIELD_ID");
    const cc::ScalarColumn<double> time(t, "TIME"), interval(t, "INTERVAL");
    const cc::ArrayColumn<cc::Complex> cparam(t, "CPARAM");
    const cc::ArrayColumn<bool> flag(t, "FLAG");
    const cc::ArrayColumn<float> snr(t, "SNR");
    if (t.nrow() == 0) throw InputError(path.string() + ": the bandpass table has no rows");
    bp.npol = static_cast<int>(cparam.shape(0)(0));
    bp.time = time(0);
    bp.interval = interval(0);
    bp.field = field(0);
    bp.gain.resize(bp.freqs.size());
    bp.flag.resize(bp.freqs.size());
    bp.snr.resize(bp.freqs.size());
    for (std::size_t s = 0; s < bp.freqs.size(); ++s) {
      const auto n = static_cast<std::size_t>(bp.nant * bp.npol) * bp.freqs[s].size();
      bp.gain[s].assign(n, {1.0f, 0.0f});
      bp.flag[s].assign(n, 1);  // no row: flagged
      bp.snr[s].assign(n, 0.0f);
    }
    for (cc::rownr_t r = 0; r < t.nrow(); ++r) {
      const int s = spw(r), a = a1(r);
      if (s < 0 || static_cast<std::size_t>(s) >= bp.freqs.size() || a < 0 || a >= bp.nant) {
        throw InputError(fmt::format("{}: row {}: SPW {} or antenna {} outside the subtables", path.string(), r, s, a));
      }
      const auto cp = cparam.get(r);
      const auto fl = flag.get(r);
      const auto sn = snr.get(r);
      const auto nchan = bp.freqs[static_cast<std::size_t>(s)].size();
      if (cp.shape() != cc::IPosition(2, bp.npol, static_cast<ssize_t>(nchan))) {
        throw InputError(fmt::format("{}: row {}: CPARAM shape {} does not match SPW {} ({} channels)", path.string(), r,
                                     cp.shape().toString(), s, nchan));
      }
      for (int p = 0; p < bp.npol; ++p) {
        for (std::size_t c = 0; c < nchan; ++c) {
          const cc::IPosition at(2, p, static_cast<ssize_t>(c));
          const auto i = bp.index(s, a, p, c);
          bp.gain[static_cast<std::size_t>(s)][i] = cp(at);
          bp.flag[static_cast<std::size_t>(s)][i] = fl(at) ? 1 : 0;
          bp.snr[static_cast<std::size_t>(s)][i] = sn(at);
        }
      }
    }
    return bp;
  } catch (const cc::AipsError& e) {
    throw InputError(fmt::format("{}: cannot read the bandpass table: {}", path.string(), e.what()));
  }
}

GainSolution read_gain_table(const fs::path& path) {
  try {
    const auto t = open_caltable(path, "G Jones");
    GainSolution g;
    g.nant = static_cast<int>(t.keywordSet().asTable("ANTENNA").nrow());
    if (t.nrow() == 0) throw InputError(path.string() + ": the gain table has no rows");
    const cc::ScalarColumn<int> spw(t, "SPECTRAL_WINDOW_ID"), a1(t, "ANTENNA1"), field(t, "FIELD_ID");
    const cc::ScalarColumn<double> time(t, "TIME"), interval(t, "INTERVAL");
    const cc::ArrayColumn<cc::Complex> cparam(t, "CPARAM");
    const cc::ArrayColumn<bool> flag(t, "FLAG");
    const cc::ArrayColumn<float> snr(t, "SNR");
    g.npol = static_cast<int>(cparam.shape(0)(0));
    g.interval = interval(0);
    // The same solution is stored for every SPW: read the lowest SPW's rows.
    const auto spws = spw.getColumn();
    const int s0 = *std::min_element(spws.begin(), spws.end());
    std::map<double, int> times;
    for (cc::rownr_t r = 0; r < t.nrow(); ++r) {
      if (spws[r] == s0) times.emplace(time(r), field(r));
    }
    for (const auto& [tm, f] : times) {
      g.time.push_back(tm);
      g.field.push_back(f);
    }
    g.gain.assign(g.time.size() * static_cast<std::size_t>(g.nant * g.npol), {1.0f, 0.0f});
    g.flag.assign(g.gain.size(), 1);
    g.snr.assign(g.gain.size(), 0.0f);
    for (cc::rownr_t r = 0; r < t.nrow(); ++r) {
      if (spws[r] != s0) continue;
      const int a = a1(r);
      if (a < 0 || a >= g.nant) throw InputError(fmt::format("{}: row {}: antenna {} outside ANTENNA", path.string(), r, a));
      const auto ti = static_cast<std::size_t>(std::lower_bound(g.time.begin(), g.time.end(), time(r)) - g.time.begin());
      const auto cp = cparam.get(r);
      const auto fl = flag.get(r);
      const auto sn = snr.get(r);
      for (int p = 0; p < g.npol; ++p) {
        const cc::IPosition at(2, p, 0);
        const auto i = g.index(ti, a, p);
        g.gain[i] = cp(at);
        g.flag[i] = fl(at) ? 1 : 0;
        g.snr[i] = sn(at);
      }
    }
    return g;
  } catch (const cc::AipsError& e) {
    throw InputError(fmt::format("{}: cannot read the gain table: {}", path.string(), e.what()));
  }
}

}  // namespace contimg::calibration
