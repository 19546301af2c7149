#include "photometry/photometry_stage.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <numbers>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "astro/time.h"
#include "common/error.h"
#include "common/logging.h"
#include "io/fits/fits_util.h"
#include "pipeline/state_view.h"
#include "sky/primary_beam.h"
#include "state/records.h"
#include "validation/reference.h"
#include "validation/validate_stage.h"

namespace contimg::photometry {
namespace fs = std::filesystem;
namespace {
constexpr double kDeg = std::numbers::pi / 180;
}

PhotometrySettings PhotometrySettings::from_config(const config::Config& c) {
  PhotometrySettings s;
  s.forced.box_beams = c.get_double("photometry.box_beams");
  s.forced.cluster_beams = c.get_double("photometry.cluster_beams");
  s.forced.correlation = c.get_string("photometry.noise_correlation") == "white"
                             ? NoiseCorrelation::kWhite
                             : NoiseCorrelation::kBeam;
  s.blind_match_beams = c.get_double("photometry.blind_match_beams");
  s.association.method = AssociationOptions::parse_method(c.get_string("photometry.association"));
  s.association.radius_arcsec = c.get_double("photometry.association_radius_arcsec");
  s.association.deruiter_radius = c.get_double("photometry.deruiter_radius");
  s.association.beamwidth_limit = c.get_double("photometry.beamwidth_limit");
  s.association.systematic_arcsec = c.get_double("photometry.systematic_arcsec");
  s.new_source_sigma = c.get_double("photometry.new_source_sigma");
  s.finder = validation::finder_options(c);
  s.spectral_index = c.get_double("validation.reference_spectral_index");
  s.default_reference = c.get_path("validation.reference_catalogue");
  return s;
}

fs::path photometry_csv_for(const fs::path& dir, const std::string& group_id) {
  return dir / (group_id + ".photometry.csv");
}

fits::Image model_primary_beam(const fits::Image& image) {
  fits::Image pb;
  pb.path = image.path.string() + " (model primary beam)";
  pb.nx = image.nx, pb.ny = image.ny;
  pb.wcs = image.wcs;
  pb.pixels.assign(image.pixels.size(), NAN);
  double ra0, dec0;
  image.wcs->pixel_to_world(image.nx / 2.0, image.ny / 2.0, ra0, dec0);
  const double freq = image.freq_hz.value_or(1.4e9);
  for (int y = 0; y < image.ny; ++y) {
    for (int x = 0; x < image.nx; ++x) {
      double ra, dec;
      if (!image.wcs->pixel_to_world(x, y, ra, dec)) continue;
      const double theta = sky::angular_distance(ra0 * kDeg, dec0 * kDeg, ra * kDeg, dec * kDeg);
      pb.pixels[static_cast<std::size_t>(y) * image.nx + x] =
          static_cast<float>(sky::airy_power(theta, freq));
    }
  }
  return pb;
}

state::PhotometryRecords measure_image(const fits::Image& image, const fits::Image* pb,
                                       const std::vector<catalog::RefSource>& references,
                                       const std::vector<state::SourceRow>& known,
                                       const PhotometrySettings& s) {
  // Validate's result when it ran on the same image in this process.
  const auto shared = validation::find_sources_shared(image, s.finder, pb, /*keep=*/false);
  const validation::SourceFinderResult& found = *shared;
  const auto& maps = found.pixel.maps;
  const auto vb = validation::pixel_beam(image);
  const KernelBeam beam{vb.sigma_major, vb.sigma_minor, vb.theta};
  const std::size_t npix = image.pixels.size();
  std::vector<float> data(npix);
  for (std::size_t k = 0; k < npix; ++k) data[k] = image.pixels[k] - maps.background[k];

  state::PhotometryRecords rec;
  auto& im = rec.image;
  im.path = fs::absolute(image.path).string();
  // The time orders the light curve and decides which images are "earlier" (new sources).
  if (!image.date_obs.empty()) {
    im.mjd = astro::iso_to_jd_utc(image.date_obs) - 2400000.5;
  } else if (image.keys.count("MJD-OBS")) {
    im.mjd = std::stod(image.keys.at("MJD-OBS"));
  } else {
    throw InputError(fmt::format("{}: no DATE-OBS or MJD-OBS in the header (the time of the image)",
                                 image.path.string()));
  }
  const double cx = image.nx / 2.0, cy = image.ny / 2.0;
  image.wcs->pixel_to_world(cx, cy, im.centre_ra_deg, im.centre_dec_deg);
  im.freq_hz = image.freq_hz.value_or(1.4e9);
  im.pb_corrected = pb != nullptr;
  const double scale = image.wcs->pixel_scale_deg(cx, cy);
  double rmax = 0, noise = INFINITY;
  std::vector<float> rms_values;
  for (int y = 0; y < image.ny; ++y) {
    for (int x = 0; x < image.nx; ++x) {
      const std::size_t k = static_cast<std::size_t>(y) * image.nx + x;
      if (!std::isfinite(image.pixels[k]) || !std::isfinite(maps.rms[k])) continue;
      rmax = std::max(rmax, std::hypot(x - cx, y - cy));
      if (pb)
        noise = std::min(noise, static_cast<double>(maps.rms[k] * pb->pixels[k]));
      else
        rms_values.push_back(maps.rms[k]);
    }
  }
  if (!pb && !rms_values.empty()) {
    std::nth_element(rms_values.begin(), rms_values.begin() + rms_values.size() / 2,
                     rms_values.end());
    noise = rms_values[rms_values.size() / 2];
  }
  if (!std::isfinite(noise))
    throw InputError(fmt::format("{}: no finite pixel to measure", image.path.string()));
  im.radius_deg = (rmax + 1) * scale;
  im.noise_jy = noise;
  im.beam_major_arcsec = image.beam->major_deg * 3600;
  im.beam_minor_arcsec = image.beam->minor_deg * 3600;
  im.beam_pa_deg = image.beam->pa_deg;
  rec.association = s.association;
  rec.new_source_sigma = s.new_source_sigma;

  // Positions: catalogue sources, references not yet in the catalogue, then blind detections.
  std::vector<ForcedPosition> pos;
  auto on_image = [&](double ra, double dec, double& x, double& y) {
    if (!image.wcs->world_to_pixel(ra, dec, x, y)) return false;
    const long xi = std::lround(x), yi = std::lround(y);
    return xi >= 0 && yi >= 0 && xi < image.nx && yi < image.ny &&
           std::isfinite(image.at(int(xi), int(yi)));
  };
  std::vector<std::string> known_names;
  for (const auto& k : known) {
    double x, y;
    if (!on_image(k.ra_deg, k.dec_deg, x, y)) continue;
    state::PhotometryMeasurement m;
    m.source_id = k.source_id;
    m.ra_deg = k.ra_deg, m.dec_deg = k.dec_deg, m.ra_err_arcsec = k.ra_err_arcsec,
    m.dec_err_arcsec = k.dec_err_arcsec;
    rec.measurements.push_back(m);
    pos.push_back({x, y});
    known_names.push_back(k.name);
  }
  std::sort(known_names.begin(), known_names.end());
  for (const auto& r : references) {
    double x, y;
    if (std::binary_search(known_names.begin(), known_names.end(), r.name) ||
        !on_image(r.ra_deg, r.dec_deg, x, y))
      continue;
    state::PhotometryMeasurement m;
    m.ref_name = r.name;
    m.ref_flux_jy = r.flux_jy;
    m.ra_deg = r.ra_deg, m.dec_deg = r.dec_deg;
    rec.measurements.push_back(m);
    pos.push_back({x, y});
  }
  // A blind detection at a measured position is that position's detection; the rest are measured
  // where found.
  const double match_px = s.blind_match_beams * beam.fwhm_major();
  const std::size_t n_known = pos.size();
  for (const auto& d : found.detections) {
    std::size_t best = n_known;
    double best_d = match_px;
    for (std::size_t i = 0; i < n_known; ++i) {
      const double dd = std::hypot(pos[i].x - d.x, pos[i].y - d.y);
      if (dd <= best_d) best = i, best_d = dd;
    }
    if (best < n_known) {
      auto& m = rec.measurements[best];
      if (!m.detected || d.peak_jy > m.det_peak_jy)
        m.detected = true, m.det_peak_jy = d.peak_jy, m.det_snr = d.snr;
      continue;
    }
    state::PhotometryMeasurement m;
    m.blind = true;
    m.detected = true;
    m.det_peak_jy = d.peak_jy;
    m.det_snr = d.snr;
    m.ra_deg = d.ra_deg, m.dec_deg = d.dec_deg, m.ra_err_arcsec = d.ra_err_arcsec,
    m.dec_err_arcsec = d.dec_err_arcsec;
    rec.measurements.push_back(m);
    pos.push_back({d.x, d.y});
  }

  const auto sol =
      forced_photometry(data.data(), maps.rms.data(), image.nx, image.ny, beam, pos, s.forced);
  // Only measured positions are kept; cluster members are re-indexed to the kept ones.
  std::vector<int> kept_index(pos.size(), -1);
  std::vector<state::PhotometryMeasurement> kept;
  for (std::size_t i = 0; i < pos.size(); ++i) {
    const auto& r = sol.results[i];
    if (!r.ok) continue;
    auto m = rec.measurements[i];
    m.flux_jy = r.flux, m.flux_err_jy = r.error, m.local_rms_jy = r.local_rms, m.chi2 = r.chi2,
    m.npix = r.npix;
    m.cluster = r.cluster;
    kept_index[i] = static_cast<int>(kept.size());
    kept.push_back(m);
  }
  rec.measurements = std::move(kept);
  for (const auto& c : sol.clusters) {
    state::PhotometryCluster pc;
    for (int k : c.members) pc.members.push_back(kept_index[k]);
    pc.covariance = c.covariance;
    rec.clusters.push_back(std::move(pc));
  }
  return rec;
}

PhotometryStage::PhotometryStage(const config::Config& config)
    : settings_(PhotometrySettings::from_config(config)) {}

std::vector<pipeline::ProductRef> PhotometryStage::planned_products(
    const pipeline::Context& ctx) const {
  if (!ctx.has("products_dir")) return {};
  return {{photometry_csv_for(ctx.get_string("products_dir"), ctx.group_id()), "photometry"}};
}

bool PhotometryStage::is_done(const pipeline::Context& ctx) const {
  if (!ctx.state() || !ctx.has("pbcor_fits") || !ctx.has("products_dir")) return false;
  const fs::path pbcor = fs::absolute(ctx.get_string("pbcor_fits"));
  const fs::path csv = photometry_csv_for(ctx.get_string("products_dir"), ctx.group_id());
  std::error_code ec;
  if (!fs::is_regular_file(pbcor, ec) || !fs::is_regular_file(csv, ec)) return false;
  if (!ctx.state()->measured_image(pbcor.string())) return false;
  return fs::last_write_time(csv) >= fs::last_write_time(pbcor);
}

pipeline::Context PhotometryStage::restore(const pipeline::Context& ctx) const {
  const fs::path pbcor = fs::absolute(ctx.get_string("pbcor_fits"));
  const auto m = ctx.state() ? ctx.state()->measured_image(pbcor.string()) : std::nullopt;
  if (!m) throw Error("photometry: no measurements of " + pbcor.string());
  return ctx.with_outputs(
      {{"photometry_csv",
        photometry_csv_for(ctx.get_string("products_dir"), ctx.group_id()).string()},
       {"n_measured", m->n_measurements},
       {"n_blind", m->n_blind}});
}

void PhotometryStage::validate(const pipeline::Context& ctx) const {
  const fs::path pbcor = ctx.get_string("pbcor_fits");
  if (!fs::exists(pbcor)) throw InputError(fmt::format("{}: no such image", pbcor.string()));
  if (ctx.has("reference_catalogue")) {
    const fs::path ref = ctx.get_string("reference_catalogue");
    if (!ref.empty() && !fs::exists(ref))
      throw InputError(fmt::format("{}: no such reference catalogue", ref.string()));
  }
}

pipeline::Context PhotometryStage::execute(const pipeline::Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  auto log = logging::group_logger(ctx.group_id());
  const fs::path pbcor = ctx.get_string("pbcor_fits");
  const fs::path products_dir = ctx.get_string("products_dir");
  fs::create_directories(products_dir);
  const auto image = fits::read_image(pbcor);
  if (!image.beam)
    throw InputError(
        fmt::format("{}: no restoring beam (BMAJ/BMIN) in the header", pbcor.string()));
  std::optional<fits::Image> pb;
  const std::string pb_input = ctx.has("pb_fits") ? ctx.get_string("pb_fits") : std::string();
  // "none": a flat-noise image; nothing given: the beam model about the image centre.
  if (pb_input.empty()) {
    pb = model_primary_beam(image);
  } else if (pb_input != "none") {
    pb = fits::read_image(pb_input);
  }
  fs::path ref = settings_.default_reference;
  if (ctx.has("reference_catalogue") && !ctx.get_string("reference_catalogue").empty()) {
    ref = ctx.get_string("reference_catalogue");
  }
  std::vector<catalog::RefSource> refs;
  if (!ref.empty()) {
    refs = validation::in_footprint(
        validation::load_reference(ref,
                                   validation::query_for_image(image, settings_.spectral_index)),
        image);
  }
  std::vector<state::SourceRow> known;
  if (ctx.state()) {
    const auto q = validation::query_for_image(image, settings_.spectral_index);
    known = ctx.state()->sources_in_cone(q.ra_deg, q.dec_deg, q.radius_deg);
  }
  ctx.throw_if_interrupted();
  // The noise maps' box statistics and the fits on the stage's whole thread
  // budget, as validate's (52 % of a 4096² image's 29 s was the box statistics).
  auto settings = settings_;
  settings.finder.threads = ctx.resources().threads_for(0);
  auto rec = measure_image(image, pb ? &*pb : nullptr, refs, known, settings);
  rec.image.group_id = ctx.group_id();
  int n_blind = 0;
  for (const auto& m : rec.measurements) n_blind += m.blind ? 1 : 0;

  const auto csv = photometry_csv_for(products_dir, ctx.group_id());
  {
    fits::StagedPath staged(csv);
    std::ofstream out(staged.path());
    out << "source_id,ref_name,blind,detected,ra_deg,dec_deg,flux_jy,flux_err_jy,local_rms_jy,chi2,"
           "npix,cluster\n";
    for (const auto& m : rec.measurements) {
      out << fmt::format("{},{},{},{},{:.8f},{:.8f},{:.8g},{:.8g},{:.8g},{:.6g},{},{}\n",
                         m.source_id ? std::to_string(*m.source_id) : std::string(), m.ref_name,
                         m.blind ? 1 : 0, m.detected ? 1 : 0, m.ra_deg, m.dec_deg, m.flux_jy,
                         m.flux_err_jy, m.local_rms_jy, m.chi2, m.npix, m.cluster);
    }
    out.flush();
    if (!out) throw IoError(fmt::format("{}: write failed", staged.path().string()));
    out.close();
    staged.commit();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log->info(
      "photometry: {} positions measured ({} catalogue, {} references, {} blind), {} joint groups "
      "({:.1f} s)",
      rec.measurements.size(), known.size(), refs.size(), n_blind, rec.clusters.size(), secs);
  const auto n = static_cast<std::int64_t>(rec.measurements.size());
  return ctx
      .with_outputs(
          {{"photometry_csv", csv.string()}, {"n_measured", n}, {"n_blind", std::int64_t{n_blind}}})
      .with_record(state::DomainRecord{std::move(rec)});
}

}  // namespace contimg::photometry
