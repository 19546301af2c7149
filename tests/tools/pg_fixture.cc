// The ctest fixture's PostgreSQL server (tests/CMakeLists.txt: pg_server_start
// and pg_server_stop): `pg_fixture start DIR` runs initdb into DIR and starts
// the server on a free loopback port (DIR/url names it); `pg_fixture stop DIR`
// stops it and removes DIR; `pg_fixture restart DIR` restarts it (fault tests).
// Without the server programs, start prints why and
// exits 0 writing no url: the tests then skip saying so.
#include <cstdio>
#include <filesystem>
#include <string>

#include "support/pg_server.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc != 3) {
    std::fprintf(stderr, "usage: pg_fixture start|restart|stop DIR\n");
    return 2;
  }
  const std::string cmd = argv[1];
  const fs::path dir = argv[2];
  try {
    if (cmd == "start") {
      std::error_code ec;
      fs::remove_all(dir, ec);  // a previous run's leftovers
      if (!contimg::test::PgServer::bin_dir()) {
        std::printf("SKIP: PostgreSQL server programs not installed (Debian postgresql-15)\n");
        return 0;
      }
      auto server = contimg::test::PgServer::start(dir);
      server->detach();
      std::printf("PostgreSQL for the tests at %s\n", server->url().c_str());
      return 0;
    }
    if (cmd == "restart") {  // pg_ctl restart -m fast: the fault tests' server restart
      // As the data directory's owner (PostgreSQL refuses root).
      auto server = contimg::test::PgServer::attach_owned(dir);
      if (!server) {
        std::fprintf(stderr, "pg_fixture restart: no server in %s\n", dir.c_str());
        return 1;
      }
      server->restart();
      return 0;
    }
    if (cmd == "stop") {
      if (auto server = contimg::test::PgServer::attach_owned(dir)) server->stop(true);
      std::error_code ec;
      fs::remove_all(dir, ec);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pg_fixture %s: %s\n", cmd.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "pg_fixture: unknown command %s\n", cmd.c_str());
  return 2;
}
