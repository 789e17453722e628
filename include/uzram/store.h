// File: include/uzram/store.h
//
// Store: a compressed store of 4 KiB pages, the user-space counterpart of the
// kernel's zram device. It holds disksize / 4096 slots; each slot is empty,
// same-filled (one repeated 8-byte word, kept without memory), compressed in
// the pool, huge (kept raw because it did not compress below the huge
// threshold), or written back to a backing file.
//
// Thread safety: every method is thread-safe. Any number of threads may read
// and write different slots at once; operations on one slot are serialized
// by that slot's lock. Statistics are read without a global lock.
// Swap fault thread: write/read/discard may be called from a thread that
// serves userfaultfd faults; they never touch memory that swap/ manages.
//
// Stable writes: stable_writes() is true for this Store: it compresses
// straight from the caller's page, so the caller must not change the page
// until write() returns (the asynchronous engine extends that promise to the
// completion of an asynchronous write). Whatever the caller does, the store
// never copies more bytes into an object than were allocated for it, so no
// other slot is ever harmed (the seed's bug). But a caller that breaks the
// promise gets no more than that: the slot may read back as a mix of
// versions, or fail with kCorrupt (liblz4 can emit a frame that does not
// decode from a page that changes under it), and a codec may read a few
// bytes past the end of such a page (liblz4 1.9.4 was seen reading 8). A
// caller that cannot keep its pages still copies them first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "uzram/page.h"
#include "uzram/status.h"

namespace uzram {

struct StoreOptions {
  uint64_t disksize = 0;            // bytes; a multiple of 4096, > 0
  std::string algorithm = "lz4";    // codec spec, e.g. "zstd:level=3"
  // Secondary algorithms for recompression, by priority 1..3 (zram's
  // recomp_algorithm). Empty strings are unused priorities.
  std::string recomp_algorithms[3];
  uint64_t mem_limit = 0;           // bytes of pool memory; 0 = no limit
  uint32_t max_pages_per_zspage = 8;  // 1..16
  // Copies of each size class of the pool, each with its own lock and
  // zspages; an allocation takes the copy of the CPU it runs on. 0: one per
  // CPU, at most 4 (the fastest for writers on several CPUs); 1: one shared
  // copy, the least memory (a class in use holds one partly filled zspage
  // per copy: 0.3-0.7 % of mem_used for two copies; docs/pool.md, Shards).
  uint32_t class_shards = 0;        // 0..4
  size_t streams = 0;               // compression streams; 0 = one per CPU
  // Pages compressed together as one unit: 1 (zram's page by page) or
  // 2..32. Larger units compress faster and smaller, but a write of part of
  // a unit recompresses all of it and a read decompresses all of it: for
  // block devices read and written in large requests (uzram serve --unit).
  // With unit_pages > 1 there is no recompression, idle marking, writeback
  // or backing file (those calls return kUnsupported; src/store/unit_store.h).
  uint32_t unit_pages = 1;
  // Testing only: the fraction (0..1) of fast-path pool allocations made to
  // fail, forcing the slow path of write (the path of the seed's bug).
  double inject_fast_path_failure = 0.0;
};

// The meaning of the kernel zram's mm_stat, io_stat and bd_stat.
struct StoreStats {
  // mm_stat
  uint64_t orig_data_size = 0;    // bytes of pages stored (not counting empty), incl. same-filled
  uint64_t compr_data_size = 0;   // bytes of compressed data in the pool
  uint64_t mem_used_total = 0;    // bytes of pool memory held (pages_held * 4096)
  uint64_t mem_limit = 0;         // bytes; 0 = none
  uint64_t mem_used_max = 0;      // peak of mem_used_total
  uint64_t same_pages = 0;        // slots that are same-filled
  uint64_t pages_compacted = 0;   // pages freed by compaction, cumulative
  uint64_t huge_pages = 0;        // slots stored raw now
  uint64_t huge_pages_since = 0;  // slots ever stored raw
  // io_stat
  uint64_t failed_reads = 0;
  uint64_t failed_writes = 0;
  uint64_t invalid_io = 0;        // out-of-range or misaligned requests
  uint64_t notify_free = 0;       // slots freed by discard
  // bd_stat (pages)
  uint64_t bd_count = 0;          // slots on the backing file now
  uint64_t bd_reads = 0;
  uint64_t bd_writes = 0;
  // recompression
  uint64_t recomp_pages = 0;         // slots recompressed to a smaller size, cumulative
  uint64_t incompressible_pages = 0; // slots no algorithm could shrink (not retried)
  // the slot table itself
  uint64_t slots = 0;
  uint64_t slot_table_bytes = 0;
};

// One JSON object with every field of StoreStats under its name.
std::string to_json(const StoreStats& stats);

enum class SlotSelect : uint8_t {
  kIdle = 1,            // slots marked idle
  kHuge = 2,            // slots stored raw
  kIncompressible = 4,  // slots no recompression could shrink
};
inline SlotSelect operator|(SlotSelect a, SlotSelect b) {
  return static_cast<SlotSelect>(static_cast<uint8_t>(a) | static_cast<uint8_t>(b));
}

struct RecompressOptions {
  SlotSelect select = SlotSelect::kIdle;  // kIdle, kHuge, or both (a slot matching any)
  // Only slots whose stored size is at least this many bytes; 0 = any.
  uint32_t threshold = 0;
  // At most this many slots are recompressed in one call; 0 = no budget.
  uint64_t max_pages = 0;
  // Use only this priority (1..3); 0 = try each configured one in order.
  int priority = 0;
};

struct WritebackOptions {
  SlotSelect select = SlotSelect::kIdle;  // kIdle, kHuge, kIncompressible, or a union (a slot matching any)
  bool compressed = false;                // write compressed bytes instead of the raw page
  uint64_t max_pages = 0;                 // 0 = no budget beyond writeback_limit
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const StoreOptions& options);
  virtual ~Store() = default;

  virtual uint64_t disksize() const noexcept = 0;
  uint64_t slots() const noexcept { return disksize() / kPageSize; }
  virtual bool stable_writes() const noexcept = 0;

  // ---- pages --------------------------------------------------------------
  // Stores a page in slot `index`. kOutOfRange for an index past the end;
  // kNoSpace when mem_limit (or the pool) refuses the memory, in which case
  // the slot keeps its old content.
  virtual Status write(PageIndex index, PageView page) noexcept = 0;
  // Fills `out` with slot `index`; an empty slot reads as zeros.
  virtual Status read(PageIndex index, PageBuffer out) noexcept = 0;
  // Empties the slots [index, index + count); frees their memory and their
  // backing blocks (notify_free counts the slots that held a page).
  virtual Status discard(PageIndex index, uint64_t count = 1) noexcept = 0;
  // True when the slot holds nothing (reads as zeros, takes no memory); an
  // index past the end holds nothing. A lock-free hint: a write racing with
  // it may or may not be seen.
  virtual bool is_empty(PageIndex index) const noexcept = 0;
  // True when the slot is empty or same-filled with zero bytes.
  virtual bool is_zero(PageIndex index) const noexcept = 0;

  // ---- byte ranges, for block front ends ------------------------------------
  // Any offset and length inside disksize; partial pages are read-modify-write
  // under the slot lock.
  virtual Status write_bytes(uint64_t offset, std::span<const std::byte> data) noexcept = 0;
  virtual Status read_bytes(uint64_t offset, std::span<std::byte> out) noexcept = 0;
  // Zeroes a byte range: whole pages are discarded, partial ones rewritten.
  virtual Status zero_bytes(uint64_t offset, uint64_t length) noexcept = 0;

  // ---- maintenance ------------------------------------------------------------
  // Marks every slot held in the pool idle (age_seconds == 0), or those not
  // accessed for at least age_seconds, clearing the mark of the others; as
  // zram, same-filled and written-back slots (no pool memory) are skipped.
  // A read or write clears the mark. Returns the number of slots marked.
  virtual uint64_t mark_idle(uint64_t age_seconds = 0) noexcept = 0;
  // Recompresses selected slots with the secondary algorithms; returns the
  // number of slots that became smaller. A slot the highest-priority
  // algorithm cannot shrink is flagged incompressible and not tried again
  // until rewritten. kInvalidArgument when no recomp_algorithms are set.
  virtual Result<uint64_t> recompress(const RecompressOptions& options) noexcept = 0;

  // Backing file or block device for writeback. kBusy if one is set and
  // slots live on it; kInvalidArgument for a path that cannot be used.
  virtual Status set_backing_file(std::string_view path) noexcept = 0;
  // Pages that writeback may still write (zram's writeback_limit); 0 with
  // enabled == false means no limit.
  virtual void set_writeback_limit(bool enabled, uint64_t pages) noexcept = 0;
  virtual uint64_t writeback_limit() const noexcept = 0;
  // Writes selected slots to the backing file and frees their memory.
  // Returns the number written. An I/O error leaves the slots of the failed
  // batch in memory and is returned (pages of earlier batches stay written);
  // a backing file with no free block left is kNoSpace, after writing what
  // fitted. kInvalidArgument when no backing file is set.
  virtual Result<uint64_t> writeback(const WritebackOptions& options) noexcept = 0;

  // Compacts the pool; returns pages freed.
  virtual uint64_t compact() noexcept = 0;
  virtual void set_mem_limit(uint64_t bytes) noexcept = 0;
  virtual void reset_mem_used_max() noexcept = 0;

  virtual StoreStats stats() const noexcept = 0;
};

}  // namespace uzram
