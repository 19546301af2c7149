#include "imaging/image_stage.h"

#include <cmath>

#include <fmt/format.h>

#include "astro/site_data.h"
#include "calibration/apply.h"
#include "calibration/apply_stage.h"
#include "calibration/ms_access.h"
#include "common/build_info.h"
#include "common/error.h"
#include "common/logging.h"
#include "pipeline/state_view.h"
#include "state/records.h"

namespace contimg::imaging {
namespace fs = std::filesystem;
namespace {
constexpr double kDeg = M_PI / 180.0;

state::ImageRecord to_record(const std::string& group_id, const fs::path& ms, const ImagerResult& r) {
  state::ImageRecord rec;
  rec.group_id = group_id;
  rec.ms_path = ms.string();
  rec.data_column = r.rephase.applied_in_pass.empty()
                        ? r.rephase.source_column
                        : r.rephase.source_column + " calibrated while imaging";
  rec.image_path = r.products.image.string();
  rec.pbcor_path = r.products.pbcor.string();
  rec.centre_ra_deg = r.rephase.centre.ra_rad / kDeg;
  rec.centre_dec_deg = r.rephase.centre.dec_rad / kDeg;
  rec.freq_hz = r.freq_hz;
  rec.cell_arcsec = r.cell_arcsec;
  rec.size_px = r.size_px;
  rec.rms_jy = r.stats.rms;
  rec.peak_jy = r.stats.peak;
  rec.dynamic_range = r.stats.dynamic_range;
  if (r.bmaj_deg) rec.bmaj_arcsec = *r.bmaj_deg * 3600;
  if (r.bmin_deg) rec.bmin_arcsec = *r.bmin_deg * 3600;
  rec.bpa_deg = r.bpa_deg;
  rec.seconds_rephase = r.rephase.seconds_total;
  rec.seconds_wsclean = r.seconds_wsclean;
  rec.seconds_total = r.seconds_total;
  rec.contimg_version = build::kVersion;
  return rec;
}

// The calibration set the chain applied before this stage ("" when none or
// when the stage runs alone).
std::string applied_calset(const pipeline::Context& ctx) {
  return ctx.has(pipeline::keys::kAppliedCalsetId) ? ctx.get(pipeline::keys::kAppliedCalsetId) : std::string();
}

// The set applycal chose, applied while the imaging MS is written from DATA
// when CORRECTED_DATA does not hold it (calibration.write_corrected_data =
// false): applycal, re-phasing and channel averaging in one pass. Nothing to
// do when CORRECTED_DATA holds it, when none applies, or when
// imaging.data_column names a column. Returns the counts the corrector
// fills (null when there is none), for the log.
std::shared_ptr<calibration::ApplyStats> apply_while_imaging(const pipeline::Context& ctx,
                                                             const fs::path& ms,
                                                             ImagerOptions& options) {
  const std::string id = applied_calset(ctx);
  if (id.empty() || options.data_column != "auto") return nullptr;
  const calibration::MsVisibilities vis(ms);
  if (vis.applied_calset() == id) return nullptr;
  const auto set = ctx.state() ? ctx.state()->calset(id) : std::nullopt;
  if (!set)
    throw InputError(
        fmt::format("image: {}: calibration set {} is not in the registry", ms.string(), id));
  auto solution = std::make_shared<const calibration::CalSolution>(
      calibration::load_solution(*set, vis.meta()));
  auto stats = std::make_shared<calibration::ApplyStats>();
  options.correct = [solution, stats](
                        int spw, std::span<const double> time, std::span<const int> a1,
                        std::span<const int> a2, std::size_t nchan, std::size_t ncorr,
                        std::span<std::complex<float>> data, std::span<std::uint8_t> flags) {
    calibration::apply_solution(
        *solution, calibration::VisRows{spw, time.size(), nchan, ncorr, time, a1, a2, data, flags},
        *stats);
  };
  options.correct_label = "calset " + id;
  options.data_column = "DATA";
  return stats;
}

}  // namespace

struct ImageStage::Site {
  astro::SiteData data;
};

ImageStage::ImageStage(const config::Config& cfg)
    : site_(std::make_unique<Site>(Site{astro::load_site_data(cfg.get_path("paths.data_dir"))})),
      options_(ImagerOptions::from_config(cfg)) {}

ImageStage::~ImageStage() = default;

bool ImageStage::is_done(const pipeline::Context& ctx) const {
  if (!ctx.has("products_dir") || !ctx.has("ms_path") || !ctx.state()) return false;
  const auto rec = ctx.state()->image(ctx.group_id());
  if (!rec || rec->ms_path != ctx.get_string("ms_path")) return false;
  // Re-applied with another set: the image is stale.
  if (rec->calset_id != applied_calset(ctx)) return false;
  const auto p = ImageProducts::in(ctx.get_string("products_dir"), ctx.group_id());
  if (rec->image_path != p.image.string()) return false;
  for (const auto& f : {p.image, p.residual, p.model, p.psf, p.pb, p.pbcor, p.quicklook}) {
    if (!fs::is_regular_file(f)) return false;
  }
  return true;
}

pipeline::Context ImageStage::restore(const pipeline::Context& ctx) const {
  const auto rec = ctx.state() ? ctx.state()->image(ctx.group_id()) : std::nullopt;
  if (!rec) throw Error("image: no images row for group " + ctx.group_id());
  const auto p = ImageProducts::in(ctx.get_string("products_dir"), ctx.group_id());
  return ctx.with_outputs({{"image_fits", p.image.string()},
                           {"residual_fits", p.residual.string()},
                           {"model_fits", p.model.string()},
                           {"psf_fits", p.psf.string()},
                           {"pb_fits", p.pb.string()},
                           {"pbcor_fits", p.pbcor.string()},
                           {"quicklook_png", p.quicklook.string()},
                           {"image_rms_jy", rec->rms_jy},
                           {"image_peak_jy", rec->peak_jy},
                           {"dynamic_range", rec->dynamic_range}});
}

void ImageStage::validate(const pipeline::Context& ctx) const {
  const fs::path ms = ctx.get_string("ms_path");
  if (!fs::is_directory(ms)) throw InputError(fmt::format("image: {} is not a Measurement Set directory", ms.string()));
  if (ctx.get_string("products_dir").empty()) throw InputError("image: empty products_dir");
}

pipeline::Context ImageStage::execute(const pipeline::Context& ctx) {
  const fs::path ms = ctx.get_string("ms_path");
  const fs::path products_dir = ctx.get_string("products_dir");
  auto log = logging::group_logger(ctx.group_id());
  auto options = options_;
  options.wsclean.threads = ctx.resources().threads_for(options.wsclean.threads);
  if (options.wsclean.abs_mem_gb <= 0 && ctx.resources().memory_bytes > 0) {
    options.wsclean.abs_mem_gb = static_cast<double>(ctx.resources().memory_bytes) / (1 << 30);
  }
  const auto applied = apply_while_imaging(ctx, ms, options);
  const Imager imager(site_->data.observatory, options);
  last_ = std::make_unique<ImagerResult>(imager.run(ms, products_dir, ctx.group_id(), ctx.interrupts()));
  const auto& r = *last_;
  if (applied) {
    log->info("{} applied while imaging in {:.1f} s: {} samples, {} newly flagged by the solutions",
              r.rephase.applied_in_pass, r.rephase.seconds_apply, applied->samples,
              applied->flagged_by_solutions);
  }
  log->info(
      "stage=image rows={} column={}{} cell={}\" size={} rms={:.4g} peak={:.4g} dr={:.1f} "
      "rephase_s={:.1f} bright_pass_s={:.1f} drift_components={} drift_restored={} drift_s={:.1f} "
      "wsclean_s={:.1f} restore_s={:.1f} pb_s={:.1f} total_s={:.1f} image={}",
      r.rephase.rows, r.rephase.source_column,
      r.rephase.applied_in_pass.empty() ? "" : " calibrated with " + r.rephase.applied_in_pass,
      r.cell_arcsec, r.size_px, r.stats.rms, r.stats.peak, r.stats.dynamic_range,
      r.rephase.seconds_total, r.seconds_bright_pass, r.drift.components, r.drift_restored,
      r.seconds_drift, r.seconds_wsclean, r.seconds_restore, r.seconds_pb, r.seconds_total,
      r.products.image.string());
  auto rec = to_record(ctx.group_id(), ms, r);
  rec.calset_id = applied_calset(ctx);
  return ctx.with_record(state::DomainRecord{rec})
      .with_outputs({{"image_fits", r.products.image.string()},
                     {"residual_fits", r.products.residual.string()},
                     {"model_fits", r.products.model.string()},
                     {"psf_fits", r.products.psf.string()},
                     {"pb_fits", r.products.pb.string()},
                     {"pbcor_fits", r.products.pbcor.string()},
                     {"quicklook_png", r.products.quicklook.string()},
                     {"image_rms_jy", r.stats.rms},
                     {"image_peak_jy", r.stats.peak},
                     {"dynamic_range", r.stats.dynamic_range}})
      .with_io(r.rephase.bytes_read + r.drift.bytes_read, r.rephase.bytes_written + r.drift.bytes_written);
}

std::vector<pipeline::ProductRef> ImageStage::planned_products(const pipeline::Context& ctx) const {
  if (!ctx.has("products_dir")) return {};
  const auto p = ImageProducts::in(ctx.get_string("products_dir"), ctx.group_id());
  return {{p.image, "image"}, {p.residual, "image"}, {p.model, "image"}, {p.psf, "image"},
          {p.pb, "image"},    {p.pbcor, "image"},    {p.quicklook, "quicklook"}};
}

void ImageStage::validate_outputs(const pipeline::Context& ctx) const {
  for (const char* key : {"image_fits", "residual_fits", "model_fits", "psf_fits", "pb_fits", "pbcor_fits",
                          "quicklook_png"}) {
    const fs::path p = ctx.get_string(key);
    if (!fs::is_regular_file(p)) throw IoError(fmt::format("image: {} missing after imaging", p.string()));
  }
  if (!(ctx.get_double("image_rms_jy") > 0)) throw Error("image: the image noise is not positive");
}

}  // namespace contimg::imaging
