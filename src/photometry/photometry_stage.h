#pragma once
// Forced photometry as a pipeline stage (issue 15; docs/science-products.md).
// Inputs: "pbcor_fits", "products_dir"; optional "pb_fits" (else the one beam
// model, sky/primary_beam.h, about the image centre, unless "pb_fits" is
// "none": a flat-noise image) and "reference_catalogue" (else
// validation.reference_catalogue). On one read of the image: the noise maps
// and blind detections of the validation source finder (the one noise
// estimator), then one forced-photometry pass at every reference source in
// the footprint, every catalogue source there (the state view) and every blind
// detection that lies at none of those. Outputs: "photometry_csv" (the
// image's measurements), "n_measured", "n_blind". The measurements go to the
// state database as a PhotometryRecords (association, new sources and
// statistics happen on store, in the job's transaction).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "catalog/reference_store.h"
#include "config/config.h"
#include "io/fits/fits_image.h"
#include "photometry/forced.h"
#include "pipeline/stage.h"
#include "state/photometry_store.h"
#include "validation/source_finder.h"

namespace contimg::photometry {

struct PhotometrySettings {
  ForcedOptions forced;
  double blind_match_beams = 1;
  AssociationOptions association;
  double new_source_sigma = 5;
  validation::FinderOptions finder;
  double spectral_index = -0.7;
  std::filesystem::path default_reference;
  static PhotometrySettings from_config(const config::Config& c);
};

// Every measurement of one image (no database): `pb` the primary beam the
// image was divided by (same shape), nullptr for a flat-noise image.
state::PhotometryRecords measure_image(const fits::Image& image, const fits::Image* pb,
                                       const std::vector<catalog::RefSource>& references,
                                       const std::vector<state::SourceRow>& known,
                                       const PhotometrySettings& s);

// The one beam model evaluated on the image's pixels about its centre pixel.
fits::Image model_primary_beam(const fits::Image& image);

// <products_dir>/<group>.photometry.csv
std::filesystem::path photometry_csv_for(const std::filesystem::path& products_dir,
                                         const std::string& group_id);

class PhotometryStage : public pipeline::Stage {
 public:
  explicit PhotometryStage(const config::Config& config);
  std::string name() const override { return "photometry"; }
  void validate(const pipeline::Context& ctx) const override;
  // Done when this tree's database holds the image's measurements and the CSV is newer than the
  // image (a re-imaged group is measured again).
  bool is_done(const pipeline::Context& ctx) const override;
  pipeline::Context restore(const pipeline::Context& ctx) const override;
  pipeline::Context execute(const pipeline::Context& ctx) override;
  std::vector<pipeline::ProductRef> planned_products(const pipeline::Context& ctx) const override;
  std::vector<std::string> config_prefixes() const override {
    return {"photometry.", "validation."};
  }
  std::vector<pipeline::KeySpec> needs() const override {
    return {pipeline::keys::kPbcorFits, pipeline::keys::kProductsDir};
  }

 private:
  PhotometrySettings settings_;
};

}  // namespace contimg::photometry
