#include "common/interrupts.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"

namespace contimg {
namespace fs = std::filesystem;
namespace {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

constexpr const char* kTempPrefix = ".contimg-tmp-";

}  // namespace

// Temporary names end in "@<host>": on a filesystem shared by several
// machines (SPEC §8 workers), a sweep only judges its own host's processes.
std::string this_host() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

InterruptGuard::InterruptGuard() {
  sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (pipe(wake_fd_) != 0) throw IoError("cannot create interrupt wake-up pipe");
  watcher_ = std::thread([this] { watch(); });
}

InterruptGuard::InterruptGuard(Manual, const InterruptGuard* parent)
    : manual_(true), parent_(parent) {}

InterruptGuard::~InterruptGuard() {
  if (manual_) return;
  const char byte = 'q';
  [[maybe_unused]] auto n = write(wake_fd_[1], &byte, 1);
  if (watcher_.joinable()) watcher_.join();
  close(wake_fd_[0]);
  close(wake_fd_[1]);
  sigset_t set = handled_signals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void InterruptGuard::watch() {
  sigset_t set = handled_signals();
  const int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) return;
  for (;;) {
    pollfd fds[2] = {{sfd, POLLIN, 0}, {wake_fd_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents) break;  // destructor
    signalfd_siginfo info{};
    if (read(sfd, &info, sizeof info) != sizeof info) continue;
    const int sig = static_cast<int>(info.ssi_signo);
    if (signal_.exchange(sig) != 0) {
      spdlog::error("second signal {}: removing temporary files and exiting now", sig);
      remove_registered();
      spdlog::default_logger()->flush();
      _exit(130);
    }
    spdlog::warn("signal {} received: stopping after cleanup (send again to force)", sig);
  }
  close(sfd);
}

void InterruptGuard::simulate(int sig) { signal_.store(sig); }

void InterruptGuard::throw_if_interrupted() const {
  if (const int sig = signal_.load()) {
    throw Cancelled(fmt::format("interrupted by signal {}", sig));
  }
}

void InterruptGuard::register_path(const fs::path& p) const {
  if (parent_) parent_->register_path(p);
  std::lock_guard lock(mutex_);
  paths_.insert(p);
}

void InterruptGuard::unregister_path(const fs::path& p) const {
  if (parent_) parent_->unregister_path(p);
  std::lock_guard lock(mutex_);
  paths_.erase(p);
}

void InterruptGuard::remove_registered() noexcept {
  std::lock_guard lock(mutex_);
  for (const auto& p : paths_) {
    std::error_code ec;
    fs::remove_all(p, ec);
  }
  paths_.clear();
}

fs::path temp_path_in(const fs::path& parent, const std::string& label) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  return parent / fmt::format("{}{}-{:08x}-{}@{}", kTempPrefix, getpid(), rng(), label, this_host());
}

ScopedTempDir::ScopedTempDir(const fs::path& parent, const std::string& label,
                             const InterruptGuard* guard)
    : guard_(guard) {
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) {
    throw IoError(fmt::format("cannot create directory {}: {}", parent.string(), ec.message()));
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path candidate = temp_path_in(parent, label);
    if (fs::create_directory(candidate, ec)) {
      path_ = std::move(candidate);
      if (guard_) guard_->register_path(path_);
      return;
    }
    if (ec) {
      throw IoError(fmt::format("cannot create temporary directory in {}: {}", parent.string(),
                                ec.message()));
    }
  }
  throw IoError("cannot create a unique temporary directory in " + parent.string());
}

ScopedTempDir::~ScopedTempDir() {
  if (guard_) guard_->unregister_path(path_);
  if (released_) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
  if (ec) spdlog::warn("could not remove temporary directory {}: {}", path_.string(), ec.message());
}

namespace {

// The pid of a stale temporary entry of this host, or 0 when `name` is not
// one (not ours, another host's, or its process lives).
pid_t stale_temp_owner(const std::string& name) {
  if (name.rfind(kTempPrefix, 0) != 0) return 0;
  if (const auto at = name.rfind('@'); at != std::string::npos && name.substr(at + 1) != this_host()) {
    return 0;  // another machine's: only it can tell whether its owner lives
  }
  const std::string rest = name.substr(std::char_traits<char>::length(kTempPrefix));
  const auto dash = rest.find('-');
  if (dash == std::string::npos) return 0;
  pid_t pid = 0;
  try {
    pid = static_cast<pid_t>(std::stol(rest.substr(0, dash)));
  } catch (const std::exception&) {
    return 0;
  }
  if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno == EPERM) return 0;  // still alive
  return pid;
}

int sweep_dir(const fs::path& dir, int depth_left) {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kTempPrefix, 0) == 0) {
      const pid_t pid = stale_temp_owner(name);
      if (!pid) continue;  // a live one: never look inside
      std::error_code rm;
      fs::remove_all(entry.path(), rm);
      if (!rm) {
        spdlog::info("removed stale temporary {} (process {} is gone)", entry.path().string(), pid);
        ++removed;
      } else {
        spdlog::warn("could not remove stale temporary {}: {}", entry.path().string(), rm.message());
      }
      continue;
    }
    if (depth_left <= 1) continue;
    std::error_code st;
    if (!entry.is_directory(st) || entry.is_symlink(st)) continue;
    if (fs::exists(entry.path() / "table.dat", st)) continue;  // a casacore table (MS, caltable)
    removed += sweep_dir(entry.path(), depth_left - 1);
  }
  return removed;
}

}  // namespace

int sweep_stale_temp_paths(const std::vector<fs::path>& roots, int max_depth) {
  int removed = 0;
  for (const auto& root : roots) {
    if (root.empty()) continue;
    removed += sweep_dir(root, max_depth);
  }
  return removed;
}

int sweep_stale_temp_dirs(const fs::path& parent) { return sweep_stale_temp_paths({parent}, 1); }

}  // namespace contimg
