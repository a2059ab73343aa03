// LD_PRELOAD shim for reportbridge-bench: counts the bytes a process hands to
// write(2), pwrite(2), writev(2) and pwritev(2), per category of file, and
// writes the totals to $IO_COUNT_OUT when the process exits.
//
//   IO_COUNT_CATEGORIES="wal=state.db-wal,state=/state/,audit=/audit/,drops=/out/"
//   IO_COUNT_OUT=/tmp/io.txt LD_PRELOAD=libreportbridge_io_count.so reportbridge once ...
//
// A file's category is the first NAME=SUBSTRING whose substring its path
// (readlink /proc/self/fd/N) contains, decided at its first write after open;
// anything else counts as "other". Output: one "NAME BYTES" line per category.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_CATEGORIES 15
#define MAX_FDS 65536

static char names[MAX_CATEGORIES + 1][32];
static char patterns[MAX_CATEGORIES][256];
static int ncategories = -1;
static _Atomic unsigned long long bytes[MAX_CATEGORIES + 1];
// 0: not decided yet; k + 1: category k.
static _Atomic unsigned char fd_category[MAX_FDS];

static void load_categories(void) {
  if (ncategories >= 0) return;
  int n = 0;
  const char* spec = getenv("IO_COUNT_CATEGORIES");
  if (spec) {
    char buf[4096];
    strncpy(buf, spec, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    char* save = NULL;
    for (char* item = strtok_r(buf, ",", &save); item && n < MAX_CATEGORIES; item = strtok_r(NULL, ",", &save)) {
      char* eq = strchr(item, '=');
      if (!eq) continue;
      *eq = 0;
      strncpy(names[n], item, sizeof names[n] - 1);
      strncpy(patterns[n], eq + 1, sizeof patterns[n] - 1);
      ++n;
    }
  }
  strcpy(names[n], "other");
  ncategories = n;
}

static int category_of(int fd) {
  if (fd < 0 || fd >= MAX_FDS) return ncategories;
  unsigned char c = atomic_load_explicit(&fd_category[fd], memory_order_relaxed);
  if (c) return c - 1;
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t len = readlink(link, path, sizeof path - 1);
  int k = ncategories;
  if (len > 0) {
    path[len] = 0;
    for (int i = 0; i < ncategories; ++i)
      if (strstr(path, patterns[i])) {
        k = i;
        break;
      }
  }
  atomic_store_explicit(&fd_category[fd], (unsigned char)(k + 1), memory_order_relaxed);
  return k;
}

static void count(int fd, ssize_t n) {
  if (n <= 0) return;
  load_categories();
  atomic_fetch_add_explicit(&bytes[category_of(fd)], (unsigned long long)n, memory_order_relaxed);
}

typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec*, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec*, int, off_t);
typedef int (*close_fn)(int);
typedef int (*open_fn)(const char*, int, ...);

#define REAL(name, type) \
  static type real_##name; \
  if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void* buf, size_t n) {
  REAL(write, write_fn);
  ssize_t r = real_write(fd, buf, n);
  count(fd, r);
  return r;
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  REAL(pwrite64, pwrite_fn);
  ssize_t r = real_pwrite64(fd, buf, n, off);
  count(fd, r);
  return r;
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  REAL(pwrite, pwrite_fn);
  ssize_t r = real_pwrite(fd, buf, n, off);
  count(fd, r);
  return r;
}

ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  REAL(writev, writev_fn);
  ssize_t r = real_writev(fd, iov, cnt);
  count(fd, r);
  return r;
}

ssize_t pwritev(int fd, const struct iovec* iov, int cnt, off_t off) {
  REAL(pwritev, pwritev_fn);
  ssize_t r = real_pwritev(fd, iov, cnt, off);
  count(fd, r);
  return r;
}

int close(int fd) {
  REAL(close, close_fn);
  if (fd >= 0 && fd < MAX_FDS) atomic_store_explicit(&fd_category[fd], 0, memory_order_relaxed);
  return real_close(fd);
}

__attribute__((destructor)) static void report(void) {
  const char* out = getenv("IO_COUNT_OUT");
  if (!out) return;
  load_categories();
  unsigned long long total = 0;
  for (int i = 0; i <= ncategories; ++i) total += atomic_load(&bytes[i]);
  if (total == 0) return;  // (a wrapper such as time(1) that wrote nothing of its own)
  REAL(write, write_fn);
  REAL(open, open_fn);
  int fd = real_open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[128];
  for (int i = 0; i <= ncategories; ++i) {
    int len = snprintf(line, sizeof line, "%s %llu\n", names[i], (unsigned long long)atomic_load(&bytes[i]));
    real_write(fd, line, (size_t)len);
  }
  REAL(close, close_fn);
  real_close(fd);
}
