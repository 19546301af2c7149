#pragma once
// Tests that run against both state backends (docs/scale-out.md "Tests"):
// TEST_P on a BackendTest fixture, instantiated with CONTIMG_BOTH_BACKENDS.
// The PostgreSQL case uses the test server (support/pg_server.h), a fresh
// schema per database name, and is skipped with the reason when no server can
// be started.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "support/pg_server.h"
#include "support/tiny_uvh5.h"

namespace contimg::test {

enum class Backend { kSqlite, kPostgres };

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "sqlite" : "postgres";
}

#define CONTIMG_BOTH_BACKENDS                                                                \
  ::testing::Values(::contimg::test::Backend::kSqlite, ::contimg::test::Backend::kPostgres), \
      ::contimg::test::backend_name

class BackendTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (pg() && !PgServer::shared()) GTEST_SKIP() << PgServer::reason();
  }
  bool pg() const { return GetParam() == Backend::kPostgres; }
  // The database called `name` of this test: a file in the test's directory
  // (SQLite) or a schema of its own on the server (PostgreSQL).
  std::filesystem::path target(const std::string& name = "state/contimg.sqlite3") {
    if (!pg()) return dir_ / name;
    auto it = urls_.find(name);
    if (it == urls_.end()) it = urls_.emplace(name, PgServer::shared()->fresh_url()).first;
    return it->second;
  }

  TempDir dir_;
  std::map<std::string, std::string> urls_;
};

}  // namespace contimg::test
