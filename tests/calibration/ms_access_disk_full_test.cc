// Writing CORRECTED_DATA into an MS on a disk that is full is an IoError
// that says so, never an abort (issue 11, D4), and the MS keeps its DATA.
// On a small tmpfs (needs root: skipped without it).
#include "calibration/ms_access.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "io/ms/tiny_ms.h"
#include "support/small_tmpfs.h"

namespace contimg::calibration {
namespace {

using ::testing::HasSubstr;

TEST(MsAccessDiskFull, CorrectedDataOnAFullDiskIsAnIoErrorAndDataSurvives) {
  test::SmallTmpfs disk(96u << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << disk.why();
  ms::test::TinySpec s;
  s.nant = 40;
  s.nchan = 64;
  s.ntimes = 8;  // CORRECTED_DATA: ~10 MB
  const auto path = disk.path() / "x.ms";
  ms::test::write_tiny_ms(path.string(), s);
  std::string message;
  {
    MsVisibilities vis(path, /*writable=*/true);
    disk.fill(1u << 20);  // another process takes the disk
    try {
      vis.ensure_corrected_data();
      for (int spw = 0; spw < s.nspw; ++spw) vis.write_corrected(vis.read_spw(spw));
      vis.flush();
      vis.set_applied_calset("x");
    } catch (const IoError& e) {
      message = e.what();
    }
  }  // closing after the failure must neither write nor abort
  EXPECT_THAT(message, HasSubstr("No space left on device"));
  EXPECT_THAT(message, HasSubstr(path.string()));
  disk.unfill();
  MsVisibilities again(path);
  EXPECT_EQ(again.read_spw(0).nrows, static_cast<std::size_t>(s.ntimes * s.nbl()));
}

}  // namespace
}  // namespace contimg::calibration
