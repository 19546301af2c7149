#include "service/worker.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "astro/site_data.h"
#include "catalog/vla_calibrators.h"
#include "chain/group_processor.h"
#include "chain/preflight.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "common/logging.h"
#include "conversion/conversion_settings.h"
#include "conversion/group_converter.h"
#include "grouping/group_selection.h"
#include "io/uvh5/uvh5_file.h"
#include "orchestration/orchestrator.h"
#include "orchestration/provenance.h"
#include "orchestration/retention.h"
#include "service/metrics.h"
#include "state/jobs.h"
#include "state/state_db.h"

namespace contimg::service {
namespace fs = std::filesystem;
using Decision = grouping::SelectedGroup::Decision;

namespace {

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

state::RetryPolicy retry_policy(const config::Config& cfg) {
  state::RetryPolicy p;
  p.max_attempts = static_cast<int>(cfg.get_int("orchestrator.max_attempts"));
  p.backoff_s = cfg.get_double("orchestrator.retry_backoff_s");
  p.backoff_max_s = cfg.get_double("orchestrator.retry_backoff_max_s");
  return p;
}

// The stages before applycal: while a calibrator transit has one of them
// unfinished, its set is still to come.
const std::vector<std::string> kBeforeApply = {"convert", "flag", "solve"};

}  // namespace

// ------------------------------------------------------------------ submit

std::vector<std::string> chain_stage_names(std::shared_ptr<const config::Config> config,
                                           const conversion::GroupConverter& converter) {
  return chain::GroupProcessor(std::move(config), nullptr, converter, chain::ChainLayout{})
      .stage_names();
}

QueuedGroup queue_group(state::StateDb& db, const std::string& group_id,
                        const std::vector<std::string>& stage_names, const std::string& out_root,
                        int priority) {
  state::JobStore jobs(db.database());
  std::map<std::string, state::JobRecord> have;
  for (auto& j : jobs.jobs_of_group(group_id)) {
    if (j.key.out_root == out_root) have.emplace(j.key.stage, std::move(j));
  }
  // The first stage not done is the one to queue; a job of it that exists
  // already is left as it is (queueing twice adds nothing).
  QueuedGroup q;
  for (const auto& n : stage_names) {
    const auto it = have.find(n);
    if (it == have.end() || it->second.state != state::JobState::kDone) {
      q.stage = n;
      break;
    }
  }
  if (q.stage.empty()) {
    q.action = "done";
  } else if (const auto it = have.find(q.stage); it != have.end()) {
    q.action = state::to_string(it->second.state);
    q.error = it->second.error;
  } else {
    auto tx = db.transaction();
    jobs.enqueue({group_id, q.stage, out_root}, priority);
    db.set_group_state(group_id, state::GroupState::kPending, "queued: " + q.stage);
    tx.commit();
    q.action = "queued";
  }
  return q;
}

nlohmann::json SubmitSummary::to_json() const {
  return {{"database", database}, {"selected", selected}, {"queued", queued},
          {"in_queue", in_queue}, {"done", done},         {"failed_jobs", failed_jobs},
          {"skipped", skipped},   {"failed", failed},     {"groups", groups}};
}

SubmitSummary submit_range(std::shared_ptr<const config::Config> config, const SubmitOptions& o,
                           const InterruptGuard* interrupts) {
  const auto& cfg = *config;
  const auto gs = grouping::GroupingSettings::from_config(cfg);
  state::StateDb db(state::StateDb::resolve_path(cfg));
  SubmitSummary out;
  out.database = state::redact_url(db.target().string());
  grouping::index_directory(db, o.input_dir, gs, uvh5::CacheProfiles::from_config(cfg), [&] {
    if (interrupts) interrupts->throw_if_interrupted();
  });
  const auto selected =
      grouping::select_groups(db, o.first_epoch, o.last_epoch, gs, o.allow_incomplete, o.input_dir);

  const auto site = astro::load_site_data(cfg.get_path("paths.data_dir"));
  std::optional<catalog::VlaCalibratorCatalog> calibrators;
  try {
    calibrators = catalog::VlaCalibratorCatalog::load(
        catalog::vla_calibrator_path(cfg.get_path("paths.data_dir")));
  } catch (const std::exception& e) {
    spdlog::warn(
        "submit: calibrator list unreadable ({}): no group is queued ahead as a "
        "calibrator transit",
        e.what());
  }
  const conversion::GroupConverter converter(site, conversion::calibrator_refs_from_config(cfg),
                                             conversion::options_from_config(cfg, true, {}));
  const auto names = chain_stage_names(config, converter);
  const std::string root = fs::absolute(o.layout.out_dir).lexically_normal().string();

  for (const auto& sel : selected) {
    const std::string& id = sel.group.group_id;
    nlohmann::json row{{"group_id", id}};
    if (sel.decision != Decision::kProcess) {
      const bool fail = sel.decision == Decision::kFailInvalid;
      db.set_group_state(id, fail ? state::GroupState::kFailed : state::GroupState::kSkipped,
                         sel.reason);
      ++(fail ? out.failed : out.skipped);
      row["action"] = fail ? "failed" : "skipped";
      row["reason"] = sel.reason;
      logging::group_logger(id)->warn("submit: {}: {}", fail ? "failed" : "skipped", sel.reason);
      out.groups.push_back(row);
      continue;
    }
    ++out.selected;
    const bool calibrator = calibrators && chain::holds_calibrator_transit(
                                               sel.group, site.observatory, *calibrators, cfg);
    const int priority = calibrator ? kCalibratorPriority : kSciencePriority;
    row["priority"] = priority;
    const auto q = queue_group(db, id, names, root, priority);
    row["action"] = q.action;
    if (!q.stage.empty()) row["stage"] = q.stage;
    if (q.action == "done") {
      ++out.done;
    } else if (q.action == "queued") {
      ++out.queued;
      logging::group_logger(id)->info("submit: queued {} (priority {}{})", q.stage, priority,
                                      calibrator ? ", a calibrator transit" : "");
    } else if (q.action == "failed" || q.action == "discarded") {
      ++out.failed_jobs;
      row["error"] = q.error;
    } else {
      ++out.in_queue;
    }
    out.groups.push_back(row);
  }
  return out;
}

// ------------------------------------------------------------------ worker

nlohmann::json WorkerSummary::to_json() const {
  return {{"holder", holder},
          {"metrics_address", metrics_address},
          {"jobs_done", jobs_done},
          {"jobs_failed", jobs_failed},
          {"jobs_retried", jobs_retried},
          {"jobs_deferred", jobs_deferred},
          {"jobs_lost", jobs_lost},
          {"reaped", reaped},
          {"wall_seconds", wall_seconds},
          {"ended_by", ended_by}};
}

struct Worker::Impl {
  // One output tree's processor and orchestrator (a job names its tree).
  struct Tree {
    chain::ChainLayout layout;
    std::unique_ptr<chain::GroupProcessor> processor;
    std::unique_ptr<orchestration::Orchestrator> orch;
  };

  std::shared_ptr<const config::Config> config;
  const config::Config& cfg;
  const InterruptGuard& interrupts;
  std::string holder;
  std::unique_ptr<state::StateDb> db;
  std::optional<astro::SiteData> site;
  std::unique_ptr<conversion::GroupConverter> converter;
  std::vector<std::string> names;
  orchestration::OrchestratorSettings orch_settings;
  state::RetryPolicy policy;
  grouping::GroupingSettings gs;
  double poll_s, reap_s, calibration_wait_s, defer_s;
  std::map<std::string, Tree> trees;
  WorkerSummary summary;
  std::atomic<int> summary_reaped{0};
  std::mutex roots_mutex;
  std::vector<fs::path> temporary_roots;  // every tree's, for the reaper's sweep
  std::mutex reaper_mutex;
  std::condition_variable reaper_wake;
  bool reaper_stop = false;
  Metrics metrics;
  double started_at = 0;
  int groups_processed = 0;
  std::atomic<double> db_ok_at{0};  // when a query last succeeded (/readyz)

  Impl(std::shared_ptr<const config::Config> c, const InterruptGuard& i)
      : config(std::move(c)),
        cfg(*config),
        interrupts(i),
        holder(orchestration::this_holder() + "/worker"),
        policy(retry_policy(cfg)),
        gs(grouping::GroupingSettings::from_config(cfg)),
        poll_s(cfg.get_double("worker.poll_s")),
        reap_s(cfg.get_double("worker.reap_s")),
        calibration_wait_s(cfg.get_double("worker.calibration_wait_s")),
        defer_s(cfg.get_double("worker.defer_s")) {
    // A pilot may start while the database restarts: its first connection is
    // tried again for a minute before the worker gives up.
    for (int tries = 0;; ++tries) {
      try {
        db = std::make_unique<state::StateDb>(state::StateDb::resolve_path(cfg));
        break;
      } catch (const IoError& e) {
        if (tries >= 30 || interrupts.interrupted()) throw;
        spdlog::warn("worker: {}; trying again in 2 s", e.what());
        std::this_thread::sleep_for(std::chrono::seconds(2));
      }
    }
    site = astro::load_site_data(cfg.get_path("paths.data_dir"));
    // Incomplete groups reach a worker only when `submit --allow-incomplete`
    // queued them: the converter accepts what the queue holds.
    converter = std::make_unique<conversion::GroupConverter>(
        *site, conversion::calibrator_refs_from_config(cfg),
        conversion::options_from_config(cfg, true, {}));
    names = chain_stage_names(config, *converter);
    orch_settings = orchestration::OrchestratorSettings::from_config(cfg);
    orch_settings.holder = holder;
    summary.holder = holder;
  }

  Tree& tree(const std::string& root) {
    auto it = trees.find(root);
    if (it != trees.end()) return it->second;
    Tree t;
    t.layout.out_dir = root;
    fs::create_directories(t.layout.ms_dir());
    auto settings = orch_settings;
    settings.temporary_roots =
        orchestration::temporary_roots(cfg, {t.layout.ms_dir(), t.layout.out_dir / "products"});
    // What processes of this host that are gone left in the tree's tiers.
    orchestration::sweep_temporaries(settings.temporary_roots);
    t.processor =
        std::make_unique<chain::GroupProcessor>(config, &interrupts, *converter, t.layout);
    t.orch = std::make_unique<orchestration::Orchestrator>(*db, root, settings, &interrupts);
    {
      std::lock_guard l(roots_mutex);
      temporary_roots.insert(temporary_roots.end(), settings.temporary_roots.begin(),
                             settings.temporary_roots.end());
    }
    return trees.emplace(root, std::move(t)).first->second;
  }

  // The reaper, on its own thread and connection: a dead worker's job is
  // queued again within lease + worker.reap_s whatever this worker is running.
  void reap(state::StateDb& rdb) {
    state::JobStore jobs(rdb.database());
    const auto reaped = jobs.reap_expired(policy);
    metrics.leases_expired(static_cast<int>(reaped.size()));
    if (!reaped.empty()) {
      // A dead worker of this host left its temporaries (a discarded job's are
      // nobody else's to take over); those of other hosts' dead processes are
      // swept by that host's next worker.
      std::vector<fs::path> roots;
      {
        std::lock_guard l(roots_mutex);
        roots = temporary_roots;
      }
      orchestration::sweep_temporaries(roots);
    }
    for (const auto& r : reaped) {
      ++summary_reaped;
      const auto j = jobs.get(r.job_id);
      const std::string group = j ? j->key.group_id : "?";
      const std::string stage = j ? j->key.stage : "?";
      auto log = logging::group_logger(group);
      if (r.now == state::JobState::kDiscarded) {
        log->error(
            "stage={} job {} discarded: attempt {} lost its lease (holder {} stopped "
            "renewing it) and no attempt is left",
            stage, r.job_id, r.attempt, r.holder);
        if (j && rdb.group(group)) {
          rdb.set_group_state(group, state::GroupState::kFailed,
                              fmt::format("{}: discarded after {} attempts (last: lease expired, "
                                          "holder {})",
                                          stage, r.attempt, r.holder));
        }
      } else {
        log->warn(
            "stage={} job {} queued again: attempt {} lost its lease (holder {} stopped "
            "renewing it)",
            stage, r.job_id, r.attempt, r.holder);
      }
    }
  }

  void reaper_loop() {
    std::unique_ptr<state::StateDb> rdb;
    std::unique_lock lock(reaper_mutex);
    while (!reaper_stop) {
      lock.unlock();
      try {
        if (!rdb) rdb = std::make_unique<state::StateDb>(db->target());
        reap(*rdb);
      } catch (const std::exception& e) {
        spdlog::warn("worker {}: reaper: {}", holder, e.what());
        rdb.reset();  // a new connection next time
      }
      lock.lock();
      reaper_wake.wait_for(lock, std::chrono::duration<double>(reap_s),
                           [this] { return reaper_stop; });
    }
  }

  // An applycal waits while a calibrator transit of its tree (another group:
  // its own solve is done) is still to be solved (bounded), as `run` solves
  // every set of a range before any group is calibrated.
  bool must_wait(const state::JobRecord& job) {
    // A transit's own apply waits too: its own set may fail QA, and another
    // transit's set would then make a later check redo the apply (seen in
    // worker_faults: an apply done twice).
    if (job.key.stage != "applycal") return false;
    state::JobStore jobs(db->database());
    const auto pending = jobs.count_unfinished(job.key.out_root, kBeforeApply, kCalibratorPriority);
    if (pending == 0) return false;
    const double waited = now_unix() - orchestration::iso_to_unix(job.created_at);
    auto log = logging::group_logger(job.key.group_id);
    if (waited >= calibration_wait_s) {
      log->warn(
          "stage=applycal {} calibrator transit job(s) still unfinished after {:.0f} s "
          "(worker.calibration_wait_s): calibration.when_uncalibrated decides",
          pending, waited);
      return false;
    }
    log->info(
        "stage=applycal waiting for {} calibrator transit job(s) to be solved first: put "
        "back for {:.0f} s",
        pending, defer_s);
    return true;
  }

  // Fails a job this worker holds for a reason outside its stage (fenced: a
  // no-op when the orchestrator recorded an outcome already).
  void fail_job(const state::JobRecord& job, state::ErrorKind kind, const std::string& why) {
    state::JobStore jobs(db->database());
    const bool again = state::is_retryable(kind) && job.attempt < policy.max_attempts;
    jobs.finish_failed(job, kind, why, 0, policy, [&] {
      if (!again && db->group(job.key.group_id)) {
        db->set_group_state(job.key.group_id, state::GroupState::kFailed,
                            fmt::format("{}: {}", job.key.stage, why));
      }
    });
  }

  // false: put back (no attempt used).
  bool run_job(const state::JobRecord& job) {
    const std::string& id = job.key.group_id;
    auto log = logging::group_logger(id);
    state::JobStore jobs(db->database());
    const auto g = db->group(id);
    std::optional<grouping::SelectedGroup> sel;
    fs::path scope;
    if (g) {
      for (const auto& f : db->files_of_group(id)) {
        if (f.state == state::FileState::kIndexed) {
          scope = fs::path(f.path).parent_path();
          break;
        }
      }
      for (auto& s :
           grouping::select_groups(*db, g->start_epoch, g->start_epoch, gs, true, scope)) {
        if (s.group.group_id == id) sel = std::move(s);
      }
    }
    if (!sel || sel->decision != Decision::kProcess) {
      const std::string why = !g     ? "the group is not in the index"
                              : !sel ? "no file of the group is indexed"
                                     : sel->reason;
      log->error("stage={} job {}: {}", job.key.stage, job.id, why);
      fail_job(job, state::ErrorKind::kInput, why);
      ++summary.jobs_failed;
      return true;
    }
    if (must_wait(job)) {
      if (jobs.defer(job, defer_s)) ++summary.jobs_deferred;
      return false;
    }
    Tree& t = tree(job.key.out_root);
    const fs::path truth = scope / (id + ".truth.json");
    const auto start = t.processor->start_context(*sel, fs::exists(truth) ? truth : fs::path());
    orchestration::Segment q;
    q.preclaimed = job;
    q.retry = policy;
    // The group's next stage is queued in the transaction that records this
    // one done: a worker dying in between loses nothing.
    q.on_done = [&](const state::JobRecord& done) {
      for (std::size_t i = 0; i + 1 < names.size(); ++i) {
        if (names[i] == done.key.stage) {
          state::JobStore(db->database())
              .enqueue({id, names[i + 1], done.key.out_root}, done.priority);
        }
      }
    };
    log->info("stage={} job {} attempt {} claimed by {}", job.key.stage, job.id, job.attempt,
              holder);
    try {
      const auto r = t.processor->run_stage(*t.orch, *sel, start, job.key.stage, q);
      // An earlier stage was not done and failed when redone: this job never
      // ran; it is given back as a retryable failure naming why.
      const auto after = jobs.get(job.id);
      if (!r.report.ok && after && after->state == state::JobState::kRunning &&
          after->attempt == job.attempt && after->holder == holder) {
        fail_job(job, state::ErrorKind::kIo,
                 "an earlier stage could not be restored: " + chain::failure_of(r.report));
      }
    } catch (const Cancelled&) {
      throw;  // recorded (interrupted: queued again); the worker stops
    } catch (const std::exception& e) {
      log->error("stage={} job {}: {}", job.key.stage, job.id, e.what());
      fail_job(job, state::ErrorKind::kIo, e.what());
    }
    const auto now = jobs.get(job.id);
    if (!now) return true;
    const double seconds = now->seconds.value_or(0);
    const std::string& stage = job.key.stage;
    if (now->attempt != job.attempt || (now->holder && *now->holder != holder)) {
      ++summary.jobs_lost;
      metrics.stage_finished(stage, "lost", seconds);
    } else if (now->state == state::JobState::kDone) {
      ++summary.jobs_done;
      metrics.stage_finished(stage, "done", seconds);
      double bytes = 0;
      for (const auto& p : jobs.products_of_job(job.id)) {
        bytes += static_cast<double>(path_bytes(p.path));
      }
      metrics.bytes_written(stage, bytes);
      if (stage == "convert") {
        double in = 0;
        for (const auto& [k, path] : sel->subband_files)
          in += static_cast<double>(path_bytes(path));
        metrics.bytes_read(stage, in);
      }
      if (!names.empty() && stage == names.back()) {
        ++groups_processed;
        metrics.group_finished(true);
        const double wall = now_unix() - started_at;
        if (wall > 0) metrics.real_time_factor(groups_processed * chain::kGroupCadenceS / wall);
      }
    } else if (now->state == state::JobState::kQueued) {
      ++summary.jobs_retried;
      metrics.stage_finished(stage, "retry", seconds);
    } else if (now->state == state::JobState::kFailed ||
               now->state == state::JobState::kDiscarded) {
      ++summary.jobs_failed;
      metrics.stage_finished(stage, state::to_string(now->state), seconds);
      metrics.group_finished(false);
    }
    return true;
  }

  WorkerSummary run(const WorkerOptions& o) {
    const double t0 = now_unix();
    started_at = t0;
    double last_work = t0;
    int ran = 0;
    // Ready while the state database answered within the last few polls.
    const double ready_window = std::max(30.0, 3 * poll_s);
    auto server = start_metrics_server(
        metrics, cfg.get_string("metrics.listen"),
        [this, ready_window] { return now_unix() - db_ok_at.load() < ready_window; });
    if (server) summary.metrics_address = server->address();
    spdlog::info(
        "worker {}: taking {} from {}", holder,
        o.stages.empty() ? std::string("any stage") : fmt::format("{}", fmt::join(o.stages, ", ")),
        state::redact_url(db->target().string()));
    state::JobStore jobs(db->database());
    std::thread reaper([this] { reaper_loop(); });
    bool listening = false;
    for (;;) {
      if (interrupts.interrupted()) {
        summary.ended_by = "signal";
        break;
      }
      if (o.max_jobs > 0 && ran >= o.max_jobs) {
        summary.ended_by = "max-jobs";
        break;
      }
      std::optional<state::JobRecord> job;
      try {
        if (!listening) {
          db->database().listen(state::kJobsChannel);
          listening = true;
        }
        const double now = now_unix();
        job = jobs.claim_next(holder, orch_settings.lease_s, o.stages);
        db_ok_at = now_unix();
        metrics.jobs_by_state(jobs.count_by_state());
        if (!job) {
          // Idle: nothing claimable and nothing to wait for (a deferred apply, a
          // retry in its backoff, a job another worker runs that queues the next).
          if (jobs.count_pending(o.stages) > 0) {
            last_work = now;
          } else if (o.exit_when_idle_s > 0 && now - last_work >= o.exit_when_idle_s) {
            summary.ended_by = "idle";
            break;
          }
          db->database().wait_notification(poll_s);
          continue;
        }
        if (run_job(*job)) ++ran;
        last_work = now_unix();
      } catch (const Cancelled&) {
        summary.ended_by = "signal";  // the stage recorded it (interrupted: queued again)
        break;
      } catch (const std::exception& e) {
        // The database went away (a restart, a terminated connection): the
        // next statement reconnects. A job held meanwhile comes back by its
        // lease if it cannot be given back now.
        spdlog::warn("worker {}: {}; again in {:.0f} s", holder, e.what(), poll_s);
        if (job) {
          try {
            fail_job(*job, state::ErrorKind::kIo, e.what());
          } catch (const std::exception&) {
          }
        }
        for (double waited = 0; waited < poll_s && !interrupts.interrupted(); waited += 0.1) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        last_work = now_unix();
      }
    }
    {
      std::lock_guard l(reaper_mutex);
      reaper_stop = true;
    }
    reaper_wake.notify_all();
    reaper.join();
    summary.reaped = summary_reaped.load();
    summary.wall_seconds = now_unix() - t0;
    return summary;
  }
};

Worker::Worker(std::shared_ptr<const config::Config> config, const InterruptGuard& interrupts)
    : impl_(std::make_unique<Impl>(std::move(config), interrupts)) {}
Worker::~Worker() = default;

WorkerSummary Worker::run(const WorkerOptions& options) {
  return impl_->run(options);
}

}  // namespace contimg::service
