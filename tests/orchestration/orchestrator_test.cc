#include "orchestration/orchestrator.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <future>
#include <thread>

#include "calibration/calset_history.h"
#include "common/error.h"
#include "orchestration/provenance.h"
#include "state/jobs.h"
#include "state/records.h"
#include "state/state_db.h"
#include "support/backends.h"
#include "support/tiny_uvh5.h"

namespace contimg::orchestration {
namespace {

namespace fs = std::filesystem;
using pipeline::Context;
using pipeline::Outcome;

// A stage that writes one directory product <out>/<group>.prod/ with a data
// file, counting its executions; can fail or block on request.
class DirStage : public pipeline::Stage {
 public:
  DirStage(std::string name, fs::path out, int& executions)
      : name_(std::move(name)), out_(std::move(out)), executions_(executions) {}
  std::string name() const override { return name_; }
  bool is_done(const Context& ctx) const override { return fs::exists(path(ctx)); }
  Context execute(const Context& ctx) override {
    ++executions_;
    if (block_ms) std::this_thread::sleep_for(std::chrono::milliseconds(block_ms));
    if (fail_with_io) throw IoError(path(ctx).string() + ": No space left on device");
    fs::create_directories(path(ctx));
    std::ofstream(path(ctx) / "data") << name_ << " of " << ctx.group_id();
    return ctx.with_output(name_ + ".path", path(ctx).string());
  }
  std::vector<pipeline::ProductRef> planned_products(const Context& ctx) const override {
    return {{path(ctx), "test"}};
  }
  std::vector<std::string> config_prefixes() const override { return {"imaging."}; }

  bool fail_with_io = false;
  int block_ms = 0;

 private:
  fs::path path(const Context& ctx) const { return out_ / (ctx.group_id() + "." + name_); }
  std::string name_;
  fs::path out_;
  int& executions_;
};

// On both state backends (SQLite, PostgreSQL: support/backends.h).
class OrchestratorTest : public test::BackendTest {
 protected:
  void SetUp() override {
    test::BackendTest::SetUp();
    if (IsSkipped()) return;
    out = tmp.path() / "out";
    fs::create_directories(out);
    db_path = target("state.sqlite3");
    state::StateDb db(db_path);
    state::GroupRecord g;
    g.group_id = "2025-01-01T00:00:00";
    g.created_at = g.updated_at = "2025-01-01T00:00:00.000Z";
    db.upsert_group(g);
  }
  std::shared_ptr<const config::Config> config(const std::string& pb_cutoff = "0.1") {
    return std::make_shared<const config::Config>(
        config::Config::defaults()
            .with_override({"paths.scratch_dir", (tmp.path() / "scratch").string(), "test"})
            .with_override({"imaging.pb_cutoff", pb_cutoff, "test"}));
  }
  OrchestratorSettings fast() {
    OrchestratorSettings s;
    s.lease_s = 10;  // longer than any test's stage, even on a loaded machine
    s.heartbeat_s = 0.5;
    s.wait_poll_s = 0.05;
    return s;
  }
  pipeline::RunReport run_once(int& executions, const std::string& pb = "0.1", bool fail = false) {
    state::StateDb db(db_path);
    Orchestrator orch(db, out, fast(), nullptr);
    std::vector<std::unique_ptr<pipeline::Stage>> stages;
    auto s = std::make_unique<DirStage>("stageA", out, executions);
    s->fail_with_io = fail;
    stages.push_back(std::move(s));
    return orch.run(stages, Context(config(pb), "2025-01-01T00:00:00"), Segment{});
  }
  fs::path product() const { return out / "2025-01-01T00:00:00.stageA"; }

  test::TempDir tmp;
  fs::path out, db_path;
};

INSTANTIATE_TEST_SUITE_P(Backends, OrchestratorTest, CONTIMG_BOTH_BACKENDS);

TEST_P(OrchestratorTest, ADoneJobIsSkippedAndItsProductCarriesItsRecord) {
  int n = 0;
  EXPECT_TRUE(run_once(n).ok);
  EXPECT_EQ(n, 1);
  const auto second = run_once(n);
  EXPECT_TRUE(second.ok);
  EXPECT_EQ(second.stages.front().outcome, Outcome::kSkipped);
  EXPECT_EQ(n, 1);
  state::StateDb db(db_path);
  state::JobStore jobs(db.database());
  const auto rec = jobs.product(product().string());
  ASSERT_TRUE(rec);
  ASSERT_TRUE(rec->token);
  EXPECT_TRUE(fs::exists(product() / kTokenFile));
  const auto job = jobs.get({"2025-01-01T00:00:00", "stageA", fs::absolute(out).string()});
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, state::JobState::kDone);
  EXPECT_EQ(job->attempt, 1);
  EXPECT_EQ(db.group("2025-01-01T00:00:00")->state, state::GroupState::kProcessed);
  EXPECT_EQ(db.group("2025-01-01T00:00:00")->attempts, 1);
}

// A stage whose product is one file (<out>/<group>.fits), with a set mtime.
class FileStage : public pipeline::Stage {
 public:
  explicit FileStage(fs::path out) : out_(std::move(out)) {}
  std::string name() const override { return "fileA"; }
  bool is_done(const Context& ctx) const override { return fs::exists(path(ctx)); }
  Context execute(const Context& ctx) override {
    std::ofstream(path(ctx)) << "pixels";
    return ctx;
  }
  std::vector<pipeline::ProductRef> planned_products(const Context& ctx) const override {
    return {{path(ctx), "image"}};
  }
  fs::path path(const Context& ctx) const { return out_ / (ctx.group_id() + ".fits"); }

 private:
  fs::path out_;
};

// A file product's mtime_ns is Unix nanoseconds, as stat(2) and every reader of
// the products table count (it was libstdc++'s file-clock count, epoch 2174:
// negative numbers that match nothing outside contimg).
TEST_P(OrchestratorTest, AFileProductIsRecordedWithItsUnixMtime) {
  state::StateDb db(db_path);
  Orchestrator orch(db, out, fast(), nullptr);
  std::vector<std::unique_ptr<pipeline::Stage>> stages;
  stages.push_back(std::make_unique<FileStage>(out));
  ASSERT_TRUE(orch.run(stages, Context(config(), "2025-01-01T00:00:00"), Segment{}).ok);
  const fs::path file = out / "2025-01-01T00:00:00.fits";
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  const auto rec =
      state::JobStore(db.database()).product(fs::absolute(file).lexically_normal().string());
  ASSERT_TRUE(rec);
  ASSERT_TRUE(rec->mtime_ns);
  EXPECT_EQ(*rec->mtime_ns,
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec);
  EXPECT_EQ(*rec->size_bytes, 6);
}

TEST(Provenance, MtimeAndDescribeFilesUseUnixNanoseconds) {
  test::TempDir tmp;
  const fs::path f = tmp.path() / "x_sb00.hdf5";
  std::ofstream(f) << "abc";
  const timespec times[2] = {{1742445462, 123456789}, {1742445462, 123456789}};  // 2025-03-20
  ASSERT_EQ(::utimensat(AT_FDCWD, f.c_str(), times, 0), 0);
  ASSERT_TRUE(stamp_of(f));
  EXPECT_EQ(stamp_of(f)->mtime_ns, 1742445462123456789LL);
  const auto j = describe_files({{0, f.string()}});
  EXPECT_EQ(j.at(0).at("mtime_ns").get<std::int64_t>(), 1742445462123456789LL);
  EXPECT_EQ(j.at(0).at("size").get<std::int64_t>(), 3);
  EXPECT_FALSE(stamp_of(tmp.path() / "missing"));
}

TEST_P(OrchestratorTest, AChangedSettingThatMattersRedoesTheStage) {
  int n = 0;
  run_once(n, "0.1");
  run_once(n, "0.2");
  EXPECT_EQ(n, 2);
}

// D7: a directory at the product path that the database never registered is
// not trusted: moved aside, and the stage runs.
TEST_P(OrchestratorTest, AJunkDirectoryAtTheProductPathIsMovedAsideNotTrusted) {
  fs::create_directories(product());
  std::ofstream(product() / "junk") << "not a product";
  int n = 0;
  const auto r = run_once(n);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(n, 1);
  EXPECT_FALSE(fs::exists(product() / "junk"));
  bool found = false;
  for (const auto& e : fs::recursive_directory_iterator(out / "untrusted")) {
    found |= e.path().filename() == "junk";
  }
  EXPECT_TRUE(found);
}

// D7: a registered product replaced by a copy of another one (another token)
// is not the registered product: the stage is redone.
TEST_P(OrchestratorTest, AProductReplacedByACopyIsRedone) {
  int n = 0;
  run_once(n);
  const fs::path other = tmp.path() / "elsewhere";
  fs::create_directories(other);
  std::ofstream(other / "data") << "someone else's";
  std::ofstream(other / kTokenFile) << R"({"token": "0000"})";
  fs::remove_all(product());
  fs::copy(other, product(), fs::copy_options::recursive);
  run_once(n);
  EXPECT_EQ(n, 2);
  std::ifstream in(product() / "data");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "stageA of 2025-01-01T00:00:00");
}

// A failure reaches the job and the group, with its kind; a rerun retries it.
TEST_P(OrchestratorTest, AFailureReachesJobAndGroupAndARerunCompletes) {
  int n = 0;
  const auto r = run_once(n, "0.1", /*fail=*/true);
  EXPECT_FALSE(r.ok);
  {
    state::StateDb db(db_path);
    const auto g = db.group("2025-01-01T00:00:00");
    EXPECT_EQ(g->state, state::GroupState::kFailed);
    EXPECT_NE(g->reason.find("stageA: "), std::string::npos) << g->reason;
    EXPECT_NE(g->reason.find("No space left"), std::string::npos) << g->reason;
    const auto job = state::JobStore(db.database())
                         .get({"2025-01-01T00:00:00", "stageA", fs::absolute(out).string()});
    EXPECT_EQ(job->state, state::JobState::kFailed);
    EXPECT_EQ(job->error_kind, state::ErrorKind::kIo);
  }
  EXPECT_TRUE(run_once(n).ok);
  state::StateDb db(db_path);
  EXPECT_EQ(db.group("2025-01-01T00:00:00")->state, state::GroupState::kProcessed);
  EXPECT_EQ(db.group("2025-01-01T00:00:00")->attempts, 2);
}

// A job left running by a process that is gone is taken over at once, and
// what that attempt left at the product path is removed, not moved aside.
TEST_P(OrchestratorTest, AJobOfADeadHolderIsTakenOverAndItsPartialProductRemoved) {
  {
    state::StateDb db(db_path);
    state::JobStore jobs(db.database());
    // A holder on this host whose pid cannot exist.
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    const std::string dead = std::string(host) + ":999999999:1";
    const auto c = jobs.claim({"2025-01-01T00:00:00", "stageA", fs::absolute(out).string()}, dead,
                              3600, [](const std::string&) { return true; });
    ASSERT_TRUE(c.claimed);
    EXPECT_FALSE(holder_alive(dead));
  }
  fs::create_directories(product());
  std::ofstream(product() / "half") << "half-written";
  int n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(run_once(n).ok);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));  // no lease wait
  EXPECT_EQ(n, 1);
  EXPECT_FALSE(fs::exists(product() / "half"));
  EXPECT_FALSE(fs::exists(out / "untrusted"));
}

// A redo of a done job (a setting changed) killed after it replaced the
// product and before it registered the new one: the path holds that dead
// attempt's output (no token, or not the recorded one). It is removed and
// redone, not moved aside to untrusted/ as if someone else had put it there.
TEST_P(OrchestratorTest, ADeadRedoAttemptsUnregisteredProductIsRemovedNotMovedAside) {
  int n = 0;
  ASSERT_TRUE(run_once(n).ok);
  {
    state::StateDb db(db_path);
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    const std::string dead = std::string(host) + ":999999999:1";
    ASSERT_TRUE(state::JobStore(db.database())
                    .claim({"2025-01-01T00:00:00", "stageA", fs::absolute(out).string()}, dead,
                           3600, [](const std::string&) { return true; })
                    .claimed);
  }
  fs::remove_all(product());  // the dead attempt's new product, not yet registered
  fs::create_directories(product());
  std::ofstream(product() / "data") << "half of the redo";
  ASSERT_TRUE(run_once(n, "0.2").ok);
  EXPECT_EQ(n, 2);
  EXPECT_FALSE(fs::exists(out / "untrusted"));
  std::ifstream in(product() / "data");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "stageA of 2025-01-01T00:00:00");
}

// A run that waited while the holder died takes the job over and removes the
// dead holder's temporaries: its own start-up sweep ran while they were alive
// (they were left in scratch and products/<group>/ after the run finished).
TEST_P(OrchestratorTest, ATakeoverSweepsTheDeadHoldersTemporaries) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  {
    state::StateDb db(db_path);
    const std::string dead = std::string(host) + ":999999999:1";
    ASSERT_TRUE(state::JobStore(db.database())
                    .claim({"2025-01-01T00:00:00", "stageA", fs::absolute(out).string()}, dead,
                           3600, [](const std::string&) { return true; })
                    .claimed);
  }
  const fs::path scratch = tmp.path() / "scratch";
  const fs::path stale = scratch / (std::string(".contimg-tmp-999999999-0f0f-image@") + host);
  fs::create_directories(stale);
  std::ofstream(stale / "imaging.ms") << "half";
  state::StateDb db(db_path);
  OrchestratorSettings settings = fast();
  settings.temporary_roots = {scratch};
  Orchestrator orch(db, out, settings, nullptr);
  int n = 0;
  std::vector<std::unique_ptr<pipeline::Stage>> stages;
  stages.push_back(std::make_unique<DirStage>("stageA", out, n));
  EXPECT_TRUE(orch.run(stages, Context(config(), "2025-01-01T00:00:00"), Segment{}).ok);
  EXPECT_EQ(n, 1);
  EXPECT_FALSE(fs::exists(stale));
}

// Two orchestrators on the same job: the second waits for the first and then
// finds the product done: made once.
TEST_P(OrchestratorTest, TwoRunsOnTheSameJobMakeTheProductOnce) {
  int n = 0;
  auto one = [&](int block) {
    state::StateDb db(db_path);
    Orchestrator orch(db, out, fast(), nullptr);
    std::vector<std::unique_ptr<pipeline::Stage>> stages;
    auto s = std::make_unique<DirStage>("stageA", out, n);
    s->block_ms = block;
    stages.push_back(std::move(s));
    return orch.run(stages, Context(config(), "2025-01-01T00:00:00"), Segment{});
  };
  auto first = std::async(std::launch::async, one, 1500);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto second = one(0);
  const auto a = first.get();
  EXPECT_TRUE(a.ok);
  EXPECT_TRUE(second.ok);
  // Whichever claimed first made it (on a loaded machine the second may win);
  // the other waited and found it done.
  const auto oa = a.stages.front().outcome, ob = second.stages.front().outcome;
  EXPECT_TRUE((oa == Outcome::kCompleted && ob == Outcome::kSkipped) ||
              (oa == Outcome::kSkipped && ob == Outcome::kCompleted))
      << pipeline::to_string(oa) << " / " << pipeline::to_string(ob);
  EXPECT_EQ(n, 1);
}

// A stale attempt cannot overwrite a newer one's outcome (fenced completion).
TEST_P(OrchestratorTest, ACompletionOfALostClaimIsRefused) {
  state::StateDb db(db_path);
  state::JobStore jobs(db.database());
  const state::JobKey key{"2025-01-01T00:00:00", "stageA", "/x"};
  auto alive = [](const std::string&) { return false; };
  const auto a = jobs.claim(key, "h:1:1", 60, alive);
  const auto b = jobs.claim(key, "h:2:2", 60, alive);  // a's holder judged dead
  ASSERT_TRUE(a.claimed && b.claimed);
  EXPECT_EQ(b.job.attempt, 2);
  EXPECT_FALSE(jobs.finish_done(a.job, "f", 1.0, {}, {}));
  EXPECT_TRUE(jobs.finish_done(b.job, "f", 1.0, {}, {}));
  EXPECT_FALSE(jobs.finish_failed(a.job, state::ErrorKind::kIo, "late", 1.0, 3, {}));
  EXPECT_EQ(jobs.get(key)->state, state::JobState::kDone);
}

// A waiting run reads the job (running, held by a live run), the holder
// finishes it, then the waiting run claims: it must not take the done job
// (it used to: attempt 2, the stage run twice, a window as wide as the
// holder's finishing transaction).
TEST_P(OrchestratorTest, AJobFinishedBetweenLookingAndClaimingIsNotClaimedAgain) {
  state::StateDb db(db_path);
  state::JobStore jobs(db.database());
  const state::JobKey key{"2025-01-01T00:00:00", "stageA", "/x"};
  auto alive = [](const std::string&) { return true; };
  const auto a = jobs.claim(key, "h:1:1", 60, alive);
  ASSERT_TRUE(a.claimed);
  const auto seen = jobs.ensure(key);  // the waiting run looks: running, held by h:1:1
  ASSERT_TRUE(jobs.finish_done(a.job, "f", 1.0, {}, {}));
  const auto b = jobs.claim(key, "h:2:2", 60, alive, &seen);
  EXPECT_FALSE(b.claimed);
  EXPECT_TRUE(b.changed);
  EXPECT_EQ(b.job.state, state::JobState::kDone);
  EXPECT_EQ(jobs.get(key)->state, state::JobState::kDone);
  EXPECT_EQ(jobs.get(key)->attempt, 1);
  // Looked at as it is now (done), a deliberate redo may claim it.
  const auto now = jobs.ensure(key);
  EXPECT_TRUE(jobs.claim(key, "h:2:2", 60, alive, &now).claimed);
}

TEST(Fingerprint, IsStableAndSensitive) {
  EXPECT_EQ(fingerprint_of("abc"), fingerprint_of("abc"));
  EXPECT_NE(fingerprint_of("abc"), fingerprint_of("abd"));
  EXPECT_EQ(fingerprint_of("").size(), 16u);
}


// ---- records returned by stages (issue 11: no stage opens the state database)

// A stage that makes an image file and returns its images row, an event and,
// on request, fails after adding them.
class RecordingStage : public pipeline::Stage {
 public:
  explicit RecordingStage(fs::path out) : out_(std::move(out)) {}
  std::string name() const override { return "image"; }
  bool is_done(const Context& ctx) const override {
    return ctx.state() && ctx.state()->image(ctx.group_id()).has_value();
  }
  Context restore(const Context& ctx) const override {
    return ctx.with(pipeline::keys::kImageFits, ctx.state()->image(ctx.group_id())->image_path);
  }
  Context execute(const Context& ctx) override {
    fs::create_directories(out_);
    std::ofstream(path(ctx)) << "image of " << ctx.group_id();
    state::ImageRecord r;
    r.group_id = ctx.group_id();
    r.ms_path = (out_ / "x.ms").string();
    r.data_column = "DATA";
    r.image_path = path(ctx).string();
    r.pbcor_path = path(ctx).string();
    r.contimg_version = "test";
    r.out_root = "ignored: the orchestrator scopes it";
    auto c = ctx.with_record(state::DomainRecord{r})
                 .with_record(state::DomainRecord{state::EventNote{state::EventLevel::kInfo, "imaged"}});
    if (fail) throw IoError(path(ctx).string() + ": No space left on device");
    return c.with(pipeline::keys::kImageFits, path(ctx).string());
  }
  std::vector<pipeline::ProductRef> planned_products(const Context& ctx) const override {
    return {{path(ctx), "image"}};
  }
  std::vector<pipeline::KeySpec> provides() const override { return {pipeline::keys::kImageFits}; }
  bool fail = false;

 private:
  fs::path path(const Context& ctx) const { return out_ / (ctx.group_id() + ".fits"); }
  fs::path out_;
};

int count_rows(const fs::path& db_path, const std::string& sql) {
  state::StateDb db(db_path);
  auto st = db.database().prepare(sql);
  return st.step() ? static_cast<int>(st.get_int(0)) : -1;
}

TEST_P(OrchestratorTest, AStagesRecordsAreStoredWithItsJobAndOnlyWhenItIsDone) {
  const auto tree = tmp.path() / "treeA";
  {
    state::StateDb db(db_path);
    Orchestrator orch(db, tree, fast(), nullptr);
    RecordingStage failing(tree / "products");
    failing.fail = true;
    const auto r = orch.run(std::vector<pipeline::Stage*>{&failing}, Context(config(), "2025-01-01T00:00:00"),
                            Segment{});
    EXPECT_FALSE(r.ok);
  }
  EXPECT_EQ(count_rows(db_path, "SELECT COUNT(*) FROM images"), 0) << "a failed job stores none of its records";
  EXPECT_EQ(count_rows(db_path, "SELECT COUNT(*) FROM events WHERE message = 'imaged'"), 0);
  {
    state::StateDb db(db_path);
    Orchestrator orch(db, tree, fast(), nullptr);
    RecordingStage ok(tree / "products");
    const auto r = orch.run(std::vector<pipeline::Stage*>{&ok}, Context(config(), "2025-01-01T00:00:00"), Segment{});
    ASSERT_TRUE(r.ok) << r.stages.front().error;
    EXPECT_TRUE(r.final_context->records().empty()) << "stored records do not travel on";
    // A rerun is skipped: the stage's is_done reads the state through the view.
    const auto again =
        orch.run(std::vector<pipeline::Stage*>{&ok}, Context(config(), "2025-01-01T00:00:00"), Segment{});
    EXPECT_EQ(again.stages.front().outcome, Outcome::kSkipped);
  }
  state::StateDb db(db_path);
  const auto img = state::image_record(db, "2025-01-01T00:00:00");
  ASSERT_TRUE(img);
  EXPECT_EQ(img->out_root, fs::absolute(tree).lexically_normal().string());
  EXPECT_EQ(count_rows(db_path, "SELECT COUNT(*) FROM events WHERE message = 'imaged' AND stage = 'image'"), 1);
}

// D5 (issue 11), second half: two output trees sharing one state database
// used to share the group-keyed rows (the second run's image replaced the
// first's row, so tree A's row pointed at tree B's product). Each tree now
// keeps its own rows, and each tree's stages see their own.
TEST_P(OrchestratorTest, TwoOutputTreesSharingADatabaseKeepTheirOwnRows) {
  const auto a = tmp.path() / "treeA", b = tmp.path() / "treeB";
  for (const auto& tree : {a, b}) {
    state::StateDb db(db_path);
    Orchestrator orch(db, tree, fast(), nullptr);
    RecordingStage s(tree / "products");
    const auto r = orch.run(std::vector<pipeline::Stage*>{&s}, Context(config(), "2025-01-01T00:00:00"), Segment{});
    ASSERT_TRUE(r.ok) << r.stages.front().error;
    EXPECT_EQ(r.stages.front().outcome, Outcome::kCompleted) << "tree B's job is not tree A's";
  }
  EXPECT_EQ(count_rows(db_path, "SELECT COUNT(*) FROM images"), 2);
  state::StateDb db(db_path);
  for (const auto& tree : {a, b}) {
    const DbStateView view(db, fs::absolute(tree).lexically_normal().string());
    const auto img = view.image("2025-01-01T00:00:00");
    ASSERT_TRUE(img);
    EXPECT_EQ(img->image_path, (tree / "products" / "2025-01-01T00:00:00.fits").string());
  }
}

TEST_P(OrchestratorTest, ACalibrationSetIdIsUniqueWithinItsTreeAndAmbiguousAcrossTrees) {
  state::StateDb db(db_path);
  state::CalsetRecord c;
  c.id = "2025-01-01T00:00:00_3C286";
  c.group_id = "2025-01-01T00:00:00";
  c.ms_path = "/x.ms";
  c.calibrator = "3C286";
  c.bandpass_table = "/a.bcal";
  c.gain_table = "/a.gcal";
  c.valid_from_s = 0;
  c.valid_to_s = 100;
  c.mid_time_s = 50;
  c.status = "passed";
  c.grade = "A";
  for (const char* tree : {"/treeA", "/treeB"}) {
    c.out_root = tree;
    c.bandpass_table = std::string(tree) + "/x.bcal";
    c.mid_time_s = c.out_root == "/treeA" ? 50 : 80;
    state::upsert_calset(db, c);
  }
  EXPECT_EQ(state::list_calsets(db).size(), 2u) << "tree B's solve did not replace tree A's set";
  EXPECT_EQ(state::list_calsets(db, std::string("/treeB")).size(), 1u);
  EXPECT_EQ(state::calset(db, c.id, std::string("/treeA"))->bandpass_table, "/treeA/x.bcal");
  EXPECT_EQ(DbStateView(db, "/treeB").calset(c.id)->bandpass_table, "/treeB/x.bcal");
  // A tree's own set first, although tree A's is nearer in time.
  EXPECT_EQ(calibration::choose_applicable(DbStateView(db, "/treeB").valid_calsets(40), 40)->bandpass_table,
            "/treeB/x.bcal");
  // A tree with none of its own uses the nearest of the shared registry.
  EXPECT_EQ(calibration::choose_applicable(DbStateView(db, "/treeC").valid_calsets(40), 40)->bandpass_table,
            "/treeA/x.bcal");
  EXPECT_THROW(state::calset(db, c.id), InputError) << "an id held by two trees needs a tree";
  EXPECT_THROW(DbStateView(db, "/treeC").calset(c.id), InputError) << "ambiguous outside both trees";
}

// Typed keys: a stage that needs a key the context lacks fails as a
// configuration error naming the key, before it runs; one that does not
// provide what it promised fails too.
class NeedyStage : public pipeline::Stage {
 public:
  std::string name() const override { return "needy"; }
  Context execute(const Context& ctx) override {
    ++executions;
    return promise ? ctx.with(pipeline::keys::kVerdict, std::string("pass")) : ctx;
  }
  std::vector<pipeline::KeySpec> needs() const override { return {pipeline::keys::kMsPath}; }
  std::vector<pipeline::KeySpec> provides() const override { return {pipeline::keys::kVerdict}; }
  int executions = 0;
  bool promise = true;
};

TEST(StageContract, NeedsAreCheckedBeforeAndProvidesAfterExecute) {
  auto cfg = std::make_shared<const config::Config>(config::Config::defaults());
  pipeline::StageRunner runner;
  NeedyStage s;
  Context none(cfg, "g");
  const auto missing = runner.run_one(s, none, false);
  EXPECT_EQ(missing.outcome, Outcome::kFailed);
  EXPECT_EQ(missing.error_kind, "config");
  EXPECT_NE(missing.error.find("needs \"ms_path\""), std::string::npos) << missing.error;
  EXPECT_EQ(s.executions, 0);
  Context wrong_type(cfg, "g", {{"ms_path", std::int64_t{3}}});
  const auto typed = runner.run_one(s, wrong_type, false);
  EXPECT_NE(typed.error.find("as a string, but the context holds a integer"), std::string::npos) << typed.error;
  Context good(cfg, "g", {{"ms_path", std::string("/x.ms")}});
  EXPECT_EQ(runner.run_one(s, good, false).outcome, Outcome::kCompleted);
  EXPECT_EQ(good.get(pipeline::keys::kVerdict), "pass");
  s.promise = false;
  Context again(cfg, "g", {{"ms_path", std::string("/x.ms")}});
  const auto broken = runner.run_one(s, again, false);
  EXPECT_EQ(broken.outcome, Outcome::kFailed);
  EXPECT_NE(broken.error.find("provides \"verdict\""), std::string::npos) << broken.error;
}

}  // namespace
}  // namespace contimg::orchestration
