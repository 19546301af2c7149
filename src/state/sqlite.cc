// The SQLite backend of state/database.h: WAL, a busy timeout, foreign keys
// on; BEGIN IMMEDIATE for writers.
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "state/database.h"

namespace contimg::state::detail {
namespace {

bool is_input_error(int code) {
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return true;
    default:
      return false;
  }
}

[[noreturn]] void throw_sqlite(int code, const std::string& where, std::string_view what,
                               const char* message) {
  throw_db_error(is_input_error(code), where, what,
                 fmt::format("{} ({})", message && *message ? message : sqlite3_errstr(code),
                             sqlite3_errstr(code)));
}

class SqliteConnection;

class SqliteStatement final : public StatementImpl {
 public:
  SqliteStatement(SqliteConnection& c, std::string_view sql);
  ~SqliteStatement() override {
    if (stmt_) sqlite3_finalize(stmt_);
  }
  void bind_int(int index, std::int64_t v) override {
    check_bind(sqlite3_bind_int64(stmt_, index, v), index);
  }
  void bind_double(int index, double v) override {
    check_bind(sqlite3_bind_double(stmt_, index, v), index);
  }
  void bind_text(int index, std::string_view v) override {
    check_bind(sqlite3_bind_text64(stmt_, index, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
               index);
  }
  void bind_null(int index) override { check_bind(sqlite3_bind_null(stmt_, index), index); }
  bool step() override;
  int run() override;
  void reset() override {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  bool is_null(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::int64_t get_int(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double get_double(int col) const override { return sqlite3_column_double(stmt_, col); }
  std::string get_text(int col) const override {
    const auto* p = sqlite3_column_text(stmt_, col);
    const int n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
             : std::string();
  }

 private:
  void check_bind(int rc, int index);
  SqliteConnection& c_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class SqliteConnection final : public Connection {
 public:
  SqliteConnection(const std::filesystem::path& path, const Database::Options& options)
      : path_(path.string()) {
    int flags = SQLITE_OPEN_NOMUTEX;
    flags |= options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (options.create && !options.read_only) flags |= SQLITE_OPEN_CREATE;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw_sqlite(rc, path_, "cannot open", msg.c_str());
    }
    try {
      sqlite3_extended_result_codes(db_, 1);
      sqlite3_busy_timeout(db_, options.busy_timeout_ms);
      exec("PRAGMA foreign_keys = ON");
      // The journal-mode pragma reads the file header: "not a database" fails here.
      if (!options.read_only) {
        journal_mode_ = switch_to_wal(options.busy_timeout_ms);
        if (journal_mode_ != "wal") {
          spdlog::warn("state db {}: journal mode is {} (WAL unavailable on this file system?)",
                       path_, journal_mode_);
        }
        exec("PRAGMA synchronous = NORMAL");  // durable at checkpoints, safe in WAL
      } else {
        SqliteStatement st(*this, "PRAGMA journal_mode");
        journal_mode_ = st.step() ? st.get_text(0) : std::string();
      }
    } catch (...) {
      sqlite3_close_v2(db_);
      db_ = nullptr;
      throw;
    }
  }
  ~SqliteConnection() override {
    if (db_) sqlite3_close_v2(db_);
  }

  // PRAGMA journal_mode = WAL, retried while another connection holds the
  // file: the switch upgrades a shared lock, and SQLite answers SQLITE_BUSY at
  // once instead of calling the busy handler (it could deadlock), so two runs
  // opening a new database together failed (chain_faults_concurrent).
  std::string switch_to_wal(int busy_timeout_ms) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
    for (;;) {
      sqlite3_stmt* st = nullptr;
      int rc = sqlite3_prepare_v2(db_, "PRAGMA journal_mode = WAL", -1, &st, nullptr);
      if (rc == SQLITE_OK) rc = sqlite3_step(st);
      std::string mode;
      if (rc == SQLITE_ROW) {
        const auto* t = sqlite3_column_text(st, 0);
        mode = t ? reinterpret_cast<const char*>(t) : "";
      }
      const std::string msg = sqlite3_errmsg(db_);
      sqlite3_finalize(st);
      if (rc == SQLITE_ROW || rc == SQLITE_DONE) return mode;
      const int primary = rc & 0xff;
      if ((primary == SQLITE_BUSY || primary == SQLITE_LOCKED) &&
          std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      throw_sqlite(rc, path_, "PRAGMA journal_mode = WAL", msg.c_str());
    }
  }

  Dialect dialect() const override { return Dialect::kSqlite; }
  void exec(std::string_view sql) override {
    char* err = nullptr;
    const std::string text(sql);
    const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      const std::string msg = err ? err : "";
      sqlite3_free(err);
      throw_sqlite(rc, path_, one_line(sql), msg.c_str());
    }
  }
  std::unique_ptr<StatementImpl> prepare(std::string_view sql) override {
    return std::make_unique<SqliteStatement>(*this, sql);
  }
  std::int64_t last_insert_rowid() const override { return sqlite3_last_insert_rowid(db_); }
  std::int64_t total_changes() const override { return sqlite3_total_changes64(db_); }
  bool in_transaction() const override { return sqlite3_get_autocommit(db_) == 0; }
  void begin(bool immediate) override { exec(immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED"); }
  void rollback_quietly() noexcept override {
    // Rolling back can only fail when SQLite already rolled back (e.g. after
    // a disk-full error); nothing more to do then.
    if (sqlite3_get_autocommit(db_) != 0) return;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void rollback_to_quietly(const std::string& savepoint) noexcept override {
    if (sqlite3_get_autocommit(db_) != 0) return;
    try {
      const std::string sql = fmt::format("ROLLBACK TO {0}; RELEASE {0}", savepoint);
      sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    } catch (...) {
    }
  }
  const std::string& journal_mode() const override { return journal_mode_; }
  void listen(const std::string&) override {}
  void notify(const std::string&) override {}
  bool wait_notification(double timeout_s) override {
    if (timeout_s > 0) sqlite3_sleep(static_cast<int>(timeout_s * 1000));
    return false;
  }

  sqlite3* handle() const { return db_; }
  const std::string& where() const { return path_; }
  [[noreturn]] void fail(int code, std::string_view what) const {
    throw_sqlite(code, path_, what, db_ ? sqlite3_errmsg(db_) : nullptr);
  }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  std::string journal_mode_;
};

SqliteStatement::SqliteStatement(SqliteConnection& c, std::string_view sql) : c_(c), sql_(sql) {
  const int rc = sqlite3_prepare_v3(c.handle(), sql_.data(), static_cast<int>(sql_.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) c.fail(rc, "prepare " + one_line(sql_));
}

void SqliteStatement::check_bind(int rc, int index) {
  if (rc != SQLITE_OK) c_.fail(rc, fmt::format("bind {} of {}", index, one_line(sql_)));
}

bool SqliteStatement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Keep the message before reset() replaces it.
  const std::string msg = sqlite3_errmsg(c_.handle());
  sqlite3_reset(stmt_);
  throw_sqlite(rc, c_.where(), one_line(sql_), msg.c_str());
}

int SqliteStatement::run() {
  while (step()) {
  }
  const int n = sqlite3_changes(c_.handle());
  sqlite3_reset(stmt_);
  return n;
}

}  // namespace

std::unique_ptr<Connection> open_sqlite(const std::filesystem::path& path,
                                        const Database::Options& options) {
  return std::make_unique<SqliteConnection>(path, options);
}

}  // namespace contimg::state::detail
