#pragma once
// Validation as a pipeline stage (the adapter; the algorithms are
// source_finder, reference, crossmatch and report). Inputs: "pbcor_fits",
// "products_dir", optional "image_fits" and "reference_catalogue" (else
// validation.reference_catalogue; neither: the cross-match is skipped, a
// warning, and the products are still made); QA numbers of earlier stages, when present
// in the context, go into the report. Outputs: "verdict" (pass|warn|fail),
// "verdict_reasons", "crossmatch" ("done" or "skipped: <reason>"),
// "catalogue_fits", "catalogue_csv", "report_html",
// "n_detections". Results go to the state database (validations, detections).
// Done (skipped by a resumed chain) when the database holds this group's
// validation of this image against this reference and the report is newer
// than the image; otherwise re-run: the products are replaced atomically and
// the group's rows are replaced, so a rerun leaves no duplicates.
#include <filesystem>
#include <string>
#include <vector>

#include "config/config.h"
#include "pipeline/stage.h"
#include "validation/crossmatch.h"
#include "validation/source_finder.h"

namespace contimg::validation {

FinderOptions finder_options(const config::Config& c);

struct ValidationProducts {
  std::filesystem::path catalogue_fits, catalogue_csv, report_html;
};
// <products_dir>/<group>.sources.fits, .sources.csv, .report.html
ValidationProducts products_for(const std::filesystem::path& products_dir, const std::string& group_id);

class ValidateStage : public pipeline::Stage {
 public:
  explicit ValidateStage(const config::Config& config);

  std::string name() const override { return "validate"; }
  bool is_done(const pipeline::Context& ctx) const override;
  pipeline::Context restore(const pipeline::Context& ctx) const override;
  void validate(const pipeline::Context& ctx) const override;
  pipeline::Context execute(const pipeline::Context& ctx) override;
  std::vector<pipeline::ProductRef> planned_products(const pipeline::Context& ctx) const override;
  std::vector<std::string> config_prefixes() const override { return {"validation."}; }
  std::vector<pipeline::KeySpec> needs() const override {
    return {pipeline::keys::kPbcorFits, pipeline::keys::kProductsDir};
  }
  std::vector<pipeline::KeySpec> provides() const override {
    using namespace pipeline::keys;
    return {kVerdict, kVerdictReasons, kNDetections, kCatalogueFits, kCatalogueCsv, kReportHtml};
  }
  void validate_outputs(const pipeline::Context& ctx) const override;

 private:
  std::filesystem::path reference_for(const pipeline::Context& ctx) const;

  FinderOptions finder_;
  QaThresholds thresholds_;
  double spectral_index_;
  std::filesystem::path default_reference_;
};

}  // namespace contimg::validation
