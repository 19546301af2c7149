#pragma once
// A small RAII layer over the SQLite C API: one Database per connection (WAL,
// busy timeout, foreign keys on), prepared Statements with typed binds and
// columns, and Transactions that roll back unless committed. Every failure is
// thrown with the SQL error text, the statement and the database path:
// IoError for the environment (busy, locked, read-only, disk full, corrupt or
// not a database), InputError when the schema rejects the data offered
// (constraint, type mismatch, too big). Connections are not shared between
// threads: open one per thread.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace contimg::state {

class Database;

// Throws the right contimg error for an SQLite result code.
[[noreturn]] void throw_sqlite_error(int code, const std::string& db_path, std::string_view what,
                                     const char* message);

// One prepared statement. Binds are 1-based (as in SQLite); columns 0-based.
class Statement {
 public:
  Statement(Database& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& o) noexcept;
  Statement& operator=(Statement&&) = delete;

  Statement& bind(int index, std::int64_t v);
  Statement& bind(int index, int v) { return bind(index, static_cast<std::int64_t>(v)); }
  Statement& bind(int index, bool v) { return bind(index, static_cast<std::int64_t>(v ? 1 : 0)); }
  Statement& bind(int index, double v);
  Statement& bind(int index, std::string_view v);
  Statement& bind(int index, const std::string& v) { return bind(index, std::string_view(v)); }
  Statement& bind(int index, const char* v) { return bind(index, std::string_view(v)); }
  Statement& bind_null(int index);
  template <typename T>
  Statement& bind(int index, const std::optional<T>& v) {
    return v ? bind(index, *v) : bind_null(index);
  }

  // Advances; true while a row is available. Throws on error.
  bool step();
  // Runs a statement that returns no rows (or ignores them); returns changes().
  int run();
  // Ready for re-execution with new binds (bindings are cleared too).
  void reset();

  bool is_null(int col) const;
  std::int64_t get_int(int col) const;
  double get_double(int col) const;
  std::string get_text(int col) const;
  std::optional<std::int64_t> get_opt_int(int col) const;
  std::optional<double> get_opt_double(int col) const;
  std::optional<std::string> get_opt_text(int col) const;

  const std::string& sql() const { return sql_; }

 private:
  Database* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class Database {
 public:
  struct Options {
    bool create = true;           // create the file when it does not exist
    bool read_only = false;
    int busy_timeout_ms = 30000;  // wait this long for another writer's lock
  };

  explicit Database(const std::filesystem::path& path) : Database(path, Options{}) {}
  Database(const std::filesystem::path& path, const Options& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::filesystem::path& path() const { return path_; }
  sqlite3* handle() const { return db_; }

  // Runs one or more statements without results (schema scripts, pragmas).
  void exec(std::string_view sql);
  Statement prepare(std::string_view sql) { return Statement(*this, sql); }
  // A statement prepared once per connection and reused: reset (binds cleared)
  // each time it is handed out. Do not hold two uses of the same SQL at once.
  Statement& cached(const std::string& sql);

  std::int64_t last_insert_rowid() const;
  // Rows changed by every statement since the connection opened.
  std::int64_t total_changes() const;
  bool in_transaction() const;
  // "wal" normally; another mode when the file system cannot do WAL.
  const std::string& journal_mode() const { return journal_mode_; }

  [[noreturn]] void fail(int code, std::string_view what) const;

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  std::string journal_mode_;
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> cache_;
};

// BEGIN on construction, ROLLBACK on destruction unless commit() ran.
// kImmediate takes the write lock at once (no deadlock-prone upgrade from a
// read transaction): use it for every transaction that writes. Inside an open
// transaction it is a SAVEPOINT (commit releases it, destruction rolls back to
// it), so functions that need atomicity compose with a caller's batch.
class Transaction {
 public:
  enum class Mode { kDeferred, kImmediate };
  explicit Transaction(Database& db, Mode mode = Mode::kImmediate);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit();
  bool active() const { return active_; }

 private:
  Database& db_;
  std::string savepoint_;  // empty for a top-level transaction
  bool active_ = false;
};

}  // namespace contimg::state
