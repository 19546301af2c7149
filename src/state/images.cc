#include "state/images.h"

#include "state/clock.h"
#include "state/sqlite.h"
#include "state/state_db.h"

namespace contimg::state {

void upsert_image(StateDb& db, const ImageRecord& r) {
  Statement st(db.database(), R"sql(
    INSERT INTO images (group_id, ms_path, data_column, image_path, pbcor_path, centre_ra_deg, centre_dec_deg,
                        freq_hz, cell_arcsec, size_px, rms_jy, peak_jy, dynamic_range, bmaj_arcsec, bmin_arcsec,
                        bpa_deg, seconds_rephase, seconds_wsclean, seconds_total, contimg_version, imaged_at, calset_id, out_root)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)
    ON CONFLICT (group_id, out_root) DO UPDATE SET
      ms_path = excluded.ms_path, data_column = excluded.data_column, image_path = excluded.image_path,
      pbcor_path = excluded.pbcor_path, centre_ra_deg = excluded.centre_ra_deg,
      centre_dec_deg = excluded.centre_dec_deg, freq_hz = excluded.freq_hz, cell_arcsec = excluded.cell_arcsec,
      size_px = excluded.size_px, rms_jy = excluded.rms_jy, peak_jy = excluded.peak_jy,
      dynamic_range = excluded.dynamic_range, bmaj_arcsec = excluded.bmaj_arcsec,
      bmin_arcsec = excluded.bmin_arcsec, bpa_deg = excluded.bpa_deg, seconds_rephase = excluded.seconds_rephase,
      seconds_wsclean = excluded.seconds_wsclean, seconds_total = excluded.seconds_total,
      contimg_version = excluded.contimg_version, imaged_at = excluded.imaged_at,
      calset_id = excluded.calset_id)sql");
  st.bind(1, r.group_id).bind(2, r.ms_path).bind(3, r.data_column).bind(4, r.image_path).bind(5, r.pbcor_path);
  st.bind(6, r.centre_ra_deg).bind(7, r.centre_dec_deg).bind(8, r.freq_hz).bind(9, r.cell_arcsec);
  st.bind(10, static_cast<std::int64_t>(r.size_px)).bind(11, r.rms_jy).bind(12, r.peak_jy).bind(13, r.dynamic_range);
  st.bind(14, r.bmaj_arcsec).bind(15, r.bmin_arcsec).bind(16, r.bpa_deg);
  st.bind(17, r.seconds_rephase).bind(18, r.seconds_wsclean).bind(19, r.seconds_total);
  st.bind(20, r.contimg_version).bind(21, now_iso()).bind(22, r.calset_id).bind(23, r.out_root);
  st.run();
}

std::optional<ImageRecord> image_record(StateDb& db, const std::string& group_id,
                                        const std::optional<std::string>& tree) {
  Statement st(db.database(), R"sql(
    SELECT group_id, ms_path, data_column, image_path, pbcor_path, centre_ra_deg, centre_dec_deg, freq_hz,
           cell_arcsec, size_px, rms_jy, peak_jy, dynamic_range, bmaj_arcsec, bmin_arcsec, bpa_deg,
           seconds_rephase, seconds_wsclean, seconds_total, contimg_version, imaged_at, calset_id, out_root
    FROM images WHERE group_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR out_root = ?2 OR out_root = '')
    ORDER BY (CAST(?2 AS TEXT) IS NOT NULL AND out_root = ''), imaged_at DESC LIMIT 1)sql");
  st.bind(1, group_id).bind(2, tree);
  if (!st.step()) return std::nullopt;
  ImageRecord r;
  r.group_id = st.get_text(0);
  r.ms_path = st.get_text(1);
  r.data_column = st.get_text(2);
  r.image_path = st.get_text(3);
  r.pbcor_path = st.get_text(4);
  r.centre_ra_deg = st.get_double(5);
  r.centre_dec_deg = st.get_double(6);
  r.freq_hz = st.get_opt_double(7);
  r.cell_arcsec = st.get_double(8);
  r.size_px = static_cast<long>(st.get_int(9));
  r.rms_jy = st.get_double(10);
  r.peak_jy = st.get_double(11);
  r.dynamic_range = st.get_double(12);
  r.bmaj_arcsec = st.get_opt_double(13);
  r.bmin_arcsec = st.get_opt_double(14);
  r.bpa_deg = st.get_opt_double(15);
  r.seconds_rephase = st.get_opt_double(16);
  r.seconds_wsclean = st.get_opt_double(17);
  r.seconds_total = st.get_opt_double(18);
  r.contimg_version = st.get_text(19);
  r.imaged_at = st.get_text(20);
  r.calset_id = st.get_text(21);
  r.out_root = st.get_text(22);
  return r;
}

std::vector<std::string> imaged_groups_in_range(StateDb& db, const std::string& first, const std::string& last) {
  Statement st(db.database(), R"sql(
    SELECT DISTINCT group_id FROM images
    WHERE kind = 'group' AND group_id BETWEEN ?1 AND ?2 ORDER BY group_id)sql");
  st.bind(1, first).bind(2, last);
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.get_text(0));
  return out;
}

}  // namespace contimg::state
