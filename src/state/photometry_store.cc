#include "state/photometry_store.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "sky/primary_beam.h"
#include "state/clock.h"

namespace contimg::state {
namespace {

constexpr double kDeg = std::numbers::pi / 180;

constexpr const char* kSourceCols =
    "source_id, name, origin, ra_deg, dec_deg, ra_err_arcsec, dec_err_arcsec, ref_flux_jy, is_new, "
    "new_sigma, "
    "new_limit_image, first_image";

SourceRow source_from(const Statement& st) {
  SourceRow s;
  s.source_id = st.get_int(0);
  s.name = st.get_text(1);
  s.origin = st.get_text(2);
  s.ra_deg = st.get_double(3);
  s.dec_deg = st.get_double(4);
  s.ra_err_arcsec = st.get_double(5);
  s.dec_err_arcsec = st.get_double(6);
  s.ref_flux_jy = st.get_opt_double(7).value_or(0);
  s.is_new = st.get_int(8) != 0;
  s.new_sigma = st.get_opt_double(9);
  s.new_limit_image = st.get_opt_int(10);
  s.first_image = st.get_opt_int(11);
  return s;
}

// IAU-style name from the position: "CTG Jhhmmss.s+ddmmss".
std::string detection_name(double ra_deg, double dec_deg) {
  double ra_h = std::fmod(ra_deg / 15 + 24, 24);
  const int h = static_cast<int>(ra_h);
  const int m = static_cast<int>((ra_h - h) * 60);
  const double s = std::floor(((ra_h - h) * 60 - m) * 600) / 10;
  const char sign = dec_deg < 0 ? '-' : '+';
  const double ad = std::abs(dec_deg);
  const int d = static_cast<int>(ad), dm = static_cast<int>((ad - d) * 60);
  const int ds = static_cast<int>(((ad - d) * 60 - dm) * 60);
  return fmt::format("CTG J{:02d}{:02d}{:04.1f}{}{:02d}{:02d}{:02d}", h, m, s, sign, d, dm, ds);
}

void save_aggregate(Database& db, std::int64_t sid, const photometry::LightcurveAggregate& a,
                    double last_mjd) {
  if (a.n == 0) {
    db.cached("DELETE FROM source_stats WHERE source_id = ?1").bind(1, sid).run();
    return;
  }
  const auto m = photometry::metrics(a);
  db.cached(
        // ON CONFLICT and CASE: the same on SQLite and PostgreSQL (no INSERT OR REPLACE, no
        // two-argument MAX).
        "INSERT INTO source_stats (source_id, n, sum_w, sum_ws, sum_ws2, sum_s, sum_s2, max_flux, "
        "max_err, max_image, min_flux, min_err, min_image, mean_flux, xi, xi_err, eta, v, vs, m, "
        "last_mjd, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
        "?19, ?20, "
        "(SELECT CASE WHEN p.last_mjd > ?21 THEN p.last_mjd ELSE ?21 END FROM (SELECT COALESCE("
        "(SELECT last_mjd FROM source_stats WHERE source_id = ?1), ?21) AS last_mjd) p), ?22) "
        "ON CONFLICT (source_id) DO UPDATE SET n = excluded.n, sum_w = excluded.sum_w, "
        "sum_ws = excluded.sum_ws, sum_ws2 = excluded.sum_ws2, sum_s = excluded.sum_s, "
        "sum_s2 = excluded.sum_s2, max_flux = excluded.max_flux, max_err = excluded.max_err, "
        "max_image = excluded.max_image, min_flux = excluded.min_flux, min_err = excluded.min_err, "
        "min_image = excluded.min_image, mean_flux = excluded.mean_flux, xi = excluded.xi, "
        "xi_err = excluded.xi_err, eta = excluded.eta, v = excluded.v, vs = excluded.vs, "
        "m = excluded.m, last_mjd = excluded.last_mjd, updated_at = excluded.updated_at")
      .bind(1, sid)
      .bind(2, a.n)
      .bind(3, a.sum_w)
      .bind(4, a.sum_ws)
      .bind(5, a.sum_ws2)
      .bind(6, a.sum_s)
      .bind(7, a.sum_s2)
      .bind(8, a.max_flux)
      .bind(9, a.max_err)
      .bind(10, a.max_image)
      .bind(11, a.min_flux)
      .bind(12, a.min_err)
      .bind(13, a.min_image)
      .bind(14, m.mean_flux)
      .bind(15, m.xi)
      .bind(16, m.xi_err)
      .bind(17, m.eta)
      .bind(18, m.v)
      .bind(19, m.vs)
      .bind(20, m.m)
      .bind(21, last_mjd)
      .bind(22, now_iso())
      .run();
}

// [0, 360): the catalogue's right ascensions are searched by window (sources_by_ra).
double wrap_ra(double ra_deg) {
  const double a = std::fmod(std::fmod(ra_deg, 360.0) + 360.0, 360.0);
  return a >= 360.0 ? 0.0 : a;
}

// The right-ascension intervals (deg, within [0, 360]) holding every position within
// `radius_deg` of (ra, dec): one, or two across RA 0; none when the cone reaches a pole (then
// every RA). The half-width is asin(sin r / cos dec), the cone's exact extent in RA.
std::vector<std::pair<double, double>> ra_intervals(double ra, double dec, double radius_deg) {
  if (std::abs(dec) + radius_deg >= 89.999) return {};
  const double half =
      std::asin(std::min(1.0, std::sin(radius_deg * kDeg) / std::cos(dec * kDeg))) / kDeg + 1e-9;
  if (half >= 180) return {};
  const double a = wrap_ra(ra);
  const double lo = a - half, hi = a + half;
  if (lo < 0) return {{0, hi}, {lo + 360, 360}};
  if (hi > 360) return {{lo, 360}, {0, hi - 360}};
  return {{lo, hi}};
}

// The lowest noise at (ra, dec) of the images before `mjd` whose footprint covers it,
// with that image's id; nullopt when none covered it (first coverage). The candidates are the
// images centred within the largest footprint radius of the position: a right-ascension window
// (photometry_images_by_ra), not the declination band, which on a declination strip is every
// image ever measured.
std::optional<std::pair<double, std::int64_t>> earlier_limit(Database& db, double ra, double dec,
                                                             double mjd) {
  double rmax = 0;
  {
    // Over every image (MAX without a WHERE is one step of photometry_images_by_radius): a bound.
    auto& st = db.cached("SELECT MAX(radius_deg) FROM photometry_images");
    if (st.step() && !st.is_null(0)) rmax = st.get_double(0);
    st.reset();
  }
  std::optional<std::pair<double, std::int64_t>> best;
  if (rmax <= 0) return best;
  auto visit = [&](Statement& st) {
    while (st.step()) {
      const double theta = sky::angular_distance(st.get_double(1) * kDeg, st.get_double(2) * kDeg,
                                                 ra * kDeg, dec * kDeg);
      if (theta > st.get_double(3) * kDeg) continue;
      double noise = st.get_double(5);
      if (st.get_int(6) != 0) noise /= std::max(1e-6, sky::airy_power(theta, st.get_double(4)));
      if (!best || noise < best->first) best = {{noise, st.get_int(0)}};
    }
    st.reset();
  };
  constexpr const char* kCols =
      "SELECT phot_image_id, centre_ra_deg, centre_dec_deg, radius_deg, freq_hz, noise_jy, "
      "pb_corrected FROM photometry_images WHERE ";
  const auto intervals = ra_intervals(ra, dec, rmax);
  if (intervals.empty()) {
    auto& st =
        db.cached(std::string(kCols) + "centre_dec_deg BETWEEN ?2 - ?3 AND ?2 + ?3 AND mjd < ?1");
    st.bind(1, mjd).bind(2, dec).bind(3, rmax);
    visit(st);
    return best;
  }
  for (const auto& [lo, hi] : intervals) {
    // "+centre_dec_deg": the declination term filters; the RA index is the one to search.
    auto& st = db.cached(std::string(kCols) +
                         "centre_ra_deg BETWEEN ?4 AND ?5 AND +centre_dec_deg BETWEEN ?2 - ?3 AND "
                         "?2 + ?3 AND mjd < ?1");
    st.bind(1, mjd).bind(2, dec).bind(3, rmax).bind(4, lo).bind(5, hi);
    visit(st);
  }
  return best;
}

}  // namespace

std::vector<SourceRow> sources_in_cone(Database& db, double ra, double dec, double radius_deg) {
  std::vector<SourceRow> out;
  auto keep = [&](Statement& st) {
    while (st.step()) {
      auto s = source_from(st);
      if (sky::angular_distance(ra * kDeg, dec * kDeg, s.ra_deg * kDeg, s.dec_deg * kDeg) <=
          radius_deg * kDeg) {
        out.push_back(std::move(s));
      }
    }
    st.reset();
  };
  const auto intervals = ra_intervals(ra, dec, radius_deg);
  if (intervals.empty()) {  // a cone over a pole: the declination band
    auto& st = db.cached(std::string("SELECT ") + kSourceCols +
                         " FROM sources WHERE dec_deg BETWEEN ?1 - ?2 AND ?1 + ?2");
    st.bind(1, dec).bind(2, radius_deg);
    keep(st);
  }
  for (const auto& [lo, hi] : intervals) {
    // A right-ascension window (sources_by_ra): on a declination strip the declination band
    // would be the whole catalogue. "+dec_deg" keeps the planner on the RA index.
    auto& st = db.cached(std::string("SELECT ") + kSourceCols +
                         " FROM sources WHERE ra_deg BETWEEN ?3 AND ?4 AND +dec_deg BETWEEN ?1 - "
                         "?2 AND ?1 + ?2");
    st.bind(1, dec).bind(2, radius_deg).bind(3, lo).bind(4, hi);
    keep(st);
  }
  std::sort(out.begin(), out.end(),
            [](const SourceRow& a, const SourceRow& b) { return a.source_id < b.source_id; });
  return out;
}

std::optional<MeasuredImage> measured_image(Database& db, const std::string& path,
                                            const std::string& out_root) {
  auto& st = db.cached(
      "SELECT i.phot_image_id, (SELECT count(*) FROM measurements m WHERE m.phot_image_id = "
      "i.phot_image_id), (SELECT count(*) FROM measurements m WHERE m.phot_image_id = "
      "i.phot_image_id AND m.blind = 1) FROM photometry_images i WHERE i.path = ?1 AND i.out_root "
      "= ?2");
  st.bind(1, path).bind(2, out_root);
  std::optional<MeasuredImage> out;
  if (st.step()) out = MeasuredImage{st.get_int(0), st.get_int(1), st.get_int(2)};
  st.reset();
  return out;
}

std::optional<SourceRow> source_by_name(Database& db, const std::string& name) {
  auto& st = db.cached(std::string("SELECT ") + kSourceCols + " FROM sources WHERE name = ?1");
  st.bind(1, name);
  std::optional<SourceRow> s;
  if (st.step()) s = source_from(st);
  st.reset();
  return s;
}

std::optional<SourceRow> source_by_id(Database& db, std::int64_t id) {
  auto& st = db.cached(std::string("SELECT ") + kSourceCols + " FROM sources WHERE source_id = ?1");
  st.bind(1, id);
  std::optional<SourceRow> s;
  if (st.step()) s = source_from(st);
  st.reset();
  return s;
}

photometry::LightcurveAggregate recompute_source_stats(Database& db, std::int64_t sid) {
  auto st = db.prepare(
      "SELECT m.flux_jy, m.flux_err_jy, m.phot_image_id, i.mjd FROM measurements m "
      "JOIN photometry_images i USING (phot_image_id) WHERE m.source_id = ?1 ORDER BY i.mjd, "
      "m.phot_image_id");
  st.bind(1, sid);
  photometry::LightcurveAggregate a;
  double last = 0;
  while (st.step()) {
    a.add(st.get_double(0), st.get_double(1), st.get_int(2));
    last = st.get_double(3);
  }
  db.cached("DELETE FROM source_stats WHERE source_id = ?1").bind(1, sid).run();
  save_aggregate(db, sid, a, last);
  return a;
}

StoreSummary store_photometry(Database& db, const PhotometryRecords& r,
                              const std::string& out_root) {
  Transaction tx(db);
  StoreSummary sum;
  const auto& im = r.image;
  std::set<std::int64_t> recompute;  // sources whose earlier measurement of this image is replaced
  {
    auto& st =
        db.cached("SELECT phot_image_id FROM photometry_images WHERE path = ?1 AND out_root = ?2");
    st.bind(1, im.path).bind(2, out_root);
    std::optional<std::int64_t> old;
    if (st.step()) old = st.get_int(0);
    st.reset();
    if (old) {
      auto q = db.prepare("SELECT DISTINCT source_id FROM measurements WHERE phot_image_id = ?1");
      q.bind(1, *old);
      while (q.step()) recompute.insert(q.get_int(0));
      db.cached("DELETE FROM photometry_images WHERE phot_image_id = ?1")
          .bind(1, *old)
          .run();  // cascades
    }
  }
  auto& ins_img =
      db.cached(
            "INSERT INTO photometry_images (path, out_root, group_id, image_id, mjd, "
            "centre_ra_deg, "
            "centre_dec_deg, "
            "radius_deg, freq_hz, noise_jy, pb_corrected, bmaj_arcsec, bmin_arcsec, bpa_deg, "
            "measured_at) VALUES "
            "(?1, ?2, ?3, (SELECT image_id FROM images WHERE group_id = ?3 AND out_root = ?2), ?4, "
            "?5, "
            "?6, ?7, ?8, ?9, "
            "?10, ?11, ?12, ?13, ?14) RETURNING phot_image_id")
          .bind(1, im.path)
          .bind(2, out_root)
          .bind(3, im.group_id)
          .bind(4, im.mjd)
          .bind(5, im.centre_ra_deg)
          .bind(6, im.centre_dec_deg)
          .bind(7, im.radius_deg)
          .bind(8, im.freq_hz)
          .bind(9, im.noise_jy)
          .bind(10, im.pb_corrected)
          .bind(11, im.beam_major_arcsec)
          .bind(12, im.beam_minor_arcsec)
          .bind(13, im.beam_pa_deg)
          .bind(14, now_iso());
  // RETURNING, not last_insert_rowid: the same on SQLite and PostgreSQL.
  if (!ins_img.step()) throw IoError("state db: INSERT INTO photometry_images returned no id");
  const std::int64_t pid = ins_img.get_int(0);
  ins_img.reset();  // a cached statement left on its row would block COMMIT (SQLite)
  sum.phot_image_id = pid;

  const auto n = r.measurements.size();
  std::vector<std::int64_t> sid(n, -1);
  std::vector<photometry::Association> assoc(n);
  std::vector<std::string> rule(n, "position");
  std::set<std::int64_t> measured;
  constexpr std::size_t kBatch = 200;
  // A full batch's statement is cached; the last, shorter one is prepared for the call.
  auto cached_or_own = [&db](const std::string& sql, std::size_t nrows,
                             std::optional<Statement>& own) -> Statement* {
    if (nrows == kBatch) return &db.cached(sql);
    own.emplace(db.prepare(sql));
    return &*own;
  };
  auto batch_statement = [&cached_or_own](const std::string& head, std::size_t nrows, int ncols,
                                          const std::string& tail, std::optional<Statement>& own) {
    std::string sql = head;
    for (std::size_t r = 0; r < nrows; ++r) {
      sql += r ? ", (" : " (";
      // Plain "?" (numbered in order): SQLite looks every "?NNN" up in a list while parsing,
      // quadratic in a batch's thousands of parameters.
      for (int c = 1; c <= ncols; ++c) sql += c > 1 ? ", ?" : "?";
      sql += ")";
    }
    sql += tail;
    return cached_or_own(sql, nrows, own);
  };
  // A list of n "?" for IN (...).
  auto marks = [](std::size_t n) {
    std::string q;
    for (std::size_t k = 0; k < n; ++k) q += k ? ", ?" : "?";
    return q;
  };
  // Reference positions: the sources of their names, looked up and made on first sight a batch at
  // a time (the first measurement of a name gives a new source its position).
  std::map<std::string, std::int64_t> by_name;
  {
    std::vector<std::size_t> firsts;
    std::set<std::string> seen;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& m = r.measurements[i];
      if (!m.blind && !m.source_id && seen.insert(m.ref_name).second) firsts.push_back(i);
    }
    for (std::size_t b = 0; b < firsts.size(); b += kBatch) {
      const std::size_t nb = std::min(kBatch, firsts.size() - b);
      const std::string sql =
          "SELECT source_id, name FROM sources WHERE name IN (" + marks(nb) + ")";
      std::optional<Statement> own;
      Statement* st = cached_or_own(sql, nb, own);
      for (std::size_t k = 0; k < nb; ++k)
        st->bind(static_cast<int>(k + 1), r.measurements[firsts[b + k]].ref_name);
      while (st->step()) by_name[st->get_text(1)] = st->get_int(0);
      st->reset();  // a cached statement left on its row would block COMMIT (SQLite)
    }
    std::vector<std::size_t> make;
    for (std::size_t i : firsts) {
      if (!by_name.count(r.measurements[i].ref_name)) make.push_back(i);
    }
    const std::string now = now_iso();
    for (std::size_t b = 0; b < make.size(); b += kBatch) {
      const std::size_t nb = std::min(kBatch, make.size() - b);
      std::optional<Statement> own;
      auto& ins = *batch_statement(
          "INSERT INTO sources (name, origin, ra_deg, dec_deg, ra_err_arcsec, dec_err_arcsec, "
          "ref_flux_jy, is_new, first_image, created_at) VALUES",
          nb, 10, " RETURNING source_id, name", own);
      for (std::size_t k = 0; k < nb; ++k) {
        const auto& m = r.measurements[make[b + k]];
        const int o = static_cast<int>(k) * 10;
        ins.bind(o + 1, m.ref_name)
            .bind(o + 2, "reference")
            .bind(o + 3, wrap_ra(m.ra_deg))
            .bind(o + 4, m.dec_deg)
            .bind(o + 5, m.ra_err_arcsec)
            .bind(o + 6, m.dec_err_arcsec)
            .bind(o + 7, m.ref_flux_jy)
            .bind(o + 8, false)
            .bind(o + 9, pid)
            .bind(o + 10, now);
      }
      std::size_t got = 0;
      while (ins.step()) by_name[ins.get_text(1)] = ins.get_int(0), ++got;
      ins.reset();
      if (got != nb)
        throw IoError(fmt::format(
            "state db: INSERT INTO sources (references) returned {} of {} ids", got, nb));
    }
  }
  // Known positions first: catalogue sources, then reference positions.
  for (std::size_t i = 0; i < n; ++i) {
    const auto& m = r.measurements[i];
    if (m.blind) continue;
    sid[i] = m.source_id ? *m.source_id : by_name.at(m.ref_name);
    if (!measured.insert(sid[i]).second) sid[i] = -1;  // one measurement per source and image
  }
  // Blind detections: associated with the catalogue sources not measured here yet.
  std::vector<std::size_t> blind;
  for (std::size_t i = 0; i < n; ++i) {
    if (r.measurements[i].blind) blind.push_back(i);
  }
  if (!blind.empty()) {
    std::vector<SourceRow> cands;
    for (auto& s : sources_in_cone(db, im.centre_ra_deg, im.centre_dec_deg, im.radius_deg + 0.05)) {
      if (!measured.count(s.source_id)) cands.push_back(std::move(s));
    }
    std::vector<photometry::SkyPosition> cat, meas;
    for (const auto& s : cands)
      cat.push_back({s.ra_deg, s.dec_deg, s.ra_err_arcsec, s.dec_err_arcsec});
    for (std::size_t i : blind) {
      const auto& m = r.measurements[i];
      meas.push_back({m.ra_deg, m.dec_deg, m.ra_err_arcsec, m.dec_err_arcsec});
    }
    const auto res = photometry::associate(meas, cat, im.beam_major_arcsec, r.association);
    for (std::size_t k = 0; k < blind.size(); ++k) {
      const std::size_t i = blind[k];
      const auto& m = r.measurements[i];
      assoc[i] = res[k];
      if (res[k].source >= 0) {
        sid[i] = cands[res[k].source].source_id;
        rule[i] = res[k].ambiguous ? "ambiguous" : "matched";
        measured.insert(sid[i]);
        continue;
      }
      // No counterpart: a new catalogue source; "new" when earlier images were deep enough to see
      // it.
      const auto limit = earlier_limit(db, m.ra_deg, m.dec_deg, im.mjd);
      const double sigma = limit ? m.flux_jy / limit->first : 0;
      const bool is_new = limit && sigma >= r.new_source_sigma;
      std::string name = detection_name(m.ra_deg, m.dec_deg);
      for (int suffix = 2; source_by_name(db, name); ++suffix)
        name = detection_name(m.ra_deg, m.dec_deg) + fmt::format("_{}", suffix);
      auto& ins_src = db.cached(
          "INSERT INTO sources (name, origin, ra_deg, dec_deg, ra_err_arcsec, dec_err_arcsec, "
          "is_new, new_sigma, "
          "new_limit_image, first_image, created_at) VALUES (?1, 'detection', ?2, ?3, ?4, ?5, ?6, "
          "?7, ?8, ?9, ?10) RETURNING source_id");
      ins_src.bind(1, name)
          .bind(2, wrap_ra(m.ra_deg))
          .bind(3, m.dec_deg)
          .bind(4, m.ra_err_arcsec)
          .bind(5, m.dec_err_arcsec)
          .bind(6, is_new)
          .bind(9, pid)
          .bind(10, now_iso());
      if (limit) {
        ins_src.bind(7, sigma).bind(8, limit->second);
      } else {
        ins_src.bind_null(7).bind_null(8);
      }
      if (!ins_src.step())
        throw IoError("state db: INSERT INTO sources (detection) returned no id");
      sid[i] = ins_src.get_int(0);
      ins_src.reset();  // a cached statement left on its row would block COMMIT (SQLite)
      measured.insert(sid[i]);
      rule[i] = "new";
      ++sum.n_detection_sources;
      if (is_new) ++sum.n_new_sources;
    }
  }
  // The measurements and the statistics of their sources, in multi-row statements of kBatch rows
  // (one round trip per batch on PostgreSQL, where a statement per row is latency bound).
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < n; ++i) {
    if (sid[i] >= 0) rows.push_back(i);
  }
  for (std::size_t b = 0; b < rows.size(); b += kBatch) {
    const std::size_t nb = std::min(kBatch, rows.size() - b);
    std::optional<Statement> own;
    auto& ins = *batch_statement(
        "INSERT INTO measurements (source_id, phot_image_id, mjd, ra_deg, dec_deg, flux_jy, "
        "flux_err_jy, local_rms_jy, chi2, npix, cluster, detected, blind, det_peak_jy, det_snr, "
        "assoc_rule, assoc_distance_arcsec, assoc_deruiter, n_candidates) VALUES",
        nb, 19, "", own);
    for (std::size_t k = 0; k < nb; ++k) {
      const std::size_t i = rows[b + k];
      const auto& m = r.measurements[i];
      const int o = static_cast<int>(k) * 19;
      ins.bind(o + 1, sid[i])
          .bind(o + 2, pid)
          .bind(o + 3, im.mjd)
          .bind(o + 4, m.ra_deg)
          .bind(o + 5, m.dec_deg)
          .bind(o + 6, m.flux_jy)
          .bind(o + 7, m.flux_err_jy)
          .bind(o + 8, m.local_rms_jy)
          .bind(o + 9, m.chi2)
          .bind(o + 10, m.npix)
          .bind(o + 11, m.cluster)
          .bind(o + 12, m.detected)
          .bind(o + 13, m.blind)
          .bind(o + 14, m.det_peak_jy)
          .bind(o + 15, m.det_snr)
          .bind(o + 16, rule[i])
          .bind(o + 17, assoc[i].distance_arcsec)
          .bind(o + 18, assoc[i].deruiter)
          .bind(o + 19, assoc[i].n_candidates);
    }
    ins.run();
  }
  sum.n_measurements = static_cast<int>(rows.size());

  // Statistics: the sums of the sources measured here (those whose earlier measurement of this
  // image was replaced are recomputed below), read and written a batch at a time.
  std::vector<std::size_t> incr;
  for (std::size_t i : rows) {
    if (!recompute.count(sid[i])) incr.push_back(i);
  }
  const std::string now = now_iso();
  for (std::size_t b = 0; b < incr.size(); b += kBatch) {
    const std::size_t nb = std::min(kBatch, incr.size() - b);
    std::map<std::int64_t, std::pair<photometry::LightcurveAggregate, double>> agg;
    {
      std::string sql =
          "SELECT source_id, n, sum_w, sum_ws, sum_ws2, sum_s, sum_s2, max_flux, max_err, "
          "max_image, min_flux, min_err, min_image, last_mjd FROM source_stats WHERE source_id IN "
          "(";
      sql += marks(nb) + ")";
      std::optional<Statement> own;
      Statement* st = cached_or_own(sql, nb, own);
      for (std::size_t k = 0; k < nb; ++k) st->bind(static_cast<int>(k + 1), sid[incr[b + k]]);
      while (st->step()) {
        photometry::LightcurveAggregate a;
        a.n = st->get_int(1);
        a.sum_w = st->get_double(2), a.sum_ws = st->get_double(3), a.sum_ws2 = st->get_double(4);
        a.sum_s = st->get_double(5), a.sum_s2 = st->get_double(6);
        a.max_flux = st->get_double(7), a.max_err = st->get_double(8), a.max_image = st->get_int(9);
        a.min_flux = st->get_double(10), a.min_err = st->get_double(11),
        a.min_image = st->get_int(12);
        agg[st->get_int(0)] = {a, st->get_double(13)};
      }
      st->reset();  // a cached statement left on its row would block COMMIT (SQLite)
    }
    // The updated sums; a source left without a usable measurement has no statistics row.
    std::vector<std::pair<std::int64_t, std::pair<photometry::LightcurveAggregate, double>>> save;
    for (std::size_t k = 0; k < nb; ++k) {
      const std::size_t i = incr[b + k];
      auto [a, last] = agg.count(sid[i])
                           ? agg[sid[i]]
                           : std::pair<photometry::LightcurveAggregate, double>{{}, im.mjd};
      a.add(r.measurements[i].flux_jy, r.measurements[i].flux_err_jy, pid);
      if (a.n == 0) {
        db.cached("DELETE FROM source_stats WHERE source_id = ?1").bind(1, sid[i]).run();
        continue;
      }
      save.push_back({sid[i], {a, std::max(last, im.mjd)}});
    }
    if (save.empty()) continue;
    std::optional<Statement> own;
    // ON CONFLICT: the same on SQLite and PostgreSQL (no INSERT OR REPLACE); a source appears
    // once per image, so once per statement.
    auto& up = *batch_statement(
        "INSERT INTO source_stats (source_id, n, sum_w, sum_ws, sum_ws2, sum_s, sum_s2, max_flux, "
        "max_err, max_image, min_flux, min_err, min_image, mean_flux, xi, xi_err, eta, v, vs, m, "
        "last_mjd, updated_at) VALUES",
        save.size(), 22,
        " ON CONFLICT (source_id) DO UPDATE SET n = excluded.n, sum_w = excluded.sum_w, "
        "sum_ws = excluded.sum_ws, sum_ws2 = excluded.sum_ws2, sum_s = excluded.sum_s, "
        "sum_s2 = excluded.sum_s2, max_flux = excluded.max_flux, max_err = excluded.max_err, "
        "max_image = excluded.max_image, min_flux = excluded.min_flux, min_err = excluded.min_err, "
        "min_image = excluded.min_image, mean_flux = excluded.mean_flux, xi = excluded.xi, "
        "xi_err = excluded.xi_err, eta = excluded.eta, v = excluded.v, vs = excluded.vs, "
        "m = excluded.m, last_mjd = excluded.last_mjd, updated_at = excluded.updated_at",
        own);
    for (std::size_t k = 0; k < save.size(); ++k) {
      const auto& [id, al] = save[k];
      const auto& a = al.first;
      const auto mt = photometry::metrics(a);
      const int o = static_cast<int>(k) * 22;
      up.bind(o + 1, id)
          .bind(o + 2, a.n)
          .bind(o + 3, a.sum_w)
          .bind(o + 4, a.sum_ws)
          .bind(o + 5, a.sum_ws2)
          .bind(o + 6, a.sum_s)
          .bind(o + 7, a.sum_s2)
          .bind(o + 8, a.max_flux)
          .bind(o + 9, a.max_err)
          .bind(o + 10, a.max_image)
          .bind(o + 11, a.min_flux)
          .bind(o + 12, a.min_err)
          .bind(o + 13, a.min_image)
          .bind(o + 14, mt.mean_flux)
          .bind(o + 15, mt.xi)
          .bind(o + 16, mt.xi_err)
          .bind(o + 17, mt.eta)
          .bind(o + 18, mt.v)
          .bind(o + 19, mt.vs)
          .bind(o + 20, mt.m)
          .bind(o + 21, al.second)
          .bind(o + 22, now);
    }
    up.run();
  }
  for (std::size_t c = 0; c < r.clusters.size(); ++c) {
    nlohmann::json members = nlohmann::json::array();
    for (int k : r.clusters[c].members)
      members.push_back(k >= 0 && sid[k] >= 0 ? nlohmann::json(sid[k]) : nlohmann::json());
    db.cached(
          "INSERT INTO photometry_clusters (phot_image_id, cluster, source_ids, covariance) VALUES "
          "(?1, ?2, ?3, ?4)")
        .bind(1, pid)
        .bind(2, static_cast<std::int64_t>(c))
        .bind(3, members.dump())
        .bind(4, nlohmann::json(r.clusters[c].covariance).dump())
        .run();
  }
  for (std::int64_t s : recompute) recompute_source_stats(db, s);
  tx.commit();
  return sum;
}

std::vector<LightcurvePoint> lightcurve(Database& db, std::int64_t source_id) {
  auto st = db.prepare(
      "SELECT m.mjd, m.flux_jy, m.flux_err_jy, m.local_rms_jy, m.detected, m.blind, i.path, "
      "i.group_id, "
      "m.assoc_distance_arcsec FROM measurements m JOIN photometry_images i USING (phot_image_id) "
      "WHERE m.source_id = ?1 ORDER BY m.mjd, m.phot_image_id");
  st.bind(1, source_id);
  std::vector<LightcurvePoint> out;
  while (st.step()) {
    out.push_back({st.get_double(0), st.get_double(1), st.get_double(2), st.get_double(3),
                   st.get_int(4) != 0, st.get_int(5) != 0, st.get_text(6), st.get_text(7),
                   st.get_double(8)});
  }
  return out;
}

std::vector<SourceStats> all_source_stats(Database& db, int min_n) {
  auto st = db.prepare(
      "SELECT s.source_id, s.name, s.origin, s.ra_deg, s.dec_deg, s.ra_err_arcsec, "
      "s.dec_err_arcsec, s.ref_flux_jy, "
      "s.is_new, s.new_sigma, s.new_limit_image, s.first_image, "
      "t.n, t.sum_w, t.sum_ws, t.sum_ws2, t.sum_s, t.sum_s2, t.max_flux, t.max_err, t.max_image, "
      "t.min_flux, "
      "t.min_err, t.min_image, (SELECT path FROM photometry_images WHERE phot_image_id = "
      "t.max_image), "
      "(SELECT path FROM photometry_images WHERE phot_image_id = t.min_image) "
      "FROM source_stats t JOIN sources s USING (source_id) WHERE t.n >= ?1 ORDER BY s.source_id");
  st.bind(1, min_n);
  std::vector<SourceStats> out;
  while (st.step()) {
    SourceStats s;
    s.source = source_from(st);
    auto& a = s.aggregate;
    a.n = st.get_int(12);
    a.sum_w = st.get_double(13), a.sum_ws = st.get_double(14), a.sum_ws2 = st.get_double(15);
    a.sum_s = st.get_double(16), a.sum_s2 = st.get_double(17);
    a.max_flux = st.get_double(18), a.max_err = st.get_double(19), a.max_image = st.get_int(20);
    a.min_flux = st.get_double(21), a.min_err = st.get_double(22), a.min_image = st.get_int(23);
    s.max_image_path = st.get_opt_text(24).value_or("");
    s.min_image_path = st.get_opt_text(25).value_or("");
    s.metrics = photometry::metrics(a);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace contimg::state
