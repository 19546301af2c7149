#include "orchestration/orchestrator.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/durable.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/interrupts.h"
#include "common/logging.h"
#include "config/config.h"
#include "orchestration/provenance.h"
#include "state/records.h"

namespace contimg::orchestration {
namespace fs = std::filesystem;
namespace {

// Field 22 of /proc/<pid>/stat: the process's start time in clock ticks since
// boot. With the pid it names a process uniquely (pids are reused).
std::optional<std::string> start_ticks(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string text;
  if (!std::getline(in, text)) return std::nullopt;
  const auto close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 22) return field;
  }
  return std::nullopt;
}

// The form a product path is recorded in (absolute, normalised).
fs::path product_path(const pipeline::ProductRef& ref) {
  return fs::absolute(ref.path).lexically_normal();
}

int next_instance() {
  static std::atomic<int> n{0};
  return ++n;
}

state::ErrorKind kind_of(const pipeline::StageRecord& r) {
  if (r.outcome == pipeline::Outcome::kCancelled) return state::ErrorKind::kInterrupted;
  if (r.error_kind == "input") return state::ErrorKind::kInput;
  if (r.error_kind == "config") return state::ErrorKind::kConfig;
  if (r.error_kind == "io") return state::ErrorKind::kIo;
  if (r.error_kind == "timeout") return state::ErrorKind::kTimeout;
  return state::ErrorKind::kInternal;
}

std::string random_token() {
  std::random_device rd;
  return fmt::format("{:016x}{:016x}", (static_cast<std::uint64_t>(rd()) << 32) ^ rd(),
                     (static_cast<std::uint64_t>(rd()) << 32) ^ rd());
}

std::optional<std::string> read_token(const fs::path& dir) {
  std::ifstream in(dir / kTokenFile);
  if (!in) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(in);
    return j.at("token").get<std::string>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void write_token(const fs::path& dir, const std::string& token, const std::string& group_id,
                 const std::string& stage, const std::string& fingerprint) {
  const fs::path tmp = dir / (std::string(kTokenFile) + ".tmp");
  {
    std::ofstream out(tmp);
    out << nlohmann::json{{"token", token},
                          {"group_id", group_id},
                          {"stage", stage},
                          {"fingerprint", fingerprint},
                          {"path", dir.string()}}
               .dump(1)
        << "\n";
    out.flush();
    if (!out)
      throw IoError(fmt::format("{}: cannot write the product identity file", tmp.string()));
  }
  // On disk before the rename, and the rename before the database says done.
  durable::rename_into_place(tmp, dir / kTokenFile);
}

// The configuration that matters to a stage, as canonical JSON text.
std::string config_subset(const config::Config& cfg, const std::vector<std::string>& prefixes) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, entry] : cfg.entries()) {
    for (const auto& p : prefixes) {
      if (key.rfind(p, 0) == 0) {
        j[key] = entry.value;
        break;
      }
    }
  }
  return j.dump();
}

// A path with no record at a product's place goes to <out_root>/untrusted/<stamp>/.
fs::path move_aside(const fs::path& out_root, const fs::path& path) {
  const auto stamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  fs::path dest = out_root / "untrusted" / fmt::format("{}-{}", stamp, getpid());
  std::error_code ec;
  fs::create_directories(dest, ec);
  dest /= path.filename();
  fs::rename(path, dest, ec);
  if (ec) {
    throw IoError(fmt::format("{}: not a registered product and cannot be moved aside to {}: {}",
                              path.string(), dest.string(), ec.message()));
  }
  return dest;
}

}  // namespace

std::optional<state::FlagRunRecord> DbStateView::flag_run(const std::string& ms_path) const {
  return state::flag_run(db_.database(), ms_path);
}
std::optional<state::CalsetRecord> DbStateView::calset(const std::string& id) const {
  return state::calset(db_, id, out_root_);
}
std::vector<state::CalsetRecord> DbStateView::valid_calsets(double time_s) const {
  return state::valid_calsets(db_, time_s, out_root_);
}
void DbStateView::visit_passed_calsets_before(
    double time_s, const std::function<bool(const state::CalsetRecord&)>& visit) const {
  state::visit_passed_calsets_before(db_, time_s, visit);
}
std::optional<state::ImageRecord> DbStateView::image(const std::string& group_id) const {
  return state::image_record(db_, group_id, out_root_);
}
std::optional<state::ValidationRecord> DbStateView::validation(const std::string& group_id) const {
  return state::load_validation(db_.database(), group_id, out_root_);
}
std::vector<state::SourceRow> DbStateView::sources_in_cone(double ra_deg, double dec_deg, double radius_deg) const {
  return state::sources_in_cone(db_.database(), ra_deg, dec_deg, radius_deg);
}
std::optional<state::MeasuredImage> DbStateView::measured_image(const std::string& path) const {
  return state::measured_image(db_.database(), path, out_root_);
}

OrchestratorSettings OrchestratorSettings::from_config(const config::Config& cfg) {
  OrchestratorSettings s;
  s.lease_s = cfg.get_double("orchestrator.lease_s");
  s.heartbeat_s = cfg.get_double("orchestrator.heartbeat_s");
  s.wait_poll_s = cfg.get_double("orchestrator.wait_poll_s");
  s.max_attempts = static_cast<int>(cfg.get_int("orchestrator.max_attempts"));
  const auto policy = cfg.get_string("orchestrator.untrusted_products");
  if (policy != "move-aside" && policy != "fail") {
    throw ConfigError(fmt::format(
        "orchestrator.untrusted_products = \"{}\": expected \"move-aside\" or \"fail\"", policy));
  }
  s.move_untrusted = policy == "move-aside";
  if (s.heartbeat_s <= 0 || s.lease_s <= s.heartbeat_s) {
    throw ConfigError(
        fmt::format("orchestrator.lease_s ({}) must exceed orchestrator.heartbeat_s ({}) > 0",
                    s.lease_s, s.heartbeat_s));
  }
  return s;
}

std::string this_holder() {
  static const std::string h =
      fmt::format("{}:{}:{}", this_host(), getpid(), start_ticks(getpid()).value_or("0"));
  return h;
}

bool holder_alive(const std::string& holder_text) {
  // "host:pid:ticks/n": n tells orchestrators of one process apart.
  const std::string holder = holder_text.substr(0, holder_text.find('/'));
  const auto c2 = holder.rfind(':');
  const auto c1 = c2 == std::string::npos ? std::string::npos : holder.rfind(':', c2 - 1);
  if (c1 == std::string::npos) return true;  // not ours to judge: the lease decides
  if (holder.substr(0, c1) != this_host()) return true;
  pid_t pid = 0;
  try {
    pid = static_cast<pid_t>(std::stol(holder.substr(c1 + 1, c2 - c1 - 1)));
  } catch (const std::exception&) {
    return true;
  }
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  const auto ticks = start_ticks(pid);
  return !ticks || *ticks == holder.substr(c2 + 1);
}

std::string fingerprint_of(const std::string& text) {
  return fnv1a64_hex(text);
}

Orchestrator::Orchestrator(state::StateDb& db, fs::path out_root, OrchestratorSettings settings,
                           const InterruptGuard* interrupts)
    : db_(db),
      jobs_(db.database()),
      out_root_(fs::absolute(out_root).lexically_normal()),
      settings_(settings),
      interrupts_(interrupts),
      holder_(settings_.holder.empty() ? fmt::format("{}/{}", this_holder(), next_instance())
                                       : settings_.holder),
      runner_(interrupts),
      view_(db, out_root_.string()) {
  heartbeat_ = std::thread([this] { heartbeat_loop(); });
}

Orchestrator::~Orchestrator() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void Orchestrator::heartbeat_loop() {
  std::unique_ptr<state::StateDb> conn;  // opened on first use, in this thread
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::duration<double>(settings_.heartbeat_s));
    if (stopping_ || !current_) continue;
    const auto job = *current_;
    lock.unlock();
    try {
      if (!conn) conn = std::make_unique<state::StateDb>(db_.target());
      if (!state::JobStore(conn->database())
               .heartbeat(job.id, job.attempt, holder_, settings_.lease_s)) {
        logging::group_logger(job.key.group_id)
            ->warn("stage={} the claim was lost (lease expired and taken over)", job.key.stage);
      }
    } catch (const std::exception& e) {
      spdlog::warn("heartbeat for job {}: {}", job.id, e.what());
    }
    lock.lock();
  }
}

bool Orchestrator::products_verified(const state::JobRecord& job) {
  for (const auto& p : jobs_.products_of_job(job.id)) {
    std::error_code ec;
    if (!fs::exists(p.path, ec)) return false;
    if (p.token) {
      if (read_token(p.path) != p.token) return false;
    } else if (p.size_bytes && p.mtime_ns) {
      const auto s = stamp_of(p.path);
      if (fs::is_directory(p.path) || !s || s->size_bytes != *p.size_bytes ||
          s->mtime_ns != *p.mtime_ns) {
        return false;
      }
    }
  }
  return true;
}

bool Orchestrator::adoptable_legacy(pipeline::Stage& stage, const pipeline::Context& ctx) {
  const auto planned = stage.planned_products(ctx);
  if (planned.empty()) return false;
  for (const auto& ref : planned) {
    const auto rec = jobs_.product(product_path(ref).string());
    if (!rec || rec->fingerprint != "legacy" || !fs::exists(ref.path)) return false;
  }
  try {
    return stage.is_done(ctx);
  } catch (const std::exception&) {
    return false;
  }
}

void Orchestrator::settle_planned_products(pipeline::Stage& stage, const pipeline::Context& ctx,
                                           const state::JobStore::Claim& claim) {
  auto log = logging::group_logger(ctx.group_id());
  for (const auto& ref : stage.planned_products(ctx)) {
    const fs::path path = product_path(ref);
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(path, ec))) continue;
    const auto rec = jobs_.product(path.string());
    if (rec) {
      // Registered by this job before (being redone now) or by another job:
      // a directory product whose identity differs is not the registered one.
      if (!rec->token || read_token(path) == rec->token) continue;
    }
    // No record (or a record of something else). What a crashed attempt of
    // this very job left is its own partial product: removed. That includes
    // a path recorded by this job's earlier version: an attempt redoing it
    // died after replacing it and before registering the new one (its token
    // differs). Anything else is foreign: moved aside, or refused.
    if (claim.previous_state == state::JobState::kRunning &&
        (!rec || rec->job_id == claim.job.id)) {
      fs::remove_all(path, ec);
      if (ec) {
        throw IoError(fmt::format("{}: cannot remove the partial product of a crashed attempt: {}",
                                  path.string(), ec.message()));
      }
      log->warn("stage={} removed {} left by a crashed attempt", stage.name(), path.string());
      continue;
    }
    if (!settings_.move_untrusted) {
      throw InputError(fmt::format(
          "{}: exists but is not a product this pipeline registered (no provenance record); "
          "remove it or set orchestrator.untrusted_products=move-aside",
          path.string()));
    }
    const auto dest = move_aside(out_root_, path);
    log->warn("stage={} {} has no provenance record: not trusted, moved aside to {}", stage.name(),
              path.string(), dest.string());
    db_.record_event(ctx.group_id(), stage.name(), state::EventLevel::kWarn,
                     fmt::format("untrusted {} moved aside to {}", path.string(), dest.string()));
  }
}

std::vector<state::ProductRecord> Orchestrator::product_records(pipeline::Stage& stage,
                                                                const pipeline::Context& out,
                                                                const std::string& fingerprint,
                                                                const std::string& inputs_json,
                                                                const std::string& config_json) {
  std::vector<state::ProductRecord> recs;
  for (const auto& ref : stage.products(out)) {
    state::ProductRecord p;
    const fs::path path = product_path(ref);
    p.path = path.string();
    p.kind = ref.kind;
    p.group_id = out.group_id();
    p.stage = stage.name();
    p.fingerprint = fingerprint;
    p.inputs_json = inputs_json;
    p.config_json = config_json;
    if (!fs::exists(path)) {
      throw IoError(fmt::format("stage {} reported product {} but it does not exist", stage.name(),
                                path.string()));
    }
    if (fs::is_directory(path)) {
      p.token = random_token();
      write_token(path, *p.token, out.group_id(), stage.name(), fingerprint);
    } else {
      const auto s = stamp_of(path);
      if (!s) throw IoError(fmt::format("{}: cannot stat the product", path.string()));
      p.size_bytes = s->size_bytes;
      p.mtime_ns = s->mtime_ns;
    }
    recs.push_back(std::move(p));
  }
  return recs;
}

pipeline::RunReport Orchestrator::run(const std::vector<std::unique_ptr<pipeline::Stage>>& stages,
                                      const pipeline::Context& initial, const Segment& segment) {
  std::vector<pipeline::Stage*> raw;
  for (const auto& s : stages) raw.push_back(s.get());
  return run(raw, initial, segment);
}

pipeline::RunReport Orchestrator::run(const std::vector<pipeline::Stage*>& stages,
                                      const pipeline::Context& initial, const Segment& segment) {
  const std::string& group_id = initial.group_id();
  auto log = logging::group_logger(group_id);
  pipeline::RunReport report;
  report.group_id = group_id;
  const auto t_run = std::chrono::steady_clock::now();
  // Stages read the state through this tree's view; records from before are not theirs.
  pipeline::Context ctx = initial.with_state(&view_).without_records();
  bool failed = false, cancelled = false, set_running = false;
  std::string cancel_message;

  auto set_group = [&](state::GroupState s, std::string_view reason = {},
                       const std::optional<std::string>& ms = std::nullopt) {
    if (db_.group(group_id)) db_.set_group_state(group_id, s, reason, ms);
  };

  for (const auto& stage_ptr : stages) {
    auto& stage = *stage_ptr;
    if (failed) {
      pipeline::StageRecord rec;
      rec.stage = stage.name();
      report.stages.push_back(rec);
      continue;
    }
    const state::JobKey key{group_id, stage.name(), out_root_.string()};
    // The version of this stage's product: the upstream version (or the
    // source files) and the configuration that matters.
    const std::string inputs_json =
        ctx.has(kUpstreamFingerprint)
            ? nlohmann::json::array({{{"upstream", ctx.get_string(kUpstreamFingerprint)}}}).dump()
            : segment.source_inputs.dump();
    const std::string config_json = config_subset(ctx.config(), stage.config_prefixes());
    const std::string fp = fingerprint_of(stage.name() + "\n" + inputs_json + "\n" + config_json);

    bool said_waiting = false;
    std::optional<state::JobStore::Claim> claim;
    pipeline::StageRecord rec;
    rec.stage = stage.name();
    if (segment.preclaimed && segment.preclaimed->key.group_id == key.group_id &&
        segment.preclaimed->key.stage == key.stage && segment.preclaimed->key.out_root == key.out_root) {
      // Claimed from the queue by this holder. A later attempt of it follows
      // one that died or failed: what that left at a final path is its own.
      state::JobStore::Claim c;
      c.claimed = true;
      c.job = *segment.preclaimed;
      if (c.job.attempt > 1) {
        c.previous_state = state::JobState::kRunning;
        c.previous_holder = "an earlier attempt";
      }
      claim = c;
    }
    while (!claim) {
      ctx.throw_if_interrupted();
      const auto job = jobs_.ensure(key);
      if (!segment.force && job.state == state::JobState::kDone && job.fingerprint == fp &&
          products_verified(job)) {
        bool done = false;
        try {
          done = stage.is_done(ctx);
          if (done) {
            ctx = stage.restore(ctx).without_records();
            pipeline::check_keys(stage, ctx, stage.provides(), "provides");
          }
        } catch (const std::exception& e) {
          log->warn("stage={} registered product unreadable, redoing: {}", stage.name(), e.what());
          done = false;
        }
        if (done) {
          rec.outcome = pipeline::Outcome::kSkipped;
          log->info("stage={} outcome=skipped reason=\"done (job {}, version {})\"", stage.name(),
                    job.id, fp);
          break;
        }
      }
      // Claimed only if the job is still as read above: a job another run
      // finished in between is looked at again (skipped), not run twice.
      auto c = jobs_.claim(key, holder_, settings_.lease_s, holder_alive, &job);
      if (c.claimed) {
        claim = c;
        break;
      }
      if (c.changed) continue;
      if (!said_waiting) {
        log->info("stage={} held by {} (attempt {}): waiting", stage.name(),
                  c.job.holder.value_or("?"), c.job.attempt);
        said_waiting = true;
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(settings_.wait_poll_s));
    }
    if (rec.outcome == pipeline::Outcome::kSkipped) {
      ctx = ctx.with_output(kUpstreamFingerprint, fp);
      report.stages.push_back(rec);
      continue;
    }

    // We hold the job.
    if (!set_running) {
      if (segment.running) set_group(*segment.running);
      set_running = true;
    }
    if (claim->previous_state == state::JobState::kRunning) {
      log->warn("stage={} taking over job {} from {} (gone)", stage.name(), claim->job.id,
                claim->previous_holder.value_or("?"));
      // Its staging directories (scratch, products/<group>/…) are left only now.
      if (const int n = sweep_temporaries(settings_.temporary_roots); n > 0) {
        log->info("stage={} removed {} temporary path(s) of the dead holder", stage.name(), n);
      }
    }
    {
      std::lock_guard lock(mutex_);
      current_ = claim->job;
    }
    pipeline::Context out = ctx;
    try {
      if (adoptable_legacy(stage, ctx)) {
        // A product registered by a contimg before the orchestrator (migration
        // 7): adopted as it is, registered anew with today's version.
        out = stage.restore(ctx).without_records();
        pipeline::check_keys(stage, out, stage.provides(), "provides");
        rec.outcome = pipeline::Outcome::kCompleted;
        log->info("stage={} adopted the existing product (registered before version 7)",
                  stage.name());
      } else {
        settle_planned_products(stage, ctx, *claim);
        rec = runner_.run_one(stage, out, /*consult_is_done=*/false);
      }
    } catch (const std::exception& e) {
      rec.outcome = pipeline::Outcome::kFailed;
      rec.error_kind = dynamic_cast<const IoError*>(&e) ? "io" : "input";
      rec.error = e.what();
    }
    std::vector<state::ProductRecord> products;
    if (rec.outcome == pipeline::Outcome::kCompleted) {
      try {
        products = product_records(stage, out, fp, inputs_json, config_json);
      } catch (const std::exception& e) {
        rec.outcome = pipeline::Outcome::kFailed;
        rec.error_kind = "io";
        rec.error = e.what();
      }
    }
    {
      std::lock_guard lock(mutex_);
      current_.reset();
    }
    if (rec.outcome == pipeline::Outcome::kCompleted) {
      std::optional<std::string> ms;
      for (const auto& p : products) {
        if (p.kind == "ms") ms = p.path;
      }
      // The stage's records are stored with its job's completion, in one
      // transaction: they exist exactly when the job is done.
      const state::RecordScope scope{group_id, stage.name(), out_root_.string()};
      bool ok = false;
      std::optional<std::string> store_error;
      try {
        ok = jobs_.finish_done(claim->job, fp, rec.seconds, products, [&] {
          for (const auto& r : out.records()) state::store_record(db_, *r, scope);
          if (segment.on_done) segment.on_done(claim->job);
          if (ms) {
            if (segment.running) {
              set_group(*segment.running, {}, ms);
            } else if (const auto g = db_.group(group_id)) {
              set_group(g->state, {}, ms);
            }
          }
        });
      } catch (const std::exception& e) {
        store_error = e.what();  // the transaction rolled back: nothing of it is stored
      }
      if (store_error) {
        rec.outcome = pipeline::Outcome::kFailed;
        rec.error_kind = "io";
        rec.error = fmt::format("the results of stage {} could not be recorded: {}", stage.name(),
                                *store_error);
        log->error("stage={} {}", stage.name(), rec.error);
      } else if (!ok) {
        rec.outcome = pipeline::Outcome::kFailed;
        rec.error_kind = "io";
        rec.error = fmt::format(
            "the claim on job {} was lost while it ran (lease {} s expired): its result is not "
            "recorded",
            claim->job.id, settings_.lease_s);
        log->error("stage={} {}", stage.name(), rec.error);
      } else {
        ctx = out.without_records().with_output(kUpstreamFingerprint, fp);
      }
    }
    if (rec.outcome != pipeline::Outcome::kCompleted) {
      const auto kind = kind_of(rec);
      const std::string reason = fmt::format("{}: {}", stage.name(), rec.error);
      if (segment.retry) {
        const bool again = state::is_retryable(kind) && claim->job.attempt < segment.retry->max_attempts;
        jobs_.finish_failed(claim->job, kind, rec.error, rec.seconds, *segment.retry, [&] {
          if (!again) set_group(state::GroupState::kFailed, reason);
        });
        if (again) {
          log->warn("stage={} attempt {} failed ({}); queued again in {:.0f} s", stage.name(),
                    claim->job.attempt, rec.error, segment.retry->delay(claim->job.attempt));
        }
      } else {
        jobs_.finish_failed(claim->job, kind, rec.error, rec.seconds, settings_.max_attempts,
                            [&] { set_group(state::GroupState::kFailed, reason); });
      }
      failed = true;
      if (rec.outcome == pipeline::Outcome::kCancelled) {
        cancelled = true;
        cancel_message = rec.error;
      }
    }
    report.stages.push_back(rec);
  }
  report.ok = !failed;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_run).count();
  if (report.ok) {
    if (segment.done) set_group(*segment.done);
    report.final_context = ctx;
  }
  if (cancelled) throw Cancelled(cancel_message);
  return report;
}

}  // namespace contimg::orchestration
