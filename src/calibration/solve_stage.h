#pragma once
// `contimg solve` and the pipeline's "solve" stage (SPEC §5): the adapter
// that reads an MS, builds the model (the calibrator named by the MS's
// calibrator field, or a sky-model JSON), runs calibrate(), grades the set,
// writes the B and G tables and plots, and registers the set.
// Context: needs "ms_path"; outputs "calset_id", "calset_status" (passed |
// failed), "calset_reason" and the two tables when the MS holds a
// calibrator transit. A QA failure is recorded and reported, not thrown.
// solve_ms never touches the state database: the set's record is returned.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "calibration/qa.h"
#include "config/config.h"
#include "pipeline/stage.h"
#include "sky/sky_model.h"
#include "state/records.h"

namespace contimg {
class InterruptGuard;
}

namespace contimg::calibration {

struct SolveRequest {
  std::filesystem::path ms;
  // The group the MS belongs to (the job's; required).
  std::string group_id;
  std::filesystem::path model_json;  // empty: the calibrator field's VLA calibrator
  std::string refant;                // empty: calibration.refant, else automatic
  std::string command_line;
  std::function<void()> check_interrupt;
  int threads = 1;  // SPWs solved at once (CalibrateOptions::threads)
  // The staging directory is registered with it (removed on a second signal).
  const InterruptGuard* interrupts = nullptr;
  // Other sources of the field added to the calibrator's model (the transit
  // policy's field model; never the sole model).
  std::vector<sky::Source> field_model;
  // Summaries of earlier passed sets (their qa_json "summary"): the history
  // QA compares the new set with them; empty = no history check.
  std::vector<CalsetSummary> history;
};

struct SolveOutcome {
  std::string group_id, calset_id, status, calibrator, refant;
  QaReport qa;
  std::filesystem::path bandpass_table, gain_table;
  std::vector<std::filesystem::path> plots;
  double seconds = 0, seconds_read_solve = 0, seconds_write = 0;
  std::uint64_t bytes_read = 0;
  double valid_from_s = 0, valid_to_s = 0;
  // What the orchestrator stores with the job (scoped to its output tree).
  state::CalsetRecord record;
  state::EventNote event;
};

// The calibrator field's name without its "_t<i>" suffix ("3C286_t11" ->
// "3C286"), or nullopt when every field is a plain meridian field.
std::optional<std::string> calibrator_from_fields(const std::vector<std::string>& field_names);

// The model of a sky-model JSON: a simulator truth file (its "sky") or a
// SkyModel document ({"sources": [...]}).
sky::SkyModel load_model_json(const std::filesystem::path& path);

SolveOutcome solve_ms(const config::Config& cfg, const SolveRequest& request);
// The same on an MS the caller has open (its metadata already read).
class MsVisibilities;
SolveOutcome solve_ms(const config::Config& cfg, const SolveRequest& request, MsVisibilities& vis);
nlohmann::json to_json(const SolveOutcome& o);

class SolveStage : public pipeline::Stage {
 public:
  explicit SolveStage(const config::Config& cfg) : cfg_(cfg) {}
  // `contimg solve`: the request's model, refant and command line; with
  // `require_calibrator`, an MS with no calibrator field and no model fails
  // (in a chain such a group simply has nothing to solve).
  SolveStage(const config::Config& cfg, SolveRequest request, bool require_calibrator)
      : cfg_(cfg), request_(std::move(request)), require_calibrator_(require_calibrator) {}
  std::string name() const override { return "solve"; }
  bool is_done(const pipeline::Context& ctx) const override;
  // The registered set's outputs for a resumed chain (none without a calibrator field).
  pipeline::Context restore(const pipeline::Context& ctx) const override;
  void validate(const pipeline::Context& ctx) const override;
  pipeline::Context execute(const pipeline::Context& ctx) override;
  // The set's two tables (none for a group without a calibrator field).
  std::vector<pipeline::ProductRef> products(const pipeline::Context& out) const override;
  std::vector<std::string> config_prefixes() const override { return {"calibration."}; }
  std::vector<pipeline::KeySpec> needs() const override { return {pipeline::keys::kMsPath}; }

  // The outcome of the last execute that solved (for `contimg solve`'s print-out).
  const std::optional<SolveOutcome>& outcome() const { return outcome_; }

 private:
  const config::Config& cfg_;
  SolveRequest request_;
  bool require_calibrator_ = false;
  std::optional<SolveOutcome> outcome_;
};

}  // namespace contimg::calibration
