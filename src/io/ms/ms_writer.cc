// MsWriter's checks, derived columns and statistics (C++20). The casacore
// half is detail::MsTableWriter (io/ms/ms_table_writer.h, a C++17
// translation unit: casacore 3.5 does not compile as C++20).
#include "io/ms/ms_writer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "io/ms/ms_table_writer.h"
#include "io/ms/ms_weights.h"

namespace contimg::ms {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

template <typename T>
detail::Values<T> values(std::span<const T> s) {
  return {s.data(), s.size()};
}

}  // namespace

struct MsWriter::Impl {
  fs::path path;
  std::vector<std::size_t> nchan;  // per data description
  std::size_t ncorr = 0;
  std::size_t nant = 0;
  std::size_t nfield = 0;
  double integration_time_s = 0;
  ObservationInfo observation;
  std::uint64_t expected_rows = 0;

  std::unique_ptr<detail::MsTableWriter> table;
  std::uint64_t next_row = 0;
  double first_start = std::numeric_limits<double>::infinity();
  double last_end = -std::numeric_limits<double>::infinity();
  WriterStats stats;

  // Scratch buffers for the derived columns, grown to the largest block.
  std::unique_ptr<bool[]> flags;
  std::size_t flags_capacity = 0;
  std::unique_ptr<bool[]> row_flags;
  std::size_t row_flags_capacity = 0;
  std::vector<float> weights, sigmas;

  bool open() const { return table && table->is_open(); }
  void check(const RowBlock& b, std::uint64_t block_no) const;
  void write(const RowBlock& b);
};

void MsWriter::Impl::check(const RowBlock& b, std::uint64_t block_no) const {
  const auto fail = [&](const std::string& what) {
    throw InputError(fmt::format("{}: block {} (data_desc_id {}, {} rows): {}", path.string(),
                                 block_no, b.data_desc_id, b.nrows, what));
  };
  if (!open()) fail("the writer is closed (finish() was called or creation failed)");
  if (b.data_desc_id < 0 || static_cast<std::size_t>(b.data_desc_id) >= nchan.size()) {
    fail(fmt::format("data_desc_id out of range [0, {})", nchan.size()));
  }
  const std::size_t n = b.nrows;
  const std::size_t cell = nchan[static_cast<std::size_t>(b.data_desc_id)] * ncorr;
  const auto one_or_n = [&](std::size_t size, const char* name, bool may_be_empty) {
    if (size == n || size == 1 || (may_be_empty && size == 0)) return;
    fail(fmt::format("{} has {} values, expected {}1 or {}", name, size, may_be_empty ? "0, " : "",
                     n));
  };
  const auto exactly = [&](std::size_t size, std::size_t expected, const char* name) {
    if (size != expected) fail(fmt::format("{} has {} values, expected {}", name, size, expected));
  };
  one_or_n(b.time_mjd_s.size(), "time", false);
  one_or_n(b.time_centroid_mjd_s.size(), "time_centroid", true);
  one_or_n(b.field_id.size(), "field_id", false);
  one_or_n(b.scan_number.size(), "scan_number", true);
  exactly(b.antenna1.size(), n, "antenna1");
  exactly(b.antenna2.size(), n, "antenna2");
  exactly(b.uvw_m.size(), 3 * n, "uvw");
  exactly(b.data.size(), n * cell, "data");
  exactly(b.flags.size(), n * cell, "flags");
  exactly(b.weight_spectrum.size(), n * cell, "weight_spectrum");
  const auto optional = [&](std::size_t size, std::size_t expected, const char* name) {
    if (size != 0) exactly(size, expected, name);
  };
  optional(b.weight.size(), n * ncorr, "weight");
  optional(b.sigma.size(), n * ncorr, "sigma");
  if (b.weight.empty() != b.sigma.empty()) fail("weight and sigma must be given together");
  optional(b.flag_row.size(), n, "flag_row");
  for (double t : b.time_mjd_s) {
    if (!std::isfinite(t)) fail("time is not finite");
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto a1 = b.antenna1[i], a2 = b.antenna2[i];
    if (a1 < 0 || a2 < 0 || static_cast<std::size_t>(a1) >= nant ||
        static_cast<std::size_t>(a2) >= nant) {
      fail(fmt::format("row {}: antenna pair ({}, {}) out of range [0, {})", i, a1, a2, nant));
    }
  }
  for (auto f : b.field_id) {
    if (f < 0 || static_cast<std::size_t>(f) >= nfield) {
      fail(fmt::format("field_id {} out of range [0, {})", f, nfield));
    }
  }
  if (!(b.interval_s >= 0) || !(b.exposure_s >= 0)) fail("negative interval or exposure");
}

void MsWriter::Impl::write(const RowBlock& b) {
  const std::size_t n = b.nrows;
  const std::size_t nch = nchan[static_cast<std::size_t>(b.data_desc_id)];
  const std::size_t cell = nch * ncorr;
  const double interval = b.interval_s > 0 ? b.interval_s : integration_time_s;

  // Derived values first: nothing is written if this throws.
  if (flags_capacity < n * cell) {
    flags.reset(new bool[n * cell]);
    flags_capacity = n * cell;
  }
  if (row_flags_capacity < n) {
    row_flags.reset(new bool[n]);
    row_flags_capacity = n;
  }
  const std::span<bool> bool_flags(flags.get(), n * cell);
  std::span<const bool> flag_row = b.flag_row;
  if (flag_row.empty()) {
    compute_flag_row(b.flags, n, cell, bool_flags, std::span<bool>(row_flags.get(), n));
    flag_row = std::span<const bool>(row_flags.get(), n);
  } else {
    flags_to_bool(b.flags, bool_flags);
  }
  std::span<const float> weight = b.weight, sigma = b.sigma;
  if (weight.empty()) {
    weights.resize(n * ncorr);
    sigmas.resize(n * ncorr);
    compute_weight_sigma(b.weight_spectrum, n, nch, ncorr, weights, sigmas);
    weight = weights;
    sigma = sigmas;
  }

  detail::TableRows rows;
  rows.data_desc_id = b.data_desc_id;
  rows.nrows = n;
  rows.time_mjd_s = values(b.time_mjd_s);
  rows.time_centroid_mjd_s =
      values(b.time_centroid_mjd_s.empty() ? b.time_mjd_s : b.time_centroid_mjd_s);
  rows.antenna1 = values(b.antenna1);
  rows.antenna2 = values(b.antenna2);
  rows.field_id = values(b.field_id);
  rows.scan_number = values(b.scan_number);
  rows.uvw_m = values(b.uvw_m);
  rows.data = values(b.data);
  rows.flags = {bool_flags.data(), bool_flags.size()};
  rows.weight_spectrum = values(b.weight_spectrum);
  rows.weight = values(weight);
  rows.sigma = values(sigma);
  rows.flag_row = values(flag_row);
  rows.interval_s = interval;
  rows.exposure_s = b.exposure_s > 0 ? b.exposure_s : interval;
  table->put(rows, stats.blocks);

  next_row += n;
  const auto [tmin, tmax] = std::minmax_element(b.time_mjd_s.begin(), b.time_mjd_s.end());
  first_start = std::min(first_start, *tmin - interval / 2);
  last_end = std::max(last_end, *tmax + interval / 2);
  stats.rows += n;
  stats.blocks += 1;
  stats.payload_bytes +=
      n * cell * (sizeof(std::complex<float>) + 1 + sizeof(float)) + n * 3 * sizeof(double);
}

MsWriter::MsWriter(const fs::path& path, const MsLayout& layout, const StorageOptions& storage,
                   bool overwrite)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  validate(layout);
  m.path = path;
  for (const auto& w : layout.spectral_windows) m.nchan.push_back(w.chan_freq_hz.size());
  m.ncorr = layout.corr_types.size();
  m.nant = layout.antennas.size();
  m.nfield = layout.fields.size();
  m.integration_time_s = layout.integration_time_s;
  m.observation = layout.observation;
  m.expected_rows = layout.expected_rows;
  m.table = std::make_unique<detail::MsTableWriter>(path, layout, storage, overwrite);
}

// The table writer's destructor releases (closes, or abandons on a full disk).
MsWriter::~MsWriter() = default;

MsWriter::MsWriter(MsWriter&&) noexcept = default;
MsWriter& MsWriter::operator=(MsWriter&& other) noexcept {
  if (this != &other) impl_ = std::move(other.impl_);
  return *this;
}

void MsWriter::append(const RowBlock& block) {
  Impl& m = *impl_;
  m.check(block, m.stats.blocks);
  if (block.nrows == 0) return;
  const auto t0 = Clock::now();
  m.write(block);
  m.stats.seconds_in_append += seconds_since(t0);
}

void MsWriter::flush() {
  Impl& m = *impl_;
  if (m.open()) m.table->flush();
}

void MsWriter::finish() {
  Impl& m = *impl_;
  if (!m.open()) return;
  const auto t0 = Clock::now();
  if (m.expected_rows > 0 && m.expected_rows != m.next_row) {
    m.table->close();
    throw InputError(
        fmt::format("{}: {} rows were written, the layout expected {}; the MS is "
                    "incomplete",
                    m.path.string(), m.next_row, m.expected_rows));
  }
  double start = m.observation.start_mjd_s, end = m.observation.end_mjd_s;
  if (start == 0 && end == 0 && m.next_row > 0) {
    start = m.first_start;
    end = m.last_end;
  }
  m.table->finish(start, end);
  m.stats.seconds_in_finish = seconds_since(t0);
  spdlog::debug(
      "{}: MS finished: {} rows in {} blocks, {:.1f} MB, {:.2f} s appending, {:.2f} s "
      "finishing",
      m.path.string(), m.stats.rows, m.stats.blocks, m.stats.payload_bytes / 1e6,
      m.stats.seconds_in_append, m.stats.seconds_in_finish);
}

std::uint64_t MsWriter::rows_written() const {
  return impl_->next_row;
}
const WriterStats& MsWriter::stats() const {
  return impl_->stats;
}
const fs::path& MsWriter::path() const {
  return impl_->path;
}
TileShape MsWriter::data_tile() const {
  return impl_->table->data_tile();
}
TileShape MsWriter::flag_tile() const {
  return impl_->table->flag_tile();
}
TileShape MsWriter::weight_spectrum_tile() const {
  return impl_->table->weight_spectrum_tile();
}
TileShape MsWriter::uvw_tile() const {
  return impl_->table->uvw_tile();
}

}  // namespace contimg::ms
