#include "support/pg_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "state/database.h"

namespace contimg::test {
namespace fs = std::filesystem;
namespace {

int free_loopback_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t n = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n) != 0) {
    ::close(s);
    throw std::runtime_error("no free loopback port");
  }
  ::close(s);
  return ntohs(a.sin_port);
}

// Runs argv (as uid/gid when we are root: PostgreSQL refuses to run as
// root), output to `log`; returns the exit status.
int run_as(const std::vector<std::string>& argv, uid_t uid, gid_t gid, const fs::path& log) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (::geteuid() == 0) {
      if (::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(126);
    }
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string tail_of(const fs::path& log) {
  std::ifstream in(log);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 1500 ? all.substr(all.size() - 1500) : all;
}

std::string g_reason;
std::unique_ptr<PgServer> g_server;

}  // namespace

std::optional<fs::path> PgServer::bin_dir() {
  std::vector<fs::path> dirs;
  if (const char* e = std::getenv("CONTIMG_PG_BINDIR")) dirs.emplace_back(e);
  dirs.emplace_back("/usr/lib/postgresql/15/bin");
  dirs.emplace_back("/usr/local/bin");
  dirs.emplace_back("/usr/bin");
  for (const auto& d : dirs) {
    if (fs::exists(d / "initdb") && fs::exists(d / "pg_ctl") && fs::exists(d / "postgres")) {
      return d;
    }
  }
  return std::nullopt;
}

std::unique_ptr<PgServer> PgServer::start(const fs::path& dir) {
  const auto bin = bin_dir();
  if (!bin) {
    throw std::runtime_error(
        "PostgreSQL server programs (initdb, pg_ctl, postgres) not found in "
        "/usr/lib/postgresql/15/bin, /usr/local/bin or /usr/bin (Debian postgresql-15; "
        "scripts/setup.sh installs it)");
  }
  std::unique_ptr<PgServer> s(new PgServer());
  s->dir_ = dir;
  fs::create_directories(dir);
  s->uid_ = ::getuid();
  s->gid_ = ::getgid();
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (!pw) pw = ::getpwnam("nobody");
    if (!pw) throw std::runtime_error("running as root and no postgres or nobody user");
    s->uid_ = pw->pw_uid;
    s->gid_ = pw->pw_gid;
    if (::chown(dir.c_str(), s->uid_, s->gid_) != 0) {
      throw std::runtime_error("cannot chown " + dir.string());
    }
  }
  const fs::path log = dir / "setup.log";
  if (run_as({(*bin / "initdb").string(), "-D", (dir / "data").string(), "-U", "contimg",
              "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
             s->uid_, s->gid_, log) != 0) {
    throw std::runtime_error("initdb failed: " + tail_of(log));
  }
  for (int tries = 0;; ++tries) {
    s->port_ = free_loopback_port();
    try {
      s->pg_ctl("start -w -t 60");
      break;
    } catch (const std::exception&) {
      if (tries >= 2) throw;
    }
  }
  s->running_ = true;
  s->url_ = fmt::format("postgresql://contimg@127.0.0.1:{}/postgres", s->port_);
  std::ofstream(dir / "url") << s->url_ << "\n";
  return s;
}

std::unique_ptr<PgServer> PgServer::attach(const fs::path& dir) {
  std::ifstream in(dir / "url");
  std::string url;
  if (!std::getline(in, url) || url.empty()) return nullptr;
  std::unique_ptr<PgServer> s(new PgServer());
  s->dir_ = dir;
  s->url_ = url;
  const auto colon = url.rfind(':');
  s->port_ = std::atoi(url.c_str() + colon + 1);
  s->owned_ = false;
  s->running_ = true;
  return s;
}

void PgServer::pg_ctl(const std::string& args) const {
  const auto bin = bin_dir();
  const fs::path log = dir_ / "pg_ctl.log";
  // -o: loopback only, the socket in our directory, no durability (a test).
  const std::string opts = fmt::format(
      "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off "
      "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60",
      port_, dir_.string());
  std::vector<std::string> argv = {(*bin / "pg_ctl").string(),
                                   "-D",
                                   (dir_ / "data").string(),
                                   "-l",
                                   (dir_ / "server.log").string(),
                                   "-o",
                                   opts};
  std::string word;
  for (char c : args + " ") {
    if (c == ' ') {
      if (!word.empty()) argv.push_back(word);
      word.clear();
    } else {
      word += c;
    }
  }
  if (run_as(argv, uid_, gid_, log) != 0) {
    throw std::runtime_error("pg_ctl " + args + " failed: " + tail_of(log) +
                             tail_of(dir_ / "server.log"));
  }
}

void PgServer::stop(bool immediate) {
  if (!running_) return;
  pg_ctl(immediate ? "stop -w -m immediate" : "stop -w -m fast");
  running_ = false;
}

void PgServer::restart() {
  pg_ctl("restart -w -m fast -t 60");
}

PgServer::~PgServer() {
  if (!owned_) return;
  try {
    stop(true);
  } catch (...) {
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PgServer::fresh_url() {
  static std::atomic<int> n{0};
  const std::string schema = fmt::format("t_{}_{}", ::getpid(), ++n);
  {
    state::Database admin(url_);
    admin.exec("CREATE SCHEMA " + schema);
  }
  // libpq's options: the session's search_path is the new schema.
  return url_ + "?options=-csearch_path%3D" + schema;
}

std::unique_ptr<PgServer> PgServer::attach_owned(const fs::path& dir) {
  auto s = attach(dir);
  if (!s) return s;
  // The data directory's owner runs pg_ctl.
  struct stat st {};
  if (::stat((dir / "data").c_str(), &st) == 0) {
    s->uid_ = st.st_uid;
    s->gid_ = st.st_gid;
  }
  return s;
}

PgServer* PgServer::shared() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      if (const char* d = std::getenv("CONTIMG_TEST_PG_DIR"); d && *d) {
        g_server = attach(d);
        if (g_server) return;
      }
      if (!bin_dir()) {
        g_reason =
            "PostgreSQL server programs (initdb, pg_ctl, postgres) are not installed "
            "(Debian postgresql-15; scripts/setup.sh installs it)";
        return;
      }
      char tmpl[] = "/tmp/contimg-pg-XXXXXX";
      if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
      g_server = start(tmpl);
      // Torn down when the process exits.
      std::atexit([] { g_server.reset(); });
    } catch (const std::exception& e) {
      g_reason = std::string("cannot start PostgreSQL: ") + e.what();
      g_server.reset();
    }
  });
  return g_server.get();
}

const std::string& PgServer::reason() {
  return g_reason;
}

}  // namespace contimg::test
