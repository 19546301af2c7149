#include "flagging/flag_stage.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "common/logging.h"
#include "state/flag_stats.h"
#include "state/state_db.h"

namespace contimg::flagging {
namespace fs = std::filesystem;
namespace {

std::string key_of(const fs::path& ms) { return fs::absolute(ms).lexically_normal().string(); }

// The group whose MS this is: recorded by `contimg convert`, else the indexed
// group named like the MS (the converter writes <group_id>.ms).
std::optional<std::string> indexed_group(state::StateDb& db, const std::string& ms) {
  auto st = db.database().prepare("SELECT group_id FROM groups WHERE ms_path = ?1 LIMIT 1");
  st.bind(1, ms);
  if (st.step()) return st.get_text(0);
  const std::string stem = fs::path(ms).stem().string();
  if (db.group(stem)) return stem;
  return std::nullopt;
}

}  // namespace

bool already_flagged(const config::Config& cfg, const FlagOptions& options, const fs::path& ms) {
  const auto db_path = state::StateDb::resolve_path(cfg);
  if (!fs::exists(db_path) || !fs::exists(ms)) return false;
  state::StateDb db(db_path);
  const auto run = state::flag_run(db.database(), key_of(ms));
  return run && run->strategy_hash == strategy_hash(options.strategy);
}

FlagReport flag_and_record(const config::Config& cfg, const FlagOptions& options, const fs::path& ms,
                           std::string group_id, const InterruptGuard* interrupts, Progress* progress) {
  const std::string key = key_of(ms);
  const std::string hash = strategy_hash(options.strategy);
  // Open the database first: a bad path fails before the MS is touched.
  state::StateDb db(state::StateDb::resolve_path(cfg));
  if (group_id.empty()) group_id = indexed_group(db, key).value_or("");
  const MsFlagger flagger(options);
  FlagReport rep = flagger.run(ms, interrupts, progress);
  state::FlagRunRecord rec;
  rec.ms_path = key;
  if (!group_id.empty()) rec.group_id = group_id;
  rec.strategy = fs::absolute(options.strategy).lexically_normal().string();
  rec.strategy_hash = hash;
  rec.samples = static_cast<std::int64_t>(rep.samples);
  rec.flagged_before = rep.fraction_before();
  rec.flagged_after = rep.fraction_after();
  rec.dead_antennas = rep.dead_names;
  rec.seconds = rep.seconds_total;
  state::record_flag_run(db.database(), rec, stat_rows(rep));
  db.record_event(rec.group_id, "flag", state::EventLevel::kInfo,
                  fmt::format("{}: flagged {:.2f}% -> {:.2f}%, dead antennas: {}", key,
                              100 * rep.fraction_before(), 100 * rep.fraction_after(),
                              rep.dead_names.empty() ? "none" : fmt::format("{}", fmt::join(rep.dead_names, " "))));
  return rep;
}

bool FlagStage::is_done(const pipeline::Context& ctx) const {
  return already_flagged(cfg_, options_, ctx.get_string("ms_path"));
}

pipeline::Context FlagStage::restore(const pipeline::Context& ctx) const {
  const std::string ms = ctx.get_string("ms_path");
  state::StateDb::Options o;
  o.create = false;
  state::StateDb db(state::StateDb::resolve_path(cfg_), o);
  const auto run = state::flag_run(db.database(), key_of(ms));
  if (!run) throw InputError(fmt::format("flag: no flagging of {} recorded in {}", ms, db.path().string()));
  return ctx.with_outputs({{"flagged_fraction", run->flagged_after}, {"dead_antennas", run->dead_antennas}});
}

void FlagStage::validate(const pipeline::Context& ctx) const {
  const fs::path ms = ctx.get_string("ms_path");
  if (!fs::is_directory(ms)) throw InputError(fmt::format("flag: {} is not a Measurement Set directory", ms.string()));
  if (!fs::exists(options_.strategy)) {
    throw ConfigError(fmt::format("flag: strategy {} does not exist (flagging.strategy)", options_.strategy.string()));
  }
}

pipeline::Context FlagStage::execute(const pipeline::Context& ctx) {
  const fs::path ms = ctx.get_string("ms_path");
  auto log = logging::group_logger(ctx.group_id());
  auto options = options_;
  options.threads = ctx.resources().threads_for(options.threads);
  const FlagReport rep = flag_and_record(cfg_, options, ms, ctx.group_id(), ctx.interrupts());
  log->info("stage=flag ms={} flagged_before={:.4f} flagged_after={:.4f} dead={} seconds={:.1f}", ms.string(),
            rep.fraction_before(), rep.fraction_after(), fmt::join(rep.dead_names, ","), rep.seconds_total);
  return ctx
      .with_outputs({{"flagged_fraction", rep.fraction_after()},
                     {"dead_antennas", rep.dead_names}})
      .with_io(rep.bytes_read, rep.bytes_written);
}

}  // namespace contimg::flagging
