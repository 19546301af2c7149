// A full disk while a Measurement Set is written is an IoError, never an
// abort (issue 11, D4: casacore's table destructor flushed and threw inside a
// destructor, std::terminate, exit 134). On a small tmpfs (needs root: the
// tests skip without it).
#include "io/ms/ms_writer.h"

#include "io/ms/casacore_cxx20.h"  // before any casacore header

#include <casacore/tables/Tables/Table.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "common/error.h"
#include "io/ms/tiny_ms.h"
#include "support/tiny_uvh5.h"

namespace contimg::ms {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class SmallTmpfs {
 public:
  explicit SmallTmpfs(std::uint64_t bytes) : mnt_(dir_ / "mnt") {
    fs::create_directories(mnt_);
    const std::string opts = "size=" + std::to_string(bytes);
    mounted_ = ::mount("tmpfs", mnt_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted_) why_ = std::strerror(errno);
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(mnt_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  const fs::path& path() const { return mnt_; }

  std::uint64_t free_bytes() const {
    struct statvfs st{};
    ::statvfs(mnt_.c_str(), &st);
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  }
  // Another writer takes the space, leaving `leave` bytes (about: page granularity).
  void fill(std::uint64_t leave) const {
    const fs::path f = mnt_ / ("fill" + std::to_string(fills_++));
    const int fd = ::open(f.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const std::uint64_t avail = free_bytes();
    if (avail > leave) ::posix_fallocate(fd, 0, static_cast<off_t>(avail - leave));
    ::close(fd);
  }
  void unfill() const {
    for (int i = 0; i < fills_; ++i) fs::remove(mnt_ / ("fill" + std::to_string(i)));
  }

 private:
  contimg::test::TempDir dir_;
  fs::path mnt_;
  bool mounted_ = false;
  std::string why_;
  mutable int fills_ = 0;
};

// ~1.3 MB of DATA + FLAG + WEIGHT_SPECTRUM a block.
test::TinySpec big_spec() {
  test::TinySpec s;
  s.nant = 40;
  s.nchan = 64;
  s.nspw = 2;
  s.ntimes = 12;
  return s;
}

TEST(MsWriterDiskFull, FillingUpDuringTheWriteIsAnIoErrorAndRemovesThePartialMs) {
  SmallTmpfs disk(48u << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << disk.why();
  const auto s = big_spec();
  const fs::path ms = disk.path() / "x.ms";
  StorageOptions storage;
  storage.reserve_bytes = 4u << 20;
  std::string message;
  {
    MsWriter w(ms, test::tiny_layout(s), storage);
    disk.fill(1u << 20);  // another process takes the disk while we write
    try {
      for (int t = 0; t < s.ntimes; ++t) {
        for (int spw = 0; spw < s.nspw; ++spw) w.append(test::tiny_block(s, t, spw).view(spw));
      }
      w.finish();
    } catch (const IoError& e) {
      message = e.what();
    }
  }  // the destructor after a failure: must not write (or abort) either
  EXPECT_THAT(message, HasSubstr("No space left on device"));
  EXPECT_THAT(message, HasSubstr(ms.string()));
  EXPECT_FALSE(fs::exists(ms)) << "the partial MS was left behind";

  // Space freed: the same path is written completely.
  disk.unfill();
  test::write_tiny_ms(ms.string(), s, storage);
  EXPECT_EQ(casacore::Table(ms.string()).nrow(), static_cast<casacore::rownr_t>(s.rows()));
  EXPECT_FALSE(fs::exists(ms / "contimg.reserve"));
}

// The reserve: a disk that fills up after the last block still lets
// finish() write what casacore buffered, and the MS is complete.
TEST(MsWriterDiskFull, FinishOnAFullDiskUsesTheReserve) {
  SmallTmpfs disk(48u << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << disk.why();
  auto s = big_spec();
  s.ntimes = 2;  // ~5 MB, less than the reserve
  const fs::path ms = disk.path() / "x.ms";
  StorageOptions storage;
  storage.reserve_bytes = 16u << 20;
  MsWriter w(ms, test::tiny_layout(s), storage);
  for (int t = 0; t < s.ntimes; ++t) {
    for (int spw = 0; spw < s.nspw; ++spw) w.append(test::tiny_block(s, t, spw).view(spw));
  }
  disk.fill(0);
  w.finish();
  EXPECT_EQ(casacore::Table(ms.string()).nrow(), static_cast<casacore::rownr_t>(s.rows()));
}

// Too little room even for the reserve: refused at once, nothing left.
TEST(MsWriterDiskFull, NoRoomForTheReserveIsRefusedAtCreation) {
  SmallTmpfs disk(8u << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << disk.why();
  StorageOptions storage;
  storage.reserve_bytes = 16u << 20;
  const fs::path ms = disk.path() / "x.ms";
  try {
    MsWriter w(ms, test::tiny_layout(test::TinySpec{}), storage);
    ADD_FAILURE() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("No space left on device"));
  }
  EXPECT_FALSE(fs::exists(ms));
}

}  // namespace
}  // namespace contimg::ms
