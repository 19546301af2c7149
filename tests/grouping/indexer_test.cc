#include "grouping/indexer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "common/error.h"
#include "grouping/subband_name.h"
#include "grouping/utc_time.h"
#include "state/state_db.h"
#include "support/tiny_uvh5.h"

namespace contimg::grouping {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using state::FileState;
using state::GroupState;
using state::StateDb;

constexpr std::int64_t kT0 = 1735711200;  // 2025-01-01T06:00:00
const std::vector<int> kJitter = {2, -3, 0, 1, 4, -1, 3, 0, -2, 5, 1, 0, -3, 2, 4, -1};

class IndexerTest : public ::testing::Test {
 protected:
  fs::path in() const { return dir_ / "incoming"; }
  fs::path db_path() const { return dir_ / "state.sqlite3"; }

  void SetUp() override { fs::create_directories(in()); }

  // One tiny subband file, with a controlled mtime (seconds after kT0).
  fs::path write(std::int64_t epoch, int sb, int mtime_offset = 0, const fs::path& sub = {},
                 int ntimes = 2) {
    const fs::path d = sub.empty() ? in() : in() / sub;
    fs::create_directories(d);
    const fs::path p = d / subband_file_name(epoch_to_iso(epoch), sb);
    auto h = test::tiny_header(3, ntimes, 4);
    test::write_tiny(p, h);
    set_mtime(p, mtime_offset);
    return p;
  }
  static void set_mtime(const fs::path& p, int offset_s) {
    using namespace std::chrono;
    const auto t = file_clock::from_sys(sys_seconds(seconds(kT0 + offset_s)));
    fs::last_write_time(p, t);
  }
  void observation(std::int64_t t0, const std::vector<int>& subbands) {
    for (int sb : subbands) write(t0 + kJitter[static_cast<std::size_t>(sb)], sb);
  }
  static std::vector<int> all16() {
    std::vector<int> v(16);
    for (int i = 0; i < 16; ++i) v[static_cast<std::size_t>(i)] = i;
    return v;
  }

  IndexSummary run(bool recursive = false) {
    StateDb db(db_path());
    IndexOptions o;
    const auto files = scan_directory(in(), recursive);
    return index_files(db, files, o);
  }

  test::TempDir dir_;
};

TEST_F(IndexerTest, IndexesAndGroupsADirectory) {
  observation(kT0, all16());
  std::vector<int> fourteen = all16();
  fourteen.erase(fourteen.begin() + 7);
  fourteen.erase(fourteen.begin() + 2);
  observation(kT0 + 309, fourteen);
  std::ofstream(in() / "notes.txt") << "not a subband file\n";

  const auto s = run();
  EXPECT_EQ(s.scanned, 30u);
  EXPECT_EQ(s.indexed, 30u);
  EXPECT_EQ(s.unchanged, 0u);
  EXPECT_EQ(s.invalid, 0u);
  EXPECT_EQ(s.groups, 2u);
  EXPECT_EQ(s.groups_complete, 1u);
  EXPECT_EQ(s.groups_written, 2u);

  StateDb db(db_path());
  const auto groups = db.groups_in_range(kT0 - 100, kT0 + 1000);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].group_id, epoch_to_iso(kT0 + 2));  // sb00's stamp
  EXPECT_TRUE(groups[0].complete);
  EXPECT_EQ(groups[0].state, GroupState::kPending);
  ASSERT_TRUE(groups[0].pointing_dec_rad);
  EXPECT_DOUBLE_EQ(*groups[0].pointing_dec_rad, 0.9);  // from the tiny header
  ASSERT_TRUE(groups[0].time_first_mjd);
  EXPECT_NEAR(*groups[0].time_first_mjd, 60676.25, 1e-6);
  EXPECT_EQ(groups[1].group_id, epoch_to_iso(kT0 + 309 + 2));
  EXPECT_EQ(groups[1].n_subbands, 14);
  EXPECT_THAT(groups[1].present(), ::testing::Not(::testing::Contains(2)));

  const auto members = db.files_of_group(groups[0].group_id);
  ASSERT_EQ(members.size(), 16u);
  EXPECT_EQ(members[3].subband, 3);
  EXPECT_EQ(members[3].nfreqs, 4);
  EXPECT_EQ(members[3].ntimes, 2);
  EXPECT_EQ(members[3].nblts, 12);
  EXPECT_EQ(members[3].state, FileState::kIndexed);
  EXPECT_GT(members[3].size_bytes, 0);
  EXPECT_TRUE(db.events(groups[0].group_id).size() >= 1u);
}

TEST_F(IndexerTest, RerunTouchesNothingAndAModifiedFileIsPeekedAgain) {
  observation(kT0, all16());
  run();
  const auto before = StateDb(db_path()).file((in() / subband_file_name(epoch_to_iso(kT0 + 4), 4)).string());
  ASSERT_TRUE(before);

  {
    StateDb db(db_path());
    IndexOptions o;
    const auto files = scan_directory(in(), false);
    const auto s = index_files(db, files, o);
    EXPECT_EQ(s.scanned, 16u);
    EXPECT_EQ(s.unchanged, 16u);
    EXPECT_EQ(s.indexed, 0u);
    EXPECT_EQ(s.groups, 1u);
    EXPECT_EQ(s.groups_written, 0u);
    EXPECT_EQ(db.database().total_changes(), 0);  // not a row written, events included
  }
  const auto same = StateDb(db_path()).file(before->path);
  EXPECT_EQ(same->indexed_at, before->indexed_at);

  // sb04 rewritten with more integrations: size and mtime change.
  write(kT0 + 4, 4, /*mtime_offset=*/600, {}, /*ntimes=*/5);
  const auto s = run();
  EXPECT_EQ(s.indexed, 1u);
  EXPECT_EQ(s.unchanged, 15u);
  const auto after = StateDb(db_path()).file(before->path);
  EXPECT_EQ(after->ntimes, 5);
  EXPECT_EQ(after->nblts, 30);
  EXPECT_NE(after->mtime_ns, before->mtime_ns);
  EXPECT_EQ(after->group_id, epoch_to_iso(kT0 + 2));

  // Only the mtime changes (touch): re-peeked, recorded, same content.
  set_mtime(before->path, 900);
  EXPECT_EQ(run().indexed, 1u);
}

TEST_F(IndexerTest, BadFilesAreRecordedInvalidWithTheirMessage) {
  observation(kT0, all16());
  // A truncated copy of a good file, a text file, and odd names.
  const fs::path good = write(kT0 + 700, 0);
  std::ifstream src(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(src)), {});
  const fs::path truncated = in() / subband_file_name(epoch_to_iso(kT0 + 700), 1);
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  const fs::path text = in() / subband_file_name(epoch_to_iso(kT0 + 700), 2);
  std::ofstream(text) << "not hdf5\n";
  const fs::path sb16 = in() / "2025-01-01T06:11:40_sb16.hdf5";
  fs::copy_file(good, sb16);
  const fs::path bad_date = in() / "2025-02-30T06:00:00_sb03.hdf5";
  fs::copy_file(good, bad_date);

  const auto s = run();
  EXPECT_EQ(s.scanned, 21u);
  EXPECT_EQ(s.indexed, 17u);
  EXPECT_EQ(s.invalid, 4u);
  EXPECT_EQ(s.invalid_total, 4u);

  StateDb db(db_path());
  auto f = db.file(truncated.string());
  ASSERT_TRUE(f);
  EXPECT_EQ(f->state, FileState::kInvalid);
  EXPECT_THAT(f->error, AllOf(HasSubstr(truncated.string()), HasSubstr("truncated")));
  EXPECT_FALSE(f->group_id);
  EXPECT_EQ(f->subband, 1);  // the name was fine
  f = db.file(text.string());
  EXPECT_THAT(f->error, AllOf(HasSubstr(text.string()), HasSubstr("not an HDF5 file")));
  f = db.file(sb16.string());
  EXPECT_EQ(f->state, FileState::kInvalid);
  EXPECT_THAT(f->error, AllOf(HasSubstr(sb16.string()), HasSubstr("subband code 16")));
  EXPECT_FALSE(f->name_epoch);
  EXPECT_THAT(db.file(bad_date.string())->error, HasSubstr("invalid date 2025-02-30"));
  // The group of the good sb00 does not count the unreadable files.
  const auto g = db.group(epoch_to_iso(kT0 + 700));
  ASSERT_TRUE(g);
  EXPECT_EQ(g->n_subbands, 1);

  // Rerun: nothing re-read, the invalid files still reported.
  const auto again = run();
  EXPECT_EQ(again.unchanged, 21u);
  EXPECT_EQ(again.invalid, 0u);
  EXPECT_EQ(again.invalid_total, 4u);
  EXPECT_FALSE(again.invalid_files.front().is_new);

  // The truncated file is completed: valid now, and it joins the group.
  write(kT0 + 700, 1, 1000);
  const auto fixed = run();
  EXPECT_EQ(fixed.indexed, 1u);
  EXPECT_EQ(fixed.invalid_total, 3u);
  StateDb db2(db_path());
  EXPECT_EQ(db2.file(truncated.string())->state, FileState::kIndexed);
  EXPECT_EQ(db2.group(epoch_to_iso(kT0 + 700))->n_subbands, 2);
}

TEST_F(IndexerTest, LateSubbandsCompleteTheGroupAndALateSb00RenamesIt) {
  std::vector<int> some = all16();
  some.erase(some.begin());  // no sb00 yet
  some.pop_back();           // nor sb15
  observation(kT0, some);
  run();
  const std::string early_id = epoch_to_iso(kT0 - 3);  // the earliest file
  {
    StateDb db(db_path());
    ASSERT_TRUE(db.group(early_id));
    EXPECT_EQ(db.group(early_id)->n_subbands, 14);
    db.set_group_state(early_id, GroupState::kSkipped, "incomplete: 14/16");
  }
  write(kT0 + kJitter[15], 15);
  auto s = run();
  EXPECT_EQ(s.indexed, 1u);
  {
    StateDb db(db_path());
    const auto g = db.group(early_id);
    EXPECT_EQ(g->n_subbands, 15);
    EXPECT_EQ(g->state, GroupState::kSkipped);  // its life cycle is not grouping's business
  }
  write(kT0 + kJitter[0], 0);
  s = run();
  EXPECT_EQ(s.groups, 1u);
  EXPECT_EQ(s.groups_removed, 1u);
  StateDb db(db_path());
  EXPECT_FALSE(db.group(early_id));
  const auto g = db.group(epoch_to_iso(kT0 + 2));
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->complete);
  EXPECT_EQ(db.files_of_group(g->group_id).size(), 16u);
  EXPECT_THAT(db.events(early_id).front().message, HasSubstr("group removed"));
}

TEST_F(IndexerTest, DuplicateInASubdirectoryIsSupersededByTheNewest) {
  observation(kT0, all16());
  // A later copy of sb06 (newer mtime) in a subdirectory: used instead.
  const fs::path copy = write(kT0 + 1, 6, /*mtime_offset=*/300, "resent");
  auto s = run(/*recursive=*/false);
  EXPECT_EQ(s.scanned, 16u);
  EXPECT_EQ(s.duplicates, 0u);
  s = run(/*recursive=*/true);
  EXPECT_EQ(s.scanned, 17u);
  EXPECT_EQ(s.indexed, 1u);
  EXPECT_EQ(s.duplicates, 1u);
  StateDb db(db_path());
  const auto id = epoch_to_iso(kT0 + 2);
  const auto files = db.files_of_group(id);
  ASSERT_EQ(files.size(), 17u);
  EXPECT_EQ(files[6].path, copy.string());
  EXPECT_FALSE(files[6].superseded);
  EXPECT_TRUE(files.back().superseded);
  EXPECT_EQ(files.back().subband, 6);
  EXPECT_EQ(db.group(id)->n_duplicates, 1);
  EXPECT_THAT(db.events(id).front().message, HasSubstr("duplicate sb06"));
  // Warned once: a rerun writes nothing.
  const auto events = db.events(id).size();
  run(true);
  EXPECT_EQ(StateDb(db_path()).events(id).size(), events);
}

TEST_F(IndexerTest, ConvertedGroupIsKeptWhenItsFilesRegroup) {
  observation(kT0, all16());
  IndexOptions o;
  {
    StateDb db(db_path());
    o.tolerance_s = 2;  // splits the jittered observation
    index_files(db, scan_directory(in(), false), o);
    const auto groups = db.groups_in_range(kT0 - 100, kT0 + 100);
    ASSERT_GT(groups.size(), 1u);
    db.set_group_state(groups[0].group_id, GroupState::kConverted, "", "/ms/a.ms");
  }
  StateDb db(db_path());
  o.tolerance_s = 60;
  const auto s = index_files(db, scan_directory(in(), false), o);
  EXPECT_EQ(s.unchanged, 16u);
  EXPECT_EQ(s.groups, 1u);
  const auto groups = db.groups_in_range(kT0 - 100, kT0 + 100);
  bool kept_converted = false;
  for (const auto& g : groups) {
    if (g.state == GroupState::kConverted) {
      kept_converted = true;
      EXPECT_THAT(db.events(g.group_id).front().message, HasSubstr("group differently"));
    }
  }
  EXPECT_TRUE(kept_converted);
  EXPECT_TRUE(db.group(epoch_to_iso(kT0 + 2))->complete);
}

TEST_F(IndexerTest, ForgetVanishedDropsMissingFilesUnderTheDirectoryOnly) {
  observation(kT0, all16());
  const fs::path deep = write(kT0 + 1, 6, 300, "resent");  // a newer sb06 one level down
  {
    StateDb db(db_path());
    index_files(db, scan_directory(in(), true), IndexOptions{});
  }
  const auto id = epoch_to_iso(kT0 + 2);
  StateDb db(db_path());
  ASSERT_EQ(db.files_of_group(id)[6].path, deep.string());
  fs::remove(deep);
  fs::remove(in() / subband_file_name(epoch_to_iso(kT0 + 4), 4));
  IndexSummary s;
  forget_vanished(db, dir_ / "elsewhere", IndexOptions{}, s);
  EXPECT_EQ(s.removed, 0u);
  forget_vanished(db, in(), IndexOptions{}, s);
  EXPECT_EQ(s.removed, 2u);
  EXPECT_EQ(db.count_files(), 15);
  // sb06 falls back to the duplicate that is still there; sb04 is missing.
  const auto g = db.group(id);
  EXPECT_EQ(g->n_subbands, 15);
  EXPECT_EQ(g->n_duplicates, 0);
  const auto files = db.files_of_group(id);
  ASSERT_EQ(files.size(), 15u);
  EXPECT_EQ(files[5].path, (in() / subband_file_name(epoch_to_iso(kT0 + 3), 6)).string());
  EXPECT_FALSE(files[5].superseded);
  EXPECT_THAT(db.events(id, 3)[1].message, HasSubstr(": no longer exists; removed from the index"));
  EXPECT_EQ(check_on_disk(files[0]), OnDisk::kUnchanged);
  auto changed = files[0];
  changed.size_bytes += 1;
  EXPECT_EQ(check_on_disk(changed), OnDisk::kChanged);
  changed.path += ".gone";
  EXPECT_EQ(check_on_disk(changed), OnDisk::kVanished);
}

TEST_F(IndexerTest, ScanFindsOnlySubbandCandidates) {
  write(kT0, 0);
  write(kT0, 1, 0, "deeper");
  std::ofstream(in() / ".2025-01-01T06:00:00_sb02.hdf5") << "partial";
  std::ofstream(in() / "2025-01-01T06:00:00_sb03.hdf5.tmp") << "partial";
  EXPECT_EQ(scan_directory(in(), false).size(), 1u);
  const auto all = scan_directory(in(), true);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_TRUE(all[0].is_absolute());
  EXPECT_THROW(scan_directory(in() / "missing", false), IoError);
}

}  // namespace
}  // namespace contimg::grouping
