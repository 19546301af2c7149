#pragma once
// Flagging as a pipeline stage (the adapter; the algorithms are MsFlagger and
// flag_algorithms.h). Input "ms_path"; outputs "flagged_fraction" (double) and
// "dead_antennas" (station names). is_done when the state database records a
// flagging of this MS with the same strategy text: a rerun does not re-flag
// (restore then reads the outputs back from the flag_runs table).
#include <filesystem>
#include <optional>
#include <string>

#include "config/config.h"
#include "flagging/ms_flagger.h"
#include "pipeline/stage.h"

namespace contimg::flagging {

// Whether `ms` was flagged with the strategy of `options` (same path's text),
// according to the state database of `cfg`.
bool already_flagged(const config::Config& cfg, const FlagOptions& options, const std::filesystem::path& ms);

// Flags `ms` and records the run and its statistics (replacing an earlier
// run of the same MS) in the state database, under `group_id` (when empty:
// the indexed group whose MS this is or that names it, else none).
FlagReport flag_and_record(const config::Config& cfg, const FlagOptions& options,
                           const std::filesystem::path& ms, std::string group_id,
                           const InterruptGuard* interrupts = nullptr, Progress* progress = nullptr);

class FlagStage : public pipeline::Stage {
 public:
  explicit FlagStage(const config::Config& cfg) : cfg_(cfg), options_(FlagOptions::from_config(cfg)) {}

  std::string name() const override { return "flag"; }
  bool is_done(const pipeline::Context& ctx) const override;
  pipeline::Context restore(const pipeline::Context& ctx) const override;
  void validate(const pipeline::Context& ctx) const override;
  pipeline::Context execute(const pipeline::Context& ctx) override;
  std::vector<std::string> config_prefixes() const override { return {"flagging."}; }

 private:
  const config::Config& cfg_;
  FlagOptions options_;
};

}  // namespace contimg::flagging
