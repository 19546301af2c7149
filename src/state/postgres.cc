// The PostgreSQL backend of state/database.h, on libpq (Debian libpq-dev 15).
// Statements run with PQexecParams (text format; numbers typed int8/float8,
// text left for the server to infer). A lost connection is re-opened before
// the next statement when no transaction was open; inside a transaction the
// transaction is lost and every statement fails (IoError, retryable) until it
// is rolled back, so nothing of it runs in autocommit by accident.
#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.h"
#include "state/database.h"

namespace contimg::state {
std::string postgres_placeholders(std::string_view sql, std::vector<bool>* used);  // database.cc
}

namespace contimg::state::detail {
namespace {

constexpr unsigned kInt8Oid = 20;
constexpr unsigned kFloat8Oid = 701;
constexpr unsigned kTextOid = 25;
// pg_advisory_xact_lock key of an immediate (writing) transaction: 'contimg\0'.
constexpr long long kWriterLockKey = 0x636f6e74696d6700LL;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// SQLSTATE classes the data is to blame for: integrity constraint (23), data
// exception (22: bad number, value too long, ...).
bool is_input_state(std::string_view sqlstate) {
  return sqlstate.starts_with("23") || sqlstate.starts_with("22");
}
// Programming errors (syntax, undefined column, feature not supported): a bug.
bool is_internal_state(std::string_view sqlstate) {
  return sqlstate.starts_with("42") || sqlstate.starts_with("0A");
}

void notice_to_log(void* where, const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  spdlog::debug("state db {}: {}", *static_cast<const std::string*>(where), m);
}

class PgConnection;

class PgStatement final : public StatementImpl {
 public:
  PgStatement(PgConnection& c, std::string_view sql)
      : c_(c), sql_(postgres_placeholders(sql, &used_)), original_(sql) {}
  void bind_int(int index, std::int64_t v) override { set(index, std::to_string(v), kInt8Oid); }
  void bind_double(int index, double v) override { set(index, fmt::format("{}", v), kFloat8Oid); }
  void bind_text(int index, std::string_view v) override { set(index, std::string(v), 0); }
  void bind_null(int index) override { set(index, std::nullopt, 0); }
  bool step() override;
  int run() override;
  void reset() override {
    result_.reset();
    row_ = -1;
    done_ = false;
    values_.clear();
    types_.clear();
  }
  bool is_null(int col) const override { return PQgetisnull(result_.get(), row_, col) != 0; }
  std::int64_t get_int(int col) const override;
  double get_double(int col) const override;
  std::string get_text(int col) const override {
    if (!result_ || row_ < 0) return {};
    const char* p = PQgetvalue(result_.get(), row_, col);
    return std::string(p, static_cast<std::size_t>(PQgetlength(result_.get(), row_, col)));
  }

 private:
  void set(int index, std::optional<std::string> v, unsigned oid) {
    if (index < 1)
      throw Error(fmt::format("state db: bind index {} of {}", index, one_line(original_)));
    const auto i = static_cast<std::size_t>(index - 1);
    if (values_.size() <= i) {
      values_.resize(i + 1);
      types_.resize(i + 1, 0);
    }
    values_[i] = std::move(v);
    types_[i] = oid;
  }
  int execute();  // rows changed by a DML statement, else 0

  PgConnection& c_;
  std::vector<bool> used_;  // before sql_: set while sql_ is translated ($k in the SQL)
  std::string sql_, original_;
  std::vector<std::optional<std::string>> values_;
  std::vector<unsigned> types_;
  Result result_;
  int row_ = -1;
  bool done_ = false;
};

class PgConnection final : public Connection {
 public:
  PgConnection(const std::string& url, const Database::Options& options) : where_(redact_url(url)) {
    // Defaults first: what the URL says overrides them. Keepalives notice a
    // dead server or network on an idle connection.
    const char* keys[] = {"connect_timeout",
                          "application_name",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "dbname",
                          nullptr};
    const char* vals[] = {"10", "contimg", "10", "5", "3", url.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, vals, 1);
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
      const std::string msg = conn_ ? PQerrorMessage(conn_) : "out of memory";
      if (conn_) PQfinish(conn_);
      conn_ = nullptr;
      throw_db_error(false, where_, "cannot connect", trim(msg));
    }
    busy_timeout_ms_ = options.busy_timeout_ms;
    setup_session();
  }
  ~PgConnection() override {
    if (conn_) PQfinish(conn_);
  }

  Dialect dialect() const override { return Dialect::kPostgres; }

  void exec(std::string_view sql) override {
    const std::string text(sql);
    Result r = run([&] { return PQexec(conn_, text.c_str()); }, text == "BEGIN");
    check(r.get(), one_line(sql));
    count(r.get());
    note_transaction();
  }
  std::unique_ptr<StatementImpl> prepare(std::string_view sql) override {
    return std::make_unique<PgStatement>(*this, sql);
  }
  std::int64_t last_insert_rowid() const override {
    throw Error(fmt::format("state db {}: last_insert_rowid is SQLite's: use RETURNING", where_));
  }
  std::int64_t total_changes() const override { return changes_; }
  bool in_transaction() const override {
    if (PQstatus(conn_) != CONNECTION_OK) return open_tx_;
    const auto s = PQtransactionStatus(conn_);
    return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
  }
  void begin(bool immediate) override {
    exec("BEGIN");
    if (immediate) {
      // SQLite's BEGIN IMMEDIATE: one writing transaction at a time, so the
      // repositories' read-then-write transactions stay correct. The queue's
      // hot path (claim, heartbeat, reaper) uses row locks instead.
      try {
        exec(fmt::format("SELECT pg_advisory_xact_lock({})", kWriterLockKey));
      } catch (...) {
        rollback_quietly();  // no Transaction object will: its constructor failed
        throw;
      }
    }
  }
  void rollback_quietly() noexcept override {
    if (PQstatus(conn_) != CONNECTION_OK) {
      open_tx_ = false;  // the server rolled it back when the connection went
      return;
    }
    if (PQtransactionStatus(conn_) == PQTRANS_IDLE) {
      open_tx_ = false;
      return;
    }
    PQclear(PQexec(conn_, "ROLLBACK"));
    note_transaction();
  }
  void rollback_to_quietly(const std::string& savepoint) noexcept override {
    if (PQstatus(conn_) != CONNECTION_OK || PQtransactionStatus(conn_) == PQTRANS_IDLE) return;
    try {
      const std::string sql =
          fmt::format("ROLLBACK TO SAVEPOINT {0}; RELEASE SAVEPOINT {0}", savepoint);
      PQclear(PQexec(conn_, sql.c_str()));
    } catch (...) {
    }
  }
  const std::string& journal_mode() const override {
    static const std::string mode = "postgresql";
    return mode;
  }
  void listen(const std::string& channel) override {
    exec("LISTEN " + quote_ident(channel));
    channels_.insert(channel);
  }
  void notify(const std::string& channel) override {
    auto st = prepare("SELECT pg_notify(?1, '')");
    st->bind_text(1, channel);
    st->run();
  }
  bool wait_notification(double timeout_s) override {
    ensure_usable();
    if (take_notification()) return true;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(std::max(0.0, timeout_s));
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return false;
      pollfd pfd{PQsocket(conn_), POLLIN, 0};
      const int rc = poll(&pfd, 1, static_cast<int>(left));
      if (rc < 0 && errno != EINTR) return false;
      if (rc > 0) {
        if (PQconsumeInput(conn_) == 0) {
          // The connection went: the caller polls the table after the wait
          // anyway; the next statement reconnects.
          return false;
        }
        if (take_notification()) return true;
      }
    }
  }

  // ---- for statements
  PGconn* handle() { return conn_; }
  // Runs `send` once; when the connection turns out to be gone and no
  // transaction was open, reconnects and runs it again if that is safe: the
  // statement is a BEGIN, or the server said it ended the session (57P01-03:
  // terminated, restarted) so the statement never ran. libpq notices a
  // connection the server closed only when it is next used.
  template <typename Send>
  Result run(Send&& send, bool safe_to_repeat) {
    ensure_usable();
    const bool had_tx = open_tx_;
    Result r(send());
    const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if ((status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) ||
        PQstatus(conn_) == CONNECTION_OK || had_tx) {
      return r;
    }
    const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    const bool session_ended = state && std::string_view(state).starts_with("57P0");
    if (!safe_to_repeat && !session_ended) return r;
    ensure_usable();  // reconnects (or throws)
    return Result(send());
  }
  const std::string& where() const { return where_; }
  void ensure_usable() {
    // Outside a transaction, read what the server may have sent while we
    // were idle: a server that restarted or ended this session has closed
    // the socket, and the statement must not be sent on it.
    // (libpq reports the end of the stream only on a read after the server's
    // last message, so read while there is something to read.)
    for (int k = 0; k < 4 && PQstatus(conn_) == CONNECTION_OK && !open_tx_; ++k) {
      pollfd pfd{PQsocket(conn_), POLLIN, 0};
      if (poll(&pfd, 1, 0) <= 0 || PQconsumeInput(conn_) == 0) break;
    }
    if (PQstatus(conn_) == CONNECTION_OK) return;
    if (open_tx_) {
      throw_db_error(false, where_, "connection lost",
                     "the server closed the connection inside a transaction; the transaction "
                     "was rolled back");
    }
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      throw_db_error(false, where_, "connection lost, cannot reconnect",
                     trim(PQerrorMessage(conn_)));
    }
    spdlog::warn("state db {}: connection lost; reconnected", where_);
    setup_session();
    for (const auto& c : channels_) exec("LISTEN " + quote_ident(c));
  }
  // Throws the contimg error for a failed result.
  void check(PGresult* r, std::string_view what) {
    const auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return;
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const std::string sqlstate = state ? state : "";
    std::string msg = r ? PQresultErrorMessage(r) : "";
    if (msg.empty()) msg = PQerrorMessage(conn_);
    msg = trim(msg);
    if (!sqlstate.empty()) msg += fmt::format(" (SQLSTATE {})", sqlstate);
    note_transaction();
    if (is_internal_state(sqlstate)) {
      throw Error(fmt::format("state db {}: {}: {}", where_, what, msg));
    }
    // Connection failure (08), admin/crash shutdown (57P0x), serialization
    // failure and deadlock (40), lock timeout (55P03), disk full (53): the
    // environment's, retryable.
    throw_db_error(is_input_state(sqlstate), where_, what, msg);
  }
  void count(PGresult* r) {
    const std::string_view tag = PQcmdStatus(r);
    if (tag.starts_with("INSERT") || tag.starts_with("UPDATE") || tag.starts_with("DELETE") ||
        tag.starts_with("MERGE")) {
      last_changes_ = std::atoi(PQcmdTuples(r));
      changes_ += last_changes_;
    } else {
      last_changes_ = 0;
    }
  }
  int last_changes() const { return last_changes_; }
  void note_transaction() {
    if (PQstatus(conn_) != CONNECTION_OK) return;  // keep what we knew
    const auto s = PQtransactionStatus(conn_);
    open_tx_ = s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
  }

 private:
  static std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    for (auto& c : s) {
      if (c == '\n') c = ' ';
    }
    return s;
  }
  std::string quote_ident(const std::string& s) {
    char* q = PQescapeIdentifier(conn_, s.data(), s.size());
    if (!q) throw_db_error(false, where_, "quote identifier", PQerrorMessage(conn_));
    std::string out(q);
    PQfreemem(q);
    return out;
  }
  void setup_session() {
    PQsetNoticeProcessor(conn_, notice_to_log, &where_);
    // The busy timeout's counterpart: a lock wait gives up (55P03, retryable).
    Result r(PQexec(conn_, fmt::format("SET lock_timeout = {}", busy_timeout_ms_).c_str()));
    check(r.get(), "SET lock_timeout");
  }
  bool take_notification() {
    PQconsumeInput(conn_);
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      any = true;
      PQfreemem(n);
    }
    return any;
  }

  std::string where_;
  PGconn* conn_ = nullptr;
  int busy_timeout_ms_ = 30000;
  std::int64_t changes_ = 0;
  int last_changes_ = 0;
  bool open_tx_ = false;
  std::set<std::string> channels_;
};

int PgStatement::execute() {
  // A parameter never bound is NULL (as in SQLite); one the SQL skips (?1
  // and ?9 only) is typed text, or the server cannot tell its type.
  if (values_.size() < used_.size()) {
    values_.resize(used_.size());
    types_.resize(used_.size(), 0);
  }
  for (std::size_t i = 0; i < types_.size(); ++i) {
    if (i >= used_.size() || !used_[i]) types_[i] = kTextOid;
  }
  std::vector<const char*> values(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i) {
    values[i] = values_[i] ? values_[i]->c_str() : nullptr;
  }
  result_ = c_.run(
      [&] {
        return PQexecParams(c_.handle(), sql_.c_str(), static_cast<int>(values_.size()),
                            types_.data(), values.data(), nullptr, nullptr, 0);
      },
      false);
  try {
    c_.check(result_.get(), one_line(original_));
  } catch (...) {
    result_.reset();
    throw;
  }
  c_.count(result_.get());
  c_.note_transaction();
  row_ = -1;
  done_ = false;
  return c_.last_changes();
}

bool PgStatement::step() {
  if (!result_ || done_) execute();  // like SQLite: a step after the end runs it again
  ++row_;
  if (row_ < PQntuples(result_.get())) return true;
  done_ = true;
  return false;
}

int PgStatement::run() {
  const int n = execute();
  result_.reset();
  row_ = -1;
  return n;
}

std::int64_t PgStatement::get_int(int col) const {
  if (!result_ || row_ < 0 || is_null(col)) return 0;
  const char* p = PQgetvalue(result_.get(), row_, col);
  if (p[0] == 't' && p[1] == 0) return 1;  // booleans
  if (p[0] == 'f' && p[1] == 0) return 0;
  std::int64_t v = 0;
  const auto n = std::strlen(p);
  const auto [end, ec] = std::from_chars(p, p + n, v);
  if (ec == std::errc() && end == p + n) return v;
  return static_cast<std::int64_t>(std::strtod(p, nullptr));  // numeric
}

double PgStatement::get_double(int col) const {
  if (!result_ || row_ < 0 || is_null(col)) return 0;
  const char* p = PQgetvalue(result_.get(), row_, col);
  if (p[0] == 't' && p[1] == 0) return 1;
  if (p[0] == 'f' && p[1] == 0) return 0;
  return std::strtod(p, nullptr);
}

}  // namespace

std::unique_ptr<Connection> open_postgres(const std::string& url,
                                          const Database::Options& options) {
  return std::make_unique<PgConnection>(url, options);
}

}  // namespace contimg::state::detail
