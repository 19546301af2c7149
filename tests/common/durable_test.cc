#include "common/durable.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "support/tiny_uvh5.h"

namespace contimg::durable {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void write_file(const fs::path& p, std::size_t bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  const std::string chunk(4096, 'x');
  for (std::size_t n = 0; n < bytes; n += chunk.size())
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
}

TEST(Durable, WritebackStartsEveryRegularFileUnderTheRoot) {
  test::TempDir dir;
  const fs::path ms = dir.path() / "g.ms";
  write_file(ms / "table.f0", 1 << 20);
  write_file(ms / "table.f1", 1 << 16);
  write_file(ms / "ANTENNA" / "table.f0", 4096);
  fs::create_directories(ms / "EMPTY");
  EXPECT_EQ(start_writeback(ms), 3u);
  EXPECT_EQ(start_writeback(dir.path() / "absent"), 0u);
}

TEST(Durable, SyncTreeSyncsAndNamesWhatItCannotSync) {
  test::TempDir dir;
  const fs::path ms = dir.path() / "g.ms";
  write_file(ms / "SUB" / "table.dat", 8192);
  EXPECT_NO_THROW(sync_tree(ms));
  EXPECT_NO_THROW(sync_directory(dir.path()));
  try {
    sync_tree(dir.path() / "gone.ms");
    FAIL() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("gone.ms"), std::string::npos) << e.what();
  }
}

TEST(Durable, RenameIntoPlaceMovesAFileOrATreeAndNamesBothPathsOnFailure) {
  test::TempDir dir;
  write_file(dir.path() / "a.fits.part", 4096);
  write_file(dir.path() / "a.fits", 10);  // replaced
  rename_into_place(dir.path() / "a.fits.part", dir.path() / "a.fits");
  EXPECT_EQ(fs::file_size(dir.path() / "a.fits"), 4096u);
  EXPECT_FALSE(fs::exists(dir.path() / "a.fits.part"));
  write_file(dir.path() / "stage" / "t.bcal" / "table.f0", 8192);
  rename_into_place(dir.path() / "stage" / "t.bcal", dir.path() / "t.bcal");
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "t.bcal" / "table.f0"));
  try {
    rename_into_place(dir.path() / "missing.part", dir.path() / "b.fits");
    FAIL() << "no IoError";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.part"), std::string::npos) << e.what();
  }
}

TEST(Durable, PacerRunsUntilStoppedAndStopsPromptly) {
  test::TempDir dir;
  const fs::path ms = dir.path() / "g.ms";
  // The root appears after the pacer starts (the writer creates it).
  WritebackPacer pacer(ms, 20ms);
  write_file(ms / "table.f0", 1 << 20);
  const auto t0 = std::chrono::steady_clock::now();
  while (pacer.passes() < 3 && std::chrono::steady_clock::now() - t0 < 10s)
    std::this_thread::sleep_for(5ms);
  EXPECT_GE(pacer.passes(), 3u);
  fs::remove_all(ms);  // vanishing files are skipped, not an error
  const auto s0 = std::chrono::steady_clock::now();
  pacer.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - s0, 2s);
  const auto after = pacer.passes();
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(pacer.passes(), after);
  pacer.stop();  // idempotent
}

}  // namespace
}  // namespace contimg::durable
