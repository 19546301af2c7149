#include "state/flag_stats.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "state/state_db.h"
#include "support/backends.h"

namespace contimg::state {
namespace {

class FlagStats : public test::BackendTest {};
INSTANTIATE_TEST_SUITE_P(Backends, FlagStats, CONTIMG_BOTH_BACKENDS);

TEST_P(FlagStats, RecordingAgainReplacesWithoutDuplicates) {
  StateDb db(target("state.sqlite3"));
  FlagRunRecord r;
  r.ms_path = "/x/2025-01-01T12:00:00.ms";
  r.group_id = "2025-01-01T12:00:00";
  r.strategy = "/s.lua";
  r.strategy_hash = "abc";
  r.samples = 100;
  r.flagged_before = 0.1;
  r.flagged_after = 0.2;
  r.dead_antennas = {"DSA-005"};
  std::vector<FlagStatRow> rows{{"antenna", 4, "DSA-005", 50, 0.0, 1.0}, {"spw", 0, "0", 100, 0.1, 0.2}};
  record_flag_run(db.database(), r, rows);
  r.flagged_after = 0.25;
  rows[1].flagged_after = 0.25;
  record_flag_run(db.database(), r, rows);
  auto count = [&](const char* sql) {
    auto st = db.database().prepare(sql);
    st.step();
    return st.get_int(0);
  };
  EXPECT_EQ(count("SELECT COUNT(*) FROM flag_runs"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM flag_stats"), 2);
  const auto back = flag_run(db.database(), r.ms_path);
  ASSERT_TRUE(back);
  EXPECT_DOUBLE_EQ(back->flagged_after, 0.25);
  EXPECT_EQ(back->dead_antennas, std::vector<std::string>{"DSA-005"});
  EXPECT_EQ(back->group_id.value_or(""), "2025-01-01T12:00:00");
  const auto stats = flag_stats(db.database(), r.ms_path);
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].axis, "antenna");
  EXPECT_DOUBLE_EQ(stats[1].flagged_after, 0.25);
  EXPECT_FALSE(flag_run(db.database(), "/other.ms"));
}

}  // namespace
}  // namespace contimg::state
