// CorrectedDataUpdate on an MS without CORRECTED_DATA: the new column is
// written once, by the caller's rows, not first as zeros by casacore (a flush
// right after adding the column made BucketCache write every bucket: 1.4 GB
// and ~2.5 s of a full group's image stage). And a process killed between
// adding the column and committing leaves an MS that is not marked, which the
// next apply completes.
#include "calibration/corrected_update.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <complex>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "calibration/ms_access.h"
#include "io/ms/casa_table.h"
#include "io/ms/tiny_ms.h"
#include "support/tiny_uvh5.h"

namespace contimg::calibration {
namespace {

namespace fs = std::filesystem;

// Bytes this process has passed to write(2) and its kin (/proc/self/io wchar).
std::uint64_t bytes_written_by_process() {
  std::ifstream io("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "wchar:") return value;
  }
  ADD_FAILURE() << "no wchar in /proc/self/io";
  return 0;
}

ms::test::TinySpec spec() {
  ms::test::TinySpec s;
  s.nant = 40;
  s.nchan = 64;
  s.ntimes = 8;  // 13120 rows: CORRECTED_DATA ~13 MB
  return s;
}

std::uint64_t column_bytes(const ms::test::TinySpec& s) {
  return static_cast<std::uint64_t>(s.rows()) * static_cast<std::uint64_t>(s.nchan) * 2 *
         sizeof(std::complex<float>);
}

// Every row in order, a block of rows at a time, as the image stage's pass
// writes them.
void write_rows_in_order(MsVisibilities& vis, const fs::path& path, const ms::test::TinySpec& s) {
  const ms::CasaTable t(path.string());
  const auto n = static_cast<std::uint64_t>(s.nbl());
  for (std::uint64_t r0 = 0; r0 < t.nrow(); r0 += n) {
    const auto d = t.get_range<std::complex<float>>("DATA", r0, n);
    const auto f = t.get_range<std::uint8_t>("FLAG", r0, n);
    vis.write_corrected_rows(r0, n, static_cast<std::size_t>(s.nchan), 2, d.values, f.values);
  }
}

void write_all_and_commit(const fs::path& path, int nspw, const std::string& id) {
  std::optional<CorrectedDataUpdate> update;
  {
    MsVisibilities vis(path, /*writable=*/true);
    update.emplace(vis, path);
    for (int spw = 0; spw < nspw; ++spw) vis.write_corrected(vis.read_spw(spw, /*weights=*/false));
    update->end_writes(vis);
  }
  update->commit(id);
}

void expect_corrected_equals_data(const fs::path& path) {
  const ms::CasaTable t(path.string());
  const auto data = t.get_range<std::complex<float>>("DATA", 0, t.nrow());
  const auto corrected = t.get_range<std::complex<float>>("CORRECTED_DATA", 0, t.nrow());
  ASSERT_EQ(data.values.size(), corrected.values.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < data.values.size(); ++i)
    differ += data.values[i] != corrected.values[i];
  EXPECT_EQ(differ, 0u);
}

TEST(CorrectedDataUpdate, ANewColumnIsWrittenOnceNotFirstAsZeros) {
  test::TempDir dir;
  const auto s = spec();
  const fs::path path = dir / "x.ms";
  ms::test::write_tiny_ms(path.string(), s);
  const std::uint64_t column = column_bytes(s);

  const std::uint64_t w0 = bytes_written_by_process();
  {
    std::optional<CorrectedDataUpdate> update;
    MsVisibilities vis(path, /*writable=*/true);
    update.emplace(vis, path);
    const std::uint64_t by_begin = bytes_written_by_process() - w0;
    EXPECT_LT(by_begin, column / 20) << "adding CORRECTED_DATA wrote " << by_begin
                                     << " bytes before any row (column: " << column << ")";
    write_rows_in_order(vis, path, s);
    update->end_writes(vis);
  }
  // The column and FLAG once (9 bytes a sample of 8), plus table headers;
  // zeros first would make it ~17.
  const std::uint64_t by_apply = bytes_written_by_process() - w0;
  EXPECT_GT(by_apply, column);
  EXPECT_LT(by_apply, column * 10 / 8) << "bytes written: " << by_apply << ", column: " << column;
  expect_corrected_equals_data(path);
}

TEST(CorrectedDataUpdate, KilledAfterAddingTheColumnLeavesAnUnmarkedMsTheNextApplyCompletes) {
  test::TempDir dir;
  const auto s = spec();
  const fs::path path = dir / "x.ms";
  ms::test::write_tiny_ms(path.string(), s);
  write_all_and_commit(path, s.nspw, "first");  // an earlier apply, on another copy below

  const fs::path fresh = dir / "fresh.ms";
  ms::test::write_tiny_ms(fresh.string(), s);
  for (const fs::path& ms : {fresh, path}) {
    SCOPED_TRACE(ms.filename().string());
    // A child begins the update, writes SPW 0 and dies without closing
    // anything (as kill -9 would: no destructor, no flush).
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        auto* vis = new MsVisibilities(ms, /*writable=*/true);
        new CorrectedDataUpdate(*vis, ms);
        vis->write_corrected(vis->read_spw(0, /*weights=*/false));
      } catch (...) {
        _exit(3);
      }
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(MsVisibilities(ms).applied_calset(), "") << "an interrupted apply must not look done";
    write_all_and_commit(ms, s.nspw, "again");
    EXPECT_EQ(MsVisibilities(ms).applied_calset(), "again");
    expect_corrected_equals_data(ms);
  }
}

}  // namespace
}  // namespace contimg::calibration
