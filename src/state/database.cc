// The backend-neutral front of state/database.h: statements, transactions,
// the statement cache and the dialect hooks. The backends live in sqlite.cc
// and postgres.cc.
#include "state/database.h"

#include <atomic>
#include <cctype>
#include <vector>

#include <fmt/format.h>

#include "common/error.h"

namespace contimg::state {
namespace detail {

void throw_db_error(bool input_error, const std::string& where, std::string_view what,
                    std::string_view message) {
  const std::string text = fmt::format("state db {}: {}: {}", where, what, message);
  if (input_error) throw InputError(text);
  throw IoError(text);
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

}  // namespace detail

namespace {

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Copies a quoted literal/identifier or a comment starting at sql[i] to out;
// returns true (and advances i) when there was one.
bool copy_quoted(std::string_view sql, std::size_t& i, std::string& out) {
  const char c = sql[i];
  if (c == '\'' || c == '"') {
    std::size_t j = i + 1;
    while (j < sql.size()) {
      if (sql[j] == c) {
        if (j + 1 < sql.size() && sql[j + 1] == c) {
          j += 2;  // doubled quote inside
          continue;
        }
        break;
      }
      ++j;
    }
    const std::size_t end = std::min(j + 1, sql.size());
    out.append(sql.substr(i, end - i));
    i = end;
    return true;
  }
  if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
    const std::size_t nl = sql.find('\n', i);
    const std::size_t end = nl == std::string_view::npos ? sql.size() : nl;
    out.append(sql.substr(i, end - i));
    i = end;
    return true;
  }
  return false;
}

}  // namespace

const char* to_string(Dialect d) {
  return d == Dialect::kSqlite ? "sqlite" : "postgresql";
}

bool is_postgres_url(std::string_view target) {
  return target.starts_with("postgresql://") || target.starts_with("postgres://");
}

std::string redact_url(std::string_view url) {
  // scheme://user:password@host... -> scheme://user@host...
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  const auto at = url.find('@', scheme + 3);
  if (at == std::string_view::npos) return std::string(url);
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon)) + std::string(url.substr(at));
}

// Placeholders for libpq: ?N -> $N, ? -> the next number (SQLite's rule),
// outside literals and comments.
std::string postgres_placeholders(std::string_view sql, std::vector<bool>* used) {
  std::string out;
  out.reserve(sql.size() + 8);
  int highest = 0;
  std::size_t i = 0;
  while (i < sql.size()) {
    if (copy_quoted(sql, i, out)) continue;
    if (sql[i] == '?') {
      std::size_t j = i + 1;
      while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) ++j;
      int n = 0;
      if (j > i + 1) {
        n = std::stoi(std::string(sql.substr(i + 1, j - i - 1)));
      } else {
        n = highest + 1;
      }
      highest = std::max(highest, n);
      if (used) {
        if (used->size() < static_cast<std::size_t>(n)) used->resize(static_cast<std::size_t>(n));
        (*used)[static_cast<std::size_t>(n - 1)] = true;
      }
      out += fmt::format("${}", n);
      i = j;
      continue;
    }
    out += sql[i++];
  }
  return out;
}

// ---------------------------------------------------------------- Database

Database::Database(const std::filesystem::path& target, const Options& options)
    : target_(target) {
  const std::string t = target.string();
  if (is_postgres_url(t)) {
    path_ = redact_url(t);
    conn_ = detail::open_postgres(t, options);
  } else {
    path_ = target;
    conn_ = detail::open_sqlite(target, options);
  }
}

Database::~Database() {
  cache_.clear();  // finalize statements before closing
  conn_.reset();
}

void Database::exec(std::string_view sql) {
  conn_->exec(sql);
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

std::int64_t Database::last_insert_rowid() const {
  return conn_->last_insert_rowid();
}
std::int64_t Database::total_changes() const {
  return conn_->total_changes();
}
bool Database::in_transaction() const {
  return conn_->in_transaction();
}
const std::string& Database::journal_mode() const {
  return conn_->journal_mode();
}

std::string Database::now_epoch_sql() const {
  if (is_postgres()) return "(extract(epoch from clock_timestamp())::double precision)";
  return "((julianday('now') - 2440587.5) * 86400.0)";
}

bool Database::has_table(std::string_view name) {
  auto st =
      prepare(is_postgres() ? "SELECT 1 FROM information_schema.tables WHERE "
                              "table_schema = current_schema() AND table_name = ?1"
                            : "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  st.bind(1, name);
  return st.step();
}

std::string Database::translate_ddl(std::string_view sql) const {
  if (!is_postgres()) return std::string(sql);
  // SQLite's INTEGER is 64-bit and REAL a double; PostgreSQL's are 32-bit and
  // single precision. An INTEGER PRIMARY KEY is SQLite's rowid: an identity.
  struct Rule {
    std::string_view from, to;
  };
  static constexpr Rule rules[] = {
      {"INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
      {"INTEGER", "BIGINT"},
      {"REAL", "DOUBLE PRECISION"},
  };
  std::string out;
  out.reserve(sql.size() + 64);
  std::size_t i = 0;
  while (i < sql.size()) {
    if (copy_quoted(sql, i, out)) continue;
    bool replaced = false;
    if (i == 0 || !word_char(sql[i - 1])) {
      for (const auto& r : rules) {
        if (sql.substr(i, r.from.size()) == r.from &&
            (i + r.from.size() == sql.size() || !word_char(sql[i + r.from.size()]))) {
          out += r.to;
          i += r.from.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += sql[i++];
  }
  return out;
}

void Database::listen(const std::string& channel) {
  conn_->listen(channel);
}
void Database::notify(const std::string& channel) {
  conn_->notify(channel);
}
bool Database::wait_notification(double timeout_s) {
  return conn_->wait_notification(timeout_s);
}

// ---------------------------------------------------------------- Statement

Statement::Statement(Database& db, std::string_view sql)
    : impl_(db.connection().prepare(sql)), sql_(sql) {}
Statement::Statement(Statement&& o) noexcept : impl_(std::move(o.impl_)), sql_(std::move(o.sql_)) {}
Statement::~Statement() = default;

Statement& Statement::bind(int index, std::int64_t v) {
  impl_->bind_int(index, v);
  return *this;
}
Statement& Statement::bind(int index, double v) {
  impl_->bind_double(index, v);
  return *this;
}
Statement& Statement::bind(int index, std::string_view v) {
  impl_->bind_text(index, v);
  return *this;
}
Statement& Statement::bind_null(int index) {
  impl_->bind_null(index);
  return *this;
}
bool Statement::step() {
  return impl_->step();
}
int Statement::run() {
  return impl_->run();
}
void Statement::reset() {
  impl_->reset();
}
bool Statement::is_null(int col) const {
  return impl_->is_null(col);
}
std::int64_t Statement::get_int(int col) const {
  return impl_->get_int(col);
}
double Statement::get_double(int col) const {
  return impl_->get_double(col);
}
std::string Statement::get_text(int col) const {
  return impl_->get_text(col);
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
    db_.connection().begin(mode == Mode::kImmediate);
  }
  active_ = true;
}

Transaction::~Transaction() {
  if (!active_) return;
  if (savepoint_.empty()) {
    db_.connection().rollback_quietly();
  } else {
    db_.connection().rollback_to_quietly(savepoint_);
  }
}

void Transaction::commit() {
  if (!active_) throw Error("state db " + db_.path().string() + ": commit without a transaction");
  db_.exec(savepoint_.empty() ? std::string("COMMIT") : "RELEASE " + savepoint_);
  active_ = false;
}

}  // namespace contimg::state
