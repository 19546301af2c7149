// LD_PRELOAD shim for durable_publish_check.py: appends "fsync PATH" for every
// fsync and "rename FROM TO" for every successful rename to $FSYNC_TRACE, in
// call order, so the check can tell whether a product was on disk before the
// rename that published it.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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
