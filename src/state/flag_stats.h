#pragma once
// Repository of the flagging tables (schema: flag_runs, flag_stats; see
// docs/flagging.md). A run is keyed by the MS path: recording a run again
// replaces it and its statistics in one transaction (no duplicate rows).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "state/sqlite.h"

namespace contimg::state {

struct FlagStatRow {
  std::string axis;  // antenna | spw | channel | time
  int idx = 0;
  std::string label;
  std::int64_t samples = 0;
  double flagged_before = 0;  // fractions
  double flagged_after = 0;
};

struct FlagRunRecord {
  std::string ms_path;
  std::optional<std::string> group_id;
  std::string strategy;
  std::string strategy_hash;
  std::int64_t samples = 0;
  double flagged_before = 0;
  double flagged_after = 0;
  std::vector<std::string> dead_antennas;
  double seconds = 0;
  std::string finished_at;  // set by record_flag_run
};

// Replaces the run of rec.ms_path and its statistics.
void record_flag_run(Database& db, const FlagRunRecord& rec, const std::vector<FlagStatRow>& stats);
std::optional<FlagRunRecord> flag_run(Database& db, const std::string& ms_path);
std::vector<FlagStatRow> flag_stats(Database& db, const std::string& ms_path);

}  // namespace contimg::state
