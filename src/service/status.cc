#include "service/status.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "chain/chain_runner.h"
#include "service/disk_guard.h"
#include "service/stream_service.h"

namespace contimg::service {
namespace fs = std::filesystem;
namespace {

// The service's lock: held = a service runs (the kernel drops it with its process).
nlohmann::json service_of(const fs::path& out_dir) {
  const fs::path path = lock_path(chain::ChainLayout{out_dir});
  nlohmann::json j = {{"running", false}, {"lock_file", path.string()}};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return j;
  if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
    j["running"] = true;
    std::ifstream in(path);
    try {
      j["holder"] = nlohmann::json::parse(in);
    } catch (const std::exception&) {
    }
  } else {
    flock(fd, LOCK_UN);
  }
  ::close(fd);
  return j;
}

// "<window> ago" in the stored form of the timestamps (state/clock.h
// now_iso: YYYY-MM-DDTHH:MM:SS.sssZ), as an SQL literal: computed here, not
// with SQLite's date functions, so the query runs on both backends.
std::string since(int seconds_ago) {
  using namespace std::chrono;
  const auto t = time_point_cast<milliseconds>(system_clock::now() - seconds(seconds_ago));
  const auto day = floor<days>(t);
  const year_month_day ymd(day);
  const hh_mm_ss tod(t - day);
  return fmt::format("'{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z'", int(ymd.year()),
                     unsigned(ymd.month()), unsigned(ymd.day()), tod.hours().count(),
                     tod.minutes().count(), tod.seconds().count(), tod.subseconds().count());
}

// Unix seconds of a stored timestamp (YYYY-MM-DDTHH:MM:SS[.sss]Z); NaN when unparsable.
double epoch_of(const std::string& iso) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  double sec = 0;
  if (std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%lfZ", &y, &mo, &d, &h, &mi, &sec) != 6) {
    return std::nan("");
  }
  using namespace std::chrono;
  const auto day = sys_days(year_month_day(year(y), month(static_cast<unsigned>(mo)),
                                           std::chrono::day(static_cast<unsigned>(d))));
  return static_cast<double>(day.time_since_epoch() / seconds(1)) + h * 3600.0 + mi * 60.0 + sec;
}

}  // namespace

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank =
      static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

nlohmann::json collect_status(state::StateDb& db, const config::Config& cfg,
                              const StatusRequest& req) {
  auto& d = db.database();
  const std::string root =
      req.out_dir ? fs::absolute(*req.out_dir).lexically_normal().string() : "";
  const std::string where_root = req.out_dir ? " AND out_root = ?1" : "";
  auto bind_root = [&](state::Statement& st) -> state::Statement& {
    if (req.out_dir) st.bind(1, root);
    return st;
  };
  nlohmann::json out = nlohmann::json::object();
  out["state_db"] = db.path().string();
  if (req.out_dir) out["service"] = service_of(*req.out_dir);

  nlohmann::json groups = nlohmann::json::object();
  {
    auto st = d.prepare("SELECT state, count(*) FROM groups GROUP BY state ORDER BY state");
    while (st.step()) groups[st.get_text(0)] = st.get_int(1);
  }
  out["groups"] = groups;

  nlohmann::json jobs = {
      {"queued", 0}, {"running", 0}, {"done", 0}, {"failed", 0}, {"discarded", 0}};
  {
    auto st =
        d.prepare("SELECT state, count(*) FROM jobs WHERE 1 = 1" + where_root + " GROUP BY state");
    bind_root(st);
    while (st.step()) jobs[st.get_text(0)] = st.get_int(1);
  }
  out["jobs"] = jobs;

  // Per-stage latency: seconds of the jobs done within the window.
  nlohmann::json latency = nlohmann::json::object();
  nlohmann::json rtf = nlohmann::json::object();
  for (const auto& [label, modifier] : {std::pair{"hour", 3600}, std::pair{"day", 86400}}) {
    std::map<std::string, std::vector<double>> by_stage;
    auto st = d.prepare(
        "SELECT stage, seconds FROM jobs WHERE state = 'done' AND seconds IS NOT NULL "
        "AND finished_at >= " +
        since(modifier) + where_root);
    bind_root(st);
    while (st.step()) by_stage[st.get_text(0)].push_back(st.get_double(1));
    for (const auto& [stage, secs] : by_stage) {
      latency[stage][label] = {
          {"n", secs.size()}, {"p50_s", percentile(secs, 50)}, {"p95_s", percentile(secs, 95)}};
    }
    // Real-time factor: groups validated in the window × the 309 s cadence ÷
    // the wall time from the first start to the last finish of the jobs
    // finished in the window (> 1 keeps up with the telescope).
    auto r = d.prepare(
        "SELECT (SELECT count(*) FROM jobs WHERE stage = 'validate' AND state = 'done' AND "
        "finished_at >= " +
        since(modifier) + where_root +
        "), "
        "max(finished_at), min(started_at) FROM jobs WHERE "
        "state = 'done' AND started_at IS NOT NULL AND finished_at >= " +
        since(modifier) + where_root);
    bind_root(r);
    if (r.step()) {
      const auto n = r.get_int(0);
      double span = 0;
      if (!r.is_null(1) && !r.is_null(2)) {
        span = epoch_of(r.get_text(1)) - epoch_of(r.get_text(2));
        if (!std::isfinite(span)) span = 0;
      }
      rtf[label] = {
          {"groups", n},
          {"wall_s", span},
          {"factor", span > 0 ? chain::kGroupCadenceS * static_cast<double>(n) / span : 0.0}};
    }
  }
  out["latency"] = latency;
  out["real_time_factor"] = rtf;

  nlohmann::json failures = nlohmann::json::array();
  {
    auto st = d.prepare(
        "SELECT group_id, stage, state, error_kind, attempt, error, finished_at FROM jobs "
        "WHERE state IN ('failed', 'discarded')" +
        where_root + " ORDER BY finished_at DESC LIMIT 50");
    bind_root(st);
    while (st.step()) {
      failures.push_back({{"group_id", st.get_text(0)},
                          {"stage", st.get_text(1)},
                          {"state", st.get_text(2)},
                          {"error_kind", st.get_opt_text(3).value_or("")},
                          {"attempt", st.get_int(4)},
                          {"error", st.get_opt_text(5).value_or("")},
                          {"finished_at", st.get_opt_text(6).value_or("")}});
    }
    // Groups the service failed before any job (invalid input, policy).
    auto g = d.prepare(
        "SELECT group_id, reason FROM groups WHERE state = 'failed' AND group_id NOT IN "
        "(SELECT group_id FROM jobs WHERE state IN ('failed', 'discarded')) "
        "ORDER BY start_epoch DESC LIMIT 50");
    while (g.step()) {
      failures.push_back({{"group_id", g.get_text(0)},
                          {"stage", ""},
                          {"state", "failed"},
                          {"error_kind", "input"},
                          {"attempt", 0},
                          {"error", g.get_text(1)},
                          {"finished_at", ""}});
    }
  }
  out["failures"] = failures;

  // What the service said it waits for (disk, calibration), newest first.
  nlohmann::json waiting = nlohmann::json::array();
  for (const auto& e : db.events(std::nullopt, 200)) {
    if (e.stage != "stream") continue;
    waiting.push_back(
        {{"time", e.time}, {"group_id", e.group_id.value_or("")}, {"message", e.message}});
    if (waiting.size() >= 10) break;
  }
  out["waiting"] = waiting;

  const double min_free_gb = cfg.get_double("stream.min_free_gb");
  std::vector<std::pair<std::string, fs::path>> tiers;
  if (req.input_dir) tiers.emplace_back("input", *req.input_dir);
  if (req.out_dir) tiers.emplace_back("out", *req.out_dir);
  tiers.emplace_back("stage", cfg.get_path("paths.stage_dir"));
  tiers.emplace_back("scratch", cfg.get_path("paths.scratch_dir"));
  if (!cfg.get_path("paths.tmpfs_dir").empty())
    tiers.emplace_back("tmpfs", cfg.get_path("paths.tmpfs_dir"));
  if (!db.is_postgres()) tiers.emplace_back("state_db", db.path().parent_path());
  nlohmann::json tiers_json = nlohmann::json::array();
  for (const auto& [name, path] : tiers) {
    const auto t = tier_space(name, path);
    nlohmann::json j = {{"tier", name}, {"path", path.string()}};
    if (t.free_bytes) {
      j["free_gb"] = *t.free_bytes / 1e9;
      j["total_gb"] = *t.total_bytes / 1e9;
      j["below_guard"] = *t.free_bytes / 1e9 < min_free_gb;
    }
    tiers_json.push_back(j);
  }
  out["tiers"] = tiers_json;
  out["min_free_gb"] = min_free_gb;
  return out;
}

std::string format_status(const nlohmann::json& s) {
  std::ostringstream o;
  if (s.contains("service")) {
    const auto& svc = s["service"];
    if (svc.value("running", false)) {
      const auto h = svc.value("holder", nlohmann::json::object());
      o << fmt::format("service: running (pid {} on {}, since {})\n", h.value("pid", 0),
                       h.value("host", std::string("?")), h.value("started_at", std::string("?")));
    } else {
      o << "service: not running\n";
    }
  }
  o << "groups:";
  for (const auto& [k, v] : s["groups"].items()) o << fmt::format(" {} {}", k, v.get<long long>());
  o << "\njobs:";
  for (const auto& [k, v] : s["jobs"].items()) o << fmt::format(" {} {}", k, v.get<long long>());
  o << "\n";
  if (!s["latency"].empty()) {
    o << "latency (s)      hour: n   p50    p95 |  day: n   p50    p95\n";
    for (const auto& [stage, w] : s["latency"].items()) {
      auto cell = [&](const char* label) {
        if (!w.contains(label)) return std::string("      -      -      -");
        const auto& c = w[label];
        return fmt::format("{:>7} {:>6.1f} {:>6.1f}", c["n"].get<long long>(),
                           c["p50_s"].get<double>(), c["p95_s"].get<double>());
      };
      o << fmt::format("  {:<10} {} | {}\n", stage, cell("hour"), cell("day"));
    }
  }
  for (const auto& label : {"hour", "day"}) {
    if (!s["real_time_factor"].contains(label)) continue;
    const auto& r = s["real_time_factor"][label];
    o << fmt::format("real-time factor ({}): {:.2f} ({} groups in {:.0f} s)\n", label,
                     r["factor"].get<double>(), r["groups"].get<long long>(),
                     r["wall_s"].get<double>());
  }
  if (!s["failures"].empty()) {
    o << "failures:\n";
    for (const auto& f : s["failures"]) {
      o << fmt::format("  {} {} {} ({}, attempt {}): {}\n", f["group_id"].get<std::string>(),
                       f["stage"].get<std::string>(), f["state"].get<std::string>(),
                       f["error_kind"].get<std::string>(), f["attempt"].get<long long>(),
                       f["error"].get<std::string>());
    }
  }
  if (!s["waiting"].empty()) {
    o << "recent waits:\n";
    for (const auto& w : s["waiting"]) {
      o << fmt::format("  {} {} {}\n", w["time"].get<std::string>(),
                       w["group_id"].get<std::string>(), w["message"].get<std::string>());
    }
  }
  o << fmt::format("tiers (guard: {} GB free):\n", s["min_free_gb"].get<double>());
  for (const auto& t : s["tiers"]) {
    if (t.contains("free_gb")) {
      o << fmt::format("  {:<9} {:>9.2f} GB free of {:>9.2f}{}  {}\n", t["tier"].get<std::string>(),
                       t["free_gb"].get<double>(), t["total_gb"].get<double>(),
                       t["below_guard"].get<bool>() ? "  BELOW GUARD" : "",
                       t["path"].get<std::string>());
    } else {
      o << fmt::format("  {:<9} (cannot measure)  {}\n", t["tier"].get<std::string>(),
                       t["path"].get<std::string>());
    }
  }
  return o.str();
}

}  // namespace contimg::service
