#pragma once
// Running external programs (WSClean, version probes) without a shell: argv is
// passed as-is, so paths with spaces or quotes need no escaping.
//
// Nothing outlives contimg (docs/architecture.md, "Subprocesses"): the child
// runs in a process group of its own (a terminal's Ctrl-C reaches only
// contimg, which decides) and gets SIGKILL from the kernel when contimg dies,
// even by kill -9 (PR_SET_PDEATHSIG). On cancellation or time-out the whole
// group (the child and whatever it started) gets SIGTERM, then SIGKILL after a
// grace period.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace contimg {

class InterruptGuard;

struct ProcessResult {
  int exit_code = -1;      // -1 when killed by a signal or not started
  int term_signal = 0;     // the signal that ended it, if any
  bool timed_out = false;
  std::string output;      // stdout and stderr interleaved (when captured)
};

struct ProcessOptions {
  std::chrono::seconds timeout{3600};
  // Output goes to this file when given, else is captured into the result.
  std::optional<std::filesystem::path> log_file;
  // Polled every ~50 ms while the child runs; true: stop it (SIGTERM to its
  // group, SIGKILL after kill_grace) and throw Cancelled. For contimg's
  // signals: cancel_on(interrupts).
  std::function<bool()> cancel;
  std::chrono::milliseconds kill_grace{3000};
};

// Runs argv[0] (searched in PATH) and waits. Time-out: the group is stopped
// as on cancellation and the result says timed_out. Throws Cancelled when
// options.cancel() turned true (the group is gone by then), IoError when no
// pipe or log file can be made. A program that cannot be started gives
// exit_code -1 and the reason in output.
//
// The parent-death signal belongs to the thread that forked: run_process
// blocks that thread until the child is reaped, so the thread cannot end
// first. Only the direct child gets it; a grandchild that outlives a kill -9
// of contimg is the child's to stop (WSClean starts none).
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options);

// The same with a time-out and an optional log file, not cancellable.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                          const std::optional<std::filesystem::path>& log_file = std::nullopt);

// A cancel predicate for ProcessOptions: true once `interrupts` saw SIGINT/
// SIGTERM/SIGHUP; always false for nullptr.
std::function<bool()> cancel_on(const InterruptGuard* interrupts);

// The first executable called `name` in PATH, if any.
std::optional<std::filesystem::path> find_in_path(const std::string& name);

}  // namespace contimg
