// store_bench: write and read of one 4 KiB page through the Store (lz4),
// from one thread and from two at once, on compressible text-like pages.
//
// The kernel's figures for the same operations (zram, lz4, python heap):
// write 598 MB/s with one stream, 1163 MB/s with two; read 2799 MB/s
// (shared/design/anchors.md; `uzram bench --compare-kernel` measures both
// side by side on real data).
//
//   build/bench/store_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "uzram/store.h"

namespace {

using uzram::kPageSize;
using uzram::PageIndex;

constexpr uint64_t kSlots = 16384;  // 64 MiB of disksize
constexpr size_t kCorpusPages = 256;

struct alignas(kPageSize) Page {
  std::array<std::byte, kPageSize> bytes;
};

uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Words, numbers and punctuation, like the strings and small dicts of a
// process heap: lz4 shrinks them about 2-3x.
Page text_page(uint64_t seed) {
  static const char* const kWords[] = {"the ", "store ", "page ", "slot ", "compressed ", "memory ", "idle ",
                                       "{'key': ", "'value', ", "None, ", "True, ", "__init__ ", "self.", "\n    "};
  Page p;
  size_t off = 0;
  uint64_t s = seed;
  while (off < kPageSize) {
    s = mix(s);
    char word[32];
    const int n = (s & 3) == 0 ? std::snprintf(word, sizeof(word), "%u, ", static_cast<unsigned>(s >> 40))
                               : std::snprintf(word, sizeof(word), "%s", kWords[(s >> 8) % 14]);
    const size_t take = std::min<size_t>(static_cast<size_t>(n), kPageSize - off);
    std::memcpy(p.bytes.data() + off, word, take);
    off += take;
  }
  return p;
}

const std::vector<Page>& corpus() {
  static const std::vector<Page> pages = [] {
    std::vector<Page> v(kCorpusPages);
    for (size_t i = 0; i < kCorpusPages; ++i) v[i] = text_page(i);
    return v;
  }();
  return pages;
}

// One store for all benchmarks, filled once so that reads find data.
uzram::Store& store() {
  static std::unique_ptr<uzram::Store> s = [] {
    uzram::StoreOptions o;
    o.disksize = kSlots * kPageSize;
    o.algorithm = "lz4";
    auto r = uzram::Store::open(o);
    if (!r) {
      std::fprintf(stderr, "store_bench: %s\n", r.status().to_string().c_str());
      std::abort();
    }
    std::unique_ptr<uzram::Store> st = std::move(*r);
    for (PageIndex i = 0; i < kSlots; ++i) {
      if (!st->write(i, uzram::PageView(corpus()[i % kCorpusPages].bytes)).is_ok()) std::abort();
    }
    return st;
  }();
  return *s;
}

void report(benchmark::State& state) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kPageSize);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (state.thread_index() == 0) {
    const uzram::StoreStats st = store().stats();
    state.counters["orig/compr"] = static_cast<double>(st.orig_data_size) / static_cast<double>(st.compr_data_size);
    state.counters["orig/mem_used"] = static_cast<double>(st.orig_data_size) / static_cast<double>(st.mem_used_total);
  }
}

void BM_StoreWritePage(benchmark::State& state) {
  uzram::Store& s = store();
  const std::vector<Page>& pages = corpus();
  // Each thread writes its own stripe of slots, as two writers of a block
  // device rarely write the same page.
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * (kSlots / 2);
  for (auto _ : state) {
    const PageIndex slot = i % kSlots;
    if (!s.write(slot, uzram::PageView(pages[(i * 7) % kCorpusPages].bytes)).is_ok()) {
      state.SkipWithError("write failed");
      break;
    }
    ++i;
  }
  report(state);
}

void BM_StoreReadPage(benchmark::State& state) {
  uzram::Store& s = store();
  Page out;
  uint64_t i = mix(static_cast<uint64_t>(state.thread_index()));
  for (auto _ : state) {
    i = mix(i);
    if (!s.read(i % kSlots, uzram::PageBuffer(out.bytes)).is_ok()) {
      state.SkipWithError("read failed");
      break;
    }
    benchmark::DoNotOptimize(out.bytes.data());
  }
  report(state);
}

BENCHMARK(BM_StoreWritePage)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_StoreReadPage)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
