#pragma once
// The calibration-set registry (SPEC §5) in the state database: record a
// solved set, list sets, and choose the valid passed set nearest in time to
// a target MS.
#include <optional>
#include <string>
#include <vector>

#include "state/state_db.h"

namespace contimg::state {

struct CalsetRecord {
  std::string id;  // "<group_id>_<calibrator>", unique within its output tree
  std::string out_root;  // the output tree whose job made it; "" = before trees (seen by all)
  std::string group_id, ms_path, calibrator, refant;
  std::string bandpass_table, gain_table;
  double mid_time_s = 0, valid_from_s = 0, valid_to_s = 0;  // MJD s
  std::string status;                                       // passed | failed
  std::string grade;
  std::string reasons;
  std::string qa_json = "{}";
  std::string created_at;
};

// Inserts or replaces the set with this (id, out_root) (re-solving a group
// in the same tree replaces it).
void upsert_calset(StateDb& db, const CalsetRecord& r);
// `tree`: the output tree asking — its own set (or one made before trees,
// out_root "") first; another tree's when it has none. An id that only other
// trees hold, more than one of them, is refused as ambiguous (InputError
// naming the trees). list_calsets with a tree: that tree's and the pre-tree
// ones only.
std::optional<CalsetRecord> calset(StateDb& db, const std::string& id,
                                   const std::optional<std::string>& tree = std::nullopt);
std::vector<CalsetRecord> list_calsets(StateDb& db, const std::optional<std::string>& tree = std::nullopt);  // by mid time
// The set to apply at `time_s`: among the passed sets whose validity window
// holds it — the tree's own (and pre-tree) ones when it has any, else every
// tree's (the registry is shared: a calibrator solved in one tree calibrates
// another tree's group that has none) — calibration::choose_calset's choice
// (those within `near_s` first, then the best grade, then the nearest mid
// time); nullopt when none. The name is historical: the nearest set is no
// longer always the one chosen.
std::optional<CalsetRecord> nearest_valid_calset(StateDb& db, double time_s,
                                                 const std::optional<std::string>& tree = std::nullopt,
                                                 double near_s = 6 * 3600.0);

}  // namespace contimg::state
