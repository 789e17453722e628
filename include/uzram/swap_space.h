// File: include/uzram/swap_space.h
//
// SwapSpace: compressed swap for a program's own memory, in user space.
// map() hands out private anonymous memory that behaves like any other; the
// space keeps the resident pages of all its regions under one limit by
// compressing cold pages into a Store and bringing them back on access,
// through userfaultfd (docs/swap.md).
//
//   - A page never written reads as zeros. A swapped page is decompressed and
//     installed on access, with up to 2^k neighbours when the accesses are
//     sequential (readahead).
//   - A background reclaimer keeps the resident pages under the limit: it
//     picks cold pages with an LRU approximation (active and inactive lists)
//     and hands them to an asynchronous engine in batches.
//   - Stable pages (the seed's rule): a page is never changed while it is
//     compressed. With UFFDIO_MOVE (Linux 6.8+) it is moved out of the
//     program's range first; otherwise it is write-protected and compressed
//     from a copy. A fault never waits for a compression in flight.
//   - madvise(MADV_DONTNEED), munmap and mremap of a region by the program
//     free or move its compressed pages. fork() children do not inherit the
//     regions (MADV_DONTFORK): a child that touches one gets SIGSEGV, never
//     stale data; a warning is printed at fork.
//
// Thread safety: every method is thread-safe. A region may be used from any
// number of threads. The space must outlive its regions' use: close (the
// destructor) unmaps every region still mapped.
// Swap fault thread: none of these methods may be called from a thread that
// serves this space's faults (the library's own threads); program threads only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "uzram/status.h"

namespace uzram {

// How pages are kept stable while compressed.
enum class SwapPath : uint8_t {
  kAuto,          // MOVE when the kernel has it, else write-protect
  kMove,          // UFFDIO_MOVE into the swap cache (Linux 6.8+); kUnsupported without it
  kWriteProtect,  // UFFDIO_WRITEPROTECT in place, compressed from a copy (Linux 5.7+)
};
const char* swap_path_name(SwapPath path) noexcept;  // "auto", "move", "writeprotect"

struct SwapOptions {
  uint64_t limit = 256ull << 20;   // resident bytes of all regions, with the swap cache
  double high_watermark = 0.98;    // reclaim starts above limit * high
  double low_watermark = 0.94;     // and stops at limit * low
  uint64_t size = 4ull << 30;      // most bytes mapped at once (the store's disksize)
  std::string algorithm = "lz4";   // codec spec of the store, e.g. "zstd:level=3"
  uint64_t mem_limit = 0;          // bytes of compressed memory at most; 0 = none
  size_t fault_threads = 1;        // threads serving faults
  size_t writeback_threads = 0;    // compression workers; 0 = one per CPU
  unsigned readahead_order = 6;    // sequential faults bring in up to 2^k pages (0..9)
  double inactive_ratio = 0.125;   // share of the limit kept inactive; 0 = FIFO
  std::string backing_file;        // second tier: cold compressed pages go to this file
  SwapPath path = SwapPath::kAuto;
  // After a fault, the fault thread polls for the next one this long before
  // sleeping: a sleeping thread takes 30-50 us to wake on this kind of
  // machine, more than a whole fault (docs/swap.md). 0 = always sleep.
  uint32_t spin_us = 50;

  // Parses "limit=256M,algo=lz4,..." (keys: limit, high, low, size, algo,
  // mem_limit, fault_threads, writeback_threads, readahead, inactive,
  // backing_file, path=auto|move|wp, spin_us). Sizes take K, M, G suffixes.
  // An empty text gives the defaults. kInvalidArgument names a bad key or value.
  static Result<SwapOptions> parse(std::string_view text);
};

// Fault latency in nanoseconds: from reading the fault to the page installed.
struct SwapLatency {
  uint64_t count = 0;
  uint64_t p50_ns = 0;
  uint64_t p99_ns = 0;
  uint64_t max_ns = 0;
};

struct SwapStats {
  SwapPath path = SwapPath::kAuto;  // the path in use (never kAuto)
  std::string kernel_features;      // what UFFDIO_API offered, e.g. "move,wp,remove,unmap,remap"
  uint64_t limit_bytes = 0;
  uint64_t mapped_bytes = 0;        // bytes of live regions
  uint64_t resident_bytes = 0;      // program pages in memory, with the swap cache
  uint64_t resident_peak_bytes = 0;
  uint64_t cached_pages = 0;        // inactive, uncompressed
  uint64_t writeback_pages = 0;     // compression in flight
  uint64_t swapped_pages = 0;       // only in the store
  uint64_t stored_bytes = 0;        // bytes of the pages the store holds (orig_data_size)
  uint64_t compressed_bytes = 0;    // bytes of compressed data (compr_data_size)
  uint64_t store_mem_bytes = 0;     // memory the store uses now (mem_used_total)
  uint64_t store_mem_peak_bytes = 0;
  uint64_t major_faults = 0;        // faults served from the store
  uint64_t minor_faults = 0;        // faults served from memory (zero pages, swap cache)
  uint64_t zero_fill_pages = 0;     // pages installed as zeros
  uint64_t refaults = 0;            // inactive pages touched again (they turn hot)
  uint64_t readahead_pages = 0;     // pages installed beside the faulting one
  uint64_t readahead_hits = 0;      // of those, pages a sequential stream went on through
  uint64_t swap_ins = 0;            // pages decompressed into the program
  uint64_t swap_outs = 0;           // pages written to the store
  uint64_t stale_writes = 0;        // writes dropped: the page came back or was discarded meanwhile
  uint64_t store_full = 0;          // writes refused by mem_limit: pages kept resident
  uint64_t limit_waits = 0;         // faults that waited for reclaim
  uint64_t events_remove = 0;       // MADV_DONTNEED and the like
  uint64_t events_unmap = 0;
  uint64_t events_remap = 0;
  uint64_t unmanaged_faults = 0;    // faults outside any region (mremap growth): zero-filled
  SwapLatency fault_latency;
};

// One JSON object with every field of SwapStats.
std::string to_json(const SwapStats& stats);

class SwapSpace {
 public:
  // Opens the store, the engine and the userfaultfd descriptors, and starts
  // the threads. kUnsupported (saying why) without userfaultfd, or for
  // SwapPath::kMove on a kernel without UFFDIO_MOVE.
  static Result<std::unique_ptr<SwapSpace>> open(const SwapOptions& options);
  // Unmaps every region, then stops the threads.
  virtual ~SwapSpace() = default;

  // A new region of `bytes` (rounded up to whole pages), reading as zeros.
  // kNoSpace when the space's `size` has no room for it.
  virtual Result<void*> map(size_t bytes) noexcept = 0;
  // Unmaps [addr, addr + bytes) (rounded up to whole pages), all or part of
  // regions. kInvalidArgument when any of it is not mapped by this space.
  virtual Status unmap(void* addr, size_t bytes) noexcept = 0;

  // Evicts until at most `resident_bytes` are resident (or nothing more can
  // be evicted) and waits for the writes. For tests and the demo.
  virtual Status trim(uint64_t resident_bytes) noexcept = 0;

  virtual SwapStats stats() const noexcept = 0;
  virtual const SwapOptions& options() const noexcept = 0;
  // The path in use, decided at open().
  virtual SwapPath path() const noexcept = 0;
};

}  // namespace uzram
