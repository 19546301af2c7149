#pragma once
// The state database connection, backend-neutral (docs/state.md, docs/scale-out.md):
// SQLite (a file path: the embedded default, one machine) or PostgreSQL (a
// postgresql:// URL: several machines). One Database per connection, prepared
// Statements with typed binds and columns, Transactions that roll back unless
// committed. The repositories write one SQL for both: placeholders `?N`/`?`
// (translated to `$N` for libpq), `ON CONFLICT ... DO UPDATE`, `IS DISTINCT
// FROM`, `RETURNING`; what differs is behind Dialect hooks (now_epoch_sql,
// has_table, the migrations' DDL types). Every failure is thrown with the
// database's message, the statement and the database: IoError for the
// environment (busy, locked, read-only, disk full, corrupt; connection lost,
// server shutdown, serialization failure, deadlock: retryable), InputError
// when the schema rejects the data offered (constraint, type mismatch, too
// big). Connections are not shared between threads: open one per thread.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace contimg::state {

enum class Dialect { kSqlite, kPostgres };
const char* to_string(Dialect d);

// True for "postgresql://..." and "postgres://..." (libpq connection URIs).
bool is_postgres_url(std::string_view target);
// The URL without its password, for messages and logs.
std::string redact_url(std::string_view url);

class Database;

namespace detail {
// One backend's prepared statement. Binds are 1-based; columns 0-based.
class StatementImpl {
 public:
  virtual ~StatementImpl() = default;
  virtual void bind_int(int index, std::int64_t v) = 0;
  virtual void bind_double(int index, double v) = 0;
  virtual void bind_text(int index, std::string_view v) = 0;
  virtual void bind_null(int index) = 0;
  virtual bool step() = 0;
  virtual int run() = 0;
  virtual void reset() = 0;
  virtual bool is_null(int col) const = 0;
  virtual std::int64_t get_int(int col) const = 0;
  virtual double get_double(int col) const = 0;
  virtual std::string get_text(int col) const = 0;
};

// One backend's connection.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;
  virtual void exec(std::string_view sql) = 0;
  virtual std::unique_ptr<StatementImpl> prepare(std::string_view sql) = 0;
  virtual std::int64_t last_insert_rowid() const = 0;
  virtual std::int64_t total_changes() const = 0;
  virtual bool in_transaction() const = 0;
  // BEGIN for a top-level transaction (immediate: one writer at a time).
  virtual void begin(bool immediate) = 0;
  // Rolls back an open transaction; never throws.
  virtual void rollback_quietly() noexcept = 0;
  virtual void rollback_to_quietly(const std::string& savepoint) noexcept = 0;
  virtual const std::string& journal_mode() const = 0;
  virtual void listen(const std::string& channel) = 0;
  virtual void notify(const std::string& channel) = 0;
  virtual bool wait_notification(double timeout_s) = 0;
};
}  // namespace detail

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
  // Runs a statement that returns no rows (or ignores them); returns the rows changed.
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
  std::unique_ptr<detail::StatementImpl> impl_;
  std::string sql_;
};

class Database {
 public:
  struct Options {
    bool create = true;           // SQLite: create the file when it does not exist
    bool read_only = false;       // SQLite only
    int busy_timeout_ms = 30000;  // wait this long for another writer's lock
  };

  // A file path opens SQLite; a postgresql:// URL connects to PostgreSQL.
  explicit Database(const std::filesystem::path& target) : Database(target, Options{}) {}
  Database(const std::filesystem::path& target, const Options& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // The file (SQLite) or the URL without password (PostgreSQL): for messages.
  const std::filesystem::path& path() const { return path_; }
  // What was opened, password included: to open another connection to it.
  const std::filesystem::path& target() const { return target_; }
  Dialect dialect() const { return conn_->dialect(); }
  bool is_postgres() const { return dialect() == Dialect::kPostgres; }

  // Runs one or more statements without parameters or results (scripts).
  void exec(std::string_view sql);
  Statement prepare(std::string_view sql) { return Statement(*this, sql); }
  // A statement prepared once per connection and reused: reset (binds cleared)
  // each time it is handed out. Do not hold two uses of the same SQL at once.
  Statement& cached(const std::string& sql);

  // SQLite's rowid of the last insert; prefer RETURNING (both backends).
  std::int64_t last_insert_rowid() const;
  // Rows changed by every statement since the connection opened.
  std::int64_t total_changes() const;
  bool in_transaction() const;
  // SQLite: "wal" normally; another mode when the file system cannot do WAL.
  // PostgreSQL: "postgresql".
  const std::string& journal_mode() const;

  // ---- dialect hooks
  // An SQL expression for the database server's clock in Unix seconds (with
  // a fraction). On PostgreSQL every machine then reads one clock: leases do
  // not depend on the workers' clocks agreeing.
  std::string now_epoch_sql() const;
  bool has_table(std::string_view name);
  // A migration script as this backend runs it (PostgreSQL: 64-bit INTEGER,
  // DOUBLE PRECISION for REAL, identity columns for INTEGER PRIMARY KEY).
  std::string translate_ddl(std::string_view sql) const;

  // ---- wake-ups (PostgreSQL LISTEN/NOTIFY; on SQLite waiting just sleeps)
  void listen(const std::string& channel);
  // Sent when the current transaction commits (at once outside one).
  void notify(const std::string& channel);
  // True when a notification arrived within timeout_s. A hint only: callers
  // poll the table all the same.
  bool wait_notification(double timeout_s);

  detail::Connection& connection() { return *conn_; }

 private:
  std::filesystem::path path_, target_;
  std::unique_ptr<detail::Connection> conn_;
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> cache_;
};

// BEGIN on construction, ROLLBACK on destruction unless commit() ran.
// kImmediate takes the write lock at once (SQLite: BEGIN IMMEDIATE, no
// deadlock-prone upgrade from a read transaction; PostgreSQL: a
// transaction-scoped advisory lock, so the repositories' read-then-write
// transactions keep one writer at a time on both backends): use it for every
// transaction that writes. Inside an open transaction it is a SAVEPOINT
// (commit releases it, destruction rolls back to it), so functions that need
// atomicity compose with a caller's batch.
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

namespace detail {
std::unique_ptr<Connection> open_sqlite(const std::filesystem::path& path,
                                        const Database::Options& options);
std::unique_ptr<Connection> open_postgres(const std::string& url, const Database::Options& options);
// "state db <where>: <what>: <message>" as the right contimg error.
[[noreturn]] void throw_db_error(bool input_error, const std::string& where, std::string_view what,
                                 std::string_view message);
std::string one_line(std::string_view sql);
}  // namespace detail

}  // namespace contimg::state
