// Science products at scale (issue 15; docs/perf.md "Photometry at scale"): the
// helper of bench/photometry_scale.py. Three modes, each printing one JSON object:
//
//   photometry_scale_bench fill --db PATH|URL --measurements M [--sources N] [--per-image K]
//                               [--blind B] [--seed S]
//     Grows the state database to at least M measurements through the photometry
//     store's own ingest path, image by image as the chain's stage does: the
//     catalogue sources in the image's cone (state::sources_in_cone, the stage's
//     query), then state::store_photometry of a PhotometryRecords (one prepared
//     insert per measurement in the image's transaction, statistics updated
//     incrementally, blind detections associated and tested for novelty). The sky
//     is a DSA-110-like declination strip: N reference sources (default 10^5)
//     uniform in RA 0-360 and Dec 37.2 +- 1.5 deg; image k is centred at RA
//     k x 1.2875 deg (one 309 s group of the drift) with the radius that holds K
//     sources on average (default 1000); B blind detections per image at no known
//     position (default 1). A source is a reference on first sight, a catalogue
//     source afterwards. Resumable: it continues after the images already there.
//   photometry_scale_bench info --db PATH|URL
//     Row counts, the database size, a probe source (the most measured) and the
//     query plans (EXPLAIN QUERY PLAN / EXPLAIN) of the light-curve, cone,
//     candidate and coverage queries, with the parameters they run with.
//   photometry_scale_bench image --out DIR [--n 4096] [--sources 1000]
//     A synthetic PB-corrected image (tests/support/synthetic_image.h) with the
//     given number of point sources, and its reference (DIR/field.truth.json).
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "state/photometry_store.h"
#include "state/state_db.h"
#include "support/synthetic_image.h"

namespace fs = std::filesystem;
using namespace contimg;

namespace {

constexpr double kDeg = std::numbers::pi / 180;
constexpr double kDec0 = 37.2, kHalfWidth = 1.5, kStepRa = 1.2875;  // 309 s of the drift

struct Args {
  std::map<std::string, std::string> kv;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
};

struct Sky {
  std::vector<double> ra, dec, flux;  // sorted by RA
};

Sky make_sky(int n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::array<double, 3>> s(static_cast<std::size_t>(n));
  for (auto& x : s) {
    x[0] = 360 * u(rng);
    x[1] = kDec0 - kHalfWidth + 2 * kHalfWidth * u(rng);
    x[2] = 0.005 * std::pow(200.0, u(rng));  // 5 mJy - 1 Jy, log-uniform
  }
  std::sort(s.begin(), s.end());
  Sky sky;
  for (const auto& x : s) sky.ra.push_back(x[0]), sky.dec.push_back(x[1]), sky.flux.push_back(x[2]);
  return sky;
}

std::string ref_name(std::size_t i) {
  return fmt::format("BENCH {:07d}", i);
}

double ang_deg(double ra1, double dec1, double ra2, double dec2) {
  const double s = std::sin((dec2 - dec1) * kDeg / 2), t = std::sin((ra2 - ra1) * kDeg / 2);
  return 2 * std::asin(std::sqrt(s * s + std::cos(dec1 * kDeg) * std::cos(dec2 * kDeg) * t * t)) /
         kDeg;
}

std::int64_t scalar(state::Database& db, const std::string& sql) {
  auto st = db.prepare(sql);
  return st.step() ? st.get_int(0) : 0;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * (v.size() - 1) + 0.5))];
}

int fill(const Args& a) {
  const std::string target = a.get("--db");
  const auto want = static_cast<std::int64_t>(std::stod(a.get("--measurements", "100000")));
  const int n_src = std::stoi(a.get("--sources", "100000"));
  const double per_image = std::stod(a.get("--per-image", "1000"));
  const int n_blind = std::stoi(a.get("--blind", "1"));
  const unsigned seed = static_cast<unsigned>(std::stoul(a.get("--seed", "1")));
  const Sky sky = make_sky(n_src, seed);
  // The radius holding per_image sources on average (the strip's surface density).
  const double density = n_src / (360 * 2 * kHalfWidth * std::cos(kDec0 * kDeg));
  const double radius = std::sqrt(per_image / (std::numbers::pi * density));

  state::StateDb sdb(target);
  auto& db = sdb.database();
  std::int64_t have = scalar(db, "SELECT count(*) FROM measurements");
  std::int64_t k = scalar(db, "SELECT count(*) FROM photometry_images");
  const std::int64_t start_meas = have, start_k = k;
  std::mt19937_64 rng(seed * 7919 + static_cast<unsigned>(k));
  std::normal_distribution<double> gauss(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> cone_s, store_s;
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  while (have < want) {
    state::PhotometryRecords rec;
    auto& im = rec.image;
    const double ra0 = std::fmod(k * kStepRa, 360.0);
    im.path = fmt::format("/bench/photometry/img{:07d}.pbcor.fits", k);
    im.group_id = fmt::format("bench{:07d}", k);
    im.mjd = 60000 + k * 309.0 / 86400;
    im.centre_ra_deg = ra0, im.centre_dec_deg = kDec0, im.radius_deg = radius;
    im.freq_hz = 1.4e9, im.noise_jy = 1e-3, im.pb_corrected = true;
    im.beam_major_arcsec = 15, im.beam_minor_arcsec = 10, im.beam_pa_deg = 0;
    const double noise = 1e-3 * (0.8 + 0.4 * u(rng));
    auto measure = [&](state::PhotometryMeasurement& m, double truth) {
      m.flux_jy = truth + noise * gauss(rng);
      m.flux_err_jy = noise, m.local_rms_jy = noise, m.chi2 = 1, m.npix = 40;
      m.detected = m.flux_jy > 5 * noise;
      m.det_peak_jy = m.detected ? m.flux_jy : 0, m.det_snr = m.flux_jy / noise;
    };
    // What the stage does: the catalogue sources in the cone, then the references not yet in it.
    const auto c0 = clock::now();
    const auto known = state::sources_in_cone(db, ra0, kDec0, radius);
    cone_s.push_back(std::chrono::duration<double>(clock::now() - c0).count());
    std::map<std::string, const state::SourceRow*> by_name;
    for (const auto& s : known) by_name[s.name] = &s;
    const double dra = std::min(180.0, radius / std::cos((kDec0 + kHalfWidth) * kDeg));
    auto visit = [&](double lo, double hi) {
      auto i = std::lower_bound(sky.ra.begin(), sky.ra.end(), lo) - sky.ra.begin();
      for (; i < static_cast<long>(sky.ra.size()) && sky.ra[i] <= hi; ++i) {
        if (ang_deg(ra0, kDec0, sky.ra[i], sky.dec[i]) > radius) continue;
        state::PhotometryMeasurement m;
        const auto name = ref_name(static_cast<std::size_t>(i));
        if (auto it = by_name.find(name); it != by_name.end()) {
          m.source_id = it->second->source_id;
        } else {
          m.ref_name = name;
          m.ref_flux_jy = sky.flux[i];
        }
        m.ra_deg = sky.ra[i], m.dec_deg = sky.dec[i];
        measure(m, sky.flux[i]);
        rec.measurements.push_back(m);
      }
    };
    visit(ra0 - dra, ra0 + dra);
    if (ra0 - dra < 0) visit(ra0 - dra + 360, 360);
    if (ra0 + dra >= 360) visit(0, ra0 + dra - 360);
    for (int b = 0; b < n_blind; ++b) {  // a detection at no known position
      state::PhotometryMeasurement m;
      m.blind = true;
      const double r = radius * std::sqrt(u(rng)) * 0.9, phi = 2 * std::numbers::pi * u(rng);
      m.dec_deg = kDec0 + r * std::cos(phi);
      m.ra_deg = std::fmod(ra0 + r * std::sin(phi) / std::cos(m.dec_deg * kDeg) + 360, 360.0);
      m.ra_err_arcsec = m.dec_err_arcsec = 1;
      measure(m, 0.02);
      rec.measurements.push_back(m);
    }
    const auto s0 = clock::now();
    const auto sum = state::store_photometry(db, rec, "/bench/photometry");
    store_s.push_back(std::chrono::duration<double>(clock::now() - s0).count());
    have += sum.n_measurements;
    ++k;
  }
  const double secs = std::chrono::duration<double>(clock::now() - t0).count();
  const auto added = have - start_meas;
  double cone_total = 0, store_total = 0;
  for (double x : cone_s) cone_total += x;
  for (double x : store_s) store_total += x;
  nlohmann::json out = {{"mode", "fill"},
                        {"db", db.path().string()},
                        {"images_added", k - start_k},
                        {"measurements_added", added},
                        {"seconds", secs},
                        {"measurements_per_s", secs > 0 ? added / secs : 0},
                        {"store_measurements_per_s", store_total > 0 ? added / store_total : 0},
                        {"image_radius_deg", radius},
                        {"cone_ms_p50", 1e3 * percentile(cone_s, 0.5)},
                        {"cone_ms_p95", 1e3 * percentile(cone_s, 0.95)},
                        {"cone_seconds", cone_total},
                        {"store_ms_p50", 1e3 * percentile(store_s, 0.5)},
                        {"store_ms_p95", 1e3 * percentile(store_s, 0.95)},
                        {"store_seconds", store_total},
                        {"measurements", have},
                        {"images", k}};
  std::cout << out.dump(1) << "\n";
  return 0;
}

// The plan of `sql` with its parameters bound (SQLite: the detail column of EXPLAIN QUERY
// PLAN; PostgreSQL: EXPLAIN's lines).
std::vector<std::string> plan(state::Database& db, const std::string& sql,
                              const std::vector<nlohmann::json>& params) {
  std::vector<std::string> lines;
  try {
    auto st = db.prepare((db.is_postgres() ? "EXPLAIN " : "EXPLAIN QUERY PLAN ") + sql);
    for (std::size_t i = 0; i < params.size(); ++i) {
      const int k = static_cast<int>(i + 1);
      if (params[i].is_string())
        st.bind(k, params[i].get<std::string>());
      else if (params[i].is_number_integer())
        st.bind(k, params[i].get<std::int64_t>());
      else
        st.bind(k, params[i].get<double>());
    }
    while (st.step()) lines.push_back(st.get_text(db.is_postgres() ? 0 : 3));
  } catch (const std::exception& e) {
    lines.push_back(std::string("error: ") + e.what());
  }
  return lines;
}

int info(const Args& a) {
  state::StateDb sdb(a.get("--db"));
  auto& db = sdb.database();
  nlohmann::json out = {{"mode", "info"}, {"db", db.path().string()}};
  out["measurements"] = scalar(db, "SELECT count(*) FROM measurements");
  out["images"] = scalar(db, "SELECT count(*) FROM photometry_images");
  out["sources"] = scalar(db, "SELECT count(*) FROM sources");
  if (db.is_postgres()) {
    out["db_bytes"] = scalar(db, "SELECT pg_database_size(current_database())");
  } else {
    std::int64_t bytes = 0;
    for (const char* sfx : {"", "-wal", "-shm"}) {
      const fs::path p = db.path().string() + sfx;
      std::error_code ec;
      if (fs::exists(p, ec)) bytes += static_cast<std::int64_t>(fs::file_size(p, ec));
    }
    out["db_bytes"] = bytes;
  }
  // The probe: the most measured source (its light curve is the longest).
  auto st = db.prepare(
      "SELECT s.name, s.ra_deg, s.dec_deg, t.n FROM source_stats t JOIN sources s USING "
      "(source_id) ORDER BY t.n DESC, s.source_id LIMIT 1");
  std::string name;
  double ra = 0, dec = 0;
  std::int64_t sid = 0;
  if (st.step()) {
    name = st.get_text(0), ra = st.get_double(1), dec = st.get_double(2);
    out["probe"] = {{"name", name}, {"ra_deg", ra}, {"dec_deg", dec}, {"n", st.get_int(3)}};
  }
  st.reset();
  if (auto s = state::source_by_name(db, name)) sid = s->source_id;
  // The store's queries (state/photometry_store.cc), as they run (keep in step with it).
  const std::string src_cols =
      "source_id, name, origin, ra_deg, dec_deg, ra_err_arcsec, dec_err_arcsec, ref_flux_jy, "
      "is_new, new_sigma, new_limit_image, first_image";
  out["plans"] = {
      {"lightcurve: source by name",
       plan(db, "SELECT " + src_cols + " FROM sources WHERE name = ?1", {name})},
      {"lightcurve: its measurements",
       plan(db,
            "SELECT m.mjd, m.flux_jy, m.flux_err_jy, m.local_rms_jy, m.detected, m.blind, i.path, "
            "i.group_id, m.assoc_distance_arcsec FROM measurements m JOIN photometry_images i "
            "USING (phot_image_id) WHERE m.source_id = ?1 ORDER BY m.mjd, m.phot_image_id",
            {sid})},
      {"cone (lightcurve RA DEC)",
       plan(db,
            "SELECT " + src_cols +
                " FROM sources WHERE ra_deg BETWEEN ?3 AND ?4 AND +dec_deg BETWEEN ?1 - ?2 AND ?1 "
                "+ ?2",
            {dec, 10.0 / 3600, ra - 0.01, ra + 0.01})},
      {"ingest: the stage's catalogue cone (1.65 deg)",
       plan(db,
            "SELECT " + src_cols +
                " FROM sources WHERE ra_deg BETWEEN ?3 AND ?4 AND +dec_deg BETWEEN ?1 - ?2 AND ?1 "
                "+ ?2",
            {dec, 1.65, ra - 2.1, ra + 2.1})},
      {"variables: every source's statistics",
       plan(db,
            "SELECT s.source_id, t.n, (SELECT path FROM photometry_images WHERE phot_image_id = "
            "t.max_image) FROM source_stats t JOIN sources s USING (source_id) WHERE t.n >= ?1 "
            "ORDER BY s.source_id",
            {std::int64_t{1}})},
      {"new-source test: largest footprint",
       plan(db, "SELECT MAX(radius_deg) FROM photometry_images", {})},
      {"new-source test: earlier coverage",
       plan(db,
            "SELECT phot_image_id, centre_ra_deg, centre_dec_deg, radius_deg, freq_hz, noise_jy, "
            "pb_corrected FROM photometry_images WHERE centre_ra_deg BETWEEN ?4 AND ?5 AND "
            "+centre_dec_deg BETWEEN ?2 - ?3 AND ?2 + ?3 AND mjd < ?1",
            {60000.5, dec, 1.65, ra - 2.1, ra + 2.1})},
      {"rerun: an image's measurements",
       plan(db, "SELECT count(*) FROM measurements m WHERE m.phot_image_id = ?1",
            {std::int64_t{1}})},
      {"ingest: the source's statistics",
       plan(db, "SELECT n, sum_w FROM source_stats WHERE source_id = ?1", {sid})}};
  std::cout << out.dump(1) << "\n";
  return 0;
}

int image(const Args& a) {
  const fs::path dir = a.get("--out");
  const int n = std::stoi(a.get("--n", "4096"));
  const int ns = std::stoi(a.get("--sources", "1000"));
  testing::SyntheticOptions o;
  o.n = n;
  o.cell_arcsec = 3;
  o.beam_major_arcsec = 15, o.beam_minor_arcsec = 10, o.beam_pa_deg = 20;
  o.pb_cut = 0.2;
  o.seed = 11;
  o.snrs.clear();
  for (int k = 0; k < ns; ++k)
    o.snrs.push_back(5 * std::pow(100.0, double(k) / std::max(1, ns - 1)));
  const auto img = testing::make_synthetic_image(o);
  const auto path = testing::write_synthetic(img, dir, "field");
  std::cout << nlohmann::json{{"mode", "image"},
                              {"image", path.string()},
                              {"reference", (dir / "field.truth.json").string()},
                              {"n", n},
                              {"sources", img.truth.sources.size()}}
                   .dump(1)
            << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: photometry_scale_bench fill|info|image [--db PATH|URL] [options] "
                 "(see the file's header)\n";
    return 2;
  }
  const std::string mode = argv[1];
  Args a;
  for (int i = 2; i + 1 < argc; i += 2) a.kv[argv[i]] = argv[i + 1];
  try {
    if ((mode == "fill" || mode == "info") && a.get("--db").empty()) {
      std::cerr << "photometry_scale_bench " << mode << ": --db PATH|URL is required\n";
      return 2;
    }
    if (mode == "fill") return fill(a);
    if (mode == "info") return info(a);
    if (mode == "image" && !a.get("--out").empty()) return image(a);
  } catch (const std::exception& e) {
    std::cout << nlohmann::json{{"ok", false}, {"error", e.what()}}.dump() << "\n";
    return 1;
  }
  std::cerr << "photometry_scale_bench: unknown mode or missing option\n";
  return 2;
}
