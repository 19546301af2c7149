// The calibration layer's reader/writer of SPW blocks, on io/ms's CasaTable
// (the one MS reader; casacore stays inside io/ms).
#include "calibration/ms_access.h"

#include <algorithm>
#include <type_traits>

#include <fmt/format.h>

#include "common/error.h"
#include "io/ms/casa_table.h"
#include "io/ms/table_release.h"

namespace contimg::calibration {

static_assert(std::is_same_v<int, std::int32_t>, "VisBlock's int columns are read in place");

struct MsVisibilities::Impl {
  ms::CasaTable ms;
  MsMeta meta;
  bool writable = false;
  // Contiguous row runs of each SPW (the converter writes (integration, SPW)
  // blocks, so a SPW is 24 runs of 4656 rows).
  std::vector<std::vector<std::pair<std::uint64_t, std::uint64_t>>> runs;
  std::uint64_t bytes_read = 0, bytes_written = 0;

  std::string where() const { return meta.path.string(); }
  ms::CasaTable subtable(const std::string& name) const {
    if (!ms.has_subtable(name))
      throw InputError(fmt::format("{}: subtable {} is missing", where(), name));
    return ms.subtable(name);
  }
  // After a failed write: the table is let go without writing its headers
  // (a full disk must not become std::terminate in casacore's destructor).
  [[noreturn]] void write_failed(const std::string& what, const ms::TableError& e) {
    const std::string note = ms::disk_full_note(meta.path, e.what());
    ms.release_without_writing();
    throw IoError(fmt::format("{}: {}: {}{}", where(), what, e.what(), note));
  }
};

MsVisibilities::MsVisibilities(const std::filesystem::path& path, bool writable)
    : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.meta.path = path;
  m.writable = writable;
  if (!std::filesystem::exists(path / "table.dat")) {
    throw InputError(fmt::format("{}: not a Measurement Set (no table.dat)", path.string()));
  }
  try {
    m.ms = ms::CasaTable(path.string(),
                         writable ? ms::CasaTable::Mode::kUpdate : ms::CasaTable::Mode::kRead);
    for (const char* c : {"DATA", "FLAG", "UVW", "ANTENNA1", "ANTENNA2", "TIME", "FIELD_ID", "DATA_DESC_ID"}) {
      if (!m.ms.has_column(c)) {
        throw InputError(
            fmt::format("{}: not usable for calibration: column {} is missing", m.where(), c));
      }
    }
    const auto ant = m.subtable("ANTENNA");
    m.meta.antenna_names = ant.get_column<std::string>("NAME");
    for (std::uint64_t r = 0; r < ant.nrow(); ++r) {
      const auto p = ant.get_cell<double>("POSITION", r);
      if (p.size() < 3)
        throw InputError(fmt::format("{}: ANTENNA row {} has no 3-D POSITION", m.where(), r));
      m.meta.antenna_positions.push_back({p[0], p[1], p[2]});
    }
    const auto spw = m.subtable("SPECTRAL_WINDOW");
    for (std::uint64_t r = 0; r < spw.nrow(); ++r)
      m.meta.chan_freq.push_back(spw.get_cell<double>("CHAN_FREQ", r).values);
    const auto dd_spw =
        m.subtable("DATA_DESCRIPTION").get_column<std::int32_t>("SPECTRAL_WINDOW_ID");
    const auto pol = m.subtable("POLARIZATION");
    m.meta.npol = pol.nrow() > 0 ? pol.get<std::int32_t>("NUM_CORR", 0) : 0;
    const auto field = m.subtable("FIELD");
    m.meta.field_names = field.get_column<std::string>("NAME");
    for (std::uint64_t r = 0; r < field.nrow(); ++r) {
      const auto d = field.get_cell<double>("PHASE_DIR", r);
      if (d.size() < 2)
        throw InputError(fmt::format("{}: FIELD row {} has no PHASE_DIR", m.where(), r));
      m.meta.field_dir.push_back({d[0], d[1]});
    }

    if (m.ms.nrow() == 0) throw InputError(m.where() + ": the MS has no rows");
    const auto ddid = m.ms.get_column<std::int32_t>("DATA_DESC_ID");
    const auto time = m.ms.get_column<double>("TIME");
    m.bytes_read += ddid.size() * (sizeof(std::int32_t) + sizeof(double));
    const auto [tmin, tmax] = std::minmax_element(time.begin(), time.end());
    m.meta.time_first = *tmin;
    m.meta.time_last = *tmax;
    m.meta.interval = m.ms.get<double>("INTERVAL", 0);
    m.runs.assign(m.meta.chan_freq.size(), {});
    for (std::uint64_t r = 0; r < ddid.size();) {
      std::uint64_t e = r + 1;
      while (e < ddid.size() && ddid[e] == ddid[r]) ++e;
      if (ddid[r] < 0 || static_cast<std::size_t>(ddid[r]) >= dd_spw.size()) {
        throw InputError(fmt::format("{}: row {} has DATA_DESC_ID {} outside DATA_DESCRIPTION", m.where(), r, ddid[r]));
      }
      const int s = dd_spw[static_cast<std::size_t>(ddid[r])];
      if (s < 0 || static_cast<std::size_t>(s) >= m.runs.size()) {
        throw InputError(fmt::format("{}: DATA_DESCRIPTION points at SPW {} outside SPECTRAL_WINDOW", m.where(), s));
      }
      m.runs[static_cast<std::size_t>(s)].push_back({r, e - r});
      r = e;
    }
  } catch (const ms::TableError& e) {
    throw InputError(fmt::format("{}: cannot read the MS: {}", path.string(), e.what()));
  }
}

// Closing a table opened for update rewrites its headers; on a full disk that
// write fails inside casacore's destructor (std::terminate, issue 11 D4).
// Writers flush where errors are caught (flush()); here, with no room left,
// the table is let go without writing.
MsVisibilities::~MsVisibilities() {
  if (impl_ && impl_->writable && impl_->ms.is_open() &&
      ms::available_bytes(impl_->meta.path) < ms::kFlushHeadroomBytes) {
    impl_->ms.release_without_writing();
  }
}

const MsMeta& MsVisibilities::meta() const { return impl_->meta; }

bool MsVisibilities::has_rows(int spw) const { return !impl_->runs.at(static_cast<std::size_t>(spw)).empty(); }

VisBlock MsVisibilities::read_spw(int spw, bool weights) {
  auto& m = *impl_;
  VisBlock b;
  b.spw = spw;
  b.nchan = m.meta.chan_freq.at(static_cast<std::size_t>(spw)).size();
  b.npol = static_cast<std::size_t>(m.meta.npol);
  for (const auto& run : m.runs.at(static_cast<std::size_t>(spw))) b.nrows += run.second;
  const std::size_t cell = b.nchan * b.npol;
  b.ant1.resize(b.nrows);
  b.ant2.resize(b.nrows);
  b.field.resize(b.nrows);
  b.time.resize(b.nrows);
  b.uvw.resize(b.nrows * 3);
  b.data.resize(b.nrows * cell);
  b.flag.resize(b.nrows * cell);
  if (weights) b.weight.assign(b.nrows * cell, 1.0f);
  bool has_ws = false;
  try {
    has_ws = weights && m.ms.has_column("WEIGHT_SPECTRUM") && m.ms.has_content("WEIGHT_SPECTRUM");
    const bool has_w = weights && !has_ws && m.ms.has_column("WEIGHT");
    std::vector<float> w;
    std::size_t off = 0;
    for (const auto& [start, n] : m.runs[static_cast<std::size_t>(spw)]) {
      const ms::Shape rows{n}, cells{b.npol, b.nchan, n};
      m.ms.get_range_into<std::int32_t>("ANTENNA1", start, rows, b.ant1.data() + off);
      m.ms.get_range_into<std::int32_t>("ANTENNA2", start, rows, b.ant2.data() + off);
      m.ms.get_range_into<std::int32_t>("FIELD_ID", start, rows, b.field.data() + off);
      m.ms.get_range_into<double>("TIME", start, rows, b.time.data() + off);
      m.ms.get_range_into<double>("UVW", start, {3, n}, b.uvw.data() + off * 3);
      m.ms.get_range_into<std::complex<float>>("DATA", start, cells, b.data.data() + off * cell);
      m.ms.get_range_into<std::uint8_t>("FLAG", start, cells, b.flag.data() + off * cell);
      if (has_ws) {
        m.ms.get_range_into<float>("WEIGHT_SPECTRUM", start, cells, b.weight.data() + off * cell);
      } else if (has_w) {
        w.resize(n * b.npol);
        m.ms.get_range_into<float>("WEIGHT", start, {b.npol, n}, w.data());
        for (std::size_t r = 0; r < n; ++r) {
          for (std::size_t c = 0; c < b.nchan; ++c) {
            for (std::size_t p = 0; p < b.npol; ++p)
              b.weight[(off + r) * cell + c * b.npol + p] = w[r * b.npol + p];
          }
        }
      }
      off += n;
    }
  } catch (const ms::TableError& e) {
    throw InputError(fmt::format("{}: reading SPW {}: {}", m.where(), spw, e.what()));
  }
  m.bytes_read +=
      b.nrows * (cell * (sizeof(std::complex<float>) + 1 + (has_ws ? sizeof(float) : 0)) +
                 3 * sizeof(double) + 3 * sizeof(int) + sizeof(double));
  return b;
}

bool MsVisibilities::ensure_corrected_data() {
  auto& m = *impl_;
  if (!m.writable) throw InputError(m.where() + ": opened read-only, cannot add CORRECTED_DATA");
  try {
    if (m.ms.has_column("CORRECTED_DATA")) return false;
    m.ms.add_complex_column_like("CORRECTED_DATA", "DATA", "corrected visibilities", "Jy");
  } catch (const ms::TableError& e) {
    m.write_failed("cannot add CORRECTED_DATA", e);
  }
  return true;
}

void MsVisibilities::write_corrected(const VisBlock& b) {
  auto& m = *impl_;
  const std::size_t cell = b.nchan * b.npol;
  try {
    std::size_t off = 0;
    for (const auto& [start, n] : m.runs.at(static_cast<std::size_t>(b.spw))) {
      const ms::Shape cells{b.npol, b.nchan, n};
      m.ms.put_range<std::complex<float>>("CORRECTED_DATA", start, cells,
                                          b.data.data() + off * cell);
      m.ms.put_range<std::uint8_t>("FLAG", start, cells, b.flag.data() + off * cell);
      off += n;
    }
  } catch (const ms::TableError& e) {
    m.write_failed(fmt::format("writing CORRECTED_DATA of SPW {}", b.spw), e);
  }
  m.bytes_written += b.nrows * cell * (sizeof(std::complex<float>) + 1);
}

void MsVisibilities::write_corrected_rows(std::uint64_t row0, std::size_t nrows, std::size_t nchan,
                                          std::size_t npol,
                                          std::span<const std::complex<float>> data,
                                          std::span<const std::uint8_t> flag) {
  auto& m = *impl_;
  const std::size_t n = nrows * nchan * npol;
  if (data.size() != n || flag.size() != n) {
    throw InputError(fmt::format(
        "{}: rows {}..{}: {} values and {} flags for {} rows x {} channels x {} "
        "correlations",
        m.where(), row0, row0 + nrows - 1, data.size(), flag.size(), nrows, nchan, npol));
  }
  try {
    const ms::Shape cells{npol, nchan, nrows};
    m.ms.put_range<std::complex<float>>("CORRECTED_DATA", row0, cells, data.data());
    m.ms.put_range<std::uint8_t>("FLAG", row0, cells, flag.data());
  } catch (const ms::TableError& e) {
    m.write_failed(fmt::format("writing CORRECTED_DATA of rows {}..{}", row0, row0 + nrows - 1), e);
  }
  m.bytes_written += n * (sizeof(std::complex<float>) + 1);
}

void MsVisibilities::flush() {
  impl_->ms.flush_or_throw(impl_->where());
}

namespace {
constexpr const char* kAppliedCalsetKeyword = "CONTIMG_APPLIED_CALSET";
}

std::string MsVisibilities::applied_calset() const {
  const auto& m = *impl_;
  try {
    if (!m.ms.has_column("CORRECTED_DATA")) return {};
    return m.ms.keyword_string(kAppliedCalsetKeyword);
  } catch (const ms::TableError& e) {
    throw InputError(fmt::format("{}: reading {}: {}", m.where(), kAppliedCalsetKeyword, e.what()));
  }
}

void MsVisibilities::set_applied_calset(const std::string& calset_id, bool flush) {
  auto& m = *impl_;
  if (!m.writable) throw InputError(m.where() + ": opened read-only, cannot record the applied set");
  try {
    m.ms.set_keyword_string(kAppliedCalsetKeyword, calset_id);
  } catch (const ms::TableError& e) {
    m.write_failed("recording the applied calibration set", e);
  }
  if (flush) m.ms.flush_or_throw(m.where() + ": recording the applied calibration set");
}

std::uint64_t MsVisibilities::bytes_read() const { return impl_->bytes_read; }
std::uint64_t MsVisibilities::bytes_written() const { return impl_->bytes_written; }

}  // namespace contimg::calibration
