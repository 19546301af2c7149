#include "grouping/indexer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numbers>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/logging.h"
#include "common/progress.h"
#include "grouping/grouping.h"
#include "grouping/subband_name.h"
#include "grouping/utc_time.h"
#include "io/uvh5/uvh5_file.h"

namespace contimg::grouping {
namespace fs = std::filesystem;
using state::EventLevel;
using state::FileRecord;
using state::FileState;
using state::GroupRecord;
using state::GroupState;

namespace {

constexpr std::size_t kBatch = 256;            // files peeked per write transaction
constexpr double kDecSpreadWarnRad = 1e-4;     // ~21": members should share one pointing

// Fills the header fields of `rec` from a metadata peek; InputError/IoError
// make it invalid with the reader's message.
void peek_into(FileRecord& rec, const uvh5::CacheProfiles& profiles) {
  try {
    const uvh5::Uvh5File file(rec.path, uvh5::CacheProfile::kMetadata, profiles);
    const auto h = file.peek();
    constexpr double kJdToMjd = 2400000.5;
    rec.time_first_mjd = h.time_min_jd - kJdToMjd;
    rec.time_last_mjd = h.time_max_jd - kJdToMjd;
    rec.pointing_dec_rad = h.pointing_dec_rad();
    rec.nfreqs = h.nfreqs;
    rec.ntimes = h.ntimes;
    rec.nblts = h.nblts;
    if (!h.freq_hz.empty()) {
      rec.freq_min_hz = h.freq_min_hz();
      rec.freq_max_hz = h.freq_max_hz();
    }
  } catch (const InputError& e) {
    rec.state = FileState::kInvalid;
    rec.error = e.what();
  } catch (const IoError& e) {
    rec.state = FileState::kInvalid;
    rec.error = e.what();
  }
}

void widen(std::optional<std::int64_t>& lo, std::optional<std::int64_t>& hi, std::int64_t t) {
  if (!lo || t < *lo) lo = t;
  if (!hi || t > *hi) hi = t;
}

std::string dec_text(const std::optional<double>& rad) {
  return rad ? fmt::format("{:+.4f} deg", *rad * 180 / std::numbers::pi) : "unknown";
}

}  // namespace

std::vector<fs::path> scan_directory(const fs::path& dir, bool recursive) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw IoError(fmt::format("{}: not a readable directory{}", dir.string(),
                              ec ? ": " + ec.message() : std::string()));
  }
  auto consider = [&](const fs::directory_entry& e) {
    if (!is_subband_candidate(e.path().filename().string())) return;
    std::error_code fe;
    if (!e.is_regular_file(fe)) return;
    out.push_back(fs::absolute(e.path()).lexically_normal());
  };
  try {
    if (recursive) {
      for (const auto& e :
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied)) {
        consider(e);
      }
    } else {
      for (const auto& e : fs::directory_iterator(dir)) consider(e);
    }
  } catch (const fs::filesystem_error& e) {
    throw IoError(fmt::format("{}: cannot list: {}", dir.string(), e.what()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

IndexSummary index_files(state::StateDb& db, std::span<const fs::path> files,
                         const IndexOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  IndexSummary s;
  std::optional<std::int64_t> lo, hi;  // filename times the scan touched
  std::vector<FileRecord> pending;     // new or changed records of this batch

  auto flush = [&] {
    if (pending.empty()) return;
    auto tx = db.transaction();
    for (const auto& rec : pending) db.upsert_file(rec);
    tx.commit();
    pending.clear();
  };

  for (const auto& path : files) {
    if (options.check_interrupt) options.check_interrupt();
    if (options.progress) options.progress->advance();
    FileRecord rec;
    rec.path = path.string();
    struct stat st {};
    if (::stat(rec.path.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT) {  // gone since the scan (moved or deleted): not ours to record
        spdlog::debug("index: {} vanished before it could be read", rec.path);
        continue;
      }
      rec.state = FileState::kInvalid;
      rec.error = fmt::format("{}: cannot stat: {}", rec.path, std::strerror(err));
    } else {
      rec.size_bytes = static_cast<std::int64_t>(st.st_size);
      rec.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                     static_cast<std::int64_t>(st.st_mtim.tv_nsec);
    }
    ++s.scanned;

    const auto known = db.file(rec.path);
    if (known && rec.state == FileState::kIndexed && known->size_bytes == rec.size_bytes &&
        known->mtime_ns == rec.mtime_ns) {
      ++s.unchanged;
      if (known->name_epoch) widen(lo, hi, *known->name_epoch);
      if (known->state == FileState::kInvalid) {
        s.invalid_files.push_back({rec.path, known->error, false});
      }
      continue;
    }

    if (rec.state == FileState::kIndexed) {
      const auto parsed = parse_subband_name(path.filename().string());
      if (!parsed) {
        rec.state = FileState::kInvalid;
        rec.error = (path.parent_path() / parsed.error).string();  // "<dir>/<name>: <why>"
      } else {
        rec.name_time = parsed.name->timestamp;
        rec.name_epoch = parsed.name->epoch;
        rec.subband = parsed.name->subband;
        peek_into(rec, options.profiles);
      }
    }
    if (rec.name_epoch) widen(lo, hi, *rec.name_epoch);
    if (rec.state == FileState::kInvalid) {
      ++s.invalid;
      spdlog::error("index: {}", rec.error);
      s.invalid_files.push_back({rec.path, rec.error, true});
    } else {
      ++s.indexed;
    }
    pending.push_back(std::move(rec));
    if (pending.size() >= kBatch) flush();
  }
  flush();
  s.invalid_total = s.invalid_files.size();
  if (lo) {
    regroup(db, *lo, *hi, options.tolerance_s, options.expected_subbands, s,
            options.pointing_tolerance_deg);
  }
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

OnDisk check_on_disk(const FileRecord& f) {
  struct stat st {};
  if (::stat(f.path.c_str(), &st) != 0) {
    return errno == ENOENT || errno == ENOTDIR ? OnDisk::kVanished : OnDisk::kUnreadable;
  }
  if (!S_ISREG(st.st_mode)) return OnDisk::kVanished;  // replaced by a directory or the like
  const std::int64_t mtime = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                             static_cast<std::int64_t>(st.st_mtim.tv_nsec);
  return static_cast<std::int64_t>(st.st_size) == f.size_bytes && mtime == f.mtime_ns
             ? OnDisk::kUnchanged
             : OnDisk::kChanged;
}

void forget_vanished(state::StateDb& db, const fs::path& dir, const IndexOptions& options,
                     IndexSummary& summary) {
  std::vector<FileRecord> gone;
  for (auto& f : db.files_under(fs::absolute(dir).lexically_normal())) {
    if (check_on_disk(f) == OnDisk::kVanished) gone.push_back(std::move(f));
  }
  forget_files(db, gone, options, summary);
}

void forget_files(state::StateDb& db, std::span<const FileRecord> gone, const IndexOptions& options,
                  IndexSummary& summary) {
  if (gone.empty()) return;
  std::optional<std::int64_t> lo, hi;
  auto tx = db.transaction();
  for (const auto& f : gone) {
    if (!db.delete_file(f.path)) continue;
    ++summary.removed;
    if (f.name_epoch) widen(lo, hi, *f.name_epoch);
    const auto msg = fmt::format("{}: no longer exists; removed from the index", f.path);
    if (f.group_id) {
      logging::group_logger(*f.group_id)->warn("{}", msg);
    } else {
      spdlog::warn("index: {}", msg);
    }
    db.record_event(f.group_id, "index", EventLevel::kWarn, msg);
  }
  // What the files belonged to is regrouped from what remains: a duplicate
  // elsewhere takes the subband's place, or the group loses it.
  if (lo) {
    regroup(db, *lo, *hi, options.tolerance_s, options.expected_subbands, summary,
            options.pointing_tolerance_deg);
  }
  tx.commit();
}

void regroup(state::StateDb& db, std::int64_t first, std::int64_t last, double tolerance_s,
             int expected_subbands, IndexSummary& summary, double pointing_tolerance_deg) {
  auto within = [&](std::int64_t a, std::int64_t b) {
    return static_cast<double>(b - a) <= tolerance_s;
  };
  auto tx = db.transaction();  // a consistent snapshot, and one write at the end
  std::int64_t lo = first, hi = last;
  while (auto p = db.indexed_epoch_before(lo)) {
    if (!within(*p, lo)) break;
    lo = *p;
  }
  while (auto n = db.indexed_epoch_after(hi)) {
    if (!within(hi, *n)) break;
    hi = *n;
  }
  const auto files = db.files_in_range(lo, hi);
  std::vector<GroupInput> inputs;
  std::vector<std::size_t> file_of_input;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& f = files[i];
    if (f.state != FileState::kIndexed) continue;
    inputs.push_back({f.path, SubbandName{*f.name_time, *f.name_epoch, *f.subband}, f.mtime_ns,
                      f.pointing_dec_rad});
    file_of_input.push_back(i);
  }
  const auto groups = group_files(inputs, tolerance_s, expected_subbands, pointing_tolerance_deg);

  std::map<std::string, GroupRecord> stored;
  for (auto& g : db.groups_in_range(lo, hi)) stored.emplace(g.group_id, std::move(g));
  // What each file of the span should say: (group, superseded).
  std::map<std::string, std::pair<std::optional<std::string>, bool>> wanted;
  std::set<std::string> computed;

  for (const auto& g : groups) {
    const FileRecord& head = files[file_of_input[g.members.front()]];
    GroupRecord r;
    r.group_id = g.id;
    r.start_epoch = g.id_epoch;
    r.start_mjd = epoch_to_mjd(g.id_epoch);
    r.first_file_epoch = g.first_epoch;
    r.last_file_epoch = g.last_epoch;
    r.n_subbands = g.n_subbands();
    r.subband_mask = g.subband_mask;
    r.complete = g.complete;
    r.n_duplicates = static_cast<int>(g.duplicates.size());
    r.pointing_dec_rad = head.pointing_dec_rad;  // sb00's when present (members are by code)
    double dec_min = std::numeric_limits<double>::infinity(), dec_max = -dec_min;
    for (std::size_t m : g.members) {
      const FileRecord& f = files[file_of_input[m]];
      if (f.time_first_mjd && (!r.time_first_mjd || *f.time_first_mjd < *r.time_first_mjd)) {
        r.time_first_mjd = f.time_first_mjd;
      }
      if (f.time_last_mjd && (!r.time_last_mjd || *f.time_last_mjd > *r.time_last_mjd)) {
        r.time_last_mjd = f.time_last_mjd;
      }
      if (f.pointing_dec_rad) {
        dec_min = std::min(dec_min, *f.pointing_dec_rad);
        dec_max = std::max(dec_max, *f.pointing_dec_rad);
      }
      wanted[f.path] = {g.id, false};
    }
    computed.insert(g.id);
    ++summary.groups;
    if (g.complete) ++summary.groups_complete;
    summary.duplicates += g.duplicates.size();

    const auto old = stored.find(g.id);
    const bool is_new = old == stored.end();
    if (is_new || !old->second.same_membership(r)) {
      db.upsert_group(r);
      ++summary.groups_written;
      std::string msg = fmt::format("{} {}/{} subbands{}{}, Dec {}", is_new ? "grouped" : "regrouped",
                                    r.n_subbands, expected_subbands,
                                    g.missing.empty() ? "" : ", missing ",
                                    format_subbands(g.missing), dec_text(r.pointing_dec_rad));
      if (!is_new) {
        msg += fmt::format(" (was {} subbands)", old->second.n_subbands);
      }
      db.record_event(g.id, "index", EventLevel::kInfo, msg);
      if (!is_new && (old->second.state == GroupState::kConverting ||
                      old->second.state == GroupState::kConverted)) {
        const auto warn = fmt::format("membership changed after the group was {}: {}",
                                      state::to_string(old->second.state), msg);
        logging::group_logger(g.id)->warn("{}", warn);
        db.record_event(g.id, "index", EventLevel::kWarn, warn);
      }
      if (dec_max - dec_min > kDecSpreadWarnRad) {
        const auto warn = fmt::format("subbands disagree on the pointing: Dec {} .. {}",
                                      dec_text(dec_min), dec_text(dec_max));
        logging::group_logger(g.id)->warn("{}", warn);
        db.record_event(g.id, "index", EventLevel::kWarn, warn);
      }
    }
    for (const auto& d : g.duplicates) {
      const FileRecord& dropped = files[file_of_input[d.dropped]];
      const FileRecord& kept = files[file_of_input[d.kept]];
      wanted[dropped.path] = {g.id, true};
      if (!(dropped.superseded && dropped.group_id == g.id)) {  // newly found: warn once
        const auto warn = fmt::format("duplicate sb{:02d}: using {} (newest), not {}", d.subband,
                                      kept.path, dropped.path);
        logging::group_logger(g.id)->warn("{}", warn);
        db.record_event(g.id, "index", EventLevel::kWarn, warn);
      }
    }
    // An excluded file is recorded with its group as not used (superseded);
    // the rule gives the reason again wherever it is needed (groups, convert).
    for (const auto& e : g.excluded) {
      const FileRecord& f = files[file_of_input[e.file]];
      wanted[f.path] = {g.id, true};
      ++summary.excluded;
      if (!(f.superseded && f.group_id == g.id)) {
        logging::group_logger(g.id)->warn("{}", e.reason);
        db.record_event(g.id, "index", EventLevel::kWarn, e.reason);
      }
    }
  }

  // Files: (re)assign; invalid ones and the span's leftovers belong to no group.
  std::set<std::string> stale;
  for (const auto& [id, rec] : stored) {
    if (!computed.count(id)) stale.insert(id);
  }
  std::set<std::string> lost_files;  // groups that lost files in this pass
  for (const auto& f : files) {
    const auto it = wanted.find(f.path);
    const std::optional<std::string> gid = it == wanted.end() ? std::nullopt : it->second.first;
    const bool superseded = it != wanted.end() && it->second.second;
    if (f.group_id && !computed.count(*f.group_id)) stale.insert(*f.group_id);
    if (db.assign_file(f.path, gid, superseded) && f.group_id && f.group_id != gid) {
      lost_files.insert(*f.group_id);
    }
  }
  for (const auto& id : stale) {
    const auto rec = db.group(id);
    if (!rec) continue;
    if (rec->state == GroupState::kConverting || rec->state == GroupState::kConverted) {
      if (lost_files.count(id)) {
        const auto warn = fmt::format(
            "the group was {} but its files now group differently (tolerance or files changed); "
            "kept for its products",
            state::to_string(rec->state));
        logging::group_logger(id)->warn("{}", warn);
        db.record_event(id, "index", EventLevel::kWarn, warn);
      }
      continue;
    }
    db.delete_group(id);
    ++summary.groups_removed;
    db.record_event(id, "index", EventLevel::kInfo,
                    fmt::format("group removed: its files were regrouped (it was {})",
                                state::to_string(rec->state)));
  }
  tx.commit();
}

}  // namespace contimg::grouping
