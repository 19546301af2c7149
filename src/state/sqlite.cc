#include "state/sqlite.h"

#include <atomic>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"

namespace contimg::state {
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

std::string one_line(std::string_view sql) {
  std::string out;
  bool space = false;
  for (char c : sql) {
    if (c == '\n' || c == '\t' || c == ' ' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() > 160) out = out.substr(0, 157) + "...";
  return out;
}

}  // namespace

void throw_sqlite_error(int code, const std::string& db_path, std::string_view what,
                        const char* message) {
  const std::string text =
      fmt::format("state db {}: {}: {} ({})", db_path, what,
                  message && *message ? message : sqlite3_errstr(code), sqlite3_errstr(code));
  if (is_input_error(code)) throw InputError(text);
  throw IoError(text);
}

// ---------------------------------------------------------------- Database

Database::Database(const std::filesystem::path& path, const Options& options) : path_(path) {
  int flags = SQLITE_OPEN_NOMUTEX;
  flags |= options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (options.create && !options.read_only) flags |= SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw_sqlite_error(rc, path_.string(), "cannot open", msg.c_str());
  }
  try {
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, options.busy_timeout_ms);
    exec("PRAGMA foreign_keys = ON");
    // The journal-mode pragma reads the file header: "not a database" fails here.
    if (!options.read_only) {
      auto st = prepare("PRAGMA journal_mode = WAL");
      journal_mode_ = st.step() ? st.get_text(0) : std::string();
      if (journal_mode_ != "wal") {
        spdlog::warn("state db {}: journal mode is {} (WAL unavailable on this file system?)",
                     path_.string(), journal_mode_);
      }
      exec("PRAGMA synchronous = NORMAL");  // durable at checkpoints, safe in WAL
    } else {
      auto st = prepare("PRAGMA journal_mode");
      journal_mode_ = st.step() ? st.get_text(0) : std::string();
    }
  } catch (...) {
    cache_.clear();
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

Database::~Database() {
  cache_.clear();  // finalize statements before closing
  if (db_) sqlite3_close_v2(db_);
}

void Database::fail(int code, std::string_view what) const {
  throw_sqlite_error(code, path_.string(), what, db_ ? sqlite3_errmsg(db_) : nullptr);
}

void Database::exec(std::string_view sql) {
  char* err = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string msg = err ? err : "";
    sqlite3_free(err);
    throw_sqlite_error(rc, path_.string(), one_line(sql), msg.c_str());
  }
}

Statement& Database::cached(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    it = cache_.emplace(sql, std::make_unique<Statement>(*this, sql)).first;
  } else {
    it->second->reset();
  }
  return *it->second;
}

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
std::int64_t Database::total_changes() const { return sqlite3_total_changes64(db_); }
bool Database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

// ---------------------------------------------------------------- Statement

Statement::Statement(Database& db, std::string_view sql) : db_(&db), sql_(sql) {
  const int rc = sqlite3_prepare_v3(db.handle(), sql_.data(), static_cast<int>(sql_.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) db.fail(rc, "prepare " + one_line(sql_));
}

Statement::Statement(Statement&& o) noexcept
    : db_(o.db_), stmt_(o.stmt_), sql_(std::move(o.sql_)) {
  o.stmt_ = nullptr;
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, std::int64_t v) {
  if (const int rc = sqlite3_bind_int64(stmt_, index, v); rc != SQLITE_OK) {
    db_->fail(rc, fmt::format("bind {} of {}", index, one_line(sql_)));
  }
  return *this;
}

Statement& Statement::bind(int index, double v) {
  if (const int rc = sqlite3_bind_double(stmt_, index, v); rc != SQLITE_OK) {
    db_->fail(rc, fmt::format("bind {} of {}", index, one_line(sql_)));
  }
  return *this;
}

Statement& Statement::bind(int index, std::string_view v) {
  if (const int rc = sqlite3_bind_text64(stmt_, index, v.data(), v.size(), SQLITE_TRANSIENT,
                                         SQLITE_UTF8);
      rc != SQLITE_OK) {
    db_->fail(rc, fmt::format("bind {} of {}", index, one_line(sql_)));
  }
  return *this;
}

Statement& Statement::bind_null(int index) {
  if (const int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK) {
    db_->fail(rc, fmt::format("bind {} of {}", index, one_line(sql_)));
  }
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Keep the message before reset() replaces it.
  const std::string msg = sqlite3_errmsg(db_->handle());
  sqlite3_reset(stmt_);
  throw_sqlite_error(rc, db_->path().string(), one_line(sql_), msg.c_str());
}

int Statement::run() {
  while (step()) {
  }
  const int n = sqlite3_changes(db_->handle());
  sqlite3_reset(stmt_);
  return n;
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
std::int64_t Statement::get_int(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::get_double(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Statement::get_text(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
           : std::string();
}

std::optional<std::int64_t> Statement::get_opt_int(int col) const {
  if (is_null(col)) return std::nullopt;
  return get_int(col);
}
std::optional<double> Statement::get_opt_double(int col) const {
  if (is_null(col)) return std::nullopt;
  return get_double(col);
}
std::optional<std::string> Statement::get_opt_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return get_text(col);
}

// ---------------------------------------------------------------- Transaction

Transaction::Transaction(Database& db, Mode mode) : db_(db) {
  if (db_.in_transaction()) {
    // Inside another transaction: a savepoint, so calls that make their own
    // transaction compose with a caller's batch.
    static std::atomic<std::uint64_t> counter{0};
    savepoint_ = fmt::format("contimg_sp{}", ++counter);
    db_.exec("SAVEPOINT " + savepoint_);
  } else {
    db_.exec(mode == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  }
  active_ = true;
}

Transaction::~Transaction() {
  if (!active_) return;
  // Rolling back can only fail when SQLite already rolled back (e.g. after a
  // disk-full error); nothing more to do then.
  if (sqlite3_get_autocommit(db_.handle()) != 0) return;
  if (savepoint_.empty()) {
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  } else {
    const std::string sql = fmt::format("ROLLBACK TO {0}; RELEASE {0}", savepoint_);
    sqlite3_exec(db_.handle(), sql.c_str(), nullptr, nullptr, nullptr);
  }
}

void Transaction::commit() {
  if (!active_) throw Error("state db " + db_.path().string() + ": commit without a transaction");
  db_.exec(savepoint_.empty() ? std::string("COMMIT") : "RELEASE " + savepoint_);
  active_ = false;
}

}  // namespace contimg::state
