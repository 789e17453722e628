// pool_bench: the costs of the pool's paths, one thread.
//
//   BM_TryAllocFree/size   the store's fast path: try_alloc + free of an
//                          object in a class that has room (no OS call).
//   BM_AllocGrow           alloc() of 4 KiB objects into a fresh pool: one
//                          zspage grown per object, pages populated in
//                          batches; bytes_per_second is pages backed.
//   BM_MapUnmap            map() + read one byte + unmap of a random object.
//   BM_Compact             compact() of a pool where 3 objects in 4 were
//                          freed; bytes_per_second is pages given back.
//
// There is no kernel anchor to print beside these: zsmalloc's own costs are
// not visible from user space. shared/design/anchors.md has the page fault
// and MADV_POPULATE_WRITE costs that BM_AllocGrow is made of.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "pool/pool.h"
#include "uzram/page.h"

namespace uzram::pool {
namespace {

std::unique_ptr<Pool> new_pool() {
  Result<std::unique_ptr<Pool>> p = Pool::create({});
  if (!p) {
    std::fprintf(stderr, "pool_bench: %s\n", p.status().to_string().c_str());
    std::abort();
  }
  return std::move(*p);
}

void BM_TryAllocFree(benchmark::State& state) {
  size_t size = static_cast<size_t>(state.range(0));
  auto pool = new_pool();
  // Keeps the zspage alive, so that the free below never releases it.
  Handle keep = *pool->alloc(size);
  for (auto _ : state) {
    Handle h = pool->try_alloc(size);
    if (!h) {
      state.SkipWithError("try_alloc found no room");
      break;
    }
    pool->free(h);
  }
  pool->free(keep);
  state.SetItemsProcessed(state.iterations());
}
// Not 4096: a huge zspage holds one object, so try_alloc never has room there.
BENCHMARK(BM_TryAllocFree)->Arg(100)->Arg(1000)->Arg(3000);

void BM_AllocGrow(benchmark::State& state) {
  constexpr int kObjects = 4096;  // 16 MiB of pages per round
  std::vector<Handle> hs;
  hs.reserve(kObjects);
  for (auto _ : state) {
    state.PauseTiming();
    auto pool = new_pool();
    hs.clear();
    state.ResumeTiming();
    for (int i = 0; i < kObjects; ++i) hs.push_back(*pool->alloc(kPageSize));
    state.PauseTiming();
    pool.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * kObjects * int64_t{kPageSize});
  state.SetItemsProcessed(state.iterations() * kObjects);
}
BENCHMARK(BM_AllocGrow)->Unit(benchmark::kMillisecond);

void BM_MapUnmap(benchmark::State& state) {
  auto pool = new_pool();
  std::vector<Handle> hs;
  std::mt19937 rng(1);
  for (int i = 0; i < 100000; ++i) hs.push_back(*pool->alloc(1 + rng() % 3000));
  size_t i = 0;
  for (auto _ : state) {
    Pool::Mapped m = pool->map(hs[i]);
    benchmark::DoNotOptimize(m.bytes()[0]);
    i = (i + 7919) % hs.size();
  }
  state.SetItemsProcessed(state.iterations());
  for (Handle h : hs) pool->free(h);
}
BENCHMARK(BM_MapUnmap);

void BM_Compact(benchmark::State& state) {
  uint64_t pages = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto pool = new_pool();
    std::vector<Handle> hs;
    std::mt19937 rng(2);
    for (int i = 0; i < 50000; ++i) hs.push_back(*pool->alloc(1 + rng() % 2000));
    for (size_t i = 0; i < hs.size(); ++i) {
      if (i % 4 != 0) pool->free(hs[i]);
    }
    state.ResumeTiming();
    pages += pool->compact();
    state.PauseTiming();
    pool.reset();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(pages * kPageSize));
  state.counters["pages_freed"] = benchmark::Counter(static_cast<double>(pages) / state.iterations());
}
BENCHMARK(BM_Compact)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace uzram::pool

BENCHMARK_MAIN();
