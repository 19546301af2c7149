#include "state/validation_records.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "state/clock.h"

namespace contimg::state {

namespace {
// The row a tree sees: its own, else one made before trees ('').
constexpr const char* kPick =
    "FROM validations WHERE group_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR out_root = ?2 OR out_root = '') "
    "ORDER BY (CAST(?2 AS TEXT) IS NOT NULL AND out_root = ''), validated_at DESC LIMIT 1";
}  // namespace

void save_validation(Database& db, const ValidationRecord& v, const std::vector<DetectionRow>& dets) {
  Transaction tx(db);
  // The cascade removes the previous run's detections.
  db.cached("DELETE FROM validations WHERE group_id = ?1 AND out_root = ?2").bind(1, v.group_id).bind(2, v.out_root).run();
  // RETURNING (SQLite 3.35+, PostgreSQL): the new row's id on both backends.
  auto& ins = db.cached(
        "INSERT INTO validations (group_id, image_path, reference, verdict, reasons, metrics, n_detections, "
        "catalogue_fits, catalogue_csv, report_html, validated_at, out_root) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
        "?9, ?10, ?11, ?12) RETURNING validation_id");
  ins.bind(1, v.group_id)
      .bind(2, v.image_path)
      .bind(3, v.reference)
      .bind(4, v.verdict)
      .bind(5, nlohmann::json(v.reasons).dump())
      .bind(6, v.metrics_json)
      .bind(7, v.n_detections)
      .bind(8, v.catalogue_fits)
      .bind(9, v.catalogue_csv)
      .bind(10, v.report_html)
      .bind(11, now_iso())
      .bind(12, v.out_root);
  if (!ins.step()) throw IoError("state db " + db.path().string() + ": no id for the new validation");
  const std::int64_t validation_id = ins.get_int(0);
  ins.reset();
  auto& st = db.cached(
      "INSERT INTO detections (validation_id, group_id, idx, island, component, ra_deg, dec_deg, ra_err_arcsec, "
      "dec_err_arcsec, peak_jy, peak_err_jy, flux_jy, flux_err_jy, major_arcsec, minor_arcsec, pa_deg, snr, image_id) "
      "VALUES (?17, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
      "(SELECT image_id FROM images WHERE group_id = ?1 AND out_root = ?18))");
  for (std::size_t i = 0; i < dets.size(); ++i) {
    const auto& d = dets[i];
    st.reset();
    st.bind(1, v.group_id).bind(2, static_cast<std::int64_t>(i)).bind(3, d.island).bind(4, d.component)
        .bind(5, d.ra_deg).bind(6, d.dec_deg).bind(7, d.ra_err_arcsec).bind(8, d.dec_err_arcsec)
        .bind(9, d.peak_jy).bind(10, d.peak_err_jy).bind(11, d.flux_jy).bind(12, d.flux_err_jy)
        .bind(13, d.major_arcsec).bind(14, d.minor_arcsec).bind(15, d.pa_deg).bind(16, d.snr)
        .bind(17, validation_id).bind(18, v.out_root);
    st.run();
  }
  tx.commit();
}

std::optional<ValidationRecord> load_validation(Database& db, const std::string& group_id,
                                                const std::optional<std::string>& tree) {
  auto& st = db.cached(std::string(
      "SELECT image_path, reference, verdict, reasons, metrics, n_detections, catalogue_fits, catalogue_csv, "
      "report_html, validated_at, out_root ") + kPick);
  st.bind(1, group_id).bind(2, tree);
  if (!st.step()) {
    st.reset();
    return std::nullopt;
  }
  ValidationRecord v;
  v.group_id = group_id;
  v.image_path = st.get_text(0);
  v.reference = st.get_text(1);
  v.verdict = st.get_text(2);
  v.reasons = nlohmann::json::parse(st.get_text(3)).get<std::vector<std::string>>();
  v.metrics_json = st.get_text(4);
  v.n_detections = static_cast<int>(st.get_int(5));
  v.catalogue_fits = st.get_opt_text(6).value_or("");
  v.catalogue_csv = st.get_opt_text(7).value_or("");
  v.report_html = st.get_opt_text(8).value_or("");
  v.validated_at = st.get_text(9);
  v.out_root = st.get_text(10);
  st.reset();
  return v;
}

std::vector<DetectionRow> load_detections(Database& db, const std::string& group_id,
                                          const std::optional<std::string>& tree) {
  auto& st = db.cached(
      "SELECT island, component, ra_deg, dec_deg, ra_err_arcsec, dec_err_arcsec, peak_jy, peak_err_jy, flux_jy, "
      "flux_err_jy, major_arcsec, minor_arcsec, pa_deg, snr FROM detections WHERE validation_id = "
      "(SELECT validation_id " + std::string(kPick) + ") ORDER BY idx");
  st.bind(1, group_id).bind(2, tree);
  std::vector<DetectionRow> out;
  while (st.step()) {
    DetectionRow d;
    d.island = static_cast<int>(st.get_int(0));
    d.component = static_cast<int>(st.get_int(1));
    d.ra_deg = st.get_double(2);
    d.dec_deg = st.get_double(3);
    d.ra_err_arcsec = st.get_double(4);
    d.dec_err_arcsec = st.get_double(5);
    d.peak_jy = st.get_double(6);
    d.peak_err_jy = st.get_double(7);
    d.flux_jy = st.get_double(8);
    d.flux_err_jy = st.get_double(9);
    d.major_arcsec = st.get_double(10);
    d.minor_arcsec = st.get_double(11);
    d.pa_deg = st.get_double(12);
    d.snr = st.get_double(13);
    out.push_back(d);
  }
  st.reset();
  return out;
}

}  // namespace contimg::state
