// A program outside the tree that uses the installed library.
#include <uzram/store.h>

#include <cstdio>
#include <cstring>

int main() {
  uzram::StoreOptions opts;
  opts.disksize = 1 << 20;
  auto store = uzram::Store::open(opts);
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.status().to_string().c_str());
    return 1;
  }
  std::byte page[uzram::kPageSize];
  std::memset(page, 'u', sizeof page);
  if (!(*store)->write(3, uzram::PageView(page, uzram::kPageSize)).is_ok()) return 1;
  std::byte back[uzram::kPageSize];
  if (!(*store)->read(3, uzram::PageBuffer(back, uzram::kPageSize)).is_ok()) return 1;
  if (std::memcmp(page, back, sizeof page) != 0) return 1;
  std::puts(uzram::to_json((*store)->stats()).c_str());
  return 0;
}
