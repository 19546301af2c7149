#include "service/stream_service.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "astro/site_data.h"
#include "catalog/vla_calibrators.h"
#include "chain/group_processor.h"
#include "chain/preflight.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "common/logging.h"
#include "common/resources.h"
#include "conversion/conversion_settings.h"
#include "conversion/group_converter.h"
#include "grouping/group_selection.h"
#include "grouping/indexer.h"
#include "io/uvh5/uvh5_file.h"
#include "orchestration/orchestrator.h"
#include "orchestration/provenance.h"
#include "orchestration/retention.h"
#include "service/disk_guard.h"
#include "service/file_watcher.h"
#include "service/metrics.h"
#include "service/worker.h"
#include "state/calsets.h"
#include "state/clock.h"
#include "state/jobs.h"
#include "state/state_db.h"

namespace contimg::service {
namespace fs = std::filesystem;
using Decision = grouping::SelectedGroup::Decision;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Product ages are wall-clock (created_at).
double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Settings {
  double rescan_s, settle_s, unreadable_after_s, group_timeout_s, calibration_wait_s,
      stop_timeout_s, retry_backoff_s;
  bool allow_incomplete;
  int workers;
  std::uintmax_t min_free_bytes;
  int max_attempts;

  explicit Settings(const config::Config& c)
      : rescan_s(c.get_double("stream.rescan_s")),
        settle_s(c.get_double("stream.settle_s")),
        unreadable_after_s(c.get_double("stream.unreadable_after_s")),
        group_timeout_s(c.get_double("stream.group_timeout_s")),
        calibration_wait_s(c.get_double("stream.calibration_wait_s")),
        stop_timeout_s(c.get_double("stream.stop_timeout_s")),
        retry_backoff_s(c.get_double("stream.retry_backoff_s")),
        allow_incomplete(c.get_bool("stream.allow_incomplete")),
        workers(static_cast<int>(c.get_int("stream.workers"))),
        min_free_bytes(static_cast<std::uintmax_t>(c.get_double("stream.min_free_gb") * 1e9)),
        max_attempts(static_cast<int>(c.get_int("orchestrator.max_attempts"))) {}
};

// Where a group is in the service's hands. The database keeps what survives
// a restart (group state, jobs); this only orders the work of one process.
enum class Phase {
  kCollecting,  // waiting for subbands or the time-out
  kReady,       // closed: the first segment may start
  kFirstRunning,
  kWaitingCalibration,  // first segment done, no valid calibration set yet
  kSecondReady,
  kSecondRunning,
  kRetryWait,  // a retryable failure: again at retry_at
};

struct Tracked {
  Phase phase = Phase::kCollecting;
  double last_arrival = 0;
  bool resume = false;  // closed before a restart: no second time-out
  bool calibrator = false;
  std::optional<grouping::SelectedGroup> sel;
  std::optional<pipeline::Context> after_first;
  double closed_at = 0, first_done_at = 0, retry_at = 0;
  int retry_segment = 1;
  int service_errors = 0;
  std::string waiting;  // why it waits, logged when it changes
};

struct WorkItem {
  std::string group_id;
  int segment = 1;
  grouping::SelectedGroup sel;
  std::optional<pipeline::Context> context;  // the second segment's start
  fs::path reference;
  std::optional<Resources> resources;
};

struct WorkDone {
  std::string group_id;
  int segment = 1;
  chain::SegmentResult result;
  bool cancelled = false;
  std::string error;  // an unexpected exception (not a stage's failure)
};

bool retryable_kind(const std::string& kind) {
  return kind == "io" || kind == "timeout";
}

std::uintmax_t input_bytes(const grouping::SelectedGroup& sel) {
  std::uintmax_t n = 0;
  for (const auto& [k, path] : sel.subband_files) {
    std::error_code ec;
    const auto s = fs::file_size(path, ec);
    if (!ec) n += s;
  }
  return n;
}

// One service per output tree: an flock held for the process's life (the
// kernel drops it when the process dies, kill -9 included).
class TreeLock {
 public:
  TreeLock(const fs::path& path, const StreamOptions& o) {
    fs::create_directories(path.parent_path());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw IoError(fmt::format("{}: cannot open the service lock file", path.string()));
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      std::ifstream in(path);
      std::string holder((std::istreambuf_iterator<char>(in)), {});
      ::close(fd_);
      throw ConfigError(
          fmt::format("{}: another contimg stream serves this output tree ({}); stop it first",
                      path.string(), holder.empty() ? "unknown" : holder));
    }
    const std::string text = nlohmann::json{{"pid", getpid()},
                                            {"host", this_host()},
                                            {"started_at", state::now_iso()},
                                            {"input_dir", o.input_dir.string()},
                                            {"out_dir", o.layout.out_dir.string()}}
                                 .dump();
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, text.data(), text.size(), 0) < 0) {
      spdlog::warn("{}: cannot write the holder into the lock file", path.string());
    }
  }
  ~TreeLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  TreeLock(const TreeLock&) = delete;
  TreeLock& operator=(const TreeLock&) = delete;

 private:
  int fd_ = -1;
};

class Service {
 public:
  Service(std::shared_ptr<const config::Config> config, const InterruptGuard& interrupts,
          const StreamOptions& o)
      : config_(std::move(config)),
        cfg_(*config_),
        interrupts_(interrupts),
        stage_guard_(InterruptGuard::Manual{}, &interrupts),
        o_(o),
        s_(cfg_),
        gs_(grouping::GroupingSettings::from_config(cfg_)),
        input_dir_(fs::absolute(o.input_dir).lexically_normal()),
        out_root_(fs::absolute(o.layout.out_dir).lexically_normal()) {}

  StreamSummary run();

 private:
  void start_up();
  void worker_loop();
  grouping::IndexOptions index_options() const;
  void list_directory();
  void register_files(const std::vector<FileAcceptor::Accepted>& accepted);
  void touch(const std::string& group_id, double now);
  void reconcile();
  void evaluate(double now);
  void close_group(const std::string& id, Tracked& t, double now);
  void dispatch(double now);
  bool disk_ok(const std::string& id, Tracked& t, int segment);
  void collect(double now);
  void handle(WorkDone done, double now);
  void set_waiting(const std::string& id, Tracked& t, const std::string& why);
  fs::path reference_for(const std::string& group_id) const;
  bool busy() const;
  void queue_ready();

  std::shared_ptr<const config::Config> config_;
  const config::Config& cfg_;
  const InterruptGuard& interrupts_;
  // What the stages see: set only when the stop grace period has run out.
  InterruptGuard stage_guard_;
  StreamOptions o_;
  Settings s_;
  grouping::GroupingSettings gs_;
  fs::path input_dir_, out_root_;

  std::unique_ptr<state::StateDb> db_;  // this (the scheduling) thread's connection
  std::optional<astro::SiteData> site_;
  std::optional<catalog::VlaCalibratorCatalog> calibrators_;
  std::unique_ptr<conversion::GroupConverter> converter_;
  std::unique_ptr<chain::GroupProcessor> processor_;
  // On PostgreSQL the service only ingests: a closed group's first stage not
  // done is queued for `contimg worker`s (issue 13), no stage runs here.
  bool queue_mode_ = false;
  std::vector<std::string> stage_names_;
  orchestration::OrchestratorSettings orch_settings_;
  orchestration::RetentionPolicy retention_;
  double next_retention_ = 0;
  void apply_retention(double now);
  std::unique_ptr<FileAcceptor> acceptor_;

  std::map<std::string, Tracked> tracked_;
  // Out of scope, or failed for good: not looked at again while their state
  // stays the one recorded here (`contimg retry` makes a failed group pending).
  std::map<std::string, std::string> ignored_;
  int in_flight_ = 0;
  bool first_in_flight_ = false, second_in_flight_ = false;
  StreamSummary summary_;
  // Prometheus metrics (docs/scale-out.md "Metrics"), served while the service runs.
  Metrics metrics_;
  std::atomic<bool> ready_{false};
  std::unique_ptr<MetricsServer> metrics_server_;  // after what it reads: stops first
  double started_at_ = 0, next_metrics_ = 0;
  void record_stages(const WorkDone& d, const Tracked& t);

  // Work handed to the worker threads and what they hand back.
  std::mutex mutex_;
  std::condition_variable work_cv_;
  std::deque<WorkItem> work_;
  std::deque<WorkDone> done_;
  bool quit_ = false;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
};

grouping::IndexOptions Service::index_options() const {
  grouping::IndexOptions io;
  io.tolerance_s = gs_.tolerance_s;
  io.expected_subbands = gs_.expected_subbands;
  io.pointing_tolerance_deg = gs_.pointing_tolerance_deg;
  io.profiles = uvh5::CacheProfiles::from_config(cfg_);
  return io;
}

fs::path Service::reference_for(const std::string& group_id) const {
  if (!o_.reference.empty()) return o_.reference;
  const fs::path truth = input_dir_ / (group_id + ".truth.json");
  return fs::exists(truth) ? truth : fs::path();
}

void Service::start_up() {
  const auto& layout = o_.layout;
  // What the service cannot do is said before it waits for data (docs/chain.md "Preflight").
  chain::PreflightRequest req;
  req.input_dir = input_dir_;
  req.out_dir = out_root_;
  if (!o_.reference.empty()) req.reference = o_.reference;
  const auto findings = chain::preflight(cfg_, req);
  for (const auto& f : findings) {
    if (f.severity == chain::Finding::Severity::kWarning)
      spdlog::warn("preflight: {}", chain::to_string(f));
  }
  chain::throw_if_errors(findings);

  site_ = astro::load_site_data(cfg_.get_path("paths.data_dir"));
  try {
    calibrators_ = catalog::VlaCalibratorCatalog::load(
        catalog::vla_calibrator_path(cfg_.get_path("paths.data_dir")));
  } catch (const std::exception& e) {
    spdlog::warn(
        "calibrator list unreadable ({}): no group is recognised as a calibrator transit "
        "ahead of its solve",
        e.what());
  }
  converter_ = std::make_unique<conversion::GroupConverter>(
      *site_, conversion::calibrator_refs_from_config(cfg_),
      conversion::options_from_config(cfg_, s_.allow_incomplete, o_.command_line));
  processor_ = std::make_unique<chain::GroupProcessor>(config_, &stage_guard_, *converter_, layout);
  fs::create_directories(layout.ms_dir());

  // Reconcile the product tiers with the database: what killed processes
  // left in every tier goes; jobs a dead holder ran are taken over at their
  // claim (orchestrator), so each group resumes at its first stage not done.
  orch_settings_ = orchestration::OrchestratorSettings::from_config(cfg_);
  retention_ = orchestration::RetentionPolicy::from_config(cfg_);
  orch_settings_.temporary_roots =
      orchestration::temporary_roots(cfg_, {layout.ms_dir(), out_root_ / "products"});
  if (const int n = orchestration::sweep_temporaries(orch_settings_.temporary_roots); n > 0) {
    spdlog::info("stream: removed {} temporary path(s) left by processes that are gone", n);
  }
  db_ = std::make_unique<state::StateDb>(state::StateDb::resolve_path(cfg_));
  queue_mode_ = db_->is_postgres();
  if (queue_mode_) {
    stage_names_ = chain_stage_names(config_, *converter_);
    spdlog::info(
        "stream: the state database is PostgreSQL: closed groups are queued for `contimg "
        "worker`s, no stage runs in this process");
  }
  {
    grouping::IndexSummary pruned;
    grouping::forget_vanished(*db_, input_dir_, index_options(), pruned);
    if (pruned.removed) {
      spdlog::info("stream: {} recorded file(s) no longer in {} dropped from the index",
                   pruned.removed, input_dir_.string());
    }
  }
  const auto profiles = uvh5::CacheProfiles::from_config(cfg_);
  acceptor_ = std::make_unique<FileAcceptor>(
      AcceptorSettings{s_.settle_s, s_.unreadable_after_s}, stat_file,
      [profiles](const fs::path& p) -> std::string {
        try {
          const uvh5::Uvh5File f(p, uvh5::CacheProfile::kMetadata, profiles);
          (void)f.peek();
          return {};
        } catch (const std::exception& e) {
          return e.what();
        }
      });
  reconcile();
  list_directory();
}

void Service::list_directory() {
  const double now = now_s();
  for (const auto& path : grouping::scan_directory(input_dir_, false)) {
    if (is_ignored_name(path.filename().string())) continue;
    const auto rec = db_->file(path.string());
    const auto st = stat_file(path);
    // Registered as it is now: nothing to do (each file registered once).
    if (rec && st && rec->size_bytes == static_cast<std::int64_t>(st->size) &&
        rec->mtime_ns == st->mtime_ns) {
      continue;
    }
    acceptor_->offer(path, now);
  }
}

void Service::register_files(const std::vector<FileAcceptor::Accepted>& accepted) {
  std::vector<fs::path> paths;
  for (const auto& a : accepted) {
    const auto rec = db_->file(a.path.string());
    if (rec && rec->size_bytes == static_cast<std::int64_t>(a.stamp.size) &&
        rec->mtime_ns == a.stamp.mtime_ns) {
      continue;  // an event for a file already registered as it is
    }
    paths.push_back(a.path);
  }
  if (paths.empty()) return;
  const auto idx = grouping::index_files(*db_, paths, index_options());
  summary_.files_registered += static_cast<int>(idx.indexed + idx.invalid);
  const double now = now_s();
  const auto tol = static_cast<std::int64_t>(std::ceil(gs_.tolerance_s));
  for (const auto& p : paths) {
    const auto rec = db_->file(p.string());
    if (!rec) continue;
    spdlog::info("stream: registered {}{}", p.filename().string(),
                 rec->state == state::FileState::kInvalid ? " (invalid: " + rec->error + ")" : "");
    if (rec->group_id) {
      touch(*rec->group_id, now);
    } else if (rec->name_epoch) {
      // An invalid file belongs to no group: the groups around its time learn of it.
      for (const auto& g : db_->groups_in_range(*rec->name_epoch - tol, *rec->name_epoch + tol)) {
        touch(g.group_id, now);
      }
    }
  }
}

void Service::touch(const std::string& id, double now) {
  auto it = tracked_.find(id);
  if (it != tracked_.end()) {
    if (it->second.phase == Phase::kCollecting) it->second.last_arrival = now;
    return;
  }
  const auto g = db_->group(id);
  if (!g) return;
  using GS = state::GroupState;
  // Skipped, or failed at closing (an invalid file, no job ran): a new or
  // replaced file opens it again. Processed or failed in work: not redone.
  bool reopen = g->state == GS::kPending || g->state == GS::kSkipped;
  if (g->state == GS::kFailed) {
    reopen = true;
    for (const auto& j : state::JobStore(db_->database()).jobs_of_group(id)) {
      reopen &= j.key.out_root != out_root_.string();
    }
  }
  if (!reopen) {
    logging::group_logger(id)->info("a file arrived for a group already {}: not processed again",
                                    state::to_string(g->state));
    return;
  }
  ignored_.erase(id);
  Tracked t;
  t.last_arrival = now;
  tracked_.emplace(id, std::move(t));
}

// Groups the database says are unfinished and this process does not hold:
// at start (a restart resumes them) and at every listing (`contimg retry`).
void Service::reconcile() {
  auto& st = db_->database().cached(
      "SELECT group_id, state FROM groups WHERE state IN "
      "('pending', 'processing', 'converting', 'converted', 'failed') ORDER BY start_epoch");
  std::vector<std::pair<std::string, std::string>> rows;
  while (st.step()) rows.emplace_back(st.get_text(0), st.get_text(1));
  const double now = now_s();
  state::JobStore jobs(db_->database());
  for (const auto& [id, gstate] : rows) {
    if (tracked_.count(id)) continue;
    if (auto ig = ignored_.find(id); ig != ignored_.end() && ig->second == gstate) continue;
    bool in_scope = false;
    for (const auto& f : db_->files_of_group(id))
      in_scope |= fs::path(f.path).parent_path() == input_dir_;
    if (!in_scope) {  // another directory's group (the index is shared)
      ignored_[id] = gstate;
      continue;
    }
    if (queue_mode_) {  // queued once: from then on the workers' (and `contimg retry`'s)
      bool queued = false;
      for (const auto& j : jobs.jobs_of_group(id)) queued |= j.key.out_root == out_root_.string();
      if (queued) {
        ignored_[id] = gstate;
        continue;
      }
    }
    Tracked t;
    t.last_arrival = now;
    t.resume = gstate != "pending";
    if (gstate == "failed") {
      // Resumed when it was stopped by a signal (ours: the stop grace period
      // ran out) or failed for a retryable reason with attempts left; else failed for good.
      bool resume = false;
      for (const auto& j : jobs.jobs_of_group(id)) {
        if (j.key.out_root != out_root_.string() || !j.error_kind) continue;
        if (j.state == state::JobState::kFailed || j.state == state::JobState::kDiscarded) {
          resume |= *j.error_kind == state::ErrorKind::kInterrupted;
          resume |= j.state == state::JobState::kFailed && state::is_retryable(*j.error_kind) &&
                    j.attempt < s_.max_attempts;
        }
      }
      if (!resume) {
        ignored_[id] = gstate;
        continue;
      }
    }
    tracked_.emplace(id, std::move(t));
  }
}

void Service::close_group(const std::string& id, Tracked& t, double now) {
  t.phase = Phase::kReady;
  t.closed_at = now;
  if (calibrators_ && site_) {
    t.calibrator =
        chain::holds_calibrator_transit(t.sel->group, site_->observatory, *calibrators_, cfg_);
  }
  logging::group_logger(id)->info("closed: {}/{} subbands{}{}", t.sel->present.size(),
                                  gs_.expected_subbands,
                                  t.sel->missing.empty() ? "" : " (time-out: processed incomplete)",
                                  t.calibrator ? "; holds a calibrator transit" : "");
}

void Service::evaluate(double now) {
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    const std::string id = it->first;
    Tracked& t = it->second;
    if (t.phase != Phase::kCollecting) {
      ++it;
      continue;
    }
    const auto g = db_->group(id);
    if (!g) {  // regrouped under another id (an earlier subband arrived)
      it = tracked_.erase(it);
      continue;
    }
    const bool timed_out = t.resume || now - t.last_arrival >= s_.group_timeout_s;
    if (!g->complete && !timed_out) {
      ++it;
      continue;
    }
    std::optional<grouping::SelectedGroup> sel;
    for (auto& s : grouping::select_groups(*db_, g->start_epoch, g->start_epoch, gs_,
                                           s_.allow_incomplete, input_dir_)) {
      if (s.group.group_id == id) sel = std::move(s);
    }
    if (!sel) {  // no file of it in this service's directory
      ignored_[id] = state::to_string(g->state);
      it = tracked_.erase(it);
      continue;
    }
    if (sel->decision == Decision::kProcess && (sel->missing.empty() || timed_out)) {
      t.sel = std::move(sel);
      close_group(id, t, now);
      ++it;
      continue;
    }
    if (!timed_out) {  // complete elsewhere in the index, not yet here
      ++it;
      continue;
    }
    // The incomplete-group policy (SPEC §3), as `run` applies it.
    const bool failed = sel->decision == Decision::kFailInvalid;
    db_->set_group_state(id, failed ? state::GroupState::kFailed : state::GroupState::kSkipped,
                         sel->reason);
    auto log = logging::group_logger(id);
    if (failed) {
      log->error("failed after {:.0f} s without a new file: {}", s_.group_timeout_s, sel->reason);
      ++summary_.failed;
    } else {
      log->warn("skipped after {:.0f} s without a new file: {}", s_.group_timeout_s, sel->reason);
      ++summary_.skipped;
    }
    it = tracked_.erase(it);
  }
}

void Service::set_waiting(const std::string& id, Tracked& t, const std::string& why) {
  if (why == t.waiting) return;
  t.waiting = why;
  if (why.empty()) return;
  logging::group_logger(id)->warn("waiting: {}", why);
  db_->record_event(id, "stream", state::EventLevel::kWarn, "waiting: " + why);
}

bool Service::disk_ok(const std::string& id, Tracked& t, int segment) {
  // Estimates (docs/service.md): the MS is ~1.25x its UVH5 input; the second
  // segment adds CORRECTED_DATA, imaging's working copy and the images.
  const double factor = segment == 1 ? 1.5 : 1.0;
  const auto needed =
      static_cast<std::uintmax_t>(factor * static_cast<double>(input_bytes(*t.sel)));
  for (const auto& space :
       {tier_space("out", out_root_), tier_space("scratch", cfg_.get_path("paths.scratch_dir"))}) {
    if (auto why = shortfall(space, needed, s_.min_free_bytes); !why.empty()) {
      set_waiting(id, t, "disk: " + why);
      return false;
    }
  }
  return true;
}

// Queue mode: every closed group's first stage not done goes into the job
// queue, calibrator transits at the priority that puts them ahead.
void Service::queue_ready() {
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    const std::string id = it->first;
    if (it->second.phase != Phase::kReady) {
      ++it;
      continue;
    }
    const int priority = it->second.calibrator ? kCalibratorPriority : kSciencePriority;
    const auto q = queue_group(*db_, id, stage_names_, out_root_.string(), priority);
    auto log = logging::group_logger(id);
    if (q.action == "queued") {
      log->info("queued {} for the workers (priority {})", q.stage, priority);
      ++summary_.queued;
      metrics_.group_queued();
    } else {
      log->info("not queued: {}{}", q.action, q.stage.empty() ? "" : " (" + q.stage + ")");
    }
    const auto g = db_->group(id);
    ignored_[id] = g ? state::to_string(g->state) : "pending";
    it = tracked_.erase(it);
  }
}

void Service::dispatch(double now) {
  if (stopping_) return;
  if (queue_mode_) {
    queue_ready();
    return;
  }
  // Calibration: a science group's second segment waits for a valid set.
  for (auto& [id, t] : tracked_) {
    if (t.phase == Phase::kRetryWait && now >= t.retry_at) {
      t.phase = t.retry_segment == 1 ? Phase::kReady : Phase::kSecondReady;
    }
    if (t.phase != Phase::kWaitingCalibration) continue;
    const auto& g = t.sel->group;
    bool ready = t.calibrator || !g.time_first_mjd || !g.time_last_mjd;
    if (!ready) {
      const double mid_s = 0.5 * (*g.time_first_mjd + *g.time_last_mjd) * 86400.0;
      ready = !state::valid_calsets(*db_, mid_s).empty();
    }
    if (!ready && now - t.first_done_at >= s_.calibration_wait_s) {
      logging::group_logger(id)->warn(
          "no valid calibration set after {:.0f} s (stream.calibration_wait_s): "
          "calibration.when_uncalibrated = {} decides",
          now - t.first_done_at, cfg_.get_string("calibration.when_uncalibrated"));
      ready = true;
    }
    if (ready) {
      t.phase = Phase::kSecondReady;
      set_waiting(id, t, "");
    } else {
      set_waiting(id, t, "a valid calibration set (a calibrator transit to be solved)");
    }
  }
  // Calibrator transits first, then the oldest group (the map is in id = time order).
  auto pick = [&](Phase phase) -> std::string {
    std::string best;
    for (auto& [id, t] : tracked_) {
      if (t.phase != phase) continue;
      if (t.calibrator) return id;
      if (best.empty()) best = id;
    }
    return best;
  };
  const auto share = s_.workers > 1
                         ? std::optional<Resources>(Resources::from_config(cfg_).share(s_.workers))
                         : std::nullopt;
  for (int segment : {2, 1}) {  // finishing a group first keeps its latency low
    if (in_flight_ >= s_.workers) return;
    if (segment == 1 ? first_in_flight_ : second_in_flight_) continue;
    const std::string id = pick(segment == 1 ? Phase::kReady : Phase::kSecondReady);
    if (id.empty()) continue;
    Tracked& t = tracked_.at(id);
    if (!disk_ok(id, t, segment)) continue;
    set_waiting(id, t, "");
    WorkItem item;
    item.group_id = id;
    item.segment = segment;
    item.sel = *t.sel;
    item.context = t.after_first;
    item.reference = reference_for(id);
    item.resources = share;
    t.phase = segment == 1 ? Phase::kFirstRunning : Phase::kSecondRunning;
    (segment == 1 ? first_in_flight_ : second_in_flight_) = true;
    ++in_flight_;
    {
      std::lock_guard lock(mutex_);
      work_.push_back(std::move(item));
    }
    work_cv_.notify_one();
  }
}

void Service::worker_loop() {
  std::unique_ptr<state::StateDb> db;
  std::unique_ptr<orchestration::Orchestrator> orch;
  std::string setup_error;
  try {
    db = std::make_unique<state::StateDb>(db_->target());
    orch = std::make_unique<orchestration::Orchestrator>(*db, out_root_, orch_settings_,
                                                         &stage_guard_);
  } catch (const std::exception& e) {
    setup_error = e.what();
  }
  const chain::StopPredicate stop = [this] { return stopping_.load(); };
  for (;;) {
    WorkItem item;
    {
      std::unique_lock lock(mutex_);
      work_cv_.wait(lock, [&] { return quit_ || !work_.empty(); });
      if (work_.empty()) return;
      item = std::move(work_.front());
      work_.pop_front();
    }
    WorkDone done;
    done.group_id = item.group_id;
    done.segment = item.segment;
    try {
      if (!orch) throw IoError("the worker cannot open the state database: " + setup_error);
      if (item.segment == 1) {
        const auto start = processor_->start_context(item.sel, item.reference, item.resources);
        done.result = processor_->run_first(*orch, item.sel, start, stop);
      } else {
        auto ctx = *item.context;
        if (item.resources) ctx = ctx.with_resources(*item.resources);
        done.result = processor_->run_second(*orch, ctx, stop);
      }
    } catch (const Cancelled& e) {
      done.cancelled = true;
      done.error = e.what();
    } catch (const std::exception& e) {
      done.error = e.what();
    }
    {
      std::lock_guard lock(mutex_);
      done_.push_back(std::move(done));
    }
  }
}

void Service::collect(double now) {
  std::deque<WorkDone> finished;
  {
    std::lock_guard lock(mutex_);
    finished.swap(done_);
  }
  for (auto& d : finished) handle(std::move(d), now);
}

// The stages a segment ran, into the metrics: duration, outcome, bytes.
void Service::record_stages(const WorkDone& d, const Tracked& t) {
  state::JobStore jobs(db_->database());
  for (const auto& s : d.result.report.stages) {
    if (s.outcome == pipeline::Outcome::kCompleted) {
      metrics_.stage_finished(s.stage, "done", s.seconds);
      if (const auto j = jobs.get(state::JobKey{d.group_id, s.stage, out_root_.string()})) {
        double bytes = 0;
        for (const auto& p : jobs.products_of_job(j->id)) bytes += static_cast<double>(path_bytes(p.path));
        metrics_.bytes_written(s.stage, bytes);
      }
      if (s.stage == "convert" && t.sel) metrics_.bytes_read(s.stage, static_cast<double>(input_bytes(*t.sel)));
    } else if (s.outcome == pipeline::Outcome::kFailed || s.outcome == pipeline::Outcome::kCancelled) {
      metrics_.stage_finished(s.stage, "failed", s.seconds);
    }
  }
}

void Service::handle(WorkDone d, double now) {
  --in_flight_;
  (d.segment == 1 ? first_in_flight_ : second_in_flight_) = false;
  auto it = tracked_.find(d.group_id);
  if (it == tracked_.end()) return;
  Tracked& t = it->second;
  try {
    record_stages(d, t);
  } catch (const std::exception& e) {
    spdlog::warn("stream: metrics of {}: {}", d.group_id, e.what());
  }
  auto log = logging::group_logger(d.group_id);
  const auto& r = d.result.report;
  if (d.cancelled || d.result.stopped) {
    log->warn("stopped {}; a restart resumes it at its first stage not done",
              d.cancelled ? "(stage cancelled: " + d.error + ")" : "between two stages");
    tracked_.erase(it);
    return;
  }
  auto retry_or_fail = [&](const std::string& stage, const std::string& kind,
                           const std::string& why) {
    std::optional<state::JobRecord> job;
    if (!stage.empty()) {
      job = state::JobStore(db_->database()).get({d.group_id, stage, out_root_.string()});
    }
    // Without a job (the service's own error, e.g. the database) the service counts.
    const int attempt = job ? job->attempt : ++t.service_errors;
    const bool retry = retryable_kind(kind) && attempt < s_.max_attempts &&
                       (!job || job->state == state::JobState::kFailed);
    if (retry) {
      const double delay = s_.retry_backoff_s * std::pow(2.0, attempt - 1);
      log->warn("{} (attempt {} of {}): retrying in {:.0f} s", why, attempt, s_.max_attempts,
                delay);
      t.phase = Phase::kRetryWait;
      t.retry_at = now + delay;
      t.retry_segment = d.segment;
      ++summary_.retries;
      return;
    }
    log->error("failed: {}", why);
    ++summary_.failed;
    metrics_.group_finished(false);
    ignored_[d.group_id] = "failed";
    tracked_.erase(it);
  };
  if (!d.error.empty()) {  // not a stage's failure: the service's own (e.g. the database)
    retry_or_fail("", "io", d.error);
    return;
  }
  if (!r.ok) {
    std::string stage, kind;
    for (const auto& s : r.stages) {
      if (s.outcome == pipeline::Outcome::kFailed) {
        stage = s.stage;
        kind = s.error_kind;
        break;
      }
    }
    retry_or_fail(stage, kind, chain::failure_of(r));
    return;
  }
  if (d.segment == 1) {
    t.after_first = r.final_context;
    t.first_done_at = now;
    t.phase = Phase::kWaitingCalibration;
    return;
  }
  ++summary_.processed;
  metrics_.group_finished(true);
  if (now > started_at_) {
    metrics_.real_time_factor(summary_.processed * chain::kGroupCadenceS / (now - started_at_));
  }
  log->info("processed: {:.1f} s after it closed", now - t.closed_at);
  tracked_.erase(it);
}

bool Service::busy() const {
  return in_flight_ > 0 || acceptor_->pending() > 0 || !tracked_.empty();
}

// In the main loop, between events: removing a few MS takes seconds at most.
void Service::apply_retention(double now) {
  if (!retention_.any() || now < next_retention_) return;
  next_retention_ = now + cfg_.get_double("retention.check_s");
  const auto r = orchestration::apply_retention(*db_, retention_, now_unix(), out_root_);
  summary_.retention_removed += r.removed;
  summary_.retention_bytes_freed += r.bytes_freed;
  if (r.removed > 0) spdlog::info("retention: removed {} product(s), {:.1f} GB freed", r.removed, r.bytes_freed / 1e9);
  for (const auto& e : r.errors) spdlog::warn("retention: {}", e);
}

StreamSummary Service::run() {
  const auto t0 = std::chrono::steady_clock::now();
  const TreeLock lock(lock_path(o_.layout), o_);
  started_at_ = now_s();
  metrics_server_ = start_metrics_server(metrics_, cfg_.get_string("metrics.listen"),
                                         [this] { return ready_.load(); });
  if (metrics_server_) summary_.metrics_address = metrics_server_->address();
  start_up();
  ready_ = true;
  DirectoryWatcher watcher(input_dir_);
  const int threads = queue_mode_ ? 0 : s_.workers;
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  spdlog::info("stream: watching {} (inotify {}), output {}, {}", input_dir_.string(),
               watcher.active() ? "on" : "off", out_root_.string(),
               queue_mode_ ? std::string("queueing for workers") : fmt::format("{} worker(s)", threads));

  double next_listing = now_s() + s_.rescan_s;
  double idle_since = now_s();
  double stop_deadline = 0;
  bool stages_cancelled = false;
  try {
    for (;;) {
      double now = now_s();
      if (interrupts_.interrupted() && !stopping_) {
        stopping_ = true;
        stop_deadline = now + s_.stop_timeout_s;
        summary_.ended_by = "signal";
        spdlog::warn(
            "stream: stopping: no new work is claimed; {} running segment(s) may finish "
            "their stage within {:.0f} s (stream.stop_timeout_s)",
            in_flight_, s_.stop_timeout_s);
      }
      if (stopping_) {
        collect(now);
        if (in_flight_ == 0) break;
        if (now >= stop_deadline && !stages_cancelled) {
          spdlog::warn("stream: stop time-out: cancelling the running stage(s)");
          stage_guard_.simulate(SIGTERM);
          stages_cancelled = true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      const auto events = watcher.wait(0.5);
      now = now_s();
      for (const auto& p : events.paths) acceptor_->offer(p, now);
      if (events.overflow || now >= next_listing) {
        if (events.overflow)
          spdlog::warn("stream: inotify lost events: listing {}", input_dir_.string());
        list_directory();
        reconcile();
        next_listing = now + s_.rescan_s;
      }
      register_files(acceptor_->poll(now));
      collect(now);
      evaluate(now);
      dispatch(now);
      apply_retention(now);
      if (now >= next_metrics_) {
        metrics_.jobs_by_state(state::JobStore(db_->database()).count_by_state());
        next_metrics_ = now + 5;
      }
      if (busy()) idle_since = now;
      if (o_.exit_when_idle_s > 0 && now - idle_since >= o_.exit_when_idle_s) {
        summary_.ended_by = "idle";
        spdlog::info("stream: idle for {:.0f} s: exiting", now - idle_since);
        break;
      }
    }
  } catch (...) {
    // Stop the workers cleanly before the error leaves.
    stopping_ = true;
    stage_guard_.simulate(SIGTERM);
    {
      std::lock_guard l(mutex_);
      quit_ = true;
    }
    work_cv_.notify_all();
    for (auto& w : workers_) w.join();
    throw;
  }
  {
    std::lock_guard l(mutex_);
    quit_ = true;
  }
  work_cv_.notify_all();
  for (auto& w : workers_) w.join();
  summary_.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary_;
}

}  // namespace

fs::path lock_path(const chain::ChainLayout& layout) {
  return layout.out_dir / "stream.lock";
}

nlohmann::json StreamSummary::to_json() const {
  return {{"files_registered", files_registered},
          {"queued", queued},
          {"processed", processed},
          {"failed", failed},
          {"skipped", skipped},
          {"retries", retries},
          {"retention_removed", retention_removed},
          {"retention_bytes_freed", retention_bytes_freed},
          {"wall_seconds", wall_seconds},
          {"metrics_address", metrics_address},
          {"ended_by", ended_by}};
}

StreamService::StreamService(std::shared_ptr<const config::Config> config,
                             const InterruptGuard& interrupts)
    : config_(std::move(config)), interrupts_(interrupts) {}

StreamSummary StreamService::run(const StreamOptions& options) {
  Service service(config_, interrupts_, options);
  return service.run();
}

}  // namespace contimg::service
