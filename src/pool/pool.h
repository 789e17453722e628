// File: src/pool/pool.h
//
// Pool: a zsmalloc-style allocator for compressed pages.
//
// Glossary
//   object     the bytes of one compressed page, 1..4096 bytes as asked.
//   size class all objects whose size rounds up to the same class size.
//              Class sizes are 16 bytes apart from 32 B to 4096 B. Classes
//              whose geometry (pages per zspage, objects per zspage) is the
//              same as the next larger one are merged into it, as zsmalloc does.
//   zspage     1..N contiguous 4 KiB pages carved into objects of one class.
//              N (max_pages_per_zspage, default 8, at most 16) is chosen per
//              class for the least waste. An object may straddle two pages of
//              its zspage: the pages are contiguous in virtual memory, so a
//              mapped object is one plain pointer (unlike the kernel, which
//              must copy straddling objects).
//   huge class a class with one object per zspage; the store keeps pages that
//              do not compress below huge_class_size() raw, in the 4096 class.
//   handle     an opaque 64-bit name of an object. It indexes a handle table
//              whose entry holds the object's current location, so compaction
//              can move the object and update one word.
//   fullness   zspages of a class are kept on lists by how full they are (0%,
//              <10%, ..., <100%, full); allocation takes a free object from
//              the fullest non-full zspage, so sparse zspages drain and can
//              be freed.
//   shard      each class is split into class_shards copies with their own
//              lock, lists and zspages; an allocation goes to the shard of
//              the CPU it runs on (CPU number modulo class_shards). Writers
//              on different CPUs then share no class lock, no zspage and no
//              object's cache lines, which cost two writers 1-4 % more CPU a
//              page (docs/pool.md). The price is up to one partly filled
//              zspage more per class in use and extra shard: 0.6-1.4 MB for
//              the two corpora of docs/BENCHMARKS.md. An object stays in its
//              shard for life (compaction moves it only within it); a free
//              from any CPU goes to the object's shard.
//
// Memory comes from the OS in large mappings (pool/os.cc), never one malloc
// per object: the pool reserves one virtual arena up front and backs zspages
// inside it, populating pages in batches (MADV_POPULATE_WRITE) because a first
// touch costs 10-20 us a page on this kind of machine. A zspage that becomes
// empty is returned to the OS (MADV_DONTNEED) at once.
//
// Thread safety: every method is thread-safe.
// Locking rules (outermost first; src/pool/pool_impl.h has the details):
//   0. compaction mutex - one compact() at a time.
//   1. SizeClass::mu  - guards that class's (that shard's) zspage lists, free
//                       lists and freed handles. A thread holds at most one.
//   2. arena mutex    - guards the arena's bump pointer and free runs;
//      handle table grow mutex - one populate of the table at a time.
//                       Both are leaves. Populating a new zspage's pages is
//                       done without the class lock.
//   ZsPage pin count  - a reader/writer spin word in each zspage: map() pins
//                       the zspage shared, compaction pins it exclusive (try
//                       only) while it moves objects out.
// Statistics are relaxed atomics and take no lock.
//
// Invariants (check_invariants() verifies them):
//   - each zspage is on exactly one fullness list of its class;
//   - inuse objects of a zspage + free objects of it == objects per zspage;
//   - a handle given out and not freed points at an object whose header (or,
//     for a huge class, whose zspage) names that handle;
//   - pages_held() == sum over zspages of their page counts.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "uzram/page.h"
#include "uzram/status.h"

namespace uzram::pool {

// Opaque name of an object; 0 is "no object".
struct Handle {
  uint64_t value = 0;
  explicit operator bool() const noexcept { return value != 0; }
  friend bool operator==(Handle a, Handle b) noexcept { return a.value == b.value; }
};

struct PoolOptions {
  uint32_t max_pages_per_zspage = 8;  // 1..16
  // Upper bound of the virtual arena. Physical memory is taken only as
  // zspages are made; this only bounds how much can ever be held.
  size_t arena_bytes = size_t{1} << 32;
  // 0 = no limit. A grow that would take pages_held above this fails.
  size_t max_pages = 0;
  // 1..kMaxClassShards, or 0 = one per CPU up to kMaxClassShards.
  uint32_t class_shards = 1;
};
inline constexpr uint32_t kMaxClassShards = 4;  // two bits of a handle entry

struct ClassStats {
  uint32_t class_size = 0;      // bytes per object
  uint32_t pages_per_zspage = 0;
  uint32_t objs_per_zspage = 0;
  uint64_t zspages = 0;
  uint64_t objs_inuse = 0;
  uint64_t objs_allocated = 0;  // zspages * objs_per_zspage
};

struct PoolStats {
  uint64_t pages_held = 0;       // 4 KiB pages backing zspages now
  uint64_t pages_max = 0;        // peak of pages_held since reset_pages_max()
  uint64_t objects = 0;          // objects allocated and not freed
  uint64_t object_bytes = 0;     // sum of the sizes asked for those objects
  uint64_t pages_compacted = 0;  // pages freed by compaction, cumulative
  uint64_t grow_failures = 0;    // zspages refused by max_pages or the arena (the
                                 // alloc() may still be served by another shard)
};

class Pool {
 public:
  static Result<std::unique_ptr<Pool>> create(const PoolOptions& options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Objects of at least this size go to a class with one object per zspage;
  // a page that compresses to this or more is better stored raw.
  size_t huge_class_size() const noexcept;

  // Allocates an object of `size` bytes (1..kPageSize) from a zspage that
  // already has a free object. Never grows the pool, never sleeps, never
  // calls the OS: returns an empty Handle when no free object is at hand
  // (or the class lock is contended). This is the per-CPU fast path.
  // A huge object never finds one: a huge zspage holds one object and is
  // freed with it, so raw pages always take alloc().
  Handle try_alloc(size_t size) noexcept;

  // Allocates, growing the pool by one zspage when needed. kNoSpace when
  // max_pages or the arena would be exceeded; kInvalidArgument for a size
  // outside 1..kPageSize.
  Result<Handle> alloc(size_t size) noexcept;

  // REQUIRES: h came from this pool and is not freed, and nobody has it mapped.
  void free(Handle h) noexcept;

  // Size asked for when h was allocated.
  size_t object_size(Handle h) const noexcept;

  // A mapped object: pins its zspage so compaction cannot move it, and gives
  // its bytes. Hold it briefly (one copy or one decompression).
  class Mapped {
   public:
    Mapped(Mapped&& o) noexcept;
    Mapped& operator=(Mapped&&) = delete;
    Mapped(const Mapped&) = delete;
    ~Mapped();
    std::span<std::byte> bytes() const noexcept { return bytes_; }

   private:
    friend class Pool;
    Mapped(std::atomic<int32_t>* pin, std::span<std::byte> b) noexcept : pin_(pin), bytes_(b) {}
    std::atomic<int32_t>* pin_;
    std::span<std::byte> bytes_;
  };
  // REQUIRES: h is allocated and not freed concurrently.
  Mapped map(Handle h) noexcept;

  // Moves objects out of the sparsest zspages of every class into the fullest
  // ones and frees the emptied zspages. Returns the number of pages freed.
  uint64_t compact() noexcept;

  void set_max_pages(size_t pages) noexcept;  // 0 = no limit
  size_t max_pages() const noexcept;
  void reset_pages_max() noexcept;

  PoolStats stats() const noexcept;             // no lock
  std::vector<ClassStats> class_stats() const;  // takes each class lock in turn

  // Aborts with a message when an invariant is broken (see the header).
  // For tests. Takes each class lock in turn and checks that class whole;
  // the pool-wide totals (pages_held, live handles) are compared when no
  // class changed during the walk, which is always so when no other thread
  // uses the pool meanwhile. Returns whether they were compared.
  bool check_invariants() const;

 private:
  struct Impl;
  explicit Pool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace uzram::pool
