#pragma once
// The calibration-set registry (SPEC §5) in the state database: record a
// solved set, list sets, and choose the valid passed set nearest in time to
// a target MS.
#include <functional>
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
// The passed sets whose validity window holds `time_s` — the tree's own (and
// pre-tree) ones when it has any, else every tree's (the registry is shared:
// a calibrator solved in one tree calibrates another tree's group that has
// none). Which of them is applied is calibration's rule
// (calibration::choose_applicable).
std::vector<CalsetRecord> valid_calsets(StateDb& db, double time_s,
                                        const std::optional<std::string>& tree = std::nullopt);
// Calls `visit` with the passed sets of every tree whose mid time precedes
// `time_s`, newest first, until it returns false (rows are read as visited).
void visit_passed_calsets_before(StateDb& db, double time_s,
                                 const std::function<bool(const CalsetRecord&)>& visit);

}  // namespace contimg::state
