#include "flagging/flag_stage.h"
#include "orchestration/orchestrator.h"
#include "state/records.h"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include "astro/site_data.h"
#include "common/build_info.h"
#include "common/error.h"
#include "common/interrupts.h"
#include "conversion/group_converter.h"
#include "grouping/subband_name.h"
#include "io/ms/casa_table.h"
#include "io/uvh5/hdf5_handle.h"
#include "simulation/simulator.h"
#include "state/flag_stats.h"
#include "state/state_db.h"
#include "support/small_tmpfs.h"
#include "support/simulated_ms.h"
#include "support/tiny_uvh5.h"

namespace contimg::flagging {
namespace {

namespace fs = std::filesystem;

// A tiny simulated group converted to an MS: 6 stations (1 24 47 71 94 117),
// station 47 dead, a 10 Jy calibrator, noise, RFI.
fs::path make_ms(const fs::path& dir, int ntimes = 8, int nchan = 4) {
  simulation::SimulationSpec spec;
  spec.nants = 6;
  spec.ntimes = ntimes;
  spec.nchan = nchan;
  spec.noise_jy = 0.5;
  spec.rfi_bursts = 4;
  spec.calibrator_at_transit = true;
  spec.dead_stations = {47};
  spec.start_utc = "2025-03-01T10:00:00";
  return test::make_simulated_ms(dir, spec);
}

TEST(FlagStage, FlagsRecordsAndIsDoneUntilTheStrategyChanges) {
  test::TempDir dir;
  const fs::path ms = make_ms(dir.path());
  const fs::path strategy = dir / "s.lua";
  fs::copy_file(fs::path(build::kDataDir) / "strategies" / "dsa110-lband.lua", strategy);
  auto cfg = std::make_shared<const config::Config>(
      config::Config::defaults()
          .with_override({"paths.state_db", (dir / "state.sqlite3").string(), "test"})
          .with_override({"flagging.strategy", strategy.string(), "test"})
          .with_override({"flagging.threads", "2", "test"}));
  const pipeline::Context in(cfg, "2025-03-01T10:00:00", {{"ms_path", ms.string()}});
  FlagStage stage(*cfg);
  EXPECT_EQ(stage.name(), "flag");
  EXPECT_FALSE(stage.is_done(in));
  stage.validate(in);
  const auto out = stage.execute(in);
  const double f = out.get_double("flagged_fraction");
  EXPECT_EQ(out.get_strings("dead_antennas"), std::vector<std::string>{"DSA-047"});
  // The dead station's 5 cross baselines + autocorrelation of 21 rows per (time, SPW).
  EXPECT_GE(f, 6.0 / 21.0);
  EXPECT_LT(f, 6.0 / 21.0 + 0.05);
  EXPECT_GT(out.io().bytes_read, 0u);
  // Issue 11: the stage returns its records and never opens the state database.
  EXPECT_FALSE(fs::exists(dir / "state.sqlite3")) << "the flag stage opened the state database";
  ASSERT_EQ(out.records().size(), 2u);  // the run with its statistics, an event
  state::StateDb db(dir / "state.sqlite3");
  for (const auto& r : out.records()) state::store_record(db, *r, {"2025-03-01T10:00:00", "flag", dir.path().string()});
  const orchestration::DbStateView view(db, dir.path().string());
  const auto in_v = in.with_state(&view);
  EXPECT_TRUE(stage.is_done(in_v));
  // A resumed chain gets the same outputs back from the database.
  const auto restored = stage.restore(in_v);
  EXPECT_DOUBLE_EQ(restored.get_double("flagged_fraction"), f);
  EXPECT_EQ(restored.get_strings("dead_antennas"), out.get_strings("dead_antennas"));
  {
    const auto run = state::flag_run(db.database(), fs::absolute(ms).lexically_normal().string());
    ASSERT_TRUE(run);
    EXPECT_EQ(run->group_id.value_or(""), "2025-03-01T10:00:00");
    EXPECT_DOUBLE_EQ(run->flagged_after, f);
    EXPECT_FALSE(state::flag_stats(db.database(), run->ms_path).empty());
  }
  // A changed strategy text is a different strategy: not done any more.
  std::ofstream(strategy, std::ios::app) << "\n-- changed\n";
  EXPECT_FALSE(stage.is_done(in_v));
}

// FLAG of every row, [row][chan][corr].
std::vector<std::uint8_t> read_flags(const ms::CasaTable& t) {
  return t.get_range<std::uint8_t>("FLAG", 0, t.nrow()).values;
}
std::vector<std::uint8_t> read_flags(const fs::path& ms) { return read_flags(ms::CasaTable(ms.string())); }

FlagOptions options_with(std::uint64_t memory_bytes, std::size_t min_chunks = 8) {
  FlagOptions o;
  o.min_chunks = min_chunks;
  o.strategy = fs::path(build::kDataDir) / "strategies" / "dsa110-lband.lua";
  o.threads = 2;
  o.memory_bytes = memory_bytes;
  return o;
}

// 21 baselines of 24 x 128 x 2 samples (55 KB each): one chunk of all 21
// (one buffer); 1 MB for both buffers, 9 baselines a chunk (3 chunks, the
// next read while one is detected); the default 8 chunks at most, 3
// baselines each. The flags must not depend on the chunking.
TEST(MsFlagger, ChunksOfBaselinesGiveTheSameFlags) {
  test::TempDir dir;
  const fs::path ms = make_ms(dir.path(), 24, 8);
  const fs::path by_memory = dir / "by_memory.ms", by_count = dir / "by_count.ms";
  fs::copy(ms, by_memory, fs::copy_options::recursive);
  fs::copy(ms, by_count, fs::copy_options::recursive);
  const auto whole = MsFlagger(options_with(1ull << 30, 1)).run(ms);
  const auto chunked = MsFlagger(options_with(1ull << 20, 1)).run(by_memory);
  const auto eight = MsFlagger(options_with(1ull << 30)).run(by_count);
  EXPECT_EQ(whole.flagged_after, chunked.flagged_after);
  EXPECT_EQ(whole.flagged_after, eight.flagged_after);
  EXPECT_GT(whole.flagged_after, whole.flagged_before);
  EXPECT_EQ(whole.bytes_read, chunked.bytes_read);
  EXPECT_EQ(whole.bytes_read, eight.bytes_read);
  const auto a = read_flags(ms);
  EXPECT_TRUE(a == read_flags(by_memory));
  EXPECT_TRUE(a == read_flags(by_count));
  EXPECT_EQ(chunked.dead_names, std::vector<std::string>{"DSA-047"});
  EXPECT_EQ(eight.dead_names, std::vector<std::string>{"DSA-047"});
}

// D4: writing FLAG into an MS on a full disk is an IoError that says so,
// never an abort (casacore's header rewrite in a destructor was
// std::terminate), and the MS stays readable.
TEST(MsFlagger, AFullDiskIsAnIoErrorNotAnAbort) {
  test::SmallTmpfs disk(32u << 20);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << disk.why();
  test::TempDir dir;
  const fs::path ms = disk.path() / "x.ms";
  fs::copy(make_ms(dir.path()), ms, fs::copy_options::recursive);
  disk.fill(0);
  std::string message;
  try {
    MsFlagger(options_with(1ull << 30)).run(ms);
  } catch (const IoError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("No space left on device"), std::string::npos) << message;
  disk.unfill();
  EXPECT_GT(read_flags(ms).size(), 0u);
}

// Rows whose baselines are not ascending within a (time, SPW) block take the
// read-whole-block path; after sorting back, FLAG matches the sorted MS's.
TEST(MsFlagger, UnsortedRowsGiveTheSameFlags) {
  test::TempDir dir;
  const fs::path ms = make_ms(dir.path(), 12, 4);
  const fs::path shuffled = dir / "shuffled.ms";
  std::vector<std::string> keys = {"TIME", "DATA_DESC_ID", "ANTENNA2", "ANTENNA1"};
  ms::CasaTable(ms.string()).sorted(keys, /*descending=*/true).deep_copy(shuffled.string());
  const auto sorted_rep = MsFlagger(options_with(1ull << 30)).run(ms);
  const auto shuffled_rep = MsFlagger(options_with(1ull << 30)).run(shuffled);
  EXPECT_EQ(sorted_rep.flagged_after, shuffled_rep.flagged_after);
  std::swap(keys[2], keys[3]);
  const auto b = read_flags(ms::CasaTable(shuffled.string()).sorted(keys));
  EXPECT_TRUE(read_flags(ms) == b);
}

// An interrupt before the write leaves FLAG as it was.
TEST(MsFlagger, InterruptedRunWritesNothing) {
  test::TempDir dir;
  const fs::path ms = make_ms(dir.path());
  const auto before = read_flags(ms);
  InterruptGuard guard;
  guard.simulate(SIGINT);
  EXPECT_THROW(MsFlagger(options_with(1ull << 30)).run(ms, &guard), Cancelled);
  EXPECT_TRUE(read_flags(ms) == before);
}

TEST(FlagStage, MissingMsFailsValidation) {
  test::TempDir dir;
  auto cfg = std::make_shared<const config::Config>(config::Config::defaults().with_override(
      {"paths.state_db", (dir / "state.sqlite3").string(), "test"}));
  const pipeline::Context in(cfg, "g", {{"ms_path", (dir / "none.ms").string()}});
  FlagStage stage(*cfg);
  EXPECT_FALSE(stage.is_done(in));
  EXPECT_THROW(stage.validate(in), InputError);
  EXPECT_THROW(stage.restore(in), Error);  // nothing recorded
}

}  // namespace
}  // namespace contimg::flagging
