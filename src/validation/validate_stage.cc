#include "validation/validate_stage.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/logging.h"
#include "io/fits/fits_image.h"
#include "pipeline/state_view.h"
#include "state/records.h"
#include "state/validation_records.h"
#include "validation/background.h"
#include "validation/catalogue_io.h"
#include "validation/reference.h"
#include "validation/report.h"

namespace contimg::validation {
namespace fs = std::filesystem;
namespace {

// Why the cross-match is skipped when no reference reaches the stage (the
// chain passes --reference or a truth file as "reference_catalogue").
constexpr const char* kNoReference = "no reference catalogue (none given, validation.reference_catalogue unset)";

// The "crossmatch" output: "done", or "skipped: <reason>".
std::string crossmatch_output(const nlohmann::json& metrics) {
  const auto c = metrics.value("crossmatch", nlohmann::json::object());
  if (c.value("status", std::string("done")) != "skipped") return "done";
  return "skipped: " + c.value("reason", std::string());
}

}  // namespace

FinderOptions finder_options(const config::Config& c) {
  FinderOptions o;
  o.detect_sigma = c.get_double("validation.detect_sigma");
  o.island_sigma = c.get_double("validation.island_sigma");
  o.max_components = static_cast<int>(c.get_int("validation.max_components"));
  o.box_beams = c.get_double("validation.rms_box_beams");
  if (o.detect_sigma <= 0 || o.island_sigma <= 0 || o.island_sigma > o.detect_sigma) {
    throw ConfigError(fmt::format("validation.detect_sigma ({}) and validation.island_sigma ({}) must be positive "
                                  "with island_sigma <= detect_sigma", o.detect_sigma, o.island_sigma));
  }
  if (o.max_components < 1 || o.box_beams <= 0) {
    throw ConfigError("validation.max_components must be >= 1 and validation.rms_box_beams > 0");
  }
  return o;
}

ValidationProducts products_for(const fs::path& dir, const std::string& group_id) {
  return {dir / (group_id + ".sources.fits"), dir / (group_id + ".sources.csv"), dir / (group_id + ".report.html")};
}

ValidateStage::ValidateStage(const config::Config& config)
    : finder_(finder_options(config)),
      thresholds_(QaThresholds::from_config(config)),
      spectral_index_(config.get_double("validation.reference_spectral_index")),
      default_reference_(config.get_path("validation.reference_catalogue")) {}

std::vector<pipeline::ProductRef> ValidateStage::planned_products(const pipeline::Context& ctx) const {
  if (!ctx.has("products_dir")) return {};
  const auto p = products_for(ctx.get_string("products_dir"), ctx.group_id());
  return {{p.catalogue_fits, "catalogue"}, {p.catalogue_csv, "catalogue"}, {p.report_html, "report"}};
}

fs::path ValidateStage::reference_for(const pipeline::Context& ctx) const {
  if (ctx.has("reference_catalogue") && !ctx.get_string("reference_catalogue").empty()) {
    return ctx.get_string("reference_catalogue");
  }
  return default_reference_;
}

bool ValidateStage::is_done(const pipeline::Context& ctx) const {
  if (!ctx.has("pbcor_fits")) return false;
  const fs::path pbcor = fs::absolute(ctx.get_string("pbcor_fits"));
  const fs::path ref = reference_for(ctx);
  if (!fs::exists(pbcor)) return false;
  // Without a reference the row records "" (a validation that skipped the cross-match).
  const std::string ref_key = ref.empty() ? std::string() : fs::absolute(ref).string();
  if (!ctx.state()) return false;
  const auto rec = ctx.state()->validation(ctx.group_id());
  if (!rec || rec->image_path != pbcor.string() || rec->reference != ref_key ||
      !fs::is_regular_file(rec->report_html)) {
    return false;
  }
  return fs::last_write_time(rec->report_html) >= fs::last_write_time(pbcor);
}

pipeline::Context ValidateStage::restore(const pipeline::Context& ctx) const {
  const auto rec = ctx.state() ? ctx.state()->validation(ctx.group_id()) : std::nullopt;
  if (!rec) throw Error("validate: no validation row for group " + ctx.group_id());
  nlohmann::json metrics = nlohmann::json::object();
  try {
    metrics = nlohmann::json::parse(rec->metrics_json);
  } catch (const nlohmann::json::exception&) {
    // Unparsable metrics: the cross-match status falls back to the reference column.
  }
  std::string crossmatch = crossmatch_output(metrics);
  if (rec->reference.empty() && crossmatch == "done") crossmatch = std::string("skipped: ") + kNoReference;
  return ctx.with_outputs({{"verdict", rec->verdict},
                           {"crossmatch", crossmatch},
                           {"verdict_reasons", rec->reasons},
                           {"catalogue_fits", rec->catalogue_fits},
                           {"catalogue_csv", rec->catalogue_csv},
                           {"report_html", rec->report_html},
                           {"n_detections", static_cast<std::int64_t>(rec->n_detections)},
                           {"validation_metrics", rec->metrics_json}});
}

void ValidateStage::validate(const pipeline::Context& ctx) const {
  if (!ctx.has("pbcor_fits")) throw ConfigError("validate: no \"pbcor_fits\" in the context");
  if (!ctx.has("products_dir")) throw ConfigError("validate: no \"products_dir\" in the context");
  const fs::path pbcor = ctx.get_string("pbcor_fits");
  if (!fs::exists(pbcor)) throw InputError(fmt::format("{}: no such image", pbcor.string()));
  // No reference at all is not an error: the cross-match is skipped (execute).
  // One that was named but is missing is.
  const auto ref = reference_for(ctx);
  if (!ref.empty() && !fs::exists(ref)) {
    throw InputError(fmt::format("{}: no such reference catalogue", ref.string()));
  }
}

namespace {

std::string value_text(const pipeline::Value& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) return x;
        else if constexpr (std::is_same_v<T, bool>) return x ? "yes" : "no";
        else if constexpr (std::is_same_v<T, double>) return fmt::format("{:.4g}", x);
        else if constexpr (std::is_same_v<T, std::int64_t>) return std::to_string(x);
        else return x.empty() ? std::string("none") : fmt::format("{}", fmt::join(x, ", "));
      },
      v);
}

// Context keys of earlier stages shown in the report, with their labels.
const std::vector<std::pair<const char*, const char*>> kCalibrationKeys = {
    {"flagged_fraction", "Flagged fraction"}, {"dead_antennas", "Dead antennas"},
    {"calibrator_field", "Calibrator field"}, {"calset_id", "Calibration set solved"},
    {"calset_status", "Solve status"},        {"calset_reason", "Solve QA reason"},
    {"calibrated", "Calibrated"},             {"applied_calset_id", "Calibration set applied"}};
const std::vector<std::pair<const char*, const char*>> kImageKeys = {
    {"image_rms_jy", "Imaging: residual noise (Jy/beam)"},
    {"image_peak_jy", "Imaging: peak (Jy/beam)"},
    {"dynamic_range", "Imaging: dynamic range"}};
const std::vector<std::pair<const char*, const char*>> kProductKeys = {
    {"ms_path", "Measurement Set"}, {"image_fits", "Image"},     {"residual_fits", "Residual"},
    {"model_fits", "Model"},        {"psf_fits", "PSF"},         {"pb_fits", "Primary beam"},
    {"pbcor_fits", "PB-corrected image"}, {"quicklook_png", "Quick-look PNG"}};

// One-pass MAD noise (as the report's image QA table) and the peak of the finite pixels.
std::pair<double, double> noise_and_peak(const fits::Image& image) {
  std::vector<float> finite;
  double peak = -INFINITY;
  for (float v : image.pixels) {
    if (std::isfinite(v)) {
      finite.push_back(v);
      peak = std::max(peak, static_cast<double>(v));
    }
  }
  if (finite.empty()) return {0.0, 0.0};
  return {clipped_stats(finite, 1e30).sigma, peak};
}

}  // namespace

pipeline::Context ValidateStage::execute(const pipeline::Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  auto log = logging::group_logger(ctx.group_id());
  const fs::path pbcor = ctx.get_string("pbcor_fits");
  const fs::path products_dir = ctx.get_string("products_dir");
  const auto ref_path = reference_for(ctx);
  fs::create_directories(products_dir);

  const auto image = fits::read_image(pbcor);
  // With the PB the noise maps follow the PB-corrected image's 1/PB noise (source_finder.h).
  std::optional<fits::Image> pb;
  if (ctx.has("pb_fits") && !ctx.get_string("pb_fits").empty()) pb = fits::read_image(ctx.get_string("pb_fits"));
  // The box statistics and the fits use the stage's whole thread budget (resources.threads).
  auto finder = finder_;
  finder.threads = ctx.resources().threads_for(0);
  // Kept for the photometry stage, which finds sources in the same image.
  const auto shared = find_sources_shared(image, finder, pb ? &*pb : nullptr, /*keep=*/true);
  const SourceFinderResult& found = *shared;
  ctx.throw_if_interrupted();
  std::vector<catalog::RefSource> refs;
  QaResult qa;
  if (ref_path.empty()) {
    const auto [noise, peak] = noise_and_peak(image);
    qa = without_reference(static_cast<int>(found.detections.size()), noise, peak, kNoReference);
    log->warn("validate: cross-match skipped: {}", kNoReference);
  } else {
    refs = in_footprint(load_reference(ref_path, query_for_image(image, spectral_index_)), image);
    qa = cross_match(found.detections, refs, thresholds_);
  }
  log->info("validate: {} islands, {} detections, {} reference sources in the footprint, verdict {}",
            found.pixel.islands.size(), found.detections.size(), refs.size(), to_string(qa.verdict));
  for (const auto& r : qa.reasons) log->info("validate: {}", r);
  const std::string ref_name = ref_path.empty() ? std::string("none") : ref_path.filename().string();

  const auto out = products_for(products_dir, ctx.group_id());
  write_catalogue_fits(out.catalogue_fits, found.detections,
                       {{"IMAGE", pbcor.filename().string()}, {"GROUP", ctx.group_id()},
                        {"REFCAT", ref_name}, {"VERDICT", to_string(qa.verdict)}});
  write_catalogue_csv(out.catalogue_csv, found.detections);

  ReportInput rin;
  rin.group_id = ctx.group_id();
  rin.image = &image;
  rin.detections = &found.detections;
  rin.references = &refs;
  rin.qa = &qa;
  rin.reference_name = ref_name;
  rin.image_qa = image_statistics(image);
  // Earlier stages' values: outputs first, then inputs (the Context look-up order).
  auto value_of = [&ctx](const std::string& key) {
    const auto& o = ctx.outputs();
    return value_text(o.count(key) ? o.at(key) : ctx.inputs().at(key));
  };
  for (const auto& [key, label] : kImageKeys) {
    if (ctx.has(key)) rin.image_qa.emplace_back(label, value_of(key));
  }
  for (const auto& [key, label] : kCalibrationKeys) {
    if (ctx.has(key)) rin.calibration_qa.emplace_back(label, value_of(key));
  }
  for (const auto& [key, label] : kProductKeys) {
    if (ctx.has(key)) {
      const fs::path p = ctx.get_string(key);
      if (!p.empty() && fs::exists(p)) rin.products.emplace_back(label, p);
    }
  }
  rin.products.emplace_back("Source catalogue (FITS)", out.catalogue_fits);
  rin.products.emplace_back("Source catalogue (CSV)", out.catalogue_csv);
  const fs::path work = ctx.scratch_dir().empty() ? products_dir / (".report-" + ctx.group_id()) : ctx.scratch_dir();
  write_report(out.report_html, rin, work);
  if (ctx.scratch_dir().empty()) fs::remove_all(work);

  state::ValidationRecords records;
  state::ValidationRecord& rec = records.validation;
  rec.group_id = ctx.group_id();
  rec.image_path = fs::absolute(pbcor).string();
  rec.reference = ref_path.empty() ? std::string() : fs::absolute(ref_path).string();
  rec.verdict = to_string(qa.verdict);
  rec.reasons = qa.reasons;
  rec.metrics_json = to_json(qa).dump();
  rec.n_detections = static_cast<int>(found.detections.size());
  rec.catalogue_fits = out.catalogue_fits.string();
  rec.catalogue_csv = out.catalogue_csv.string();
  rec.report_html = out.report_html.string();
  std::vector<state::DetectionRow>& rows = records.detections;
  for (const auto& d : found.detections) {
    rows.push_back({d.island, d.component, d.ra_deg, d.dec_deg, d.ra_err_arcsec, d.dec_err_arcsec, d.peak_jy,
                    d.peak_err_jy, d.flux_jy, d.flux_err_jy, d.major_arcsec, d.minor_arcsec, d.pa_deg, d.snr});
  }
  state::EventNote note{qa.verdict == Verdict::kFail ? state::EventLevel::kWarn : state::EventLevel::kInfo,
                        fmt::format("verdict {}: {}", rec.verdict, fmt::join(qa.reasons, "; "))};
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log->info("validate: report {} ({:.1f} s)", out.report_html.string(), secs);
  const auto metrics = to_json(qa);
  return ctx.with_outputs({{"verdict", std::string(to_string(qa.verdict))},
                           {"crossmatch", crossmatch_output(metrics)},
                           {"verdict_reasons", qa.reasons},
                           {"catalogue_fits", out.catalogue_fits.string()},
                           {"catalogue_csv", out.catalogue_csv.string()},
                           {"report_html", out.report_html.string()},
                           {"n_detections", static_cast<std::int64_t>(found.detections.size())},
                           {"validation_metrics", metrics.dump()}})
      .with_record(state::DomainRecord{std::move(records)})
      .with_record(state::DomainRecord{std::move(note)});
}

void ValidateStage::validate_outputs(const pipeline::Context& ctx) const {
  for (const char* k : {"catalogue_fits", "catalogue_csv", "report_html"}) {
    if (!fs::exists(ctx.get_string(k))) {
      throw IoError(fmt::format("validate: product {} ({}) is missing", k, ctx.get_string(k)));
    }
  }
}

}  // namespace contimg::validation
