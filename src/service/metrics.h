#pragma once
// Prometheus metrics of `contimg stream` and `contimg worker` (issue 13;
// docs/scale-out.md "Metrics"): prometheus-cpp's registry, served with
// /livez and /readyz by cpp-httplib on a loopback address by default. The
// names follow Prometheus' conventions (contimg_…_total counters, _seconds,
// _bytes); the process's own work only, except contimg_jobs (the database's
// jobs by state, as this process last read them).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace contimg::service {

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // A job (stage) of this process ended: outcome done, failed, retry,
  // discarded or lost; its duration goes into the stage's histogram.
  void stage_finished(const std::string& stage, const std::string& outcome, double seconds);
  void group_finished(bool processed);
  // A group handed to the job queue (contimg stream on PostgreSQL).
  void group_queued();
  void bytes_read(const std::string& stage, double bytes);
  void bytes_written(const std::string& stage, double bytes);
  void leases_expired(int n);
  void jobs_by_state(const std::vector<std::pair<std::string, std::int64_t>>& counts);
  // Groups processed × 309 s ÷ wall seconds since the process started.
  void real_time_factor(double v);
  // The text exposition format (what /metrics serves).
  std::string text() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Serves GET /metrics, /livez (200 while the process answers) and /readyz
// (200 when `ready()`, else 503) on `listen` ("host:port"; port 0 = a free
// one). Throws IoError when it cannot bind; stops in the destructor.
class MetricsServer {
 public:
  MetricsServer(const Metrics& metrics, const std::string& listen, std::function<bool()> ready);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  // "host:port" actually bound.
  const std::string& address() const { return address_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

// Starts a server for `metrics` on the configured address (metrics.listen;
// empty: none). A failure to bind is logged, not fatal: the work goes on.
std::unique_ptr<MetricsServer> start_metrics_server(const Metrics& metrics,
                                                    const std::string& listen,
                                                    std::function<bool()> ready);

// Bytes of a product path: a file's size, a directory's files summed.
std::uintmax_t path_bytes(const std::string& path);

}  // namespace contimg::service
