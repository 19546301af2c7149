#include "grouping/group_selection.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "grouping/grouping.h"
#include "grouping/indexer.h"

namespace contimg::grouping {
namespace fs = std::filesystem;
using state::FileRecord;
using state::FileState;

namespace {

IndexOptions index_options(const GroupingSettings& settings, const uvh5::CacheProfiles& profiles,
                           const std::function<void()>& check_interrupt) {
  IndexOptions io;
  io.tolerance_s = settings.tolerance_s;
  io.expected_subbands = settings.expected_subbands;
  io.pointing_tolerance_deg = settings.pointing_tolerance_deg;
  io.profiles = profiles;
  io.check_interrupt = check_interrupt;
  return io;
}

// Stored paths are absolute and lexically normal (scan_directory); so is the
// scope, without a trailing separator.
fs::path normal_dir(const fs::path& dir) {
  fs::path d = fs::absolute(dir).lexically_normal();
  if (!d.has_filename() && d.has_parent_path() && d != d.root_path()) d = d.parent_path();
  return d;
}

bool is_under(const fs::path& file, const fs::path& dir, bool recursive) {
  const fs::path parent = file.parent_path();
  if (parent == dir) return true;
  if (!recursive) return false;
  auto [d, f] = std::mismatch(dir.begin(), dir.end(), parent.begin(), parent.end());
  return d == dir.end();
}

// The one rule applied to some of a stored group's files: they lie within one
// window, so they form exactly one group (or none when there are none).
struct Regrouped {
  std::vector<GroupInput> inputs;
  std::vector<Group> groups;
};

Regrouped apply_rule(const std::vector<FileRecord>& files, const GroupingSettings& settings) {
  Regrouped r;
  for (const auto& f : files) {
    if (f.state != FileState::kIndexed || !f.name_time || !f.name_epoch || !f.subband) continue;
    r.inputs.push_back({f.path, SubbandName{*f.name_time, *f.name_epoch, *f.subband}, f.mtime_ns,
                        f.pointing_dec_rad});
  }
  r.groups = group_files(r.inputs, settings.tolerance_s, settings.expected_subbands,
                         settings.pointing_tolerance_deg);
  return r;
}

// Drops the vanished files recorded for [first, last] and re-peeks the changed
// ones in scope, so that what is chosen next exists as recorded.
void refresh_range(state::StateDb& db, std::int64_t first, std::int64_t last,
                   const GroupingSettings& settings, const std::function<bool(const fs::path&)>& in_scope) {
  std::vector<FileRecord> gone;
  std::vector<fs::path> changed;
  for (auto& f : db.files_in_range(first, last)) {
    switch (check_on_disk(f)) {
      case OnDisk::kVanished: gone.push_back(std::move(f)); break;
      case OnDisk::kChanged:
        if (in_scope(f.path)) changed.emplace_back(f.path);
        break;
      case OnDisk::kUnchanged:
      case OnDisk::kUnreadable: break;  // the converter reports an unreadable file
    }
  }
  if (gone.empty() && changed.empty()) return;
  const auto io = index_options(settings, {}, {});
  IndexSummary s;
  forget_files(db, gone, io, s);
  if (!changed.empty()) index_files(db, changed, io);
  spdlog::info("select: {} vanished file(s) dropped from the index, {} changed file(s) peeked again",
               s.removed, changed.size());
}

}  // namespace

void index_directory(state::StateDb& db, const std::filesystem::path& input_dir,
                     const GroupingSettings& settings, const uvh5::CacheProfiles& profiles,
                     const std::function<void()>& check_interrupt) {
  const auto io = index_options(settings, profiles, check_interrupt);
  const fs::path dir = normal_dir(input_dir);
  const auto files = scan_directory(dir, false);
  IndexSummary pruned;
  forget_vanished(db, dir, io, pruned);
  const auto idx = index_files(db, files, io);
  spdlog::info("indexed {}: {} files ({} new or changed, {} invalid){}", input_dir.string(),
               idx.scanned, idx.indexed, idx.invalid_total,
               pruned.removed ? fmt::format("; {} vanished file(s) dropped", pruned.removed) : "");
}

std::vector<SelectedGroup> select_groups(state::StateDb& db, std::int64_t first, std::int64_t last,
                                         const GroupingSettings& settings, bool allow_incomplete,
                                         const std::filesystem::path& scope_dir, bool recursive) {
  const bool scoped = !scope_dir.empty();
  const fs::path scope = scoped ? normal_dir(scope_dir) : fs::path();
  auto in_scope = [&](const fs::path& p) { return !scoped || is_under(p, scope, recursive); };
  // A group's files lie within the tolerance of its id.
  const auto tol = static_cast<std::int64_t>(std::ceil(settings.tolerance_s));
  refresh_range(db, first - tol, last + tol, settings, in_scope);

  std::vector<SelectedGroup> out;
  for (const auto& g : db.groups_in_range(first, last)) {
    std::vector<FileRecord> candidates;
    for (auto& f : db.files_of_group(g.group_id)) {
      if (in_scope(f.path)) candidates.push_back(std::move(f));
    }
    // Another directory's group, or one kept for its products whose files are
    // all gone: nothing of it to process here.
    if (candidates.empty()) continue;
    SelectedGroup s;
    s.group = g;
    const auto r = apply_rule(candidates, settings);
    std::uint32_t mask = 0;
    if (!r.groups.empty()) {
      // One window, so one group; should a stale assignment ever give more,
      // the first (the one holding the stored id's files) is the group.
      const Group& rg = r.groups.front();
      for (std::size_t m : rg.members) {
        const auto& in = r.inputs[m];
        s.subband_files.emplace_back(in.name.subband, in.path);
      }
      s.present = rg.present;
      mask = rg.subband_mask;
      for (const auto& e : rg.excluded) {
        s.notes.push_back(e.reason);
        spdlog::warn("{}: {}", g.group_id, e.reason);
      }
    }
    s.missing = missing_subbands(mask, settings.expected_subbands);
    const int n = static_cast<int>(s.present.size());
    const bool complete = s.missing.empty();
    std::string invalid;
    if (!complete) {
      // A missing subband whose file exists but is invalid is named with its error.
      std::map<int, std::string> invalid_by_subband;
      for (const auto& f : db.files_in_range(g.first_file_epoch - tol, g.first_file_epoch + tol)) {
        if (f.state == FileState::kInvalid && f.subband && !(mask >> *f.subband & 1u) &&
            in_scope(f.path)) {
          invalid += (invalid.empty() ? "" : "; ") + f.error;
          auto& e = invalid_by_subband[*f.subband];
          e += (e.empty() ? "" : "; ") + f.error;
        }
      }
      for (int k : s.missing) {
        auto it = invalid_by_subband.find(k);
        s.missing_reasons.emplace_back(k, it == invalid_by_subband.end() ? "no file"
                                                                          : "invalid: " + it->second);
      }
    }
    const bool too_few = !complete && (!allow_incomplete || n < settings.min_subbands);
    if (too_few) {
      if (!invalid.empty()) {
        s.decision = SelectedGroup::Decision::kFailInvalid;
        s.reason = "invalid input: " + invalid;
      } else {
        s.decision = SelectedGroup::Decision::kSkipIncomplete;
        // Suggest --allow-incomplete only where it would convert the group.
        std::string hint;
        if (n < settings.min_subbands) {
          hint = fmt::format("; fewer than the minimum of {} (grouping.min_subbands){}",
                             settings.min_subbands,
                             allow_incomplete ? "" : ", so --allow-incomplete would not convert it either");
        } else {
          hint = " (use --allow-incomplete)";
        }
        s.reason = fmt::format("incomplete: {}/{} subbands, missing {}{}", n,
                               settings.expected_subbands, format_subbands(s.missing), hint);
        for (const auto& note : s.notes) s.reason += "; " + note;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> excluded_reasons(state::StateDb& db, const std::string& group_id,
                                          const GroupingSettings& settings) {
  std::vector<std::string> out;
  const auto r = apply_rule(db.files_of_group(group_id), settings);
  for (const auto& g : r.groups) {
    for (const auto& e : g.excluded) out.push_back(e.reason);
  }
  return out;
}

}  // namespace contimg::grouping
