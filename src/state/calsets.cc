#include "state/calsets.h"

#include "calibration/calset_history.h"
#include "state/clock.h"

namespace contimg::state {
namespace {

constexpr const char* kColumns =
    "id, group_id, ms_path, calibrator, refant, bandpass_table, gain_table, mid_time_s, "
    "valid_from_s, "
    "valid_to_s, status, grade, reasons, qa_json, created_at";

CalsetRecord from_row(const Statement& st) {
  CalsetRecord r;
  r.id = st.get_text(0);
  r.group_id = st.get_text(1);
  r.ms_path = st.get_text(2);
  r.calibrator = st.get_text(3);
  r.refant = st.get_opt_text(4).value_or("");
  r.bandpass_table = st.get_text(5);
  r.gain_table = st.get_text(6);
  r.mid_time_s = st.get_double(7);
  r.valid_from_s = st.get_double(8);
  r.valid_to_s = st.get_double(9);
  r.status = st.get_text(10);
  r.grade = st.get_text(11);
  r.reasons = st.get_text(12);
  r.qa_json = st.get_text(13);
  r.created_at = st.get_text(14);
  return r;
}

}  // namespace

void upsert_calset(StateDb& db, const CalsetRecord& r) {
  db.database()
      .cached(std::string("INSERT INTO calsets (") + kColumns +
              ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
              "ON CONFLICT (id) DO UPDATE SET group_id = excluded.group_id, "
              "ms_path = excluded.ms_path, calibrator = excluded.calibrator, "
              "refant = excluded.refant, bandpass_table = excluded.bandpass_table, "
              "gain_table = excluded.gain_table, mid_time_s = excluded.mid_time_s, "
              "valid_from_s = excluded.valid_from_s, valid_to_s = excluded.valid_to_s, "
              "status = excluded.status, grade = excluded.grade, reasons = excluded.reasons, "
              "qa_json = excluded.qa_json, created_at = excluded.created_at")
      .bind(1, r.id)
      .bind(2, r.group_id)
      .bind(3, r.ms_path)
      .bind(4, r.calibrator)
      .bind(5, r.refant)
      .bind(6, r.bandpass_table)
      .bind(7, r.gain_table)
      .bind(8, r.mid_time_s)
      .bind(9, r.valid_from_s)
      .bind(10, r.valid_to_s)
      .bind(11, r.status)
      .bind(12, r.grade)
      .bind(13, r.reasons)
      .bind(14, r.qa_json)
      .bind(15, r.created_at.empty() ? now_iso() : r.created_at)
      .run();
}

std::optional<CalsetRecord> calset(StateDb& db, const std::string& id) {
  auto st =
      db.database().prepare(std::string("SELECT ") + kColumns + " FROM calsets WHERE id = ?1");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return from_row(st);
}

std::vector<CalsetRecord> list_calsets(StateDb& db) {
  auto st = db.database().prepare(std::string("SELECT ") + kColumns +
                                  " FROM calsets ORDER BY mid_time_s, id");
  std::vector<CalsetRecord> out;
  while (st.step()) out.push_back(from_row(st));
  return out;
}

std::optional<CalsetRecord> nearest_valid_calset(StateDb& db, double time_s, double near_s) {
  // The rule is calibration::choose_calset (quality first, then time); this
  // adapter only feeds it the passed sets whose window holds the time.
  auto st =
      db.database().prepare(std::string("SELECT ") + kColumns +
                            " FROM calsets WHERE status = 'passed' AND valid_from_s <= ?1 AND "
                            "valid_to_s >= ?1 ORDER BY created_at DESC");
  st.bind(1, time_s);
  std::vector<CalsetRecord> sets;
  while (st.step()) sets.push_back(from_row(st));
  std::vector<calibration::CalsetCandidate> candidates;
  for (const auto& r : sets) {
    candidates.push_back({r.id, r.mid_time_s, r.valid_from_s, r.valid_to_s, r.status, r.grade});
  }
  const auto i = calibration::choose_calset(candidates, time_s, near_s);
  if (!i) return std::nullopt;
  return sets[*i];
}

}  // namespace contimg::state
