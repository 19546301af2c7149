#include "state/validation_records.h"

#include <nlohmann/json.hpp>

#include "state/clock.h"

namespace contimg::state {

void save_validation(Database& db, const ValidationRecord& v, const std::vector<DetectionRow>& dets) {
  Transaction tx(db);
  // The cascade removes the previous run's detections.
  db.cached("DELETE FROM validations WHERE group_id = ?1").bind(1, v.group_id).run();
  db.cached(
        "INSERT INTO validations (group_id, image_path, reference, verdict, reasons, metrics, n_detections, "
        "catalogue_fits, catalogue_csv, report_html, validated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")
      .bind(1, v.group_id)
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
      .run();
  auto& st = db.cached(
      "INSERT INTO detections (group_id, idx, island, component, ra_deg, dec_deg, ra_err_arcsec, dec_err_arcsec, "
      "peak_jy, peak_err_jy, flux_jy, flux_err_jy, major_arcsec, minor_arcsec, pa_deg, snr, image_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
      "(SELECT image_id FROM images WHERE group_id = ?1))");
  for (std::size_t i = 0; i < dets.size(); ++i) {
    const auto& d = dets[i];
    st.reset();
    st.bind(1, v.group_id).bind(2, static_cast<std::int64_t>(i)).bind(3, d.island).bind(4, d.component)
        .bind(5, d.ra_deg).bind(6, d.dec_deg).bind(7, d.ra_err_arcsec).bind(8, d.dec_err_arcsec)
        .bind(9, d.peak_jy).bind(10, d.peak_err_jy).bind(11, d.flux_jy).bind(12, d.flux_err_jy)
        .bind(13, d.major_arcsec).bind(14, d.minor_arcsec).bind(15, d.pa_deg).bind(16, d.snr);
    st.run();
  }
  tx.commit();
}

std::optional<ValidationRecord> load_validation(Database& db, const std::string& group_id) {
  auto& st = db.cached(
      "SELECT image_path, reference, verdict, reasons, metrics, n_detections, catalogue_fits, catalogue_csv, "
      "report_html, validated_at FROM validations WHERE group_id = ?1");
  st.bind(1, group_id);
  if (!st.step()) return std::nullopt;
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
  st.reset();
  return v;
}

std::vector<DetectionRow> load_detections(Database& db, const std::string& group_id) {
  auto& st = db.cached(
      "SELECT island, component, ra_deg, dec_deg, ra_err_arcsec, dec_err_arcsec, peak_jy, peak_err_jy, flux_jy, "
      "flux_err_jy, major_arcsec, minor_arcsec, pa_deg, snr FROM detections WHERE group_id = ?1 ORDER BY idx");
  st.bind(1, group_id);
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
