#include "state/calsets.h"

#include <fmt/format.h>

#include "common/error.h"
#include "state/clock.h"

namespace contimg::state {
namespace {

constexpr const char* kColumns =
    "id, group_id, ms_path, calibrator, refant, bandpass_table, gain_table, mid_time_s, valid_from_s, "
    "valid_to_s, status, grade, reasons, qa_json, created_at, out_root";

// Rows a tree sees: its own and those made before trees (out_root '').
constexpr const char* kTreeFilter = "(CAST(?9 AS TEXT) IS NULL OR out_root = ?9 OR out_root = '')";

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
  r.out_root = st.get_text(15);
  return r;
}

}  // namespace

void upsert_calset(StateDb& db, const CalsetRecord& r) {
  db.database()
      .cached(std::string("INSERT INTO calsets (") + kColumns +
              ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
              "ON CONFLICT (id, out_root) DO UPDATE SET group_id = excluded.group_id, "
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
      .bind(16, r.out_root)
      .run();
}

std::optional<CalsetRecord> calset(StateDb& db, const std::string& id, const std::optional<std::string>& tree) {
  // The tree's own row first, then one made before trees, then the others.
  auto st = db.database().prepare(std::string("SELECT ") + kColumns +
                                  " FROM calsets WHERE id = ?1 ORDER BY out_root = ?9 DESC, out_root = '' DESC, "
                                  "out_root");
  st.bind(1, id);
  st.bind(9, tree);
  std::vector<CalsetRecord> found;
  while (st.step()) found.push_back(from_row(st));
  if (found.empty()) return std::nullopt;
  const auto& best = found.front();
  if (tree && (best.out_root == *tree || best.out_root.empty())) return best;
  if (found.size() > 1) {
    std::string trees;
    for (const auto& f : found) trees += (trees.empty() ? "" : ", ") + (f.out_root.empty() ? "(none)" : f.out_root);
    throw InputError(fmt::format(
        "calibration set {} exists in {} output trees ({}): name the tree (--out) to choose one", id,
        found.size(), trees));
  }
  return found.front();
}

std::vector<CalsetRecord> list_calsets(StateDb& db, const std::optional<std::string>& tree) {
  auto st = db.database().prepare(std::string("SELECT ") + kColumns + " FROM calsets WHERE " + kTreeFilter +
                                  " ORDER BY mid_time_s, id, out_root");
  st.bind(9, tree);
  std::vector<CalsetRecord> out;
  while (st.step()) out.push_back(from_row(st));
  return out;
}

std::vector<CalsetRecord> valid_calsets(StateDb& db, double time_s, const std::optional<std::string>& tree) {
  auto st = db.database().prepare(std::string("SELECT ") + kColumns +
                                  " FROM calsets WHERE status = 'passed' AND valid_from_s <= ?1 AND "
                                  "valid_to_s >= ?1 ORDER BY created_at DESC");
  st.bind(1, time_s);
  std::vector<CalsetRecord> own, all;
  while (st.step()) {
    all.push_back(from_row(st));
    if (!tree || all.back().out_root == *tree || all.back().out_root.empty()) own.push_back(all.back());
  }
  return own.empty() ? all : own;
}

void visit_passed_calsets_before(StateDb& db, double time_s,
                                 const std::function<bool(const CalsetRecord&)>& visit) {
  auto st = db.database().prepare(std::string("SELECT ") + kColumns +
                                  " FROM calsets WHERE status = 'passed' AND mid_time_s < ?1 "
                                  "ORDER BY mid_time_s DESC, id");
  st.bind(1, time_s);
  while (st.step()) {
    if (!visit(from_row(st))) break;
  }
}

}  // namespace contimg::state
