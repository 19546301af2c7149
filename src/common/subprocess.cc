#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "common/error.h"
#include "common/interrupts.h"

extern char** environ;

namespace contimg {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

// In the forked child: tells the parent why it could not start.
[[noreturn]] void child_fail(int err_fd, int stage) {
  const int e[2] = {stage, errno};
  [[maybe_unused]] auto n = write(err_fd, e, sizeof e);
  _exit(127);
}

// Runs in the forked child of a multi-threaded parent: async-signal-safe
// calls only (no allocation). Reports a failure to start through `err_fd`.
[[noreturn]] void exec_child(const char* program, char* const* args, int out_fd, int err_fd, pid_t parent) {
  setpgid(0, 0);
  // SIGKILL when contimg dies (even by kill -9). If it died before prctl
  // took effect, we were re-parented already: give up rather than run on.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(err_fd, 1);
  if (getppid() != parent) _exit(127);
  // contimg blocks SIGINT/SIGTERM/SIGHUP in every thread (InterruptGuard);
  // the child must get them with their default actions.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  const int in = open("/dev/null", O_RDONLY);
  if (in < 0 || dup2(in, STDIN_FILENO) < 0) child_fail(err_fd, 2);
  if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0) child_fail(err_fd, 2);
  execve(program, args, environ);
  child_fail(err_fd, 3);
}

// True once the child has exited (without reaping it: the zombie keeps its
// process group id reserved, so signalling the group cannot hit a stranger).
bool has_exited(pid_t pid) {
  siginfo_t info{};
  info.si_pid = 0;
  for (;;) {
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0) return info.si_pid == pid;
    if (errno != EINTR) return true;  // ECHILD: nothing left to wait for
  }
}

// SIGTERM to the group, SIGKILL to whatever is left after `grace`.
void stop_group(pid_t pid, std::chrono::milliseconds grace) {
  killpg(pid, SIGTERM);
  const auto until = Clock::now() + grace;
  while (!has_exited(pid) && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  killpg(pid, SIGKILL);  // grandchildren too, even when the leader went
}

}  // namespace

std::optional<fs::path> find_in_path(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return access(name.c_str(), X_OK) == 0 ? std::optional<fs::path>(name) : std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    if (access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return candidate;
  }
  return std::nullopt;
}

std::function<bool()> cancel_on(const InterruptGuard* interrupts) {
  if (!interrupts) return [] { return false; };
  return [interrupts] { return interrupts->interrupted(); };
}

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                          const std::optional<fs::path>& log_file) {
  ProcessOptions o;
  o.timeout = timeout;
  o.log_file = log_file;
  return run_process(argv, o);
}

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  ProcessResult result;
  if (argv.empty()) throw std::invalid_argument("run_process: empty argv");
  // Resolved here: execvp may allocate, which a forked child must not.
  const auto program = find_in_path(argv[0]);
  if (!program) {
    result.output = "cannot start " + argv[0] + ": " + std::strerror(ENOENT);
    return result;
  }
  const std::string program_str = program->string();
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int out_fd = -1;
  int pipe_fd[2] = {-1, -1};
  if (options.log_file) {
    out_fd = open(options.log_file->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) {
      throw IoError(fmt::format("cannot open log file {}: {}", options.log_file->string(), std::strerror(errno)));
    }
  } else {
    if (pipe2(pipe_fd, O_CLOEXEC) != 0) throw IoError(fmt::format("pipe() failed: {}", std::strerror(errno)));
    out_fd = pipe_fd[1];
  }
  int err_pipe[2] = {-1, -1};
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_fd);
    if (pipe_fd[0] >= 0) close(pipe_fd[0]);
    throw IoError(fmt::format("pipe() failed: {}", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) exec_child(program_str.c_str(), args.data(), out_fd, err_pipe[1], parent);
  const int fork_errno = errno;
  close(out_fd);
  close(err_pipe[1]);
  if (pid < 0) {
    close(err_pipe[0]);
    if (pipe_fd[0] >= 0) close(pipe_fd[0]);
    result.output = "cannot start " + argv[0] + ": fork: " + std::strerror(fork_errno);
    return result;
  }
  setpgid(pid, pid);  // also here: no window in which a signal to the group misses it
  // The exec either succeeds (the CLOEXEC pipe closes: read gives 0) or the
  // child reports why not.
  int start_err[2] = {0, 0};
  ssize_t n_err;
  do {
    n_err = read(err_pipe[0], start_err, sizeof start_err);
  } while (n_err < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (n_err == static_cast<ssize_t>(sizeof start_err)) {
    if (pipe_fd[0] >= 0) close(pipe_fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.output = "cannot start " + argv[0] + ": " + std::strerror(start_err[1]);
    return result;
  }

  const auto deadline = Clock::now() + options.timeout;
  bool cancelled = false;
  bool pipe_open = pipe_fd[0] >= 0;
  char buf[4096];
  const auto read_some = [&](int wait_ms) {  // false: nothing more to read now
    pollfd p{pipe_fd[0], POLLIN, 0};
    if (poll(&p, 1, wait_ms) <= 0) return false;
    const ssize_t n = read(pipe_fd[0], buf, sizeof buf);
    if (n > 0) {
      result.output.append(buf, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0 || errno != EINTR) pipe_open = false;
    return false;
  };
  for (;;) {
    if (pipe_open) {
      read_some(50);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (has_exited(pid)) {
      while (pipe_open && read_some(0)) {
      }
      // Whatever it left running in its group (the group id is still
      // reserved by the unreaped leader) goes with it.
      killpg(pid, SIGKILL);
      break;
    }
    if (options.cancel && options.cancel()) {
      cancelled = true;
      stop_group(pid, options.kill_grace);
      break;
    }
    if (Clock::now() >= deadline) {
      result.timed_out = true;
      stop_group(pid, options.kill_grace);
      break;
    }
  }
  if (pipe_fd[0] >= 0) close(pipe_fd[0]);
  int status = 0;
  pid_t w;
  do {
    w = waitpid(pid, &status, 0);
  } while (w < 0 && errno == EINTR);
  if (w == pid && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (w == pid && WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
  if (cancelled) {
    throw Cancelled(fmt::format("interrupted: stopped {} (process group {})", argv[0], pid));
  }
  return result;
}

}  // namespace contimg
