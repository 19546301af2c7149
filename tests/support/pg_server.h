#pragma once
// A real PostgreSQL server for tests (docs/scale-out.md "Tests"): initdb into
// a temporary directory, postgres on a free loopback port with its unix
// socket in that directory, torn down afterwards. Under ctest one server is
// shared by the tests of a run (the pg_server fixture, CONTIMG_TEST_PG_DIR);
// a test binary run by hand starts its own on first use and stops it at exit.
// When the server programs are absent, available() is false and reason()
// says why: tests GTEST_SKIP with it.
#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace contimg::test {

class PgServer {
 public:
  // Starts a server in `dir` (created; its data directory must not exist).
  // Throws std::runtime_error when it cannot.
  static std::unique_ptr<PgServer> start(const std::filesystem::path& dir);
  // The server of a directory another process started (its url file), or
  // nullptr. attach_owned: this object may stop it (the fixture's stop step).
  static std::unique_ptr<PgServer> attach(const std::filesystem::path& dir);
  static std::unique_ptr<PgServer> attach_owned(const std::filesystem::path& dir);
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // The server the tests of this process use (nullptr: see reason()).
  static PgServer* shared();
  static const std::string& reason();

  // postgresql://contimg@127.0.0.1:PORT/postgres
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  // A URL whose connections work in a new, empty schema of their own (one
  // per test: test isolation without a database per test).
  std::string fresh_url();

  void stop(bool immediate = true);  // pg_ctl stop
  void restart();                    // pg_ctl restart -m fast (a server restart)
  // Leaves the server running at destruction (the fixture's start step).
  void detach() { owned_ = false; }

  // The directory holding initdb/pg_ctl/postgres, if any.
  static std::optional<std::filesystem::path> bin_dir();

 private:
  PgServer() = default;
  void pg_ctl(const std::string& args) const;
  std::filesystem::path dir_;
  std::string url_;
  int port_ = 0;
  bool owned_ = true;
  bool running_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

}  // namespace contimg::test
