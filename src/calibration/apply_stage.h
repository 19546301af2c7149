#pragma once
// `contimg applycal` and the pipeline's "applycal" stage (SPEC §5): choose a
// calibration set from the registry (the valid passed set nearest in time,
// or the one asked for), read its B and G tables, and write CORRECTED_DATA
// (and solution flags into FLAG) SPW by SPW, always from DATA.
// Context: input "ms_path", optional "calset_id"; outputs "calibrated"
// (bool), "applied_calset_id" (string, empty when none).
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "calibration/apply.h"
#include "config/config.h"
#include "pipeline/stage.h"
#include "state/records.h"

namespace contimg::pipeline {
class StateView;
}

namespace contimg::calibration {

struct ApplyRequest {
  std::filesystem::path ms;
  std::string group_id;  // the job's (required)
  std::string calset_id;             // empty: nearest valid passed set
  std::filesystem::path check_model;  // optional sky model: compare the calibrated data with it
  std::function<void()> check_interrupt;
  // false (the chain's default, calibration.apply_in_image_pass; and with
  // calibration.write_corrected_data = false): the set is chosen and checked
  // against the MS but not applied here; the image stage applies it while it
  // re-phases DATA and writes CORRECTED_DATA in that same pass when
  // calibration.write_corrected_data is true (one pass fewer).
  bool write_corrected = true;
};

struct ApplyOutcome {
  std::string group_id;
  bool calibrated = false;  // a set applies (written, or deferred to imaging)
  bool deferred = false;    // applied by the image stage: ApplyRequest::write_corrected false
  std::string calset_id;
  std::string reason;  // why not calibrated
  double hours_from_calset = 0;
  ApplyStats stats;
  double seconds = 0;
  double seconds_sync = 0;  // of `seconds`: CORRECTED_DATA and FLAG fsynced
  std::uint64_t bytes_read = 0, bytes_written = 0;
  // With check_model: per SPW calibrated/model flux ratio, and the rms of
  // (calibrated - model) per complex sample.
  std::vector<double> model_ratio;
  double residual_rms = 0;
  std::vector<state::EventNote> events;  // for the group's event log
};

// The set's bandpass and gain tables, checked against the MS (antennas, SPWs,
// channels). Throws InputError naming the MS and the set.
CalSolution load_solution(const state::CalsetRecord& set, const MsMeta& meta);

// Sets come from `state` (the orchestrator's view of this tree; nullptr: none
// known). Never touches the state database.
ApplyOutcome apply_ms(const config::Config& cfg, const ApplyRequest& request,
                      const pipeline::StateView* state);
nlohmann::json to_json(const ApplyOutcome& o);

class ApplyStage : public pipeline::Stage {
 public:
  // The chain's stage: defers the apply to the image stage's pass
  // (calibration.apply_in_image_pass, unless imaging.data_column is DATA) or
  // when calibration.write_corrected_data is false; else writes
  // CORRECTED_DATA itself.
  explicit ApplyStage(const config::Config& cfg);
  // `contimg applycal`: the request's set (calset_id) and model check.
  ApplyStage(const config::Config& cfg, ApplyRequest request)
      : cfg_(cfg), request_(std::move(request)) {}
  std::string name() const override { return "applycal"; }
  // Writing CORRECTED_DATA itself: done when the MS holds the set this stage
  // would apply now (a newer or nearer set makes it re-apply, from DATA as
  // always). Deferred to the image stage's pass: it has no product, only its
  // choice, so it is done once it ran (the orchestrator asks only then: its
  // job done, the same version) and restore() chooses again — a newer set is
  // then applied by the image stage, which is not done until its record and
  // the MS's mark name the set.
  bool is_done(const pipeline::Context& ctx) const override;
  pipeline::Context restore(const pipeline::Context& ctx) const override;
  void validate(const pipeline::Context& ctx) const override;
  pipeline::Context execute(const pipeline::Context& ctx) override;
  std::vector<std::string> config_prefixes() const override { return {"calibration."}; }
  std::vector<pipeline::KeySpec> needs() const override { return {pipeline::keys::kMsPath}; }
  std::vector<pipeline::KeySpec> provides() const override {
    return {pipeline::keys::kCalibrated, pipeline::keys::kAppliedCalsetId};
  }
  const std::optional<ApplyOutcome>& outcome() const { return outcome_; }

 private:
  const config::Config& cfg_;
  ApplyRequest request_;
  std::optional<ApplyOutcome> outcome_;
};

}  // namespace contimg::calibration
