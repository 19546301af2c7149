#include "flagging/flag_stage.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/logging.h"
#include "pipeline/state_view.h"
#include "state/records.h"

namespace contimg::flagging {
namespace fs = std::filesystem;
namespace {

std::string key_of(const fs::path& ms) { return fs::absolute(ms).lexically_normal().string(); }

}  // namespace

bool already_flagged(const pipeline::StateView* state, const FlagOptions& options, const fs::path& ms) {
  if (!state || !fs::exists(ms)) return false;
  const auto run = state->flag_run(key_of(ms));
  return run && run->strategy_hash == strategy_hash(options.strategy);
}

std::vector<state::DomainRecord> flag_records(const FlagOptions& options, const fs::path& ms,
                                              const std::string& group_id, const FlagReport& rep) {
  state::FlagRunRecords r;
  r.run.ms_path = key_of(ms);
  if (!group_id.empty()) r.run.group_id = group_id;
  r.run.strategy = fs::absolute(options.strategy).lexically_normal().string();
  r.run.strategy_hash = strategy_hash(options.strategy);
  r.run.samples = static_cast<std::int64_t>(rep.samples);
  r.run.flagged_before = rep.fraction_before();
  r.run.flagged_after = rep.fraction_after();
  r.run.dead_antennas = rep.dead_names;
  r.run.seconds = rep.seconds_total;
  r.stats = stat_rows(rep);
  state::EventNote note;
  note.message = fmt::format("{}: flagged {:.2f}% -> {:.2f}%, dead antennas: {}", r.run.ms_path,
                             100 * rep.fraction_before(), 100 * rep.fraction_after(),
                             rep.dead_names.empty() ? "none" : fmt::format("{}", fmt::join(rep.dead_names, " ")));
  return {state::DomainRecord{std::move(r)}, state::DomainRecord{std::move(note)}};
}

bool FlagStage::is_done(const pipeline::Context& ctx) const {
  return already_flagged(ctx.state(), options_, ctx.get(pipeline::keys::kMsPath));
}

pipeline::Context FlagStage::restore(const pipeline::Context& ctx) const {
  const std::string ms = ctx.get(pipeline::keys::kMsPath);
  const auto run = ctx.state() ? ctx.state()->flag_run(key_of(ms)) : std::nullopt;
  if (!run) throw InputError(fmt::format("flag: no flagging of {} recorded", ms));
  return ctx.with(pipeline::keys::kFlaggedFraction, run->flagged_after)
      .with(pipeline::keys::kDeadAntennas, run->dead_antennas);
}

void FlagStage::validate(const pipeline::Context& ctx) const {
  const fs::path ms = ctx.get(pipeline::keys::kMsPath);
  if (!fs::is_directory(ms)) throw InputError(fmt::format("flag: {} is not a Measurement Set directory", ms.string()));
  if (!fs::exists(options_.strategy)) {
    throw ConfigError(fmt::format("flag: strategy {} does not exist (flagging.strategy)", options_.strategy.string()));
  }
}

pipeline::Context FlagStage::execute(const pipeline::Context& ctx) {
  const fs::path ms = ctx.get(pipeline::keys::kMsPath);
  auto log = logging::group_logger(ctx.group_id());
  auto options = options_;
  options.threads = ctx.resources().threads_for(options.threads);
  const MsFlagger flagger(options);
  report_ = flagger.run(ms, ctx.interrupts(), progress_);
  const FlagReport& rep = *report_;
  log->info("stage=flag ms={} flagged_before={:.4f} flagged_after={:.4f} dead={} seconds={:.1f}", ms.string(),
            rep.fraction_before(), rep.fraction_after(), fmt::join(rep.dead_names, ","), rep.seconds_total);
  auto out = ctx.with(pipeline::keys::kFlaggedFraction, rep.fraction_after())
                 .with(pipeline::keys::kDeadAntennas, rep.dead_names)
                 .with_io(rep.bytes_read, rep.bytes_written);
  for (auto& r : flag_records(options, ms, ctx.group_id(), rep)) out = out.with_record(std::move(r));
  return out;
}

}  // namespace contimg::flagging
