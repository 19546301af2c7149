#include "state/state_db.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/error_of.h"

#include <fmt/format.h>
#include <atomic>
#include <fstream>
#include <thread>
#include <vector>

#include "common/error.h"
#include "config/config.h"
#include "state/schema.h"
#include "state/sqlite.h"
#include "support/backends.h"
#include "support/tiny_uvh5.h"

namespace contimg::state {
namespace {

using contimg::test::error_of;

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;


std::int64_t scalar(Database& db, const std::string& sql) {
  auto st = db.prepare(sql);
  EXPECT_TRUE(st.step()) << sql;
  return st.get_int(0);
}

FileRecord valid_file(const std::string& path, std::int64_t epoch, int subband) {
  FileRecord f;
  f.path = path;
  f.name_time = "2025-01-01T06:00:00";
  f.name_epoch = epoch;
  f.subband = subband;
  f.size_bytes = 1234;
  f.mtime_ns = 1'700'000'000'000'000'000;
  f.time_first_mjd = 60676.25;
  f.time_last_mjd = 60676.2535;
  f.pointing_dec_rad = 0.9;
  f.nfreqs = 48;
  f.ntimes = 24;
  f.nblts = 111744;
  f.freq_min_hz = 1.487e9;
  f.freq_max_hz = 1.4986e9;
  return f;
}

GroupRecord group_record(const std::string& id, std::int64_t epoch, int n) {
  GroupRecord g;
  g.group_id = id;
  g.start_epoch = epoch;
  g.start_mjd = 40587.0 + static_cast<double>(epoch) / 86400.0;
  g.first_file_epoch = epoch;
  g.last_file_epoch = epoch + 3;
  g.n_subbands = n;
  g.subband_mask = (1u << n) - 1;
  g.complete = n == 16;
  g.pointing_dec_rad = 0.9;
  return g;
}

// SQLite-only behaviour: files, WAL, the configuration's paths.
class StateDbTest : public ::testing::Test {
 protected:
  std::filesystem::path db_path() const { return dir_ / "state" / "contimg.sqlite3"; }
  test::TempDir dir_;
};

// The schema and the repository on both backends (SQLite, PostgreSQL).
class StateDbBackendTest : public test::BackendTest {
 protected:
  std::filesystem::path db_path() { return target(); }
};
INSTANTIATE_TEST_SUITE_P(Backends, StateDbBackendTest, CONTIMG_BOTH_BACKENDS);

// ---------------------------------------------------------------- migrations

TEST_F(StateDbTest, FreshDatabaseGetsTheWholeSchemaWithWalAndForeignKeys) {
  StateDb db(db_path());  // the directory does not exist yet
  EXPECT_TRUE(std::filesystem::exists(db_path()));
  EXPECT_EQ(db.schema_version(), latest_schema_version());
  EXPECT_EQ(scalar(db.database(), "SELECT COUNT(*) FROM schema_version"),
            static_cast<std::int64_t>(migrations().size()));
  for (const char* table : {"files", "groups", "events"}) {
    EXPECT_EQ(scalar(db.database(),
                     std::string("SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='") +
                         table + "'"),
              1)
        << table;
  }
  EXPECT_EQ(db.database().journal_mode(), "wal");
  EXPECT_EQ(scalar(db.database(), "PRAGMA foreign_keys"), 1);
}

// Two runs started together on a new tree both open its new database: the
// switch to WAL needs a lock upgrade that SQLite refuses at once (SQLITE_BUSY,
// no busy handler) while the other connection holds the file; one run used
// to fail with "PRAGMA journal_mode = WAL: database is locked"
// (chain_faults_concurrent). Every opener must succeed, in WAL.
TEST_F(StateDbTest, OpenersOfANewDatabaseAtTheSameMomentAllSucceed) {
  for (int round = 0; round < 20; ++round) {
    const auto path = dir_ / ("round" + std::to_string(round)) / "contimg.sqlite3";
    std::atomic<int> ready{0};
    std::vector<std::string> errors(4);
    std::vector<std::string> modes(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        ++ready;
        while (ready < 4) std::this_thread::yield();
        try {
          StateDb db(path);
          modes[t] = db.database().journal_mode();
        } catch (const std::exception& e) {
          errors[t] = e.what();
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) {
      EXPECT_EQ(errors[t], "") << "round " << round << ", opener " << t;
      EXPECT_EQ(modes[t], "wal") << "round " << round << ", opener " << t;
    }
  }
}

TEST_P(StateDbBackendTest, FreshDatabaseGetsTheWholeSchema) {
  StateDb db(db_path());
  EXPECT_EQ(db.schema_version(), latest_schema_version());
  EXPECT_EQ(scalar(db.database(), "SELECT COUNT(*) FROM schema_version"),
            static_cast<std::int64_t>(migrations().size()));
  for (const char* table : {"files", "groups", "events", "jobs", "products", "job_attempts",
                            "calsets", "images", "validations", "detections", "flag_runs"}) {
    EXPECT_TRUE(db.database().has_table(table)) << table;
  }
  EXPECT_EQ(db.database().dialect(), pg() ? Dialect::kPostgres : Dialect::kSqlite);
}

TEST_P(StateDbBackendTest, ReopeningAnUpToDateDatabaseWritesNothing) {
  { StateDb db(db_path()); }
  StateDb again(db_path());
  EXPECT_EQ(again.schema_version(), latest_schema_version());
  EXPECT_EQ(again.database().total_changes(), 0);
}

TEST_P(StateDbBackendTest, OlderDatabaseIsMigratedKeepingItsRows) {
  // A v1 database with a row, then a program that knows a v2.
  Database db(target("v1.sqlite3"));
  const auto& real = migrations();
  ASSERT_EQ(migrate(db, std::span(real.data(), 1)), 1);
  db.exec(
      "INSERT INTO files (path, size_bytes, mtime_ns, state, error, indexed_at) "
      "VALUES ('/x/bad.hdf5', 1, 2, 'invalid', 'broken', 'now')");
  std::vector<Migration> list(real.begin(), real.begin() + 1);
  list.push_back({2, "files.note",
                  "ALTER TABLE files ADD COLUMN note TEXT; UPDATE files SET note = 'migrated';"});
  EXPECT_EQ(migrate(db, list), 2);
  EXPECT_EQ(schema_version(db), 2);
  auto st = db.prepare("SELECT path, note FROM files");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.get_text(0), "/x/bad.hdf5");
  EXPECT_EQ(st.get_text(1), "migrated");
  EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM schema_version"), 2);
  EXPECT_EQ(migrate(db, list), 2);  // idempotent
  EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM schema_version"), 2);
}

// A version-6 database with a converted, imaged and validated group: the
// orchestrator's migration (7) keeps every file's group assignment through the
// groups rebuild and adopts the MS as a 'legacy' product; migration 8 gives
// the image an id that its detections reference.
TEST_P(StateDbBackendTest, AVersion6DatabaseWithProductsIsCarriedForward) {
  std::filesystem::create_directories(dir_ / "state");
  const auto v6 = target("state/v6.sqlite3");
  {
    Database db(v6);
    const auto& real = migrations();
    ASSERT_EQ(migrate(db, std::span(real.data(), 6)), 6);
    db.exec(R"sql(
      INSERT INTO groups (group_id, start_epoch, start_mjd, first_file_epoch, last_file_epoch,
        n_subbands, subband_mask, complete, state, ms_path, created_at, updated_at, state_changed_at)
        VALUES ('g1', 1, 60000.0, 1, 1, 16, 65535, 1, 'converted', '/o/g1.ms', 't', 't', 't');
      INSERT INTO files (path, name_epoch, subband, group_id, size_bytes, mtime_ns, state, indexed_at,
        name_time) VALUES ('/i/g1_sb00.hdf5', 1, 0, 'g1', 10, 20, 'indexed', 't', 'x');
      INSERT INTO images (group_id, ms_path, data_column, image_path, pbcor_path, centre_ra_deg,
        centre_dec_deg, cell_arcsec, size_px, rms_jy, peak_jy, dynamic_range, contimg_version,
        imaged_at) VALUES ('g1', '/o/g1.ms', 'DATA', '/o/g1.image.fits', '/o/g1.pbcor.fits', 1, 2, 3,
        4, 0.1, 1.0, 10, 'v', 't');
      INSERT INTO validations (group_id, image_path, reference, verdict, reasons, metrics,
        n_detections, validated_at) VALUES ('g1', '/o/g1.pbcor.fits', 'ref', 'pass', '[]', '{}', 1, 't');
      INSERT INTO detections (group_id, idx, island, component, ra_deg, dec_deg, ra_err_arcsec,
        dec_err_arcsec, peak_jy, peak_err_jy, flux_jy, flux_err_jy, major_arcsec, minor_arcsec,
        pa_deg, snr) VALUES ('g1', 0, 0, 0, 1, 2, 0.1, 0.1, 1, 0.1, 1, 0.1, 50, 40, 0, 10);
    )sql");
  }
  StateDb db(v6);
  EXPECT_EQ(db.schema_version(), latest_schema_version());
  EXPECT_EQ(db.file("/i/g1_sb00.hdf5")->group_id, "g1");
  EXPECT_EQ(db.group("g1")->state, GroupState::kConverted);
  EXPECT_EQ(scalar(db.database(),
                   "SELECT COUNT(*) FROM products WHERE path = '/o/g1.ms' AND kind = 'ms' AND "
                   "fingerprint = 'legacy'"),
            1);
  EXPECT_EQ(scalar(db.database(),
                   "SELECT COUNT(*) FROM detections d JOIN images i ON d.image_id = i.image_id "
                   "WHERE i.group_id = 'g1' AND i.kind = 'group'"),
            1);
}

TEST_P(StateDbBackendTest, EveryEarlierRealVersionUpgradesToTheCurrentOne) {
  const auto& real = migrations();
  for (std::size_t k = 1; k <= real.size(); ++k) {
    const auto path = target(fmt::format("v{}.sqlite3", k));
    {
      Database db(path);
      ASSERT_EQ(migrate(db, std::span(real.data(), k)), static_cast<int>(k));
    }
    StateDb db(path);
    EXPECT_EQ(db.schema_version(), latest_schema_version()) << "from v" << k;
  }
}

TEST_P(StateDbBackendTest, FailingMigrationLeavesTheDatabaseAsItWas) {
  Database db(target("x.sqlite3"));
  const auto& real = migrations();
  std::vector<Migration> list(real.begin(), real.end());
  list.push_back({static_cast<int>(real.size()) + 1, "broken",
                  "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);"});
  const auto msg = error_of<IoError>([&] { migrate(db, list); });
  EXPECT_THAT(msg, AllOf(HasSubstr("migration " + std::to_string(list.size())),
                         HasSubstr("no_such_table"), HasSubstr(db.path().string())));
  EXPECT_EQ(schema_version(db), 0);  // all or none: not even v1
  EXPECT_FALSE(db.has_table("half_done"));
  EXPECT_FALSE(db.has_table("files"));
}

TEST_P(StateDbBackendTest, NewerDatabaseIsRefused) {
  {
    StateDb db(db_path());
    db.database().exec(
        "INSERT INTO schema_version (version, description, applied_at) "
        "VALUES (999, 'from the future', 'later')");
  }
  const auto msg = error_of<ConfigError>([&] { StateDb db(db_path()); });
  EXPECT_THAT(msg, AllOf(HasSubstr(db_path().string()), HasSubstr("999"), HasSubstr("newer")));
}

TEST_F(StateDbTest, ForeignOrCorruptDatabasesAreRefusedNamingTheFile) {
  {
    Database other(dir_ / "other.sqlite3");
    other.exec("CREATE TABLE hdf5_file_index (path TEXT)");
  }
  EXPECT_THAT(error_of<ConfigError>([&] { StateDb db(dir_ / "other.sqlite3"); }),
              AllOf(HasSubstr("other.sqlite3"), HasSubstr("not a contimg state database")));
  std::ofstream(dir_ / "text.sqlite3") << "this is not a database, just some text that is long "
                                          "enough to have a header................................"
                                          "...............................................\n";
  EXPECT_THAT(error_of<IoError>([&] { StateDb db(dir_ / "text.sqlite3"); }),
              HasSubstr("text.sqlite3"));
}

TEST_F(StateDbTest, MissingDatabaseIsAnErrorWhenNotCreating) {
  StateDb::Options o;
  o.create = false;
  EXPECT_THAT(error_of<ConfigError>([&] { StateDb db(db_path(), o); }),
              AllOf(HasSubstr(db_path().string()), HasSubstr("contimg index")));
  EXPECT_FALSE(std::filesystem::exists(db_path()));
}

TEST_F(StateDbTest, PathComesFromTheConfiguration) {
  const auto c = config::Config::load({});
  const auto staged =
      c.with_override({"paths.stage_dir", "/stage/x", "--set"});
  EXPECT_EQ(StateDb::resolve_path(staged), "/stage/x/state/contimg.sqlite3");
  EXPECT_EQ(StateDb::resolve_path(staged.with_override({"paths.state_db", "/db/s.sqlite3", "--db"})),
            "/db/s.sqlite3");
  // state.db_url selects PostgreSQL; a command line's --db (file or URL) beats it.
  const auto shared = staged.with_override({"state.db_url", "postgresql://u@h:5/db", "--set"});
  EXPECT_EQ(StateDb::resolve_path(shared), "postgresql://u@h:5/db");
  EXPECT_EQ(StateDb::resolve_path(shared.with_override({"paths.state_db", "/db/s.sqlite3", "--db"})),
            "/db/s.sqlite3");
  EXPECT_EQ(StateDb::resolve_path(
                staged.with_override({"paths.state_db", "postgresql://v@k/x", "--db"})),
            "postgresql://v@k/x");
  EXPECT_THROW(
      StateDb::resolve_path(staged.with_override({"state.db_url", "mysql://u@h/db", "--set"})),
      ConfigError);
}

TEST_F(StateDbTest, APostgresPasswordNeverReachesAMessage) {
  EXPECT_EQ(redact_url("postgresql://u:secret@h:5/db?sslmode=require"),
            "postgresql://u@h:5/db?sslmode=require");
  EXPECT_EQ(redact_url("postgresql://u@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(redact_url("postgres://h/db"), "postgres://h/db");
  EXPECT_TRUE(is_postgres_url("postgres://h/db"));
  EXPECT_FALSE(is_postgres_url("/data/postgresql://x"));
  // Nothing listens on port 1: the connection fails (IoError: retryable),
  // naming the server without the password.
  const auto msg = error_of<IoError>(
      [] { StateDb db("postgresql://contimg:secret@127.0.0.1:1/contimg?connect_timeout=5"); });
  EXPECT_THAT(msg, AllOf(HasSubstr("postgresql://contimg@127.0.0.1:1/contimg"),
                         HasSubstr("cannot connect")));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("secret")));
}

// ---------------------------------------------------------------- SQLite layer

TEST_P(StateDbBackendTest, TransactionsRollBackUnlessCommittedAndNestAsSavepoints) {
  Database db(target("t.sqlite3"));
  db.exec("CREATE TABLE t (x INTEGER)");
  {
    Transaction tx(db);
    db.exec("INSERT INTO t VALUES (1)");
  }
  EXPECT_EQ(scalar(db, "SELECT COUNT(*) FROM t"), 0);
  {
    Transaction outer(db);
    db.exec("INSERT INTO t VALUES (1)");
    {
      Transaction inner(db);
      db.exec("INSERT INTO t VALUES (2)");
    }  // rolled back to the savepoint only
    {
      Transaction inner(db);
      db.exec("INSERT INTO t VALUES (3)");
      inner.commit();
    }
    outer.commit();
  }
  EXPECT_EQ(scalar(db, "SELECT SUM(x) FROM t"), 4);
  EXPECT_FALSE(db.in_transaction());
}

TEST_P(StateDbBackendTest, ErrorsCarryTheSqlErrorAndTheDatabasePath) {
  Database db(target("e.sqlite3"));
  const std::string where = db.path().string();
  // A syntax error is the environment's on SQLite (its codes do not tell),
  // a bug (Error, not retryable) on PostgreSQL (SQLSTATE class 42).
  const auto syntax = pg() ? error_of<Error>([&] { db.exec("SELEC 1"); })
                           : error_of<IoError>([&] { db.exec("SELEC 1"); });
  EXPECT_THAT(syntax, AllOf(HasSubstr(where), HasSubstr("syntax error")));
  db.exec("CREATE TABLE u (x INTEGER UNIQUE)");
  db.exec("INSERT INTO u VALUES (1)");
  auto st = db.prepare("INSERT INTO u VALUES (?1)");
  st.bind(1, 1);
  EXPECT_THAT(error_of<InputError>([&] { st.run(); }),
              AllOf(HasSubstr(where), HasSubstr(pg() ? "duplicate key value violates unique "
                                                       "constraint \"u_x_key\""
                                                     : "UNIQUE constraint failed: u.x")));
  st.reset();
  st.bind(1, 2);
  EXPECT_EQ(st.run(), 1);  // usable after the error
}

TEST_F(StateDbTest, ASecondWriterWaitsThenFailsWithIoError) {
  Database a(dir_ / "l.sqlite3");
  a.exec("CREATE TABLE t (x INTEGER)");
  Database::Options quick;
  quick.busy_timeout_ms = 50;
  Database b(dir_ / "l.sqlite3", quick);
  Transaction hold(a);
  a.exec("INSERT INTO t VALUES (1)");
  EXPECT_THAT(error_of<IoError>([&] { b.exec("INSERT INTO t VALUES (2)"); }),
              AllOf(HasSubstr("l.sqlite3"), HasSubstr("locked")));
  // WAL: the reader is not blocked by the writer.
  EXPECT_EQ(scalar(b, "SELECT COUNT(*) FROM t"), 0);
}

TEST_P(StateDbBackendTest, ASecondWritingTransactionWaitsThenFailsWithIoError) {
  Database a(target("l.sqlite3"));
  a.exec("CREATE TABLE t (x INTEGER)");
  Database::Options quick;
  quick.busy_timeout_ms = 50;
  Database b(target("l.sqlite3"), quick);
  Transaction hold(a);
  a.exec("INSERT INTO t VALUES (1)");
  // SQLite: the write lock; PostgreSQL: the writers' advisory lock (lock_timeout).
  EXPECT_THAT(error_of<IoError>([&] { Transaction second(b); }),
              AllOf(HasSubstr(b.path().string()), HasSubstr(pg() ? "lock timeout" : "locked")));
  EXPECT_FALSE(b.in_transaction());
  EXPECT_EQ(scalar(b, "SELECT COUNT(*) FROM t"), 0);  // readers are not blocked
}

TEST_P(StateDbBackendTest, AForeignDatabaseIsRefused) {
  {
    Database other(target("other.sqlite3"));
    other.exec("CREATE TABLE hdf5_file_index (path TEXT)");
  }
  EXPECT_THAT(error_of<ConfigError>([&] { StateDb db(target("other.sqlite3")); }),
              AllOf(HasSubstr("hdf5_file_index"), HasSubstr("not a contimg state database")));
}

TEST_P(StateDbBackendTest, ValuesRoundTripExactly) {
  // 64-bit integers (mtimes in ns), doubles to the last bit, NULLs, text with
  // quotes and placeholders' characters inside literals.
  Database db(target("v.sqlite3"));
  db.exec(db.translate_ddl("CREATE TABLE v (i INTEGER, r REAL, t TEXT)"));
  auto ins = db.prepare("INSERT INTO v (i, r, t) VALUES (?, ?, ?)");
  ins.bind(1, std::int64_t{1'700'000'000'123'456'789}).bind(2, 0.1 + 0.2).bind(3, "it's ?1 $1");
  EXPECT_EQ(ins.run(), 1);
  auto st = db.prepare("SELECT i, r, t, NULL, '?' FROM v WHERE i = ?1 AND t <> '?2'");
  st.bind(1, std::int64_t{1'700'000'000'123'456'789});
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.get_int(0), 1'700'000'000'123'456'789);
  EXPECT_EQ(st.get_double(1), 0.1 + 0.2);
  EXPECT_EQ(st.get_text(2), "it's ?1 $1");
  EXPECT_FALSE(st.get_opt_text(3));
  EXPECT_EQ(st.get_text(4), "?");
  EXPECT_FALSE(st.step());
}

// ---------------------------------------------------------------- repository

TEST_P(StateDbBackendTest, UpsertFileIsIdempotent) {
  StateDb db(db_path());
  const auto f = valid_file("/data/2025-01-01T06:00:00_sb00.hdf5", 1735711200, 0);
  EXPECT_TRUE(db.upsert_file(f));
  const auto first = db.file(f.path);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->same_content(f));
  const auto changes = db.database().total_changes();
  EXPECT_FALSE(db.upsert_file(f));
  EXPECT_EQ(db.database().total_changes(), changes);
  EXPECT_EQ(db.file(f.path)->indexed_at, first->indexed_at);
  EXPECT_EQ(db.count_files(), 1);

  auto changed = f;
  changed.mtime_ns += 1;
  changed.ntimes = 12;
  EXPECT_TRUE(db.upsert_file(changed));
  EXPECT_EQ(db.file(f.path)->ntimes, 12);
  EXPECT_EQ(db.count_files(), 1);

  auto invalid = changed;
  invalid.state = FileState::kInvalid;
  invalid.error = "truncated";
  EXPECT_TRUE(db.upsert_file(invalid));
  EXPECT_EQ(db.file(f.path)->error, "truncated");
  EXPECT_EQ(db.count_files(FileState::kInvalid), 1);
  EXPECT_EQ(db.count_files(FileState::kIndexed), 0);
}

TEST_P(StateDbBackendTest, SchemaRejectsImpossibleRecordsAsInputErrors) {
  StateDb db(db_path());
  auto f = valid_file("/data/odd.hdf5", 1735711200, 16);
  EXPECT_THAT(error_of<InputError>([&] { db.upsert_file(f); }),
              AllOf(HasSubstr(pg() ? "violates check constraint \"files_subband_check\""
                                   : "CHECK constraint"),
                    HasSubstr(db_path().string())));
  auto g = valid_file("/data/x.hdf5", 1735711200, 1);
  g.state = FileState::kInvalid;  // without an error text
  EXPECT_THROW(db.upsert_file(g), InputError);
  EXPECT_EQ(db.count_files(), 0);
}

TEST_P(StateDbBackendTest, FilesInRangeAreOrderedByTimeSubbandPath) {
  StateDb db(db_path());
  db.upsert_file(valid_file("/d/b", 1000, 3));
  db.upsert_file(valid_file("/d/a", 1000, 3));
  db.upsert_file(valid_file("/d/c", 999, 7));
  db.upsert_file(valid_file("/d/z", 1000, 0));
  db.upsert_file(valid_file("/d/late", 2000, 0));
  std::vector<std::string> paths;
  for (const auto& f : db.files_in_range(999, 1000)) paths.push_back(f.path);
  EXPECT_THAT(paths, ElementsAre("/d/c", "/d/z", "/d/a", "/d/b"));
  EXPECT_EQ(db.indexed_epoch_before(1000), 999);
  EXPECT_EQ(db.indexed_epoch_after(1000), 2000);
  EXPECT_FALSE(db.indexed_epoch_after(2000));
}

TEST_P(StateDbBackendTest, FilesUnderADirectoryAreItsDescendantsOnly) {
  StateDb db(db_path());
  // '_' and '%' are LIKE wildcards; "/d/a_b0" and "/d/a_bc" share the prefix text.
  for (const char* p : {"/d/a_b/x_sb00.hdf5", "/d/a_b/sub/y_sb01.hdf5", "/d/a_b0/z_sb02.hdf5",
                        "/d/a_bc/w_sb03.hdf5", "/d/aXb/v_sb04.hdf5", "/d/a_b%/u_sb05.hdf5",
                        "/d/a_b.hdf5"}) {
    db.upsert_file(valid_file(p, 1000, 0));
  }
  auto paths = [&](const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& f : db.files_under(dir)) out.push_back(f.path);
    return out;
  };
  EXPECT_THAT(paths("/d/a_b"), ElementsAre("/d/a_b/sub/y_sb01.hdf5", "/d/a_b/x_sb00.hdf5"));
  EXPECT_THAT(paths("/d/a_b/"), ElementsAre("/d/a_b/sub/y_sb01.hdf5", "/d/a_b/x_sb00.hdf5"));
  EXPECT_THAT(paths("/d/a_b%"), ElementsAre("/d/a_b%/u_sb05.hdf5"));
  EXPECT_EQ(paths("/").size(), 7u);
  EXPECT_TRUE(paths("/e").empty());

  EXPECT_TRUE(db.delete_file("/d/a_b/x_sb00.hdf5"));
  EXPECT_FALSE(db.delete_file("/d/a_b/x_sb00.hdf5"));
  EXPECT_FALSE(db.file("/d/a_b/x_sb00.hdf5"));
  EXPECT_EQ(db.count_files(), 6);
}

TEST_P(StateDbBackendTest, UpsertGroupKeepsTheLifeCycle) {
  StateDb db(db_path());
  auto g = group_record("2025-01-01T06:00:00", 1735711200, 15);
  EXPECT_TRUE(db.upsert_group(g));
  EXPECT_FALSE(db.upsert_group(g));
  db.set_group_state(g.group_id, GroupState::kConverting);
  db.set_group_state(g.group_id, GroupState::kFailed, "sb03: truncated");
  db.set_group_state(g.group_id, GroupState::kConverting);
  auto r = db.group(g.group_id);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->state, GroupState::kConverting);
  EXPECT_EQ(r->attempts, 2);
  EXPECT_EQ(r->reason, "");  // cleared when it left `failed`
  ASSERT_TRUE(r->state_changed_at);

  // A 16th subband arrives: membership changes, the life cycle does not.
  auto full = group_record("2025-01-01T06:00:00", 1735711200, 16);
  EXPECT_TRUE(db.upsert_group(full));
  r = db.group(g.group_id);
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->n_subbands, 16);
  EXPECT_EQ(r->state, GroupState::kConverting);
  EXPECT_EQ(r->attempts, 2);
  EXPECT_TRUE(r->same_membership(full));

  db.set_group_state(g.group_id, GroupState::kConverted, "", "/stage/ms/2025-01-01T06:00:00.ms");
  r = db.group(g.group_id);
  EXPECT_EQ(r->ms_path, "/stage/ms/2025-01-01T06:00:00.ms");
  EXPECT_EQ(r->attempts, 2);

  const auto ev = db.events(g.group_id);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_THAT(ev.front().message, HasSubstr("converting -> converted"));
  EXPECT_THAT(ev[2].message, HasSubstr("-> failed: sb03: truncated"));
  EXPECT_EQ(ev[2].level, EventLevel::kError);

  // A transition to the state the group has is no transition: no write, no
  // event, no attempt (issue 11: `run` recorded "converted -> converted").
  db.set_group_state(g.group_id, GroupState::kConverted, "", "/stage/ms/2025-01-01T06:00:00.ms");
  db.set_group_state(g.group_id, GroupState::kConverted);
  EXPECT_EQ(db.events(g.group_id).size(), 4u);
  db.set_group_state(g.group_id, GroupState::kProcessing);
  db.set_group_state(g.group_id, GroupState::kProcessing);
  EXPECT_EQ(db.group(g.group_id)->attempts, 3);
  EXPECT_EQ(db.events(g.group_id).size(), 5u);

  EXPECT_THROW(db.set_group_state("1999-01-01T00:00:00", GroupState::kFailed), InputError);
  EXPECT_THROW(parse_group_state("done"), ConfigError);
}

TEST_P(StateDbBackendTest, DeletingAGroupDetachesItsFiles) {
  StateDb db(db_path());
  const auto g = group_record("2025-01-01T06:00:00", 1735711200, 1);
  db.upsert_group(g);
  db.upsert_file(valid_file("/d/a", 1735711200, 0));
  EXPECT_TRUE(db.assign_file("/d/a", g.group_id, false));
  EXPECT_FALSE(db.assign_file("/d/a", g.group_id, false));
  EXPECT_EQ(db.files_of_group(g.group_id).size(), 1u);
  // A file may not name a group that does not exist.
  EXPECT_THROW(db.assign_file("/d/a", std::string("nope"), false), InputError);
  EXPECT_TRUE(db.delete_group(g.group_id));
  EXPECT_FALSE(db.file("/d/a")->group_id);
  EXPECT_TRUE(db.groups_in_range(0, 1LL << 40).empty());
}

TEST_P(StateDbBackendTest, EventsAreKeptNewestFirst) {
  StateDb db(db_path());
  db.record_event(std::nullopt, "index", EventLevel::kInfo, "scan started");
  db.record_event(std::string("G"), "convert", EventLevel::kWarn, "slow disk");
  const auto all = db.events();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].message, "slow disk");
  EXPECT_EQ(all[0].group_id, "G");
  EXPECT_EQ(all[1].stage, "index");
  EXPECT_EQ(db.events(std::string("G")).size(), 1u);
}

}  // namespace
}  // namespace contimg::state
