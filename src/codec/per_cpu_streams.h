// File: src/codec/per_cpu_streams.h
//
// StreamPool: one compression stream per CPU, as the kernel's zcomp keeps
// per-CPU zcomp_strm. A Stream is a CodecContext plus a scratch buffer of two
// pages (the compressor may write past one page before it gives up, and the
// slow path of a store write keeps its result there).
//
// Why per CPU: a thread takes the stream of the CPU it runs on, so that two
// threads rarely want the same stream and the hot path takes no global lock.
// In user space a thread can be preempted or migrated while it holds a stream,
// so each stream has its own mutex; the next thread on that CPU waits for it
// or, when try_acquire is used, takes another.
//
// Thread safety: all methods are thread-safe. A StreamGuard is used by the
// thread that acquired it only.
// Locking rule: Stream::mu is a leaf lock. Hold a stream for one compression
// or decompression and the copy of its result, never across a pool alloc()
// that may grow the pool, never across I/O.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "codec/codec.h"
#include "base/thread_annotations.h"
#include "uzram/page.h"

namespace uzram::codec {

struct alignas(64) Stream {
  Mutex mu;                                // held by the one thread using this stream
  std::unique_ptr<CodecContext> ctx;       // guarded by mu
  std::unique_ptr<std::byte[]> scratch;    // 2 * kPageSize bytes, guarded by mu
  std::span<std::byte> buffer() const { return {scratch.get(), 2 * kPageSize}; }
};

class StreamPool;

// RAII: holds one stream locked for the scope.
class StreamGuard {
 public:
  StreamGuard(StreamGuard&& o) noexcept;
  StreamGuard& operator=(StreamGuard&&) = delete;
  StreamGuard(const StreamGuard&) = delete;
  ~StreamGuard();

  CodecContext& ctx() const noexcept { return *stream_->ctx; }
  std::span<std::byte> scratch() const noexcept { return stream_->buffer(); }
  // Releases the stream before the end of the scope (the store's slow path).
  void release() noexcept;

 private:
  friend class StreamPool;
  explicit StreamGuard(Stream* s) noexcept : stream_(s) {}
  Stream* stream_;
};

class StreamPool {
 public:
  // One stream per online CPU (sysconf(_SC_NPROCESSORS_ONLN)), or `streams`
  // when non-zero.
  static Result<std::unique_ptr<StreamPool>> create(std::shared_ptr<const Codec> codec, size_t streams = 0);

  // Locks and returns the stream of the calling thread's CPU (sched_getcpu);
  // waits if another thread holds it.
  StreamGuard acquire() noexcept;

  const Codec& codec() const noexcept { return *codec_; }
  size_t size() const noexcept { return streams_.size(); }

 private:
  StreamPool() = default;
  std::shared_ptr<const Codec> codec_;
  std::vector<std::unique_ptr<Stream>> streams_;
};

}  // namespace uzram::codec
