#include "grouping/grouping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numbers>
#include <random>

#include "common/error.h"
#include "grouping/subband_name.h"
#include "grouping/utc_time.h"

namespace contimg::grouping {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::int64_t kT0 = 1735711200;  // 2025-01-01T06:00:00

// ---------------------------------------------------------------- names

TEST(SubbandName, ParsesTheDsa110Pattern) {
  const auto p = parse_subband_name("2025-01-01T06:00:00_sb07.hdf5");
  ASSERT_TRUE(p) << p.error;
  EXPECT_EQ(p.name->timestamp, "2025-01-01T06:00:00");
  EXPECT_EQ(p.name->epoch, kT0);
  EXPECT_EQ(p.name->subband, 7);
  EXPECT_EQ(parse_subband_name("2024-02-29T23:59:59_sb15.hdf5").name->subband, 15);
  EXPECT_EQ(parse_subband_name("1970-01-01T00:00:00_sb00.hdf5").name->epoch, 0);
  EXPECT_EQ(subband_file_name("2025-01-01T06:00:00", 3), "2025-01-01T06:00:00_sb03.hdf5");
}

TEST(SubbandName, RejectsOddNamesWithTheReason) {
  for (const char* bad : {"2025-01-01T06:00:00_sb7.hdf5", "2025-01-01T06:00:00_sb007.hdf5",
                          "2025-01-01 06:00:00_sb07.hdf5", "2025-01-01T06:00:00_sb07.h5",
                          "2025-01-01T06:00:00_sb07.hdf5.tmp", "x2025-01-01T06:00:00_sb07.hdf5",
                          "2025-01-01T06:00_sb07.hdf5", "2025-1-01T06:00:00_sb07.hdf5",
                          "2025-01-01T06:00:00_SB07.hdf5", "2025-01-01T06:00:00-sb07.hdf5",
                          "2025-01-01T06:00:00_sbxx.hdf5", ""}) {
    const auto p = parse_subband_name(bad);
    EXPECT_FALSE(p) << bad;
    EXPECT_THAT(p.error, HasSubstr("not a subband file name")) << bad;
  }
  const auto sb16 = parse_subband_name("2025-01-01T06:00:00_sb16.hdf5");
  EXPECT_FALSE(sb16);
  EXPECT_THAT(sb16.error, HasSubstr("subband code 16 out of range 00..15"));
  EXPECT_THAT(sb16.error, HasSubstr("2025-01-01T06:00:00_sb16.hdf5"));
  EXPECT_THAT(parse_subband_name("2025-02-29T06:00:00_sb00.hdf5").error,
              HasSubstr("invalid date 2025-02-29"));
  EXPECT_THAT(parse_subband_name("2025-13-01T06:00:00_sb00.hdf5").error, HasSubstr("invalid date"));
  EXPECT_THAT(parse_subband_name("2025-01-00T06:00:00_sb00.hdf5").error, HasSubstr("invalid date"));
  EXPECT_THAT(parse_subband_name("2025-01-01T24:00:00_sb00.hdf5").error,
              HasSubstr("invalid time of day 24:00:00"));
  EXPECT_THAT(parse_subband_name("2016-12-31T23:59:60_sb00.hdf5").error,
              HasSubstr("invalid time of day"));
}

TEST(SubbandName, ScanCandidatesAreSbHdf5FilesNotHidden) {
  EXPECT_TRUE(is_subband_candidate("2025-01-01T06:00:00_sb00.hdf5"));
  EXPECT_TRUE(is_subband_candidate("junk_sb99.hdf5"));  // offered, then rejected with a reason
  EXPECT_FALSE(is_subband_candidate(".2025-01-01T06:00:00_sb00.hdf5"));
  EXPECT_FALSE(is_subband_candidate("2025-01-01T06:00:00_sb00.hdf5.part"));
  EXPECT_FALSE(is_subband_candidate("calibrator.hdf5"));
}

TEST(UtcTime, FormatsAndParsesRangeBounds) {
  EXPECT_EQ(epoch_to_iso(kT0), "2025-01-01T06:00:00");
  EXPECT_EQ(epoch_to_iso(0), "1970-01-01T00:00:00");
  EXPECT_DOUBLE_EQ(epoch_to_mjd(kT0), 60676.25);
  EXPECT_EQ(parse_utc("2025-01-01T06:00:00", false), kT0);
  EXPECT_EQ(parse_utc("2025-01-01 06:00:00Z", false), kT0);
  EXPECT_EQ(parse_utc("2025-01-01T06:00:00.999", true), kT0);
  EXPECT_EQ(parse_utc("2025-01-01T06:00", false), kT0);
  EXPECT_EQ(parse_utc("2025-01-01T06:00", true), kT0 + 59);
  EXPECT_EQ(parse_utc("2025-01-01", false), kT0 - 6 * 3600);
  EXPECT_EQ(parse_utc("2025-01-01", true), kT0 + 18 * 3600 - 1);
  std::string why;
  EXPECT_FALSE(parse_utc("yesterday", false, &why));
  EXPECT_THAT(why, HasSubstr("yesterday"));
  EXPECT_FALSE(parse_utc("2025-02-30", false, &why));
  EXPECT_THAT(why, HasSubstr("invalid date"));
  EXPECT_FALSE(parse_utc("2025-01-01T06:00:00junk", false));
  EXPECT_FALSE(parse_utc("2025-01-01T6:00", false));
}

// ---------------------------------------------------------------- grouping

GroupInput file(std::int64_t epoch, int sb, std::int64_t mtime = 0, std::string dir = "/in") {
  GroupInput f;
  f.name.epoch = epoch;
  f.name.timestamp = epoch_to_iso(epoch);
  f.name.subband = sb;
  f.path = dir + "/" + subband_file_name(f.name.timestamp, sb);
  f.mtime_ns = mtime;
  return f;
}

// The 16 subbands of one observation, each stamped by its own node.
std::vector<GroupInput> observation(std::int64_t t0, const std::vector<int>& offsets) {
  std::vector<GroupInput> out;
  for (int sb = 0; sb < 16; ++sb) out.push_back(file(t0 + offsets[static_cast<std::size_t>(sb)], sb));
  return out;
}

std::vector<std::string> paths_of(const Group& g, const std::vector<GroupInput>& in) {
  std::vector<std::string> out;
  for (auto m : g.members) out.push_back(in[m].path);
  return out;
}

const std::vector<int> kJitter = {2, -3, 0, 1, 4, -1, 3, 0, -2, 5, 1, 0, -3, 2, 4, -1};

TEST(GroupFiles, JitteredObservationIsOneCompleteGroupNamedBySb00) {
  const auto in = observation(kT0, kJitter);
  const auto groups = group_files(in);
  ASSERT_EQ(groups.size(), 1u);
  const auto& g = groups[0];
  EXPECT_EQ(g.id, epoch_to_iso(kT0 + 2));  // sb00's stamp, not the earliest (kT0 - 3)
  EXPECT_EQ(g.id_epoch, kT0 + 2);
  EXPECT_EQ(g.first_epoch, kT0 - 3);
  EXPECT_EQ(g.last_epoch, kT0 + 5);
  EXPECT_TRUE(g.complete);
  EXPECT_EQ(g.n_subbands(), 16);
  EXPECT_EQ(g.subband_mask, 0xffffu);
  EXPECT_THAT(g.missing, IsEmpty());
  EXPECT_THAT(g.duplicates, IsEmpty());
  for (std::size_t k = 0; k < 16; ++k) EXPECT_EQ(in[g.members[k]].name.subband, static_cast<int>(k));
}

TEST(GroupFiles, WithoutSb00TheIdIsTheEarliestFile) {
  auto in = observation(kT0, kJitter);
  in.erase(in.begin());  // no sb00
  const auto groups = group_files(in);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_EQ(groups[0].id, epoch_to_iso(kT0 - 3));
  EXPECT_FALSE(groups[0].complete);
  EXPECT_THAT(groups[0].missing, ElementsAre(0));
  EXPECT_EQ(groups[0].n_subbands(), 15);
}

TEST(GroupFiles, DuplicateSubbandKeepsTheNewestFile) {
  auto in = observation(kT0, std::vector<int>(16, 0));
  // A rewritten sb05 stamped 2 s earlier but written later (newer mtime), and
  // a stale sb09 copy stamped later but older on disk.
  in.push_back(file(kT0 - 2, 5, /*mtime=*/100, "/in/rewrite"));
  in.push_back(file(kT0 + 3, 9, /*mtime=*/-5, "/in/stale"));
  const auto groups = group_files(in);
  ASSERT_EQ(groups.size(), 1u);
  const auto& g = groups[0];
  EXPECT_TRUE(g.complete);
  EXPECT_EQ(g.members.size(), 16u);
  EXPECT_EQ(in[g.members[5]].path, "/in/rewrite/" + subband_file_name(epoch_to_iso(kT0 - 2), 5));
  EXPECT_EQ(in[g.members[9]].path, "/in/" + subband_file_name(epoch_to_iso(kT0), 9));
  ASSERT_EQ(g.duplicates.size(), 2u);
  EXPECT_EQ(g.duplicates[0].subband, 5);
  EXPECT_EQ(in[g.duplicates[0].dropped].path, "/in/" + subband_file_name(epoch_to_iso(kT0), 5));
  EXPECT_EQ(g.duplicates[0].kept, g.members[5]);
  EXPECT_EQ(g.duplicates[1].subband, 9);
  EXPECT_THAT(in[g.duplicates[1].dropped].path, HasSubstr("/in/stale/"));
}

TEST(GroupFiles, ObservationsAFullCadenceApartNeverMerge) {
  auto in = observation(kT0, kJitter);
  const auto next = observation(kT0 + 309, kJitter);
  in.insert(in.end(), next.begin(), next.end());
  const auto groups = group_files(in);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].id, epoch_to_iso(kT0 + 2));
  EXPECT_EQ(groups[1].id, epoch_to_iso(kT0 + 309 + 2));
  EXPECT_TRUE(groups[0].complete);
  EXPECT_TRUE(groups[1].complete);
  // Even with the widest tolerance the rule allows before 309 s.
  EXPECT_EQ(group_files(in, 300.0).size(), 2u);
}

TEST(GroupFiles, TheWindowIsAnchoredAtTheFirstFileNotChained) {
  // 60 s after the first file is in; 61 s is a new group.
  std::vector<GroupInput> in = {file(kT0, 1), file(kT0 + 60, 2), file(kT0 + 61, 3)};
  auto groups = group_files(in);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_THAT(groups[0].present, ElementsAre(1, 2));
  EXPECT_THAT(groups[1].present, ElementsAre(3));
  EXPECT_EQ(groups[1].id, epoch_to_iso(kT0 + 61));
  // 0, 50, 100: each within 60 s of the previous, but 100 is 100 s from the
  // first file: two groups (the rule does not chain).
  in = {file(kT0, 0), file(kT0 + 50, 1), file(kT0 + 100, 2)};
  groups = group_files(in);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_THAT(groups[0].present, ElementsAre(0, 1));
  EXPECT_THAT(groups[1].present, ElementsAre(2));
}

TEST(GroupFiles, ALateFileOfAnObservationStartsItsOwnGroup) {
  auto in = observation(kT0, std::vector<int>(16, 0));
  in[12] = file(kT0 + 61, 12);  // its node stamped it 61 s late
  const auto groups = group_files(in);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_FALSE(groups[0].complete);
  EXPECT_THAT(groups[0].missing, ElementsAre(12));
  EXPECT_EQ(groups[1].id, epoch_to_iso(kT0 + 61));
  EXPECT_THAT(groups[1].present, ElementsAre(12));
}

TEST(GroupFiles, IncompleteGroupListsPresentAndMissing) {
  auto in = observation(kT0, kJitter);
  std::vector<GroupInput> some;
  for (const auto& f : in) {
    if (f.name.subband != 3 && f.name.subband != 11 && f.name.subband != 15) some.push_back(f);
  }
  const auto groups = group_files(some);
  ASSERT_EQ(groups.size(), 1u);
  EXPECT_FALSE(groups[0].complete);
  EXPECT_EQ(groups[0].n_subbands(), 13);
  EXPECT_THAT(groups[0].missing, ElementsAre(3, 11, 15));
  EXPECT_EQ(format_subbands(groups[0].missing), "sb03,sb11,sb15");
  EXPECT_EQ(groups[0].subband_mask, 0xffffu & ~((1u << 3) | (1u << 11) | (1u << 15)));
  // With 8 expected subbands (a test rig), sb11 and sb15 are extras, not missing.
  const auto eight = group_files(some, 60.0, 8);
  EXPECT_THAT(eight[0].missing, ElementsAre(3));
}

TEST(GroupFiles, ResultDoesNotDependOnInputOrder) {
  auto in = observation(kT0, kJitter);
  const auto b = observation(kT0 + 309, kJitter);
  in.insert(in.end(), b.begin(), b.end());
  in.push_back(file(kT0 + 1, 4, 0, "/copy"));  // a duplicate with an mtime tie
  const auto ref = group_files(in);
  std::mt19937 rng(42);
  for (int trial = 0; trial < 20; ++trial) {
    auto shuffled = in;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const auto got = group_files(shuffled);
    ASSERT_EQ(got.size(), ref.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].id, ref[i].id);
      EXPECT_EQ(paths_of(got[i], shuffled), paths_of(ref[i], in));
      ASSERT_EQ(got[i].duplicates.size(), ref[i].duplicates.size());
    }
  }
}

TEST(GroupFiles, EmptyInputAndBadSettings) {
  EXPECT_TRUE(group_files({}).empty());
  const auto in = observation(kT0, kJitter);
  EXPECT_THROW(group_files(in, -1.0), ConfigError);
  EXPECT_THROW(group_files(in, 60.0, 17), ConfigError);
  EXPECT_THROW(group_files(in, 60.0, 0), ConfigError);
  // Tolerance 0: only identical stamps group together.
  EXPECT_EQ(group_files(in, 0.0).size(), 9u);  // distinct offsets in kJitter
}

// ---------------------------------------------------------------- pointing (issue 11 D8)

std::vector<GroupInput> pointed(std::vector<GroupInput> in, double dec_deg) {
  for (auto& f : in) f.pointing_dec_rad = dec_deg * std::numbers::pi / 180;
  return in;
}

TEST(GroupFiles, ASubbandPointedElsewhereIsExcludedWithTheReason) {
  auto in = pointed(observation(kT0, kJitter), 54.6);
  in[5].pointing_dec_rad = 20.0 * std::numbers::pi / 180;
  const auto groups = group_files(in);
  ASSERT_EQ(groups.size(), 1u);  // it takes part in no other group either
  const auto& g = groups[0];
  EXPECT_FALSE(g.complete);
  EXPECT_THAT(g.missing, ElementsAre(5));
  EXPECT_THAT(g.duplicates, IsEmpty());
  ASSERT_EQ(g.excluded.size(), 1u);
  EXPECT_EQ(g.excluded[0].file, 5u);
  EXPECT_EQ(g.excluded[0].subband, 5);
  EXPECT_THAT(g.excluded[0].reason,
              AllOf(HasSubstr("sb05 " + in[5].path + " excluded"),
                    HasSubstr("pointing Dec +20.0000 deg differs from the group's +54.6000 deg by "
                              "34.6000 deg (> grouping.pointing_tolerance_deg 1)")));
  EXPECT_NEAR(*g.pointing_dec_rad, 54.6 * std::numbers::pi / 180, 1e-12);
  // Within the tolerance it joins; a wider tolerance takes the stray one in.
  in[5].pointing_dec_rad = 55.5 * std::numbers::pi / 180;
  EXPECT_TRUE(group_files(in)[0].complete);
  in[5].pointing_dec_rad = 20.0 * std::numbers::pi / 180;
  EXPECT_TRUE(group_files(in, 60.0, 16, 40.0)[0].complete);
}

TEST(GroupFiles, AnAgreeingDuplicateWinsOverANewerStrayOne) {
  auto in = pointed(observation(kT0, std::vector<int>(16, 0)), 54.6);
  in.push_back(file(kT0, 9, /*mtime=*/100, "/elsewhere"));  // newer, pointed at Dec 20
  in.back().pointing_dec_rad = 20.0 * std::numbers::pi / 180;
  const auto g = group_files(in)[0];
  EXPECT_TRUE(g.complete);
  EXPECT_EQ(in[g.members[9]].path, "/in/" + subband_file_name(epoch_to_iso(kT0), 9));
  EXPECT_THAT(g.duplicates, IsEmpty());
  ASSERT_EQ(g.excluded.size(), 1u);
  EXPECT_EQ(g.excluded[0].file, 16u);
}

TEST(GroupFiles, TheMajorityPointingIsTheReferenceTiesGoToSb00) {
  auto in = pointed(observation(kT0, kJitter), 54.6);
  for (int sb = 0; sb < 6; ++sb) in[static_cast<std::size_t>(sb)].pointing_dec_rad = 0.1;
  auto g = group_files(in)[0];  // 10 against 6: the 10 win even without sb00
  EXPECT_THAT(g.missing, ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_EQ(g.excluded.size(), 6u);
  EXPECT_EQ(g.id, epoch_to_iso(kT0 - 3));  // the earliest agreeing file (sb12)
  for (int sb = 6; sb < 8; ++sb) in[static_cast<std::size_t>(sb)].pointing_dec_rad = 0.1;
  g = group_files(in)[0];  // 8 against 8: sb00's pointing
  EXPECT_THAT(g.present, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7));
  // Order does not matter, and a file of unknown Dec is never excluded.
  in[12].pointing_dec_rad.reset();
  std::mt19937 rng(7);
  for (int trial = 0; trial < 10; ++trial) {
    auto shuffled = in;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    EXPECT_THAT(group_files(shuffled)[0].present, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 12));
  }
  EXPECT_THROW(group_files(in, 60.0, 16, 0.0), ConfigError);
  EXPECT_THROW(group_files(in, 60.0, 16, 181.0), ConfigError);
}

}  // namespace
}  // namespace contimg::grouping
