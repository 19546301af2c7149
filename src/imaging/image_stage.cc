#include "imaging/image_stage.h"

#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "astro/site_data.h"
#include "calibration/apply.h"
#include "calibration/apply_stage.h"
#include "calibration/corrected_update.h"
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

// The group MS's CORRECTED_DATA written in the imaging pass, by applycal's
// protocol (calibration::CorrectedDataUpdate): the MS closed at the end of the
// pass, committed (fsynced, then marked) after the whole stage, when the
// writeback has run meanwhile under the pacer and then WSClean.
struct CorrectedWriter {
  CorrectedWriter(const fs::path& ms, std::string id)
      : calset_id(std::move(id)),
        vis(std::make_unique<calibration::MsVisibilities>(ms, true)),
        update(*vis, ms) {}
  void done() {
    update.end_writes(*vis);
    bytes_written = vis->bytes_written();
    vis.reset();
  }
  double finish() { return update.commit(calset_id); }
  std::string calset_id;
  std::unique_ptr<calibration::MsVisibilities> vis;
  calibration::CorrectedDataUpdate update;
  std::uint64_t bytes_written = 0;
};

struct InPassApply {
  std::shared_ptr<calibration::ApplyStats> stats;  // the corrector's counts
  std::shared_ptr<CorrectedWriter> writer;         // null: CORRECTED_DATA not written
};

// The set applycal chose, applied while the imaging MS is written from DATA
// when CORRECTED_DATA does not hold it (applycal deferred it: the chain's
// calibration.apply_in_image_pass, or calibration.write_corrected_data =
// false): applycal, re-phasing and channel averaging in one pass, which also
// writes CORRECTED_DATA with `write_corrected`. Nothing to do when
// CORRECTED_DATA holds the set, when none applies, or when
// imaging.data_column asks for DATA as it is. Returns null stats then.
InPassApply apply_while_imaging(const pipeline::Context& ctx, const fs::path& ms,
                                bool write_corrected, ImagerOptions& options) {
  const std::string id = applied_calset(ctx);
  if (id.empty() || options.data_column == "DATA") return {};
  if (options.data_column == "CORRECTED_DATA" && !write_corrected) return {};
  std::optional<calibration::CalSolution> loaded;
  {
    const calibration::MsVisibilities vis(ms);
    if (vis.applied_calset() == id) return {};
    const auto set = ctx.state() ? ctx.state()->calset(id) : std::nullopt;
    if (!set)
      throw InputError(
          fmt::format("image: {}: calibration set {} is not in the registry", ms.string(), id));
    loaded = calibration::load_solution(*set, vis.meta());
  }
  auto solution = std::make_shared<const calibration::CalSolution>(std::move(*loaded));
  InPassApply out;
  out.stats = std::make_shared<calibration::ApplyStats>();
  options.correct = [solution, stats = out.stats](
                        int spw, std::span<const double> time, std::span<const int> a1,
                        std::span<const int> a2, std::size_t nchan, std::size_t ncorr,
                        std::span<std::complex<float>> data, std::span<std::uint8_t> flags) {
    calibration::apply_solution(
        *solution, calibration::VisRows{spw, time.size(), nchan, ncorr, time, a1, a2, data, flags},
        *stats);
  };
  options.correct_label = "calset " + id;
  options.data_column = "DATA";
  if (write_corrected) {
    out.writer = std::make_shared<CorrectedWriter>(ms, id);
    options.write_back = [w = out.writer](std::uint64_t row0, std::size_t n, std::size_t nchan,
                                          std::size_t ncorr,
                                          std::span<const std::complex<float>> data,
                                          std::span<const std::uint8_t> flags) {
      w->vis->write_corrected_rows(row0, n, nchan, ncorr, data, flags);
    };
    options.write_back_done = [w = out.writer] { w->done(); };
  }
  return out;
}

}  // namespace

struct ImageStage::Site {
  astro::SiteData data;
};

ImageStage::ImageStage(const config::Config& cfg)
    : site_(std::make_unique<Site>(Site{astro::load_site_data(cfg.get_path("paths.data_dir"))})),
      options_(ImagerOptions::from_config(cfg)),
      write_corrected_(cfg.get_bool("calibration.write_corrected_data")) {}

ImageStage::~ImageStage() = default;

bool ImageStage::is_done(const pipeline::Context& ctx) const {
  if (!ctx.has("products_dir") || !ctx.has("ms_path") || !ctx.state()) return false;
  const auto rec = ctx.state()->image(ctx.group_id());
  if (!rec || rec->ms_path != ctx.get_string("ms_path")) return false;
  // Re-applied with another set: the image is stale.
  if (rec->calset_id != applied_calset(ctx)) return false;
  // CORRECTED_DATA is written by this stage's pass when applycal deferred:
  // not done until the MS holds the set (an image made with
  // write_corrected_data = false, then the setting turned on).
  if (write_corrected_ && !rec->calset_id.empty() && options_.data_column != "DATA") {
    try {
      if (calibration::MsVisibilities(ctx.get_string("ms_path")).applied_calset() != rec->calset_id)
        return false;
    } catch (const Error&) {
      return false;  // an unreadable MS: execute says why
    }
  }
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
  const auto applied = apply_while_imaging(ctx, ms, write_corrected_, options);
  const Imager imager(site_->data.observatory, options);
  last_ = std::make_unique<ImagerResult>(imager.run(ms, products_dir, ctx.group_id(), ctx.interrupts()));
  const auto& r = *last_;
  std::optional<state::EventNote> applied_note;
  std::uint64_t corrected_bytes = 0;
  if (applied.stats) {
    std::string written = "CORRECTED_DATA not written (calibration.write_corrected_data = false)";
    if (applied.writer) {
      // Recorded as applied once this stage returns: CORRECTED_DATA on disk first.
      const double sync_s = applied.writer->finish();
      corrected_bytes = applied.writer->bytes_written;
      written =
          fmt::format("CORRECTED_DATA and FLAG written in that pass ({:.1f} s, fsync {:.1f} s)",
                      r.rephase.seconds_write_back, sync_s);
    }
    log->info(
        "{} applied while imaging in {:.1f} s: {} samples, {} newly flagged by the solutions; {}",
        r.rephase.applied_in_pass, r.rephase.seconds_apply, applied.stats->samples,
        applied.stats->flagged_by_solutions, written);
    applied_note = state::EventNote{
        state::EventLevel::kInfo,
        fmt::format("applied {} in the image stage's pass over DATA; {} samples newly flagged by "
                    "solutions; {}",
                    r.rephase.applied_in_pass, applied.stats->flagged_by_solutions, written)};
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
  if (applied.writer) rec.data_column += ", also written to CORRECTED_DATA";
  auto out = ctx.with_record(state::DomainRecord{rec});
  if (applied_note) out = out.with_record(state::DomainRecord{*applied_note});
  return out
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
      .with_io(r.rephase.bytes_read + r.drift.bytes_read,
               r.rephase.bytes_written + r.drift.bytes_written + corrected_bytes);
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
