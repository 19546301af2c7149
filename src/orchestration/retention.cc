#include "orchestration/retention.h"

#include <cmath>
#include <ctime>
#include <limits>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/interrupts.h"
#include "config/config.h"
#include "state/calsets.h"
#include "state/state_db.h"

namespace contimg::orchestration {
namespace fs = std::filesystem;

RetentionPolicy RetentionPolicy::from_config(const config::Config& c) {
  RetentionPolicy p;
  p.ms_hours = c.get_double("retention.ms_hours");
  p.images_hours = c.get_double("retention.images_hours");
  p.keep_calibrator_ms = c.get_bool("retention.keep_calibrator_ms");
  return p;
}

double iso_to_unix(const std::string& iso) {
  std::tm tm{};
  double frac = 0;
  int y, mo, d, h, mi;
  double sec;
  if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%lf", &y, &mo, &d, &h, &mi, &sec) != 6)
    return std::numeric_limits<double>::quiet_NaN();
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = static_cast<int>(sec);
  frac = sec - tm.tm_sec;
  return static_cast<double>(timegm(&tm)) + frac;
}

namespace {

bool under(const fs::path& p, const fs::path& root) {
  const auto rel = p.lexically_normal().lexically_relative(root.lexically_normal());
  return !rel.empty() && *rel.begin() != "..";
}

double limit_hours(const std::string& kind, const RetentionPolicy& p) {
  if (kind == "ms") return p.ms_hours;
  if (kind == "image" || kind == "quicklook") return p.images_hours;
  return 0;  // caltables, catalogues, reports: small, kept
}

std::uintmax_t size_of(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return fs::file_size(p, ec);
  std::uintmax_t n = 0;
  for (fs::recursive_directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) n += it->file_size(ec);
  }
  return n;
}

}  // namespace

std::vector<state::ProductRecord> expired_products(
    const std::vector<state::ProductRecord>& candidates, const RetentionPolicy& policy,
    double now_unix_s, const fs::path& out_root, const std::set<std::string>& processed_groups,
    const std::set<std::string>& protected_paths) {
  std::vector<state::ProductRecord> out;
  for (const auto& p : candidates) {
    const double hours = limit_hours(p.kind, policy);
    if (hours <= 0) continue;
    if (!under(p.path, out_root) || !processed_groups.count(p.group_id) ||
        protected_paths.count(p.path))
      continue;
    const double made = iso_to_unix(p.created_at);
    if (std::isnan(made) || now_unix_s - made < hours * 3600.0) continue;
    out.push_back(p);
  }
  return out;
}

RetentionReport apply_retention(state::StateDb& db, const RetentionPolicy& policy,
                                double now_unix_s, const fs::path& out_root, bool dry_run) {
  RetentionReport r;
  if (!policy.any()) return r;
  state::JobStore jobs(db.database());
  std::vector<state::ProductRecord> candidates;
  for (const char* kind : {"ms", "image", "quicklook"}) {
    auto v = jobs.products_of_kind(kind);
    candidates.insert(candidates.end(), v.begin(), v.end());
  }
  std::set<std::string> processed, keep;
  for (const auto& p : candidates) {
    if (processed.count(p.group_id)) continue;
    const auto g = db.group(p.group_id);
    if (g && g->state == state::GroupState::kProcessed) processed.insert(p.group_id);
  }
  if (policy.keep_calibrator_ms) {
    // A registered set names its MS (CASA's caltables do too: MSName); re-solving needs it.
    for (const auto& c : state::list_calsets(db))
      keep.insert(fs::absolute(c.ms_path).lexically_normal().string());
  }
  for (const auto& p :
       expired_products(candidates, policy, now_unix_s, out_root, processed, keep)) {
    const fs::path path(p.path);
    std::error_code ec;
    const bool exists = fs::exists(path, ec);
    const auto bytes = exists ? size_of(path) : 0;
    if (dry_run) {
      ++r.removed;
      r.bytes_freed += bytes;
      continue;
    }
    if (exists) {
      // Renamed first: the final path never holds a half-removed product.
      const fs::path doomed = temp_path_in(path.parent_path(), "retention");
      fs::rename(path, doomed, ec);
      if (!ec) fs::remove_all(doomed, ec);
      if (ec) {
        r.errors.push_back(fmt::format("{}: {}", p.path, ec.message()));
        continue;
      }
    }
    auto tx = db.transaction();
    jobs.forget_product(p.path);
    db.record_event(p.group_id, "retention", state::EventLevel::kInfo,
                    fmt::format("removed {} {} ({:.1f} MB), older than retention.{}_hours", p.kind,
                                p.path, bytes / 1e6, p.kind == "ms" ? "ms" : "images"));
    tx.commit();
    ++r.removed;
    r.bytes_freed += bytes;
  }
  return r;
}

}  // namespace contimg::orchestration
