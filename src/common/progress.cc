#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"

namespace contimg {

Progress::Progress(std::string label, std::uint64_t total, std::string unit, Mode mode,
                   double log_interval_s)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      mode_(mode),
      log_interval_s_(log_interval_s),
      start_(std::chrono::steady_clock::now()),
      last_report_(start_) {
  if (mode_ == Mode::kAuto) mode_ = isatty(STDERR_FILENO) ? Mode::kBar : Mode::kLog;
}

Progress::~Progress() { finish(); }

Progress::Mode Progress::parse_mode(const std::string& name) {
  if (name == "auto") return Mode::kAuto;
  if (name == "bar") return Mode::kBar;
  if (name == "log") return Mode::kLog;
  if (name == "quiet") return Mode::kQuiet;
  throw ConfigError("logging.progress must be auto, bar, log or quiet; got \"" + name + "\"");
}

void Progress::advance(std::uint64_t n) {
  done_.fetch_add(n);
  report(false);
}

void Progress::finish() {
  std::lock_guard lock(report_mutex_);
  if (finished_) return;
  finished_ = true;
  if (mode_ == Mode::kQuiet) return;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (mode_ == Mode::kBar) std::fputs("\r\033[K", stderr);
  spdlog::info("{}: {}/{}{}{} done in {:.1f} s", label_, done_.load(), total_.load(),
               unit_.empty() ? "" : " ", unit_, secs);
}

void Progress::report(bool final) {
  if (mode_ == Mode::kQuiet) return;
  const auto now = std::chrono::steady_clock::now();
  std::unique_lock lock(report_mutex_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;  // another thread is drawing
  const double since = std::chrono::duration<double>(now - last_report_).count();
  const double min_gap = mode_ == Mode::kBar ? 0.1 : log_interval_s_;
  if (!final && since < min_gap) return;
  last_report_ = now;
  const std::uint64_t done = done_.load();
  const std::uint64_t total = total_.load();
  const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = frac > 0 ? elapsed * (1.0 - frac) / frac : 0.0;
  if (mode_ == Mode::kBar) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(frac * kWidth);
    const std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '-');
    std::fputs(fmt::format("\r\033[K{} [{}] {}/{} {} {:.0f}% ETA {:.0f}s", label_, bar, done,
                           total, unit_, 100 * frac, eta)
                   .c_str(),
               stderr);
    std::fflush(stderr);
  } else {
    spdlog::info("{}: {}/{} {} ({:.0f}%, ETA {:.0f} s)", label_, done, total, unit_, 100 * frac,
                 eta);
  }
}

}  // namespace contimg
