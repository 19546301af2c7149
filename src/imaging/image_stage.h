#pragma once
// Imaging as a pipeline stage (the adapter; the work is imaging::Imager).
// Inputs: "ms_path", "products_dir"; outputs: "image_fits", "residual_fits",
// "model_fits", "psf_fits", "pb_fits", "pbcor_fits", "quicklook_png",
// "image_rms_jy", "image_peak_jy", "dynamic_range". Uses CORRECTED_DATA when
// it holds the chain's set (imaging.data_column = auto); else applies the set
// to DATA in its one pass and writes CORRECTED_DATA there (with
// calibration.write_corrected_data). Returns the QA as an images record.
// Running it again re-images and replaces the products and the row.
#include <memory>

#include "config/config.h"
#include "imaging/imager.h"
#include "pipeline/stage.h"

namespace contimg::imaging {

class ImageStage : public pipeline::Stage {
 public:
  explicit ImageStage(const config::Config& cfg);
  ~ImageStage() override;

  std::string name() const override { return "image"; }
  // Done when the images table holds this group's image of this MS and every
  // product file is in place (products are renamed into place, image last),
  // and, when the chain's set is to be in CORRECTED_DATA (written by this
  // stage's pass, calibration.apply_in_image_pass), the MS holds it.
  bool is_done(const pipeline::Context& ctx) const override;
  pipeline::Context restore(const pipeline::Context& ctx) const override;
  void validate(const pipeline::Context& ctx) const override;
  pipeline::Context execute(const pipeline::Context& ctx) override;
  std::vector<pipeline::ProductRef> planned_products(const pipeline::Context& ctx) const override;
  std::vector<std::string> config_prefixes() const override { return {"imaging."}; }
  void validate_outputs(const pipeline::Context& ctx) const override;
  std::vector<pipeline::KeySpec> needs() const override {
    return {pipeline::keys::kMsPath, pipeline::keys::kProductsDir};
  }
  std::vector<pipeline::KeySpec> provides() const override {
    using namespace pipeline::keys;
    return {kImageFits, kPbFits, kPbcorFits, kImageRmsJy, kImagePeakJy};
  }

  // The last run's full result (for the command's report).
  const ImagerResult* last_result() const { return last_.get(); }

 private:
  struct Site;
  std::unique_ptr<Site> site_;
  ImagerOptions options_;
  bool write_corrected_ = true;  // calibration.write_corrected_data
  std::unique_ptr<ImagerResult> last_;
};

}  // namespace contimg::imaging
