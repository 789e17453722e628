/* The C API (include/uzram/uzram.h) from a C file, compiled as C. Exit
 * status 0 when every check passes; each failure prints a line. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "uzram/uzram.h"

static int failures = 0;
#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                    \
    }                                                                \
  } while (0)

int main(void) {
  char err[256];
  uzram_space *bad = uzram_space_open("limit=12Q", err, sizeof err);
  CHECK(bad == NULL);
  CHECK(errno == EINVAL);
  CHECK(strstr(err, "limit") != NULL);

  uzram_space *s = uzram_space_open("limit=1M,size=64M,algo=lz4,spin_us=0", err, sizeof err);
  if (s == NULL) {
    fprintf(stderr, "uzram_space_open: %s\n", err);
    return 77; /* skipped: no userfaultfd here */
  }
  const size_t pages = 2048; /* 8 MiB: 8 times the limit */
  unsigned char *p = uzram_map(s, pages * 4096);
  CHECK(p != NULL);
  if (p != NULL) {
    for (size_t i = 0; i < pages; ++i) {
      CHECK(p[i * 4096 + 100] == 0);
      memset(p + i * 4096, (int)(i & 0x7f) + 1, 512);
    }
    for (size_t i = 0; i < pages; ++i) {
      if (p[i * 4096 + 511] != (unsigned char)((i & 0x7f) + 1) || p[i * 4096 + 512] != 0) {
        CHECK(!"page content");
        break;
      }
    }
  }
  char json[4096];
  int n = uzram_stats_json(s, json, sizeof json);
  CHECK(n > 0);
  CHECK(strstr(json, "\"swap_outs\"") != NULL);
  CHECK(uzram_stats_json(s, json, 8) == -1 && errno == ERANGE);

  static char not_ours[8192];
  CHECK(uzram_unmap(s, not_ours, 4096) == -1 && errno == EINVAL);
  CHECK(uzram_map(s, 0) == NULL && errno == EINVAL);
  if (p != NULL) CHECK(uzram_unmap(s, p, pages * 4096) == 0);
  uzram_space_close(s);
  uzram_space_close(NULL);
  if (failures == 0) printf("c_api_test: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
