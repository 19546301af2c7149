#pragma once
// The converter as a pipeline stage (the adapter; the algorithm is
// GroupConverter). Inputs: "subband_files" (["NN=path", ...]), "output_dir";
// outputs: "ms_path", "rows", "calibrator_field", "staged_in_tmpfs".
#include <memory>
#include <optional>

#include "conversion/group_converter.h"
#include "pipeline/stage.h"

namespace contimg {
class Progress;
}

namespace contimg::conversion {

class ConversionStage : public pipeline::Stage {
 public:
  ConversionStage(const GroupConverter& converter, bool skip_existing, Progress* progress = nullptr)
      : converter_(converter), skip_existing_(skip_existing), progress_(progress) {}

  std::string name() const override { return "convert"; }
  bool is_done(const pipeline::Context& ctx) const override;
  // The existing MS's path (later stages read what else they need from the MS).
  pipeline::Context restore(const pipeline::Context& ctx) const override;
  void validate(const pipeline::Context& ctx) const override;
  pipeline::Context execute(const pipeline::Context& ctx) override;
  std::vector<pipeline::ProductRef> planned_products(const pipeline::Context& ctx) const override;
  std::vector<std::string> config_prefixes() const override { return {"conversion."}; }
  std::vector<pipeline::KeySpec> needs() const override {
    return {pipeline::keys::kSubbandFiles, pipeline::keys::kOutputDir};
  }
  std::vector<pipeline::KeySpec> provides() const override { return {pipeline::keys::kMsPath}; }
  // The last execute's full result (for `contimg convert-files`' report).
  const std::optional<ConversionResult>& last_result() const { return last_; }

  // "NN=path" <-> SubbandFile.
  static std::string encode(const SubbandFile& f);
  static SubbandFile decode(const std::string& s);

 private:
  const GroupConverter& converter_;
  bool skip_existing_;
  Progress* progress_;
  std::optional<ConversionResult> last_;
};

}  // namespace contimg::conversion
