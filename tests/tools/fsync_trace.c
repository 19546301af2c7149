// LD_PRELOAD shim for durable_publish_check.py: appends "fsync PATH" for every
// fsync, "rename FROM TO" for every successful rename and "dbwrite PATH" for
// every pwrite to an SQLite database or its WAL to $FSYNC_TRACE, in call
// order, so the check can tell whether a product was on disk before the rename
// that published it, or before the database recorded it.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static void trace(const char* kind, const char* a, const char* b) {
  const char* file = getenv("FSYNC_TRACE");
  if (!file) return;
  const int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (b) dprintf(fd, "%s %s %s\n", kind, a, b);
  else dprintf(fd, "%s %s\n", kind, a);
  close(fd);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  const int r = real(fd);
  if (n > 0 && r == 0) {
    path[n] = 0;
    trace("fsync", path, NULL);
  }
  return r;
}

int rename(const char* from, const char* to) {
  static int (*real)(const char*, const char*);
  if (!real) real = (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "rename");
  const int r = real(from, to);
  if (r == 0) trace("rename", from, to);
  return r;
}

static int is_database(const char* path) {
  static const char* ends[] = {".sqlite3", ".sqlite3-wal", ".sqlite", ".sqlite-wal",
                               ".db",      ".db-wal",      "-journal"};
  const size_t n = strlen(path);
  for (size_t i = 0; i < sizeof ends / sizeof ends[0]; ++i) {
    const size_t k = strlen(ends[i]);
    if (n >= k && strcmp(path + n - k, ends[i]) == 0) return 1;
  }
  return 0;
}

static void trace_database_write(int fd) {
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return;
  path[n] = 0;
  if (is_database(path)) trace("dbwrite", path, NULL);
}

// SQLite writes its pages and WAL frames with pwrite or pwrite64 (as built).
ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
  static ssize_t (*real)(int, const void*, size_t, off64_t);
  if (!real) real = (ssize_t(*)(int, const void*, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");
  const ssize_t r = real(fd, buf, count, offset);
  if (r > 0) trace_database_write(fd);
  return r;
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  static ssize_t (*real)(int, const void*, size_t, off_t);
  if (!real) real = (ssize_t(*)(int, const void*, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
  const ssize_t r = real(fd, buf, count, offset);
  if (r > 0) trace_database_write(fd);
  return r;
}
