// A full disk while a Measurement Set is written is an IoError, never an
// abort (issue 11, D4: casacore's table destructor flushed and threw inside a
// destructor, std::terminate, exit 134). On a small tmpfs (needs root: the
// tests skip without it).
#include "io/ms/ms_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/error.h"
#include "io/ms/casa_table.h"
#include "io/ms/table_release.h"
#include "io/ms/tiny_ms.h"
#include "support/small_tmpfs.h"
#include "support/tiny_uvh5.h"

namespace contimg::ms {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using contimg::test::SmallTmpfs;

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
  EXPECT_EQ(ms::CasaTable(ms.string()).nrow(), static_cast<std::uint64_t>(s.rows()));
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
  EXPECT_EQ(ms::CasaTable(ms.string()).nrow(), static_cast<std::uint64_t>(s.rows()));
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

// A disk too full for the reserve is refused before any table exists, and
// one that fills while the tables are created is an IoError too: the reserve,
// taken first, gives casacore's destructors room for what they write on the
// way out. (Before, the reserve came after the tables: cleaning up after
// either failure wrote casacore's array files from destructors on a full
// disk, std::terminate.)
TEST(MsWriterDiskFull, ADiskTooFullWhileCreatingIsAnIoErrorNotAnAbort) {
  SmallTmpfs disk(8u << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << disk.why();
  StorageOptions storage;
  storage.reserve_bytes = 1u << 20;
  const fs::path ms = disk.path() / "x.ms";
  test::TinySpec s;  // the subtables of a full-size group's MS
  s.nspw = 16;
  s.nchan = 48;
  s.nant = 110;
  const std::uint64_t r = storage.reserve_bytes;
  const std::uint64_t k = 1024;
  for (std::uint64_t leave : {std::uint64_t{0}, 32 * k, 64 * k, 128 * k, 256 * k, 512 * k,
                              r + 16 * k, r + 64 * k, r + 128 * k}) {
    SCOPED_TRACE(leave);
    disk.fill(leave);
    try {
      MsWriter w(ms, test::tiny_layout(s), storage);
      ADD_FAILURE() << "no IoError";
    } catch (const IoError& e) {
      EXPECT_THAT(e.what(), HasSubstr("No space left on device"));
      EXPECT_THAT(e.what(), HasSubstr(ms.string()));
    }
    EXPECT_FALSE(fs::exists(ms));
    disk.unfill();
  }
  // With room the same path is written.
  test::write_tiny_ms(ms.string(), test::TinySpec{}, storage);
  EXPECT_TRUE(fs::exists(ms / "table.dat"));
}

// casacore reports a short write with a stale errno ("write error ...: No such
// file or directory"); when another writer gave space back before we looked,
// the message did not say the disk was full (CI, lifecycle_disk-full).
TEST(DiskFullNote, AShortWriteSaysTheDiskIsFullEvenWithRoomNow) {
  const fs::path roomy = fs::temp_directory_path();
  ASSERT_GT(available_bytes(roomy), kFlushHeadroomBytes) << "needs a few MB free in " << roomy;
  EXPECT_THAT(disk_full_note(roomy, "FiledesIO::write - write error in /x/table.f5_TSM0: No such file or directory"),
              HasSubstr("No space left on device: a short write"));
  EXPECT_EQ(disk_full_note(roomy, "Table /x does not exist"), "");
  EXPECT_THAT(disk_full_note(roomy, "FiledesIO::write - write error in /x: No space left on device"),
              HasSubstr("No space left on device"));
}

}  // namespace
}  // namespace contimg::ms
