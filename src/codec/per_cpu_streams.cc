// StreamPool: per-CPU compression streams. See per_cpu_streams.h for the
// locking rule; Stream::mu is the only lock here, and a leaf.
#include "codec/per_cpu_streams.h"

#include <sched.h>
#include <unistd.h>

#include <cassert>
#include <string>
#include <utility>

namespace uzram::codec {

// ---------------------------------------------------------------------------
// StreamGuard
// ---------------------------------------------------------------------------

StreamGuard::StreamGuard(StreamGuard&& o) noexcept : stream_(std::exchange(o.stream_, nullptr)) {}

StreamGuard::~StreamGuard() { release(); }

// The lock was taken in StreamPool::acquire(); the analysis cannot see that
// the guard carries it here.
void StreamGuard::release() noexcept UZRAM_NO_THREAD_SAFETY_ANALYSIS {
  if (stream_ != nullptr) std::exchange(stream_, nullptr)->mu.unlock();
}

// ---------------------------------------------------------------------------
// StreamPool
// ---------------------------------------------------------------------------

Result<std::unique_ptr<StreamPool>> StreamPool::create(std::shared_ptr<const Codec> codec, size_t streams) {
  if (!codec) return Status::invalid_argument("stream pool: no codec");
  if (streams == 0) {
    const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
    streams = online > 0 ? static_cast<size_t>(online) : 1;
    if (streams > kMaxStreams) streams = kMaxStreams;
  }
  if (streams > kMaxStreams) {
    return Status::invalid_argument("stream pool: " + std::to_string(streams) + " streams asked, at most " +
                                    std::to_string(kMaxStreams));
  }
  std::unique_ptr<StreamPool> pool(new (std::nothrow) StreamPool());
  if (!pool) return Status::no_space("stream pool: out of memory");
  pool->codec_ = std::move(codec);
  pool->streams_.reserve(streams);
  for (size_t i = 0; i < streams; ++i) {
    auto stream = std::unique_ptr<Stream>(new (std::nothrow) Stream());
    if (!stream) return Status::no_space("stream pool: out of memory");
    Result<std::unique_ptr<CodecContext>> ctx = pool->codec_->new_context();
    if (!ctx) return ctx.status().with_context("stream pool: " + pool->codec_->description());
    stream->ctx = std::move(*ctx);
    stream->scratch.reset(new (std::nothrow) std::byte[2 * kPageSize]);
    if (!stream->scratch) return Status::no_space("stream pool: out of memory for scratch buffers");
    pool->streams_.push_back(std::move(stream));
  }
  return pool;
}

size_t StreamPool::home_index() const noexcept {
  // sched_getcpu() is a vDSO read, no syscall. The answer may be stale by
  // the time the lock is taken; that costs cache warmth, not correctness.
  const int cpu = ::sched_getcpu();
  return cpu < 0 ? 0 : static_cast<size_t>(cpu) % streams_.size();
}

// Tries each stream once, the home one first. Returns the one locked, or
// nullptr when all are held.
Stream* StreamPool::try_lock_any(size_t home) noexcept UZRAM_NO_THREAD_SAFETY_ANALYSIS {
  const size_t n = streams_.size();
  for (size_t k = 0; k < n; ++k) {
    Stream* s = streams_[(home + k) % n].get();
    if (s->mu.try_lock()) return s;
  }
  return nullptr;
}

// Fast path: one try_lock of the home stream. A held home stream means its
// holder was preempted or migrated, or more threads than streams are
// compressing; another free stream beats waiting for it.
StreamGuard StreamPool::acquire() noexcept UZRAM_NO_THREAD_SAFETY_ANALYSIS {
  const size_t home = home_index();
  if (Stream* s = try_lock_any(home)) return StreamGuard(s);
  Stream* s = streams_[home].get();
  s->mu.lock();
  return StreamGuard(s);
}

std::optional<StreamGuard> StreamPool::try_acquire() noexcept {
  if (Stream* s = try_lock_any(home_index())) return StreamGuard(s);
  return std::nullopt;
}

}  // namespace uzram::codec
