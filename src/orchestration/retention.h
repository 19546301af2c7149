#pragma once
// Retention (issue 12, docs/service.md "Retention"): products of processed
// groups removed a configured time after they were made. Off by default
// (0 = keep forever). The orchestrator owns products, so removal goes through
// here: the path is renamed to a temporary name (atomic; a kill leaves a
// temporary the next sweep removes, never a half-deleted product at its final
// path), removed, then its product row is forgotten and an event recorded.
// A product whose row outlives its files (a kill between the two) is simply
// missing: the orchestrator re-makes it when a run needs it.
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "state/jobs.h"

namespace contimg::config {
class Config;
}
namespace contimg::state {
class StateDb;
}

namespace contimg::orchestration {

struct RetentionPolicy {
  double ms_hours = 0;             // a processed group's MS; 0 = keep
  double images_hours = 0;         // its images (FITS, quick-look); 0 = keep
  bool keep_calibrator_ms = true;  // the MS of a transit whose set is registered
  static RetentionPolicy from_config(const config::Config& c);
  bool any() const { return ms_hours > 0 || images_hours > 0; }
};

// Pure: the products of `candidates` that the policy removes at `now_unix_s`:
// under `out_root`, made (created_at) longer ago than the kind's limit, of a
// group in `processed_groups`, and not in `protected_paths`.
std::vector<state::ProductRecord> expired_products(
    const std::vector<state::ProductRecord>& candidates, const RetentionPolicy& policy,
    double now_unix_s, const std::filesystem::path& out_root,
    const std::set<std::string>& processed_groups, const std::set<std::string>& protected_paths);

struct RetentionReport {
  int removed = 0;
  std::uintmax_t bytes_freed = 0;
  std::vector<std::string> errors;  // paths that could not be removed, with why
};

// Applies the policy to the products of `out_root` in `db`. `dry_run`: counts
// what would go and removes nothing.
RetentionReport apply_retention(state::StateDb& db, const RetentionPolicy& policy,
                                double now_unix_s, const std::filesystem::path& out_root,
                                bool dry_run = false);

// "2025-01-01T06:00:00.123Z" (state::now_iso) as Unix seconds; NaN when unparsable.
double iso_to_unix(const std::string& iso);

}  // namespace contimg::orchestration
