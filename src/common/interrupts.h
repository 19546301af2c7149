#pragma once
// SIGINT/SIGTERM/SIGHUP handling without async-signal-unsafe work in a handler:
// the signals are blocked in every thread and one watcher thread sigwait()s.
// The first signal sets a flag that long work polls (throw_if_interrupted) so
// that stack unwinding removes temporary files; a second signal removes every
// registered temporary path and exits at once with 130.
#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace contimg {

class InterruptGuard {
 public:
  // Must be constructed in main before any other thread starts, so that all
  // threads inherit the blocked signal mask.
  InterruptGuard();
  // A guard no signal reaches: set only by simulate(). A service hands it to
  // its stages so that a signal stops claiming first and cancels the running
  // stage only after a grace period (docs/service.md). Paths registered with it
  // are registered with `parent` too (its second signal removes them).
  struct Manual {};
  InterruptGuard(Manual, const InterruptGuard* parent);
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  bool interrupted() const { return signal_.load() != 0; }
  int signal_number() const { return signal_.load(); }
  void throw_if_interrupted() const;  // throws contimg::Cancelled

  // Registration is const: it changes only the cleanup list, not the state.
  void register_path(const std::filesystem::path& p) const;
  void unregister_path(const std::filesystem::path& p) const;

  // For tests: behave as if `sig` had arrived.
  void simulate(int sig);

 private:
  void watch();
  void remove_registered() noexcept;

  std::atomic<int> signal_{0};
  mutable std::mutex mutex_;
  mutable std::set<std::filesystem::path> paths_;
  std::thread watcher_;
  int wake_fd_[2] = {-1, -1};
  bool manual_ = false;
  const InterruptGuard* parent_ = nullptr;
};

// A uniquely named directory, removed with its contents on destruction (every
// exit path, including exceptions). Named ".contimg-tmp-<pid>-<n>-<label>@<host>"
// so that sweep_stale_temp_dirs can remove what a killed process left behind.
class ScopedTempDir {
 public:
  ScopedTempDir(const std::filesystem::path& parent, const std::string& label,
                const InterruptGuard* guard = nullptr);
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Keeps the directory (e.g. after it was renamed into place).
  void release() { released_ = true; }

 private:
  std::filesystem::path path_;
  const InterruptGuard* guard_;
  bool released_ = false;
};

// A fresh name ".contimg-tmp-<pid>-<random>-<label>@<host>" in `parent` for
// a temporary file or directory the caller creates (ScopedTempDir's scheme;
// e.g. a file written then renamed into place). Swept like ScopedTempDir's
// once its process is gone.
std::filesystem::path temp_path_in(const std::filesystem::path& parent, const std::string& label);

// Every temporary path of contimg is a ScopedTempDir (one naming scheme,
// wherever it lies: scratch, ms, staging, products/<group>, caltables), so
// that one sweep finds what a killed process left.
//
// This machine's host name ("localhost" when it has none): the owner part of
// temporary names and of the orchestrator's job holders.
std::string this_host();

// Removes ".contimg-tmp-<pid>-*@<this host>" entries whose process is gone
// (left by kill -9 or a power cut) at depth 1..max_depth below each root: an
// entry directly in a root is depth 1, products/<group>/.contimg-tmp-… is
// depth 2. Does not follow symlinks, and does not descend into temporary
// directories or casacore tables (a directory holding table.dat). Missing
// roots are skipped. Returns the number removed. The orchestrator calls it
// at the start of every run with every product tier.
int sweep_stale_temp_paths(const std::vector<std::filesystem::path>& roots, int max_depth);

// The entries directly in `parent` (sweep_stale_temp_paths({parent}, 1)).
int sweep_stale_temp_dirs(const std::filesystem::path& parent);

}  // namespace contimg
