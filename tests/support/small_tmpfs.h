#pragma once
// A small tmpfs for disk-full tests (issue 11, D4). Mounting needs root:
// tests skip (GTEST_SKIP) when mounted() is false, saying why().
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>

#include "support/tiny_uvh5.h"

namespace contimg::test {

class SmallTmpfs {
 public:
  // Mounted at <a temporary directory>/mnt, unmounted (lazily) on destruction.
  explicit SmallTmpfs(std::uint64_t bytes) : mnt_(dir_ / "mnt") {
    std::filesystem::create_directories(mnt_);
    const std::string opts = "size=" + std::to_string(bytes);
    mounted_ = ::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted_) why_ = std::strerror(errno);
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::filesystem::path& path() const { return mnt_; }

  std::uint64_t free_bytes() const {
    struct statvfs st{};
    ::statvfs(mnt_.c_str(), &st);
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  }
  // Another writer takes the space, leaving `leave` bytes (about: page granularity).
  void fill(std::uint64_t leave) const {
    const std::filesystem::path f = mnt_ / ("fill" + std::to_string(fills_++));
    const int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    // A tmpfs may refuse the last pages of one allocation: ask for less.
    for (std::uint64_t want = free_bytes() > leave ? free_bytes() - leave : 0; want > 0;
         want = want > (64u << 10) ? want - (64u << 10) : 0) {
      if (::posix_fallocate(fd, 0, static_cast<off_t>(want)) == 0) break;
    }
    ::close(fd);
  }
  void unfill() const {
    for (int i = 0; i < fills_; ++i) std::filesystem::remove(mnt_ / ("fill" + std::to_string(i)));
  }

 private:
  TempDir dir_;
  std::filesystem::path mnt_;
  bool mounted_ = false;
  std::string why_;
  mutable int fills_ = 0;
};

}  // namespace contimg::test
