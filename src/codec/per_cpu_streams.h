// File: src/codec/per_cpu_streams.h
//
// StreamPool: one compression stream per CPU, as the kernel's zcomp keeps
// per-CPU zcomp_strm. A Stream is a CodecContext plus a scratch buffer of two
// pages: every backend's worst case for a page fits in it (lzo's is 4,419
// bytes), so compressing a page into it never fails for lack of room and the
// store decides "huge" from the size; and the slow path of a store write
// keeps its result there while it allocates.
//
// Why per CPU: a thread takes the stream of the CPU it runs on, so that two
// threads rarely want the same stream, the stream's state is warm in that
// CPU's cache, and the hot path takes no global lock. In user space a thread
// can be preempted or migrated while it holds a stream, so each stream has
// its own mutex, and a thread that finds its CPU's stream taken tries the
// others before it waits.
//
// Thread safety: all StreamPool methods are thread-safe. A StreamGuard is
// used by the thread that acquired it only; destroy or release() it on that
// thread (std::mutex must be unlocked by its owner).
//
// Locking rule (Stream::mu): a leaf lock, taken only by acquire() /
// try_acquire() and held for the life of the StreamGuard. Hold a stream for
// one compression or decompression and the copy of its result; never across
// a pool alloc() that may grow the pool, never across I/O, never while
// waiting for another stream (acquire() takes one stream per call; a thread
// holding one stream must not acquire() a second, or two such threads can
// deadlock on a pool with fewer streams than threads: use try_acquire();
// streams of two pools, say a store's primary and recompression codecs, are
// taken in one fixed order by every thread).
// The fields of a Stream are guarded by its mu by this rule, not by
// UZRAM_GUARDED_BY: the lock is held by a movable guard, which clang's
// analysis cannot follow.
#pragma once

#include <cassert>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/thread_annotations.h"
#include "codec/codec.h"
#include "uzram/page.h"

namespace uzram::codec {

// Aligned to a cache line so that two CPUs' streams never share one.
struct alignas(64) Stream {
  Mutex mu;                                // held by the one thread using this stream
  std::unique_ptr<CodecContext> ctx;       // set once by create(); *ctx guarded by mu
  std::unique_ptr<std::byte[]> scratch;    // 2 * kPageSize bytes, set once; contents guarded by mu
  std::span<std::byte> buffer() const { return {scratch.get(), 2 * kPageSize}; }
};

class StreamPool;

// RAII: holds one stream locked for the scope (or until release()).
class StreamGuard {
 public:
  StreamGuard(StreamGuard&& o) noexcept;
  StreamGuard& operator=(StreamGuard&&) = delete;
  StreamGuard(const StreamGuard&) = delete;
  ~StreamGuard();

  // REQUIRES: the guard holds its stream (not moved from, not released).
  CodecContext& ctx() const noexcept {
    assert(stream_ != nullptr);
    return *stream_->ctx;
  }
  std::span<std::byte> scratch() const noexcept {
    assert(stream_ != nullptr);
    return stream_->buffer();
  }
  bool holds() const noexcept { return stream_ != nullptr; }
  // Releases the stream before the end of the scope (the store's slow path).
  // The scratch must not be touched afterwards. A second call does nothing.
  void release() noexcept;

 private:
  friend class StreamPool;
  explicit StreamGuard(Stream* s) noexcept : stream_(s) {}
  Stream* stream_;  // locked by this guard; nullptr once released or moved from
};

class StreamPool {
 public:
  // At most this many streams (each holds a context of up to a few MiB).
  static constexpr size_t kMaxStreams = 1024;

  // One stream per online CPU (sysconf(_SC_NPROCESSORS_ONLN)), or `streams`
  // when non-zero. Allocates every context and scratch buffer now.
  static Result<std::unique_ptr<StreamPool>> create(std::shared_ptr<const Codec> codec, size_t streams = 0);

  // Locks and returns a stream: the one of the calling thread's CPU
  // (sched_getcpu() % size()) if it is free, else the first free one after
  // it, else waits for the CPU's own. Never fails.
  StreamGuard acquire() noexcept;

  // As acquire(), but never waits: nullopt when every stream is held.
  std::optional<StreamGuard> try_acquire() noexcept;

  const Codec& codec() const noexcept { return *codec_; }
  size_t size() const noexcept { return streams_.size(); }

 private:
  StreamPool() = default;
  size_t home_index() const noexcept;
  Stream* try_lock_any(size_t home) noexcept;

  std::shared_ptr<const Codec> codec_;            // immutable after create()
  std::vector<std::unique_ptr<Stream>> streams_;  // the vector is immutable after create()
};

}  // namespace uzram::codec
