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
  std::string id;  // "<group_id>_<calibrator>"
  std::string group_id, ms_path, calibrator, refant;
  std::string bandpass_table, gain_table;
  double mid_time_s = 0, valid_from_s = 0, valid_to_s = 0;  // MJD s
  std::string status;                                       // passed | failed
  std::string grade;
  std::string reasons;
  std::string qa_json = "{}";
  std::string created_at;
};

// Inserts or replaces the set with this id (re-solving a group replaces it).
void upsert_calset(StateDb& db, const CalsetRecord& r);
std::optional<CalsetRecord> calset(StateDb& db, const std::string& id);
std::vector<CalsetRecord> list_calsets(StateDb& db);  // by mid time
// The set to apply at `time_s`: among the passed sets whose validity window
// holds it, calibration::choose_calset's choice (those within `near_s` first,
// then the best grade, then the nearest mid time); nullopt when none. The
// name is historical: the nearest set is no longer always the one chosen.
std::optional<CalsetRecord> nearest_valid_calset(StateDb& db, double time_s,
                                                 double near_s = 6 * 3600.0);

}  // namespace contimg::state
