#pragma once
// Flagging as a pipeline stage (the adapter; the algorithms are MsFlagger and
// flag_algorithms.h). Needs "ms_path"; provides "flagged_fraction" and
// "dead_antennas" (station names), and returns the run and its statistics as
// records for the flag_runs/flag_stats tables. is_done when the state records
// a flagging of this MS with the same strategy text: a rerun does not
// re-flag (restore then reads the outputs back from that record).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "flagging/ms_flagger.h"
#include "pipeline/stage.h"

namespace contimg::pipeline {
class StateView;
}
namespace contimg::state {
struct DomainRecord;
}

namespace contimg::flagging {

// Whether `ms` was flagged with the strategy of `options` (same text),
// according to `state` (false without one).
bool already_flagged(const pipeline::StateView* state, const FlagOptions& options,
                     const std::filesystem::path& ms);

// The records of a flagging of `ms`: the run with its statistics, and an event.
std::vector<state::DomainRecord> flag_records(const FlagOptions& options, const std::filesystem::path& ms,
                                              const std::string& group_id, const FlagReport& rep);

class FlagStage : public pipeline::Stage {
 public:
  explicit FlagStage(const config::Config& cfg, Progress* progress = nullptr)
      : options_(FlagOptions::from_config(cfg)), progress_(progress) {}

  std::string name() const override { return "flag"; }
  bool is_done(const pipeline::Context& ctx) const override;
  pipeline::Context restore(const pipeline::Context& ctx) const override;
  void validate(const pipeline::Context& ctx) const override;
  pipeline::Context execute(const pipeline::Context& ctx) override;
  std::vector<std::string> config_prefixes() const override { return {"flagging."}; }
  std::vector<pipeline::KeySpec> needs() const override { return {pipeline::keys::kMsPath}; }
  std::vector<pipeline::KeySpec> provides() const override {
    return {pipeline::keys::kFlaggedFraction, pipeline::keys::kDeadAntennas};
  }

  // The full report of the last execute (for `contimg flag`'s print-out).
  const std::optional<FlagReport>& report() const { return report_; }

 private:
  FlagOptions options_;
  Progress* progress_;
  std::optional<FlagReport> report_;
};

}  // namespace contimg::flagging
