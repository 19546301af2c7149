#include "service/metrics.h"

#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include "common/error.h"

namespace contimg::service {
namespace fs = std::filesystem;

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& jobs_finished =
      prometheus::BuildCounter()
          .Name("contimg_jobs_finished_total")
          .Help(
              "Jobs (stages) this process ended, by stage and outcome (done, failed, retry, "
              "discarded, lost)")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& stage_seconds =
      prometheus::BuildHistogram()
          .Name("contimg_stage_duration_seconds")
          .Help("Wall time of the stages this process ran, by stage")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& groups =
      prometheus::BuildCounter()
          .Name("contimg_groups_total")
          .Help("Groups whose chain this process ended, by outcome (processed, failed), or queued for workers (queued)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& read =
      prometheus::BuildCounter()
          .Name("contimg_read_bytes_total")
          .Help("Input bytes read by the stages of this process (UVH5 subband files), by stage")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& written =
      prometheus::BuildCounter()
          .Name("contimg_written_bytes_total")
          .Help("Bytes of the products the stages of this process registered, by stage")
          .Register(*registry);
  prometheus::Counter& leases =
      prometheus::BuildCounter()
          .Name("contimg_lease_expiries_total")
          .Help(
              "Running jobs whose lease had expired (a dead holder) that this process re-queued "
              "or discarded")
          .Register(*registry)
          .Add({});
  prometheus::Family<prometheus::Gauge>& jobs =
      prometheus::BuildGauge()
          .Name("contimg_jobs")
          .Help("Jobs in the state database by state, as this process last read them")
          .Register(*registry);
  prometheus::Gauge& rtf = prometheus::BuildGauge()
                               .Name("contimg_real_time_factor")
                               .Help(
                                   "Groups processed x 309 s / wall seconds since this process "
                                   "started (> 1 keeps up with the telescope)")
                               .Register(*registry)
                               .Add({});
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

void Metrics::stage_finished(const std::string& stage, const std::string& outcome, double seconds) {
  impl_->jobs_finished.Add({{"stage", stage}, {"outcome", outcome}}).Increment();
  // Tiny groups take seconds, full-size ones minutes.
  static const prometheus::Histogram::BucketBoundaries kBuckets{1,   2,   5,   10,   20,  50,
                                                                100, 200, 500, 1000, 2000};
  if (seconds >= 0) impl_->stage_seconds.Add({{"stage", stage}}, kBuckets).Observe(seconds);
}

void Metrics::group_finished(bool processed) {
  impl_->groups.Add({{"outcome", processed ? "processed" : "failed"}}).Increment();
}

void Metrics::group_queued() {
  impl_->groups.Add({{"outcome", "queued"}}).Increment();
}

void Metrics::bytes_read(const std::string& stage, double bytes) {
  if (bytes > 0) impl_->read.Add({{"stage", stage}}).Increment(bytes);
}

void Metrics::bytes_written(const std::string& stage, double bytes) {
  if (bytes > 0) impl_->written.Add({{"stage", stage}}).Increment(bytes);
}

void Metrics::leases_expired(int n) {
  if (n > 0) impl_->leases.Increment(n);
}

void Metrics::jobs_by_state(const std::vector<std::pair<std::string, std::int64_t>>& counts) {
  // Every state is exported, 0 when absent, so that a state emptying shows.
  for (const char* s : {"queued", "running", "done", "failed", "discarded"}) {
    double v = 0;
    for (const auto& [state, n] : counts) {
      if (state == s) v = static_cast<double>(n);
    }
    impl_->jobs.Add({{"state", s}}).Set(v);
  }
}

void Metrics::real_time_factor(double v) {
  impl_->rtf.Set(v);
}

std::string Metrics::text() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
};

MetricsServer::MetricsServer(const Metrics& metrics, const std::string& listen,
                             std::function<bool()> ready)
    : impl_(std::make_unique<Impl>()) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    throw ConfigError(fmt::format("metrics.listen = \"{}\": expected host:port", listen));
  }
  const std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    throw ConfigError(fmt::format("metrics.listen = \"{}\": the port is not a number", listen));
  }
  auto& s = impl_->server;
  s.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.text(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/livez", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [ready = std::move(ready)](const httplib::Request&, httplib::Response& res) {
    const bool ok = !ready || ready();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ready\n" : "not ready\n", "text/plain");
  });
  const int bound = port == 0 ? s.bind_to_any_port(host) : (s.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    throw IoError(
        fmt::format("metrics: cannot listen on {} (in use, or not an address of this "
                    "host): set metrics.listen",
                    listen));
  }
  address_ = fmt::format("{}:{}", host, bound);
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::unique_ptr<MetricsServer> start_metrics_server(const Metrics& metrics,
                                                    const std::string& listen,
                                                    std::function<bool()> ready) {
  if (listen.empty()) return nullptr;
  try {
    auto s = std::make_unique<MetricsServer>(metrics, listen, std::move(ready));
    spdlog::info("metrics: http://{}/metrics (and /livez, /readyz)", s->address());
    return s;
  } catch (const std::exception& e) {
    spdlog::warn("{}; going on without metrics", e.what());
    return nullptr;
  }
}

std::uintmax_t path_bytes(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    const auto n = fs::file_size(path, ec);
    return ec ? 0 : n;
  }
  std::uintmax_t n = 0;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file(ec)) n += it->file_size(ec);
  }
  return n;
}

}  // namespace contimg::service
