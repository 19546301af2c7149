#include "service/file_watcher.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "support/tiny_uvh5.h"

namespace contimg::service {
namespace {

namespace fs = std::filesystem;

TEST(StreamNames, TemporaryAndForeignNamesAreIgnoredUntilRenamed) {
  EXPECT_FALSE(is_ignored_name("2025-03-20T10:00:00_sb03.hdf5"));
  // The DSA-110 writer's name while it writes, and rsync's temporary.
  EXPECT_TRUE(is_ignored_name("2025-03-20T10:00:00_sb03_incomplete.hdf5"));
  EXPECT_TRUE(is_ignored_name("2025-03-20T10:00:00_incomplete.hdf5"));
  EXPECT_TRUE(is_ignored_name(".2025-03-20T10:00:00_sb03.hdf5.Xa81Qz"));
  EXPECT_TRUE(is_ignored_name("notes.txt"));
  EXPECT_TRUE(is_ignored_name(""));
}

// A scripted file system: each path's stamp and header error, set by the test.
struct FakeFs {
  std::map<fs::path, FileStamp> stamps;
  std::map<fs::path, std::string> header_errors;
  int header_opens = 0;
  FileAcceptor acceptor(double settle, double unreadable_after) {
    return FileAcceptor(
        AcceptorSettings{settle, unreadable_after},
        [this](const fs::path& p) -> std::optional<FileStamp> {
          auto it = stamps.find(p);
          return it == stamps.end() ? std::nullopt : std::optional<FileStamp>(it->second);
        },
        [this](const fs::path& p) {
          ++header_opens;
          auto it = header_errors.find(p);
          return it == header_errors.end() ? std::string() : it->second;
        });
  }
};

TEST(FileAcceptor, AcceptsOnlyAfterTheStampStaysUnchangedForTheSettleTime) {
  FakeFs f;
  auto a = f.acceptor(2.0, 60.0);
  const fs::path p = "/in/2025-03-20T10:00:00_sb00.hdf5";
  f.stamps[p] = {100, 1};
  a.offer(p, 0);
  EXPECT_TRUE(a.poll(0).empty());  // first look
  EXPECT_TRUE(a.poll(1).empty());  // unchanged for 1 s < 2 s
  f.stamps[p] = {200, 2};          // still growing: the clock starts again
  EXPECT_TRUE(a.poll(2.5).empty());
  EXPECT_TRUE(a.poll(4.0).empty());
  EXPECT_EQ(f.header_opens, 0);  // never opened while it changed
  const auto got = a.poll(4.6);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, p);
  EXPECT_EQ(got[0].stamp.size, 200u);
  EXPECT_TRUE(got[0].header_error.empty());
  EXPECT_EQ(a.pending(), 0u);
}

TEST(FileAcceptor, AFileWhoseHeaderDoesNotOpenYetIsRetriedNotFailed) {
  FakeFs f;
  auto a = f.acceptor(0.0, 30.0);
  const fs::path p = "/in/2025-03-20T10:00:00_sb01.hdf5";
  f.stamps[p] = {100, 1};
  f.header_errors[p] = "truncated file";
  a.offer(p, 0);
  EXPECT_TRUE(a.poll(0).empty());
  EXPECT_TRUE(a.poll(1).empty());  // settled, header fails: still pending
  EXPECT_TRUE(a.poll(10).empty());
  EXPECT_EQ(a.pending(), 1u);
  f.header_errors.erase(p);  // the writer finished (e.g. an in-place copy's last block)
  const auto got = a.poll(11);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].header_error.empty());
}

TEST(FileAcceptor, ASettledFileThatNeverOpensIsAcceptedAsUnreadableAfterTheBound) {
  FakeFs f;
  auto a = f.acceptor(0.0, 30.0);
  const fs::path p = "/in/2025-03-20T10:00:00_sb02.hdf5";
  f.stamps[p] = {100, 1};
  f.header_errors[p] = "x_sb02.hdf5: truncated file";
  a.offer(p, 0);
  EXPECT_TRUE(a.poll(0).empty());
  EXPECT_TRUE(a.poll(29).empty());
  const auto got = a.poll(30);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header_error, "x_sb02.hdf5: truncated file");
}

TEST(FileAcceptor, AVanishedFileLeavesAndAnOfferedTwiceFileIsAcceptedOnce) {
  FakeFs f;
  auto a = f.acceptor(0.0, 30.0);
  const fs::path gone = "/in/2025-03-20T10:00:00_sb03.hdf5";
  const fs::path twice = "/in/2025-03-20T10:00:00_sb04.hdf5";
  f.stamps[gone] = {1, 1};
  f.stamps[twice] = {1, 1};
  a.offer(gone, 0);
  a.offer(twice, 0);
  a.offer(twice, 0);  // an event and a listing
  EXPECT_TRUE(a.poll(0).empty());
  f.stamps.erase(gone);
  const auto got = a.poll(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, twice);
  EXPECT_EQ(a.pending(), 0u);
  EXPECT_TRUE(a.poll(2).empty());
}

// Real inotify: a file written under a temporary name and renamed into place
// is reported once, by its final name; the temporary is not.
TEST(DirectoryWatcher, ReportsRenamedAndClosedFilesByTheirFinalNames) {
  test::TempDir tmp;
  DirectoryWatcher w(tmp.path());
  if (!w.active()) GTEST_SKIP() << "inotify unavailable here";
  const fs::path tmpname = tmp / "2025-03-20T10:00:00_sb05_incomplete.hdf5";
  std::ofstream(tmpname) << "data";
  fs::rename(tmpname, tmp / "2025-03-20T10:00:00_sb05.hdf5");
  std::ofstream(tmp / "2025-03-20T10:00:00_sb06.hdf5") << "written in place";
  std::ofstream(tmp / ".2025-03-20T10:00:00_sb07.hdf5.abc123") << "rsync temporary";
  std::vector<fs::path> seen;
  for (int i = 0; i < 20 && seen.size() < 2; ++i) {
    const auto ev = w.wait(0.1);
    seen.insert(seen.end(), ev.paths.begin(), ev.paths.end());
  }
  std::sort(seen.begin(), seen.end());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], tmp / "2025-03-20T10:00:00_sb05.hdf5");
  EXPECT_EQ(seen[1], tmp / "2025-03-20T10:00:00_sb06.hdf5");
}

TEST(FileStamp, StatFileSeesSizeAndOnlyRegularFiles) {
  test::TempDir tmp;
  std::ofstream(tmp / "f") << "12345";
  const auto st = stat_file(tmp / "f");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->size, 5u);
  EXPECT_GT(st->mtime_ns, 0);
  EXPECT_FALSE(stat_file(tmp.path()));
  EXPECT_FALSE(stat_file(tmp / "missing"));
}

}  // namespace
}  // namespace contimg::service
