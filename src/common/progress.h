#pragma once
// Progress for long work: a redrawn bar when stderr is a terminal, otherwise
// a log line every `log_interval` seconds (so service logs show progress too).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace contimg {

class Progress {
 public:
  enum class Mode { kAuto, kBar, kLog, kQuiet };

  Progress(std::string label, std::uint64_t total, std::string unit = "",
           Mode mode = Mode::kAuto, double log_interval_s = 10.0);

  static Mode parse_mode(const std::string& name);  // auto, bar, log, quiet; throws ConfigError
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::uint64_t n = 1);  // thread-safe
  void set_total(std::uint64_t total) { total_ = total; }  // once known
  void finish();                      // draws the final state once

  std::uint64_t done() const { return done_.load(); }
  Mode mode() const { return mode_; }

 private:
  void report(bool final);

  std::string label_;
  std::atomic<std::uint64_t> total_;
  std::string unit_;
  Mode mode_;
  double log_interval_s_;
  std::atomic<std::uint64_t> done_{0};
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_report_;
  std::mutex report_mutex_;
  bool finished_ = false;
};

}  // namespace contimg
