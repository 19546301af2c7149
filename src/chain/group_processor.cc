#include "chain/group_processor.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "calibration/apply_stage.h"
#include "common/error.h"
#include "calibration/solve_stage.h"
#include "conversion/conversion_stage.h"
#include "flagging/flag_stage.h"
#include "imaging/image_stage.h"
#include "orchestration/orchestrator.h"
#include "orchestration/provenance.h"
#include "photometry/photometry_stage.h"
#include "validation/validate_stage.h"

namespace contimg::chain {
namespace fs = std::filesystem;
namespace {

using Stages = std::vector<std::unique_ptr<pipeline::Stage>>;

// With a stop predicate the stages run one orchestrator call each, so that a
// stop is honoured between them; without, in one call (the batch run).
SegmentResult run_segment(orchestration::Orchestrator& orch, Stages stages,
                          const pipeline::Context& start, const orchestration::Segment& segment,
                          const StopPredicate& stop) {
  SegmentResult out;
  if (!stop) {
    out.report = orch.run(stages, start, segment);
    return out;
  }
  out.report.group_id = start.group_id();
  pipeline::Context ctx = start;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (stop()) {
      out.stopped = true;
      for (std::size_t j = i; j < stages.size(); ++j) {
        pipeline::StageRecord rec;
        rec.stage = stages[j]->name();
        out.report.stages.push_back(rec);
      }
      return out;
    }
    Stages one;
    one.push_back(std::move(stages[i]));
    orchestration::Segment s = segment;
    if (i + 1 < stages.size()) s.done = std::nullopt;  // the segment's last stage ends it
    const auto r = orch.run(one, ctx, s);
    out.report.stages.insert(out.report.stages.end(), r.stages.begin(), r.stages.end());
    out.report.seconds += r.seconds;
    if (!r.ok) {
      for (std::size_t j = i + 1; j < stages.size(); ++j) {
        pipeline::StageRecord rec;
        rec.stage = stages[j]->name();
        out.report.stages.push_back(rec);
      }
      return out;
    }
    ctx = *r.final_context;
  }
  out.report.ok = true;
  out.report.final_context = ctx;
  return out;
}

}  // namespace

std::string failure_of(const pipeline::RunReport& r) {
  for (const auto& s : r.stages) {
    if (s.outcome == pipeline::Outcome::kFailed || s.outcome == pipeline::Outcome::kCancelled) {
      return fmt::format("{}: {}", s.stage, s.error);
    }
  }
  return "failed";
}

GroupProcessor::GroupProcessor(std::shared_ptr<const config::Config> config,
                               const InterruptGuard* interrupts,
                               const conversion::GroupConverter& converter, ChainLayout layout)
    : config_(std::move(config)),
      interrupts_(interrupts),
      converter_(converter),
      layout_(std::move(layout)) {}

pipeline::Context GroupProcessor::start_context(const grouping::SelectedGroup& sel,
                                                const fs::path& reference,
                                                const std::optional<Resources>& resources) const {
  const std::string& group_id = sel.group.group_id;
  std::vector<std::string> encoded;
  for (const auto& [k, path] : sel.subband_files) {
    encoded.push_back(conversion::ConversionStage::encode({k, path}));
  }
  std::map<std::string, pipeline::Value> inputs{
      {"subband_files", encoded},
      {"output_dir", layout_.ms_dir().string()},
      // Set up front so that later stages find the MS when conversion is skipped (done).
      {"ms_path", (layout_.ms_dir() / (group_id + ".ms")).string()},
      {"products_dir", layout_.products_dir(group_id).string()}};
  if (!reference.empty()) inputs["reference_catalogue"] = reference.string();
  pipeline::Context start(config_, group_id, inputs, interrupts_);
  return resources ? start.with_resources(*resources) : start;
}

Stages GroupProcessor::first_stages() const {
  const auto& cfg = *config_;
  Stages stages;
  stages.push_back(
      std::make_unique<conversion::ConversionStage>(converter_, /*skip_existing=*/true));
  stages.push_back(std::make_unique<flagging::FlagStage>(cfg));
  stages.push_back(std::make_unique<calibration::SolveStage>(cfg));
  return stages;
}

Stages GroupProcessor::second_stages() const {
  const auto& cfg = *config_;
  Stages stages;
  stages.push_back(std::make_unique<calibration::ApplyStage>(cfg));
  stages.push_back(std::make_unique<imaging::ImageStage>(cfg));
  stages.push_back(std::make_unique<validation::ValidateStage>(cfg));
  if (cfg.get_bool("photometry.in_chain"))
    stages.push_back(std::make_unique<photometry::PhotometryStage>(cfg));
  return stages;
}

std::vector<std::string> GroupProcessor::stage_names() const {
  std::vector<std::string> names;
  for (const auto& s : first_stages()) names.push_back(s->name());
  for (const auto& s : second_stages()) names.push_back(s->name());
  return names;
}

SegmentResult GroupProcessor::run_first(orchestration::Orchestrator& orch,
                                        const grouping::SelectedGroup& sel,
                                        const pipeline::Context& start,
                                        const StopPredicate& stop) const {
  orchestration::Segment first;
  first.done = std::nullopt;  // the second segment finishes the group
  first.source_inputs = orchestration::describe_files(sel.subband_files);
  return run_segment(orch, first_stages(), start, first, stop);
}

SegmentResult GroupProcessor::run_second(orchestration::Orchestrator& orch,
                                         const pipeline::Context& after_first,
                                         const StopPredicate& stop) const {
  return run_segment(orch, second_stages(), after_first, orchestration::Segment{}, stop);
}

SegmentResult GroupProcessor::run_stage(orchestration::Orchestrator& orch,
                                        const grouping::SelectedGroup& sel,
                                        const pipeline::Context& start, const std::string& stage,
                                        const orchestration::Segment& queue) const {
  Stages all = first_stages();
  for (auto& s : second_stages()) all.push_back(std::move(s));
  std::size_t last = all.size();
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i]->name() == stage) last = i;
  }
  if (last == all.size()) {
    throw InputError(fmt::format("group {}: the chain has no stage '{}'", sel.group.group_id, stage));
  }
  // One orchestrator call per stage, as a stopped segment runs them: the
  // stages before `stage` are restored from their records; were one of them
  // not done (its product went), the orchestrator claims and redoes it.
  SegmentResult out;
  out.report.group_id = sel.group.group_id;
  pipeline::Context ctx = start;
  for (std::size_t i = 0; i <= last; ++i) {
    orchestration::Segment s = queue;
    s.done = i + 1 == all.size() ? std::optional(state::GroupState::kProcessed) : std::nullopt;
    if (i == 0) s.source_inputs = orchestration::describe_files(sel.subband_files);
    if (i != last) {
      s.preclaimed.reset();
      s.on_done = nullptr;
    }
    Stages one;
    one.push_back(std::move(all[i]));
    const auto r = orch.run(one, ctx, s);
    out.report.stages.insert(out.report.stages.end(), r.stages.begin(), r.stages.end());
    out.report.seconds += r.seconds;
    if (!r.ok) return out;
    ctx = *r.final_context;
  }
  out.report.ok = true;
  out.report.final_context = ctx;
  return out;
}

}  // namespace contimg::chain
