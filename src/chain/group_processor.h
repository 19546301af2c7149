#pragma once
// One group's chain as two segments run by an Orchestrator (docs/chain.md):
// convert → flag → solve, then applycal → image → validate. The one stage
// list, shared by ChainRunner (a range in two passes, so that every set of the
// range is solved before any group is calibrated) and the stream service (one
// group at a time, calibrator transits first; docs/service.md).
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chain/chain_runner.h"
#include "common/resources.h"
#include "grouping/group_selection.h"
#include "pipeline/context.h"
#include "pipeline/runner.h"

namespace contimg {
class InterruptGuard;
}
namespace contimg::conversion {
class GroupConverter;
}
namespace contimg::orchestration {
class Orchestrator;
struct Segment;
}

namespace contimg::chain {

// Asked between two stages: true stops the segment there (nothing fails; the
// next run resumes at the first stage not done).
using StopPredicate = std::function<bool()>;

struct SegmentResult {
  pipeline::RunReport report;  // ok and final_context when every stage is done
  bool stopped = false;        // the stop predicate ended it between two stages
};

class GroupProcessor {
 public:
  GroupProcessor(std::shared_ptr<const config::Config> config, const InterruptGuard* interrupts,
                 const conversion::GroupConverter& converter, ChainLayout layout);

  // The context the first stage starts from; `reference` empty = none;
  // `resources` a share of the budget when groups run side by side.
  pipeline::Context start_context(const grouping::SelectedGroup& sel,
                                  const std::filesystem::path& reference,
                                  const std::optional<Resources>& resources = std::nullopt) const;
  // convert, flag, solve; the group stays `processing`.
  SegmentResult run_first(orchestration::Orchestrator& orch, const grouping::SelectedGroup& sel,
                          const pipeline::Context& start, const StopPredicate& stop = {}) const;
  // applycal, image, validate on the first segment's final context; the group
  // ends `processed`.
  SegmentResult run_second(orchestration::Orchestrator& orch, const pipeline::Context& after_first,
                           const StopPredicate& stop = {}) const;

  // The chain's stages in order (both segments; photometry when in the chain).
  std::vector<std::string> stage_names() const;
  // A queue worker's job (docs/scale-out.md "Workers"): the group's stages
  // before `stage` restored (they are done), `stage` run under the claim in
  // `queue.preclaimed` with the queue's hooks; the group ends `processed`
  // with the chain's last stage. The result's final context is `stage`'s.
  SegmentResult run_stage(orchestration::Orchestrator& orch, const grouping::SelectedGroup& sel,
                          const pipeline::Context& start, const std::string& stage,
                          const orchestration::Segment& queue) const;

  const ChainLayout& layout() const { return layout_; }

 private:
  std::shared_ptr<const config::Config> config_;
  const InterruptGuard* interrupts_;
  const conversion::GroupConverter& converter_;
  std::vector<std::unique_ptr<pipeline::Stage>> first_stages() const;
  std::vector<std::unique_ptr<pipeline::Stage>> second_stages() const;
  ChainLayout layout_;
};

// "<stage>: <error>" of the first failed (or cancelled) stage.
std::string failure_of(const pipeline::RunReport& r);

}  // namespace contimg::chain
