#include "conversion/group_converter.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <span>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "astro/time.h"
#include "common/bounded_queue.h"
#include "common/build_info.h"
#include "common/durable.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "common/logging.h"
#include "common/progress.h"
#include "conversion/ms_verification.h"
#include "io/ms/ms_weights.h"
#include "io/ms/ms_writer.h"
#include "sky/primary_beam.h"

namespace contimg::conversion {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double mjd_seconds(double jd_utc) { return (jd_utc - astro::kMjdOffset) * astro::kSecondsPerDay; }

// One integration of every subband, [subband][row][channel ascending][pol],
// and per subband the MS's per-row values derived from it ([row][pol] and
// [row]): the reader threads derive them right after reading, in parallel with
// the writer and while the spectra are still in cache.
struct SlotBuffer {
  std::size_t slot = 0;
  std::vector<std::vector<std::complex<float>>> vis;
  std::vector<std::vector<std::uint8_t>> flags;
  std::vector<std::vector<float>> weights;
  std::vector<std::vector<float>> row_weight, row_sigma;
  std::vector<std::unique_ptr<bool[]>> flag_row;  // not vector<bool>: spans need bool storage

  void derive(std::size_t k, std::size_t nrows, std::size_t nchan, std::size_t npol) {
    ms::compute_weight_sigma(weights[k], nrows, nchan, npol, row_weight[k], row_sigma[k]);
    ms::compute_flag_row(flags[k], nrows, nchan * npol, std::span<bool>(flag_row[k].get(), nrows));
  }
};

SlotBuffer make_buffer(const SubbandSet& set, std::size_t nbls, std::size_t nchan, std::size_t npol) {
  SlotBuffer b;
  const auto n = static_cast<std::size_t>(set.expected_subbands());
  const std::size_t per_subband = nbls * nchan * npol;
  b.vis.assign(n, std::vector<std::complex<float>>(per_subband));
  b.flags.assign(n, std::vector<std::uint8_t>(per_subband, 1));  // missing = flagged
  b.weights.assign(n, std::vector<float>(per_subband, 0.0f));
  b.row_weight.assign(n, std::vector<float>(nbls * npol));
  b.row_sigma.assign(n, std::vector<float>(nbls * npol));
  for (std::size_t k = 0; k < n; ++k) {
    b.flag_row.push_back(std::make_unique<bool[]>(nbls));
    b.derive(k, nbls, nchan, npol);  // missing subbands keep these
  }
  return b;
}

std::uint64_t directory_bytes(const fs::path& p) {
  std::uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(p, ec)) {
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  }
  return n;
}

std::uint64_t free_bytes(const fs::path& p) {
  struct statvfs s {};
  if (statvfs(p.c_str(), &s) != 0) return 0;
  return static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize;
}

bool same_filesystem(const fs::path& a, const fs::path& b) {
  struct stat sa {}, sb {};
  return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev;
}

// Renames `staged` to `final_path`, replacing an existing MS atomically enough:
// the old one is first moved aside into `scratch`, which the caller removes.
void publish_by_rename(const fs::path& staged, const fs::path& final_path, const fs::path& scratch) {
  std::error_code ec;
  if (fs::exists(final_path)) {
    fs::rename(final_path, scratch / "previous.ms", ec);
    if (ec) throw IoError(fmt::format("cannot move the existing {} aside: {}", final_path.string(), ec.message()));
  }
  fs::rename(staged, final_path, ec);
  if (ec) throw IoError(fmt::format("cannot rename {} to {}: {}", staged.string(), final_path.string(), ec.message()));
}

}  // namespace

std::uint64_t estimate_ms_bytes(std::uint64_t rows_per_spw, int nspw, int nchan, int npol) {
  const std::uint64_t cells = rows_per_spw * static_cast<std::uint64_t>(nspw);
  const std::uint64_t per_row_cell = static_cast<std::uint64_t>(nchan * npol) * (8 + 4) +
                                     (static_cast<std::uint64_t>(nchan * npol) + 7) / 8;
  return cells * (per_row_cell + 160);  // + UVW, TIME, ids, WEIGHT, SIGMA
}

GroupConverter::GroupConverter(const astro::SiteData& site, std::vector<CalibratorRef> calibrators,
                               ConversionOptions options)
    : site_(site), calibrators_(std::move(calibrators)), options_(std::move(options)) {}

ConversionResult GroupConverter::convert(const std::string& group_id,
                                         const std::vector<SubbandFile>& files,
                                         const fs::path& output_dir,
                                         const InterruptGuard* interrupts,
                                         Progress* progress, int thread_budget) const {
  const auto t_start = Clock::now();
  auto log = logging::group_logger(group_id);
  auto check_interrupt = [&] {
    if (interrupts) interrupts->throw_if_interrupted();
  };
  ConversionResult res;
  res.group_id = group_id;
  res.ms_path = output_dir / (group_id + ".ms");

  // 1. Inputs: complete (or allowed incomplete) and mutually consistent.
  if (static_cast<int>(files.size()) < options_.expected_subbands && !options_.allow_incomplete) {
    std::vector<bool> have(static_cast<std::size_t>(options_.expected_subbands), false);
    for (const auto& f : files) {
      if (f.subband >= 0 && f.subband < options_.expected_subbands) have[static_cast<std::size_t>(f.subband)] = true;
    }
    std::string missing;
    for (int k = 0; k < options_.expected_subbands; ++k) {
      if (!have[static_cast<std::size_t>(k)]) missing += fmt::format("{}sb{:02d}", missing.empty() ? "" : ",", k);
    }
    throw InputError(fmt::format("group {} is incomplete ({}/{} subbands; missing {}): use "
                                 "--allow-incomplete to convert it with flagged SPWs",
                                 group_id, files.size(), options_.expected_subbands, missing));
  }
  if (static_cast<int>(files.size()) < options_.min_subbands) {
    throw InputError(fmt::format("group {} has {} subbands, fewer than the minimum {}", group_id,
                                 files.size(), options_.min_subbands));
  }
  const SubbandSet set(files, options_.expected_subbands, options_.cache_profiles,
                       uvh5::CacheProfile::kStandard);
  log->info("converting {} subbands (missing: {}), HDF5 cache profile {}", files.size(),
            set.missing().size(), uvh5::to_string(uvh5::CacheProfile::kStandard));
  res.missing_subbands = set.missing();
  res.bytes_read = set.input_bytes();
  const auto& ref = set.reference();
  if (ref.nants_telescope != static_cast<std::int64_t>(site_.stations.size())) {
    throw InputError(fmt::format("{}: Header/Nants_telescope is {}, the station table has {}",
                                 ref.path.string(), ref.nants_telescope, site_.stations.size()));
  }
  const auto dec = ref.pointing_dec_rad();
  if (!dec) {
    throw InputError(ref.path.string() + ": Header/extra_keywords/phase_center_dec: missing (pointing declination)");
  }

  const int nsb = options_.expected_subbands;
  const auto nf = static_cast<std::size_t>(ref.nfreqs);
  const auto np = static_cast<std::size_t>(ref.npols);
  const std::size_t nbls = set.ant1().size();
  const std::size_t per_subband = nbls * nf * np;
  const auto& slots = set.times();

  // 2. Layout: antennas from the station table, SPWs ascending, one field per integration.
  ms::MsLayout layout;
  for (std::size_t a = 0; a < site_.stations.size(); ++a) {
    ms::AntennaInfo ai;
    ai.name = a < ref.antenna_names.size() ? ref.antenna_names[a] : std::to_string(a + 1);
    ai.station = site_.stations[a].name;
    ai.itrf_m = site_.stations[a].itrf;
    ai.diameter_m = astro::kDishDiameterM;
    layout.antennas.push_back(ai);
  }
  // SPW i holds subband nsb-1-i (descending file layout: the last subband is the lowest).
  std::vector<int> spw_subband;
  for (int i = 0; i < nsb; ++i) spw_subband.push_back(ref.freq_descending() || ref.nfreqs == 1 ? nsb - 1 - i : i);
  if (options_.merge_spws) {
    ms::SpectralWindowInfo spw;
    spw.name = fmt::format("sb{:02d}-sb{:02d}", spw_subband.front(), spw_subband.back());
    for (int k : spw_subband) {
      for (double f : set.ascending_freqs(k)) {
        spw.chan_freq_hz.push_back(f);
        spw.chan_width_hz.push_back(set.channel_width_hz());
      }
    }
    layout.spectral_windows.push_back(spw);
  } else {
    for (int k : spw_subband) {
      ms::SpectralWindowInfo spw;
      spw.name = fmt::format("sb{:02d}", k);
      spw.chan_freq_hz = set.ascending_freqs(k);
      spw.chan_width_hz.assign(spw.chan_freq_hz.size(), set.channel_width_hz());
      layout.spectral_windows.push_back(spw);
    }
  }
  layout.corr_types.clear();
  for (auto p : ref.polarization) {
    // AIPS codes -5..-8 (XX, YY, XY, YX) -> CASA 9, 12, 10, 11.
    switch (p) {
      case -5: layout.corr_types.push_back(ms::kCorrXX); break;
      case -6: layout.corr_types.push_back(ms::kCorrYY); break;
      case -7: layout.corr_types.push_back(ms::kCorrXY); break;
      case -8: layout.corr_types.push_back(ms::kCorrYX); break;
      default: throw InputError(fmt::format("{}: Header/polarization_array: unsupported code {}", ref.path.string(), p));
    }
  }
  std::vector<astro::SkyDirection> centres;
  for (std::size_t t = 0; t < slots.size(); ++t) {
    const auto c = site_.observatory.meridian_icrs(slots[t].jd_utc, *dec);
    centres.push_back(c);
    layout.fields.push_back({fmt::format("meridian_icrs_t{}", t), "", c.ra_rad, c.dec_rad,
                             mjd_seconds(slots[t].jd_utc)});
  }
  // The field where a known calibrator is brightest in the beam takes its name.
  {
    double best = 0;
    int best_field = -1;
    const CalibratorRef* best_cal = nullptr;
    const double radius = options_.calibrator_radius_deg * M_PI / 180.0;
    for (const auto& cal : calibrators_) {
      for (std::size_t t = 0; t < centres.size(); ++t) {
        const double d = sky::angular_distance(cal.ra_rad, cal.dec_rad, centres[t].ra_rad, centres[t].dec_rad);
        if (d > radius) continue;
        const double weighted = cal.flux_jy * sky::airy_power(d, 1.4e9);
        if (weighted > best) {
          best = weighted;
          best_field = static_cast<int>(t);
          best_cal = &cal;
        }
      }
    }
    if (best_cal) {
      res.calibrator_field = fmt::format("{}_t{}", best_cal->name, best_field);
      layout.fields[static_cast<std::size_t>(best_field)].name = res.calibrator_field;
      layout.fields[static_cast<std::size_t>(best_field)].code = "CAL";
      log->info("field {} renamed {} (calibrator {:.2f} Jy in the beam)", best_field, res.calibrator_field, best_cal->flux_jy);
    }
  }
  layout.observation.telescope_name = "DSA_110";
  layout.observation.observer = "contimg";
  layout.observation.project = "dsa110-continuum";
  layout.integration_time_s = ref.integration_time_s;
  const std::size_t nspw_out = layout.spectral_windows.size();
  layout.expected_rows = slots.size() * nspw_out * nbls;
  {
    ms::HistoryEntry h;
    h.time_mjd_s = mjd_seconds(2440587.5 + std::chrono::duration<double>(
                                               std::chrono::system_clock::now().time_since_epoch()).count() / 86400.0);
    h.message = fmt::format("group {} converted from {} UVH5 subband files ({} missing: {})", group_id,
                            files.size(), res.missing_subbands.size(),
                            fmt::join(res.missing_subbands, ","));
    h.application = "contimg";
    h.origin = fmt::format("contimg {} convert", build::kVersion);
    h.cli_command = options_.command_line;
    h.app_params = {fmt::format("merge_spws={}", options_.merge_spws),
                    fmt::format("allow_incomplete={}", options_.allow_incomplete)};
    layout.history.push_back(h);
  }

  // 3. Staging area: tmpfs when it has room for twice the MS, else beside the output.
  fs::create_directories(output_dir);
  const std::uint64_t est = estimate_ms_bytes(slots.size() * nbls, static_cast<int>(nspw_out),
                                              static_cast<int>(nf * (options_.merge_spws ? nsb : 1)),
                                              static_cast<int>(np));
  fs::path stage_parent = options_.stage_dir;
  if (stage_parent.empty()) {
    stage_parent = output_dir;
    if (!options_.tmpfs_dir.empty() && fs::is_directory(options_.tmpfs_dir) &&
        free_bytes(options_.tmpfs_dir) >= 2 * est) {
      stage_parent = options_.tmpfs_dir / "contimg-staging";
      res.staged_in_tmpfs = true;
    }
  }
  // What a killed conversion left behind (kill -9, power cut) goes first.
  sweep_stale_temp_dirs(stage_parent);
  sweep_stale_temp_dirs(output_dir);
  ScopedTempDir stage(stage_parent, "convert", interrupts);
  res.staged_in = stage.path();
  // A full disk must be a clear error before writing, not a failure inside
  // casacore (whose table destructors cannot report it).
  ms::StorageOptions storage = options_.storage;
  storage.block_rows = nbls;
  storage.reserve_bytes = ms::reserve_for(est, storage);
  const std::uint64_t needed = est + est / 8 + storage.reserve_bytes;
  if (const auto avail = free_bytes(stage.path()); avail < needed) {
    throw IoError(fmt::format("not enough space to stage group {} in {}: No space left on device "
                              "(~{:.0f} MB needed, {:.0f} MB free)",
                              group_id, stage.path().string(), needed / 1e6, avail / 1e6));
  }
  const fs::path staged_ms = stage.path() / (group_id + ".ms");
  log->info("staging in {} ({:.0f} MB estimated)", stage.path().string(), est / 1e6);
  if (progress) progress->set_total(slots.size());

  // 4. Stream: readers fill slot buffers ahead of the writer.
  ms::MsWriter writer(staged_ms, layout, storage);
  // The disk writes the MS while it is computed (docs/perf.md "Durable
  // conversion"); the staged copy in tmpfs has no disk to write.
  std::optional<durable::WritebackPacer> pacer;
  if (options_.durable && !res.staged_in_tmpfs)
    pacer.emplace(staged_ms, std::chrono::milliseconds(250));

  const unsigned hw = thread_budget > 0 ? static_cast<unsigned>(thread_budget)
                                        : std::max(1u, std::thread::hardware_concurrency());
  const int readers = options_.parallel_io
                          ? std::max(1, std::min({options_.max_workers > 0 ? std::min(options_.max_workers, static_cast<int>(hw)) : static_cast<int>(hw),
                                                  options_.io_batch_size, static_cast<int>(files.size())}))
                          : 1;
  BoundedQueue<SlotBuffer> ready(1), free_buffers(3);
  for (int i = 0; i < 2; ++i) free_buffers.push(make_buffer(set, nbls, nf, np));
  std::vector<int> present;
  for (int k = 0; k < nsb; ++k) {
    if (set.present(k)) present.push_back(k);
  }
  std::thread producer([&] {
    try {
      for (std::size_t t = 0; t < slots.size(); ++t) {
        check_interrupt();
        auto buf = free_buffers.pop();
        if (!buf) return;
        buf->slot = t;
        std::atomic<std::size_t> next{0};
        std::exception_ptr err;
        std::mutex err_mutex;
        auto read_some = [&] {
          for (std::size_t i; (i = next.fetch_add(1)) < present.size();) {
            const int k = present[i];
            try {
              set.file(k).read_runs(set.header(k), slots[t].runs,
                                    {buf->vis[static_cast<std::size_t>(k)], buf->flags[static_cast<std::size_t>(k)],
                                     buf->weights[static_cast<std::size_t>(k)]},
                                    uvh5::ChannelOrder::kAscending);
              // Merged SPWs take their medians over all 768 channels: the writer derives those.
              if (!options_.merge_spws) buf->derive(static_cast<std::size_t>(k), nbls, nf, np);
            } catch (...) {
              std::lock_guard lock(err_mutex);
              if (!err) err = std::current_exception();
            }
          }
        };
        std::vector<std::thread> pool;
        for (int r = 1; r < readers; ++r) pool.emplace_back(read_some);
        read_some();
        for (auto& th : pool) th.join();
        if (err) std::rethrow_exception(err);
        if (!ready.push(std::move(*buf))) return;
      }
      ready.close();
    } catch (...) {
      ready.close(std::current_exception());
    }
  });

  // Baselines in the local ITRF: ant2 - ant1 (pyuvdata's convention).
  std::vector<astro::Vec3> baselines(nbls);
  for (std::size_t b = 0; b < nbls; ++b) {
    const auto& p1 = site_.stations[static_cast<std::size_t>(set.ant1()[b])].itrf;
    const auto& p2 = site_.stations[static_cast<std::size_t>(set.ant2()[b])].itrf;
    baselines[b] = {p2[0] - p1[0], p2[1] - p1[1], p2[2] - p1[2]};
  }
  std::vector<double> uvw(nbls * 3);
  std::vector<std::complex<float>> merged_vis;
  std::vector<std::uint8_t> merged_flags;
  std::vector<float> merged_weights;
  if (options_.merge_spws) {
    merged_vis.resize(per_subband * static_cast<std::size_t>(nsb));
    merged_flags.resize(merged_vis.size());
    merged_weights.resize(merged_vis.size());
  }
  try {
    for (;;) {
      const auto wait0 = Clock::now();
      auto buf = ready.pop();
      res.seconds_read_wait += since(wait0);
      if (!buf) break;
      check_interrupt();
      const auto w0 = Clock::now();
      const std::size_t t = buf->slot;
      const auto frame = site_.observatory.uvw_frame(centres[t], slots[t].jd_utc);
      for (std::size_t b = 0; b < nbls; ++b) {
        const auto u = site_.observatory.uvw(frame, baselines[b]);
        uvw[3 * b] = u[0];
        uvw[3 * b + 1] = u[1];
        uvw[3 * b + 2] = u[2];
      }
      const double time_s = mjd_seconds(slots[t].jd_utc);
      const std::int32_t field = static_cast<std::int32_t>(t);
      ms::RowBlock block;
      block.nrows = nbls;
      block.time_mjd_s = {&time_s, 1};
      block.antenna1 = set.ant1();
      block.antenna2 = set.ant2();
      block.field_id = {&field, 1};
      block.uvw_m = uvw;
      if (options_.merge_spws) {
        // [row][all channels ascending][pol] from the per-subband rows.
        const std::size_t row_out = nf * np * static_cast<std::size_t>(nsb);
        for (std::size_t b = 0; b < nbls; ++b) {
          for (int i = 0; i < nsb; ++i) {
            const auto k = static_cast<std::size_t>(spw_subband[static_cast<std::size_t>(i)]);
            const std::size_t src = b * nf * np, dst = b * row_out + static_cast<std::size_t>(i) * nf * np;
            std::copy_n(buf->vis[k].begin() + static_cast<std::ptrdiff_t>(src), nf * np, merged_vis.begin() + static_cast<std::ptrdiff_t>(dst));
            std::copy_n(buf->flags[k].begin() + static_cast<std::ptrdiff_t>(src), nf * np, merged_flags.begin() + static_cast<std::ptrdiff_t>(dst));
            std::copy_n(buf->weights[k].begin() + static_cast<std::ptrdiff_t>(src), nf * np, merged_weights.begin() + static_cast<std::ptrdiff_t>(dst));
          }
        }
        block.data_desc_id = 0;
        block.data = merged_vis;
        block.flags = merged_flags;
        block.weight_spectrum = merged_weights;
        writer.append(block);
      } else {
        for (std::size_t i = 0; i < nspw_out; ++i) {
          const auto k = static_cast<std::size_t>(spw_subband[i]);
          block.data_desc_id = static_cast<std::int32_t>(i);
          block.data = buf->vis[k];
          block.flags = buf->flags[k];
          block.weight_spectrum = buf->weights[k];
          block.weight = buf->row_weight[k];
          block.sigma = buf->row_sigma[k];
          block.flag_row = {buf->flag_row[k].get(), nbls};
          writer.append(block);
        }
      }
      res.seconds_write += since(w0);
      if (progress) progress->advance();
      free_buffers.push(std::move(*buf));
    }
  } catch (...) {
    free_buffers.close();
    ready.close();
    producer.join();
    throw;
  }
  producer.join();
  if (auto err = ready.error()) std::rethrow_exception(err);
  check_interrupt();
  const auto f0 = Clock::now();
  writer.finish();
  res.seconds_write += since(f0);
  res.rows = writer.rows_written();

  // 5. Verify, then publish with a rename.
  const auto v0 = Clock::now();
  VerificationExpectations expect;
  expect.rows = layout.expected_rows;
  expect.spectral_windows = nspw_out;
  expect.stations = site_.stations;
  // A full observation must lie in the SPEC window (296-309 s); a shorter
  // group (simulations, tests) must span exactly its own integrations.
  const double span_expected = static_cast<double>(slots.size()) * ref.integration_time_s;
  const bool full_observation = span_expected >= options_.duration_min_s;
  expect.min_duration_s = full_observation ? options_.duration_min_s : span_expected - 1.0;
  expect.max_duration_s = full_observation ? options_.duration_max_s : span_expected + 1.0;
  const auto report = verify_ms(staged_ms, expect);
  res.seconds_verify = since(v0);
  if (!report.ok()) {
    throw InputError(fmt::format("group {}: the written MS failed verification: {}", group_id, report.summary()));
  }
  check_interrupt();
  if (pacer) pacer->stop();
  const auto p0 = Clock::now();
  res.bytes_written = directory_bytes(staged_ms);
  ScopedTempDir publish_area(output_dir, "publish", interrupts);
  if (same_filesystem(stage.path(), output_dir)) {
    if (options_.durable) {
      const auto s0 = Clock::now();
      durable::sync_tree(staged_ms);
      res.seconds_sync = since(s0);
    }
    publish_by_rename(staged_ms, res.ms_path, publish_area.path());
  } else {
    // Across filesystems (tmpfs): copy next to the output first, then rename.
    if (const auto avail = free_bytes(output_dir); avail < res.bytes_written + res.bytes_written / 16) {
      throw IoError(fmt::format("not enough space in {} for {}: No space left on device ({:.0f} MB needed, {:.0f} MB free)",
                                output_dir.string(), res.ms_path.filename().string(),
                                res.bytes_written / 1e6, avail / 1e6));
    }
    const fs::path copy = publish_area.path() / (group_id + ".ms");
    std::error_code ec;
    fs::copy(staged_ms, copy, fs::copy_options::recursive, ec);
    if (ec) throw IoError(fmt::format("cannot copy {} to {}: {}", staged_ms.string(), copy.string(), ec.message()));
    if (options_.durable) {
      const auto s0 = Clock::now();
      durable::sync_tree(copy);
      res.seconds_sync = since(s0);
    }
    publish_by_rename(copy, res.ms_path, publish_area.path());
  }
  if (options_.durable) durable::sync_directory(output_dir);
  res.seconds_publish = since(p0);
  res.seconds_total = since(t_start);
  log->info(
      "stage=convert ms={} rows={} read_MB={:.1f} written_MB={:.1f} secs={:.2f} "
      "(read-wait {:.2f}, write {:.2f}, verify {:.2f}, publish {:.2f} of which fsync {:.2f}) "
      "staged_in_tmpfs={}",
      res.ms_path.string(), res.rows, res.bytes_read / 1e6, res.bytes_written / 1e6,
      res.seconds_total, res.seconds_read_wait, res.seconds_write, res.seconds_verify,
      res.seconds_publish, res.seconds_sync, res.staged_in_tmpfs);
  return res;
}

}  // namespace contimg::conversion
