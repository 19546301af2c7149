#include "service/file_watcher.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "grouping/subband_name.h"

namespace contimg::service {
namespace fs = std::filesystem;

bool is_ignored_name(std::string_view name) {
  if (name.empty() || name.front() == '.') return true;
  if (name.find("_incomplete") != std::string_view::npos) return true;
  return !grouping::is_subband_candidate(name);
}

DirectoryWatcher::DirectoryWatcher(const fs::path& dir) : dir_(dir) {
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) {
    spdlog::warn(
        "{}: inotify unavailable ({}): new files are found by the periodic listing only "
        "(stream.rescan_s)",
        dir.string(), std::strerror(errno));
    return;
  }
  if (inotify_add_watch(fd_, dir.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
    spdlog::warn(
        "{}: cannot watch with inotify ({}): new files are found by the periodic listing "
        "only (stream.rescan_s)",
        dir.string(), std::strerror(errno));
    close(fd_);
    fd_ = -1;
  }
}

DirectoryWatcher::~DirectoryWatcher() {
  if (fd_ >= 0) close(fd_);
}

DirectoryWatcher::Events DirectoryWatcher::wait(double timeout_s) {
  Events out;
  const int ms = static_cast<int>(timeout_s * 1000);
  if (fd_ < 0) {
    if (ms > 0) usleep(static_cast<useconds_t>(ms) * 1000);
    return out;
  }
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, ms) <= 0) return out;
  alignas(inotify_event) char buf[16384];
  for (;;) {
    const ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t i = 0; i < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + i);
      if (ev->mask & IN_Q_OVERFLOW) out.overflow = true;
      if (ev->mask & IN_IGNORED) {
        // The directory itself went away or was unmounted: list it from now on.
        spdlog::warn("{}: inotify watch removed; relying on the periodic listing", dir_.string());
        close(fd_);
        fd_ = -1;
        out.overflow = true;
        return out;
      }
      if (ev->len > 0 && !(ev->mask & IN_ISDIR)) {
        const std::string_view name(ev->name);
        if (!is_ignored_name(name)) out.paths.push_back(dir_ / std::string(name));
      }
      i += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  return out;
}

std::optional<FileStamp> stat_file(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return FileStamp{
      static_cast<std::uintmax_t>(st.st_size),
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

FileAcceptor::FileAcceptor(AcceptorSettings settings, StatFn stat, HeaderFn header)
    : settings_(settings), stat_(std::move(stat)), header_(std::move(header)) {}

void FileAcceptor::offer(const fs::path& path, double /*now_s*/) {
  pending_.try_emplace(path);
}

std::vector<FileAcceptor::Accepted> FileAcceptor::poll(double now_s) {
  std::vector<Accepted> out;
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto& p = it->second;
    const auto st = stat_(it->first);
    if (!st) {  // renamed away or deleted before it settled
      it = pending_.erase(it);
      continue;
    }
    if (!p.seen || *st != p.stamp) {  // first look, or still being written
      p.seen = true;
      p.stamp = *st;
      p.stable_since = now_s;
      ++it;
      continue;
    }
    const double stable = now_s - p.stable_since;
    if (stable < settings_.settle_s) {
      ++it;
      continue;
    }
    std::string error = header_(it->first);
    if (error.empty() || stable >= settings_.unreadable_after_s) {
      if (!error.empty()) {
        spdlog::warn(
            "{}: unchanged for {:.0f} s and its header does not open: registered as "
            "invalid ({})",
            it->first.string(), stable, error);
      }
      out.push_back({it->first, p.stamp, std::move(error)});
      it = pending_.erase(it);
      continue;
    }
    if (error != p.last_error) {
      spdlog::info("{}: header does not open yet, retrying: {}", it->first.string(), error);
      p.last_error = error;
    }
    ++it;
  }
  return out;
}

}  // namespace contimg::service
