#include "state/flag_stats.h"

#include <nlohmann/json.hpp>

#include "state/clock.h"

namespace contimg::state {

void record_flag_run(Database& db, const FlagRunRecord& rec, const std::vector<FlagStatRow>& stats) {
  Transaction tx(db);
  {
    auto del = db.prepare("DELETE FROM flag_runs WHERE ms_path = ?1");  // cascades to flag_stats
    del.bind(1, rec.ms_path);
    del.run();
  }
  auto ins = db.prepare(
      "INSERT INTO flag_runs (ms_path, group_id, strategy, strategy_hash, samples, flagged_before, "
      "flagged_after, dead_antennas, seconds, finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  ins.bind(1, rec.ms_path)
      .bind(2, rec.group_id)
      .bind(3, rec.strategy)
      .bind(4, rec.strategy_hash)
      .bind(5, rec.samples)
      .bind(6, rec.flagged_before)
      .bind(7, rec.flagged_after)
      .bind(8, nlohmann::json(rec.dead_antennas).dump())
      .bind(9, rec.seconds)
      .bind(10, now_iso());
  ins.run();
  auto st = db.prepare(
      "INSERT INTO flag_stats (ms_path, axis, idx, label, samples, flagged_before, flagged_after) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  for (const auto& s : stats) {
    st.reset();
    st.bind(1, rec.ms_path).bind(2, s.axis).bind(3, s.idx).bind(4, s.label).bind(5, s.samples);
    st.bind(6, s.flagged_before).bind(7, s.flagged_after);
    st.run();
  }
  tx.commit();
}

std::optional<FlagRunRecord> flag_run(Database& db, const std::string& ms_path) {
  auto st = db.prepare(
      "SELECT ms_path, group_id, strategy, strategy_hash, samples, flagged_before, flagged_after, "
      "dead_antennas, seconds, finished_at FROM flag_runs WHERE ms_path = ?1");
  st.bind(1, ms_path);
  if (!st.step()) return std::nullopt;
  FlagRunRecord r;
  r.ms_path = st.get_text(0);
  r.group_id = st.get_opt_text(1);
  r.strategy = st.get_text(2);
  r.strategy_hash = st.get_text(3);
  r.samples = st.get_int(4);
  r.flagged_before = st.get_double(5);
  r.flagged_after = st.get_double(6);
  r.dead_antennas = nlohmann::json::parse(st.get_text(7)).get<std::vector<std::string>>();
  r.seconds = st.get_double(8);
  r.finished_at = st.get_text(9);
  return r;
}

std::vector<FlagStatRow> flag_stats(Database& db, const std::string& ms_path) {
  auto st = db.prepare(
      "SELECT axis, idx, label, samples, flagged_before, flagged_after FROM flag_stats "
      "WHERE ms_path = ?1 ORDER BY axis, idx");
  st.bind(1, ms_path);
  std::vector<FlagStatRow> out;
  while (st.step()) {
    out.push_back({st.get_text(0), static_cast<int>(st.get_int(1)), st.get_text(2), st.get_int(3),
                   st.get_double(4), st.get_double(5)});
  }
  return out;
}

}  // namespace contimg::state
