#include "grouping/group_selection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numbers>

#include "common/error.h"
#include "config/config.h"
#include "grouping/indexer.h"
#include "grouping/subband_name.h"
#include "grouping/utc_time.h"
#include "state/state_db.h"
#include "support/tiny_uvh5.h"

// Batch selection scoped to the input directory (issue 11 D1), vanished and
// changed files (D2), subbands pointed elsewhere (D8).
namespace contimg::grouping {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using state::StateDb;
using Decision = SelectedGroup::Decision;

constexpr std::int64_t kT0 = 1735711200;  // 2025-01-01T06:00:00
constexpr double kDeg = std::numbers::pi / 180;
const std::vector<int> kJitter = {2, -3, 0, 1, 4, -1, 3, 0, -2, 5, 1, 0, -3, 2, 4, -1};

class SelectTest : public ::testing::Test {
 protected:
  fs::path dir(const std::string& name) const { return dir_ / name; }
  fs::path db_path() const { return dir_ / "state.sqlite3"; }

  // One tiny subband file of the observation starting at t0 (jittered like
  // the correlator's), with a given mtime (s after kT0), Dec and ntimes.
  fs::path write(const fs::path& d, std::int64_t t0, int sb, int mtime_offset = 0,
                 double dec_deg = 54.6, int ntimes = 2) {
    fs::create_directories(d);
    const fs::path p =
        d / subband_file_name(epoch_to_iso(t0 + kJitter[static_cast<std::size_t>(sb)]), sb);
    auto h = test::tiny_header(3, ntimes, 4);
    h.extra_keywords["phase_center_dec"] = dec_deg * kDeg;
    test::write_tiny(p, h);
    using namespace std::chrono;
    fs::last_write_time(p, file_clock::from_sys(sys_seconds(seconds(kT0 + mtime_offset))));
    return p;
  }
  void observation(const fs::path& d, std::int64_t t0, int mtime_offset = 0, int n = 16) {
    for (int sb = 0; sb < n; ++sb) write(d, t0, sb, mtime_offset);
  }
  void index(StateDb& db, const fs::path& d) { index_directory(db, d, settings_, {}, {}); }

  static bool all_under(const SelectedGroup& s, const fs::path& d) {
    for (const auto& [sb, p] : s.subband_files) {
      if (fs::path(p).parent_path() != d) return false;
    }
    return !s.subband_files.empty();
  }

  GroupingSettings settings_;
  test::TempDir dir_;
};

// ---------------------------------------------------------------- D1: scope

TEST_F(SelectTest, ScopedRunUsesOnlyTheFilesOfItsDirectory) {
  // The same observation in A and B; B's files are newer (they win globally).
  observation(dir("A"), kT0, 0);
  observation(dir("B"), kT0, 100);
  StateDb db(db_path());
  index(db, dir("A"));
  index(db, dir("B"));

  const auto a = select_groups(db, kT0 - 100, kT0 + 100, settings_, false, dir("A"));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].decision, Decision::kProcess);
  EXPECT_EQ(a[0].subband_files.size(), 16u);
  EXPECT_TRUE(all_under(a[0], dir("A")));
  EXPECT_TRUE(a[0].missing.empty());

  const auto b = select_groups(db, kT0 - 100, kT0 + 100, settings_, false, dir("B"));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_TRUE(all_under(b[0], dir("B")));
  EXPECT_EQ(b[0].group.group_id, a[0].group.group_id);  // one group, one identity

  // Mixed mtimes: A newer for the even subbands. Each scope stays pure.
  for (int sb = 0; sb < 16; sb += 2) write(dir("A"), kT0, sb, 200);
  index(db, dir("A"));
  EXPECT_TRUE(all_under(select_groups(db, kT0 - 100, kT0 + 100, settings_, false, dir("B"))[0],
                        dir("B")));
  EXPECT_TRUE(all_under(select_groups(db, kT0 - 100, kT0 + 100, settings_, false, dir("A"))[0],
                        dir("A")));
  // A trailing separator names the same scope.
  EXPECT_TRUE(all_under(select_groups(db, kT0 - 100, kT0 + 100, settings_, false,
                                      dir("A").string() + "/")[0],
                        dir("A")));
}

TEST_F(SelectTest, GroupsWithoutFilesInTheScopeAreNotThisRunsGroups) {
  observation(dir("X"), kT0);
  observation(dir("Y"), kT0 + 3600);
  observation(dir("Y") / "deeper", kT0 + 7200);
  StateDb db(db_path());
  index(db, dir("X"));
  index(db, dir("Y"));
  index(db, dir("Y") / "deeper");
  EXPECT_EQ(select_groups(db, kT0 - 100, kT0 + 8000, settings_, false).size(), 3u);
  const auto y = select_groups(db, kT0 - 100, kT0 + 8000, settings_, false, dir("Y"));
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(y[0].group.group_id, epoch_to_iso(kT0 + 3600 + 2));
  // A directory whose name extends the scope's is not under it.
  observation(dir("Y_2"), kT0 + 3 * 3600);
  index(db, dir("Y_2"));
  EXPECT_EQ(select_groups(db, kT0 - 100, kT0 + 20000, settings_, false, dir("Y")).size(), 1u);
  EXPECT_EQ(select_groups(db, kT0 - 100, kT0 + 20000, settings_, false, dir("Y"), true).size(), 2u);
}

TEST_F(SelectTest, CompletenessIsJudgedOnTheScopesFiles) {
  observation(dir("A"), kT0);          // complete
  observation(dir("B"), kT0, 100, 10);  // sb00..sb09 only, newer
  StateDb db(db_path());
  index(db, dir("A"));
  index(db, dir("B"));
  const auto b = select_groups(db, kT0 - 100, kT0 + 100, settings_, false, dir("B"));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].decision, Decision::kSkipIncomplete);
  EXPECT_EQ(b[0].present.size(), 10u);
  EXPECT_THAT(b[0].reason, HasSubstr("10/16 subbands"));
  EXPECT_THAT(b[0].reason, HasSubstr("sb10,sb11,sb12,sb13,sb14,sb15"));
  const auto a = select_groups(db, kT0 - 100, kT0 + 100, settings_, false, dir("A"));
  EXPECT_EQ(a[0].decision, Decision::kProcess);
  EXPECT_TRUE(all_under(a[0], dir("A")));
}

// ---------------------------------------------------------------- D2: vanished files

TEST_F(SelectTest, AVanishedFileFallsBackToAPresentDuplicate) {
  observation(dir("A"), kT0, 100);  // newer: chosen while present
  observation(dir("B"), kT0, 0);
  StateDb db(db_path());
  index(db, dir("A"));
  index(db, dir("B"));
  const fs::path a_sb03 = db.files_of_group(epoch_to_iso(kT0 + 2))[3].path;
  ASSERT_EQ(fs::path(a_sb03).parent_path(), dir("A"));
  fs::rename(dir("A"), dir("A_moved"));

  // The whole index (the old call) must not hand out files that are gone.
  for (int rerun = 0; rerun < 2; ++rerun) {
    const auto s = select_groups(db, kT0 - 100, kT0 + 100, settings_, false);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].decision, Decision::kProcess) << s[0].reason;
    EXPECT_EQ(s[0].subband_files.size(), 16u);
    EXPECT_TRUE(all_under(s[0], dir("B")));
  }
  EXPECT_FALSE(db.file(a_sb03));
  EXPECT_EQ(db.count_files(), 16);
  bool event = false;
  for (const auto& e : db.events(epoch_to_iso(kT0 + 2), 200)) {
    event = event || e.message.find(a_sb03.string() + ": no longer exists") != std::string::npos;
  }
  EXPECT_TRUE(event);
}

TEST_F(SelectTest, IndexingADirectoryDropsItsVanishedFilesAndRegroups) {
  observation(dir("A"), kT0);
  observation(dir("A"), kT0 + 309);
  StateDb db(db_path());
  index(db, dir("A"));
  const auto first = epoch_to_iso(kT0 + 2);
  ASSERT_EQ(db.group(first)->n_subbands, 16);
  const fs::path sb03 = db.files_of_group(first)[3].path;
  fs::remove(sb03);
  index(db, dir("A"));
  EXPECT_FALSE(db.file(sb03));
  EXPECT_EQ(db.group(first)->n_subbands, 15);
  EXPECT_FALSE(db.group(first)->complete);
  EXPECT_THAT(db.events(first).front().message, HasSubstr("regrouped 15/16"));

  // An emptied directory leaves nothing of it in the index.
  for (const auto& e : fs::directory_iterator(dir("A"))) fs::remove(e.path());
  index(db, dir("A"));
  EXPECT_EQ(db.count_files(), 0);
  EXPECT_TRUE(db.groups_in_range(kT0 - 1000, kT0 + 1000).empty());
}

TEST_F(SelectTest, AConvertedGroupWhoseFilesAreAllGoneIsLeftAlone) {
  observation(dir("A"), kT0);
  StateDb db(db_path());
  index(db, dir("A"));
  const auto id = epoch_to_iso(kT0 + 2);
  db.set_group_state(id, state::GroupState::kConverted, "", "/ms/x.ms");
  fs::remove_all(dir("A"));  // raw data deleted after conversion
  EXPECT_TRUE(select_groups(db, kT0 - 100, kT0 + 100, settings_, false).empty());
  EXPECT_EQ(db.count_files(), 0);
  ASSERT_TRUE(db.group(id));  // kept for its products
  EXPECT_EQ(db.group(id)->state, state::GroupState::kConverted);
}

TEST_F(SelectTest, AFileChangedSinceIndexingIsPeekedAgainAtSelection) {
  observation(dir("A"), kT0);
  StateDb db(db_path());
  index(db, dir("A"));
  const fs::path sb07 = db.files_of_group(epoch_to_iso(kT0 + 2))[7].path;
  ASSERT_EQ(db.file(sb07)->ntimes, 2);
  write(dir("A"), kT0, 7, 50, 54.6, /*ntimes=*/3);  // rewritten in place
  const auto s = select_groups(db, kT0 - 100, kT0 + 100, settings_, false);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(db.file(sb07)->ntimes, 3);
}

// ---------------------------------------------------------------- D8: pointing

TEST_F(SelectTest, IndexingLeavesASubbandPointedElsewhereOutOfTheGroup) {
  for (int sb = 0; sb < 16; ++sb) write(dir("A"), kT0, sb, 0, sb == 5 ? 20.0 : 54.6);
  StateDb db(db_path());
  index(db, dir("A"));
  const auto id = epoch_to_iso(kT0 + 2);
  const auto g = db.group(id);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->n_subbands, 15);
  EXPECT_FALSE(g->complete);
  EXPECT_EQ(g->subband_mask, 0xffffu & ~(1u << 5));
  EXPECT_NEAR(*g->pointing_dec_rad, 54.6 * kDeg, 1e-12);
  const auto files = db.files_of_group(id);
  ASSERT_EQ(files.size(), 16u);
  EXPECT_EQ(files.back().subband, 5);
  EXPECT_TRUE(files.back().superseded);  // recorded with its group, not used
  EXPECT_THAT(db.events(id, 5).front().message, AllOf(HasSubstr("sb05"), HasSubstr("excluded")));
  // Default selection: the group is incomplete, not merged.
  const auto s = select_groups(db, kT0 - 100, kT0 + 100, settings_, false);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].decision, Decision::kSkipIncomplete);
  EXPECT_EQ(s[0].subband_files.size(), 15u);
}

TEST_F(SelectTest, ASubbandPointedElsewhereIsExcludedWithTheReason) {
  for (int sb = 0; sb < 16; ++sb) write(dir("A"), kT0, sb, 0, sb == 5 ? 20.0 : 54.6);
  StateDb db(db_path());
  index(db, dir("A"));
  const auto id = epoch_to_iso(kT0 + 2);

  const auto s = select_groups(db, kT0 - 100, kT0 + 100, settings_, false, dir("A"));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].decision, Decision::kSkipIncomplete);
  EXPECT_THAT(s[0].reason, HasSubstr("missing sb05"));
  EXPECT_THAT(s[0].reason, HasSubstr("sb05"));
  EXPECT_THAT(s[0].reason, HasSubstr("pointing Dec +20.0000 deg differs from the group's +54.6000"));
  ASSERT_EQ(s[0].notes.size(), 1u);

  const auto incomplete = select_groups(db, kT0 - 100, kT0 + 100, settings_, true, dir("A"));
  EXPECT_EQ(incomplete[0].decision, Decision::kProcess);
  EXPECT_EQ(incomplete[0].subband_files.size(), 15u);
  EXPECT_THAT(incomplete[0].notes.front(), HasSubstr("grouping.pointing_tolerance_deg 1"));
  EXPECT_THAT(excluded_reasons(db, id, settings_), ::testing::ElementsAre(HasSubstr("sb05")));

  // A wider tolerance takes it back in on the next index.
  settings_.pointing_tolerance_deg = 40;
  index(db, dir("A"));
  EXPECT_TRUE(db.group(id)->complete);
}

TEST(GroupingSettingsTest, PointingToleranceComesFromTheConfiguration) {
  config::LoadOptions o;
  EXPECT_EQ(GroupingSettings::from_config(config::Config::load(o)).pointing_tolerance_deg, 1.0);
  o.overrides = {{"grouping.pointing_tolerance_deg", "2.5", "--set"}};
  EXPECT_EQ(GroupingSettings::from_config(config::Config::load(o)).pointing_tolerance_deg, 2.5);
  for (const char* bad : {"0", "-1", "181"}) {
    o.overrides = {{"grouping.pointing_tolerance_deg", bad, "--set"}};
    try {
      GroupingSettings::from_config(config::Config::load(o));
      ADD_FAILURE() << bad << " accepted";
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr("grouping.pointing_tolerance_deg")) << bad;
    }
  }
}

}  // namespace
}  // namespace contimg::grouping
