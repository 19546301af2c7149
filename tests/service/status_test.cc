#include "service/status.h"

#include <gtest/gtest.h>

#include "service/disk_guard.h"
#include "state/jobs.h"
#include "support/tiny_uvh5.h"

namespace contimg::service {
namespace {

namespace fs = std::filesystem;

TEST(StreamStatus, PercentileIsNearestRank) {
  EXPECT_EQ(percentile({}, 50), 0);
  EXPECT_EQ(percentile({3, 1, 2}, 50), 2);
  EXPECT_EQ(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 95), 10);
  EXPECT_EQ(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 50), 5);
  EXPECT_EQ(percentile({7}, 95), 7);
}

TEST(StreamStatus, CountsJobsLatenciesFailuresAndTheRealTimeFactorOfOneTree) {
  test::TempDir tmp;
  state::StateDb db(tmp / "state.sqlite3");
  for (const char* id : {"2025-03-20T10:00:00", "2025-03-20T10:05:00"}) {
    state::GroupRecord g;
    g.group_id = id;
    db.upsert_group(g);
  }
  const std::string out = fs::absolute(tmp / "out").lexically_normal().string();
  state::JobStore jobs(db.database());
  auto finish = [&](const std::string& group, const std::string& stage, bool ok,
                    state::ErrorKind kind, double seconds, const std::string& root) {
    const auto c =
        jobs.claim({group, stage, root}, "h:1:1/1", 60, [](const std::string&) { return true; });
    ASSERT_TRUE(c.claimed);
    if (ok) {
      ASSERT_TRUE(jobs.finish_done(c.job, "fp", seconds, {}, {}));
    } else {
      ASSERT_TRUE(jobs.finish_failed(c.job, kind, "x_sb03.hdf5: truncated", seconds, 3, {}));
    }
  };
  finish("2025-03-20T10:00:00", "convert", true, {}, 10, out);
  finish("2025-03-20T10:00:00", "validate", true, {}, 2, out);
  finish("2025-03-20T10:05:00", "convert", true, {}, 30, out);
  finish("2025-03-20T10:05:00", "flag", false, state::ErrorKind::kInput, 1, out);
  finish("2025-03-20T10:05:00", "convert", true, {}, 99, "/another/tree");  // not counted
  jobs.ensure({"2025-03-20T10:05:00", "image", out});                       // queued

  const auto cfg = config::Config::defaults()
                       .with_override({"paths.stage_dir", (tmp / "stage").string(), "test"})
                       .with_override({"paths.scratch_dir", (tmp / "scratch").string(), "test"});
  StatusRequest req;
  req.out_dir = tmp / "out";
  const auto s = collect_status(db, cfg, req);
  EXPECT_EQ(s["jobs"]["done"], 3);
  EXPECT_EQ(s["jobs"]["failed"], 1);
  EXPECT_EQ(s["jobs"]["queued"], 1);
  EXPECT_EQ(s["latency"]["convert"]["hour"]["n"], 2);
  EXPECT_EQ(s["latency"]["convert"]["hour"]["p50_s"], 10);
  EXPECT_EQ(s["latency"]["convert"]["day"]["p95_s"], 30);
  ASSERT_EQ(s["failures"].size(), 1u);
  EXPECT_EQ(s["failures"][0]["stage"], "flag");
  EXPECT_EQ(s["failures"][0]["error"], "x_sb03.hdf5: truncated");
  EXPECT_EQ(s["real_time_factor"]["hour"]["groups"], 1);
  EXPECT_FALSE(s["service"]["running"]);
  bool has_out_tier = false;
  for (const auto& t : s["tiers"]) has_out_tier |= t["tier"] == "out" && t.contains("free_gb");
  EXPECT_TRUE(has_out_tier);
  EXPECT_NE(format_status(s).find("flag failed (input, attempt 1): x_sb03.hdf5: truncated"),
            std::string::npos)
      << format_status(s);
}

TEST(DiskGuard, AShortTierIsNamedWithWhatItHasAndNeeds) {
  TierSpace t{"out", "/x", 2'000'000'000, 10'000'000'000};
  EXPECT_EQ(shortfall(t, 500'000'000, 1'000'000'000), "");
  const auto why = shortfall(t, 1'500'000'000, 1'000'000'000);
  EXPECT_NE(why.find("out tier /x: 2.00 GB free, needs 1.50 GB + 1.00 GB kept free"),
            std::string::npos)
      << why;
  TierSpace unknown{"scratch", "/y", std::nullopt, std::nullopt};
  EXPECT_EQ(shortfall(unknown, 1, 1), "");
  const auto here = tier_space("tmp", fs::temp_directory_path() / "does" / "not" / "exist");
  EXPECT_TRUE(here.free_bytes.has_value());  // measured at the nearest existing ancestor
}

}  // namespace
}  // namespace contimg::service
