#include "common/durable.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::durable {
namespace fs = std::filesystem;

namespace {

void sync_one(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw IoError(fmt::format("{}: fsync failed: {}", p.string(), std::strerror(err)));
  }
  if (::close(fd) != 0) {
    throw IoError(
        fmt::format("{}: close after fsync failed: {}", p.string(), std::strerror(errno)));
  }
}

}  // namespace

void sync_tree(const fs::path& root) {
  std::error_code ec;
  if (fs::is_directory(root, ec)) {
    fs::recursive_directory_iterator it(root, ec), end;
    for (; !ec && it != end; it.increment(ec)) sync_one(it->path());
    if (ec)
      throw IoError(fmt::format("{}: cannot list for fsync: {}", root.string(), ec.message()));
  }
  sync_one(root);
}

void sync_directory(const fs::path& dir) {
  sync_one(dir);
}

void rename_into_place(const fs::path& from, const fs::path& to) {
  sync_tree(from);
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec)
    throw IoError(
        fmt::format("cannot move {} to {}: {}", from.string(), to.string(), ec.message()));
  sync_directory(to.has_parent_path() ? to.parent_path() : fs::path("."));
}

std::size_t start_writeback(const fs::path& root) noexcept {
  std::size_t started = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    const int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    if (::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0) ++started;
    ::close(fd);
  }
  return started;
}

WritebackPacer::WritebackPacer(fs::path root, std::chrono::milliseconds period)
    : root_(std::move(root)), period_(period), thread_([this] { run(); }) {}

WritebackPacer::~WritebackPacer() {
  stop();
}

void WritebackPacer::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t WritebackPacer::passes() const {
  std::lock_guard lock(mutex_);
  return passes_;
}

void WritebackPacer::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period_, [this] { return stopping_; })) {
    lock.unlock();
    start_writeback(root_);
    lock.lock();
    ++passes_;
  }
}

}  // namespace contimg::durable
