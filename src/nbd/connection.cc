// Connection: one client's reader, writer and requests. See connection.h.
//
// Lock order: Connection::mu_ is a leaf. It is never held across socket I/O
// or a Store call; WorkerPool::mu_ is never taken while holding it.
#include "nbd/connection.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "nbd/block_status.h"
#include "uzram/store.h"

namespace uzram::nbd {
namespace {

using Clock = std::chrono::steady_clock;

alignas(kPageSize) constexpr std::byte kZeroPage[kPageSize] = {};

// Buffers come in powers of two from one page, so that the sizes a client
// uses (nbdcopy 256 KiB, qemu 64 KiB .. 2 MiB) find each other's buffers.
size_t buffer_size_for(size_t n) {
  size_t s = kPageSize;
  while (s < n) s <<= 1;
  return s;
}

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Up to this many replies go out in one sendmsg.
constexpr size_t kMaxBatch = 64;

}  // namespace

// A request between "header read" and "reply sent". Owned by one thread at a
// time: the reader, then a worker, then (through replies_) the writer.
struct Connection::Pending {
  Request request;
  Error error = Error::kOk;
  std::string message;        // why it failed, for a structured error chunk
  Mapping buffer;             // READ data or WRITE payload
  std::string payload;        // BLOCK_STATUS descriptors
  size_t reserved = 0;        // bytes counted in in_flight_bytes_
  uint64_t bytes_done = 0;    // for the metrics
  Clock::time_point start;
  std::array<std::byte, 32> head{};  // the reply header, built by the writer
};

Connection::Connection(Fd fd, const ConnectionContext* ctx) : ctx_(ctx), sock_(fd.get()) {
  MutexLock lock(&mu_);
  fd_ = std::move(fd);
}

Connection::~Connection() {
  if (reader_.joinable()) {
    shutdown_both();
    reader_.join();
  }
}

void Connection::start() {
  // The reader uses `this` without owning it: the Server owns the Connection
  // until it has joined the reader (tasks in the pool hold their own
  // reference).
  reader_ = std::thread([this] { reader_main(); });
}

void Connection::join() {
  if (reader_.joinable()) reader_.join();
}

void Connection::shutdown_read() noexcept {
  MutexLock lock(&mu_);
  if (fd_) net::shutdown_read(fd_.get());
}

void Connection::shutdown_both() noexcept {
  {
    MutexLock lock(&mu_);
    broken_ = true;
    if (fd_) net::shutdown_both(fd_.get());
  }
  room_cv_.notify_all();
  reply_cv_.notify_all();
}

void Connection::abort_io() noexcept {
  {
    MutexLock lock(&mu_);
    broken_ = true;
  }
  // Wakes the other thread of this connection out of recv or send.
  net::shutdown_both(sock_);
  room_cv_.notify_all();
  reply_cv_.notify_all();
}

// ---- reader ---------------------------------------------------------------

void Connection::reader_main() {
  net::SocketReader reader(sock_);
  if (handshake(&reader)) {
    writer_ = std::thread([this] { writer_main(); });
    request_loop(&reader);
    {
      MutexLock lock(&mu_);
      reader_done_ = true;
    }
    reply_cv_.notify_all();
    {
      MutexLock lock(&mu_);
      while (in_flight_ > 0) room_cv_.wait(mu_);
    }
    reply_cv_.notify_all();
    writer_.join();
  } else {
    ctx_->metrics->handshakes_failed.fetch_add(1, std::memory_order_relaxed);
  }
  {
    MutexLock lock(&mu_);
    fd_.reset();
    free_buffers_.clear();
    free_bytes_ = 0;
  }
  ctx_->metrics->connections_current.fetch_sub(1, std::memory_order_relaxed);
  finished_.store(true, std::memory_order_release);
}

bool Connection::handshake(net::SocketReader* reader) {
  // A client that stalls in the handshake is dropped; once transmission
  // starts, an idle client is normal (a VM's disk) and has no deadline.
  (void)net::set_timeouts(sock_, ctx_->handshake_timeout, ctx_->handshake_timeout);
  if (!net::send_all(sock_, as_bytes(Handshake::greeting())).is_ok()) return false;
  Handshake hs(ctx_->export_info);
  while (!hs.done() && !hs.closed()) {
    if (reader->fill() != net::ReadResult::kOk) return false;
    const size_t used = hs.feed(reader->buffered());
    reader->consume(used);
    const std::string out = hs.take_output();
    if (!out.empty() && !net::send_all(sock_, as_bytes(out)).is_ok()) return false;
    if (used == 0 && !hs.done() && !hs.closed()) return false;  // cannot happen: feed() always progresses
  }
  if (hs.closed()) return false;
  const Negotiated& n = hs.negotiated();
  tctx_.export_size = ctx_->export_info.size;
  tctx_.structured_replies = n.structured_replies;
  tctx_.base_allocation = n.base_allocation;
  (void)net::set_timeouts(sock_, std::chrono::milliseconds(0), std::chrono::milliseconds(0));
  return true;
}

bool Connection::reserve(size_t bytes, Mapping* buffer) {
  {
    MutexLock lock(&mu_);
    while (!broken_ && (in_flight_ >= ctx_->max_in_flight_requests ||
                        (in_flight_ > 0 && in_flight_bytes_ + bytes > ctx_->max_in_flight_bytes))) {
      room_cv_.wait(mu_);
    }
    if (broken_) return false;
    ++in_flight_;
    in_flight_bytes_ += bytes;
    if (bytes > 0) *buffer = take_buffer(bytes);
  }
  if (bytes > 0 && !buffer->valid()) {
    // mmap outside the lock; a failure is the request's ENOMEM, not the connection's.
    if (auto m = net::map_buffer(buffer_size_for(bytes)); m.has_value()) *buffer = std::move(m).value();
  }
  return true;
}

void Connection::request_loop(net::SocketReader* reader) {
  ServerMetrics& metrics = *ctx_->metrics;
  std::array<std::byte, kRequestHeaderSize> header;
  for (;;) {
    if (reader->read_exact(header) != net::ReadResult::kOk) {
      metrics.hangups.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const Clock::time_point start = Clock::now();
    const ParsedRequest parsed = parse_request(header, tctx_);
    if (parsed.action == ParsedRequest::Action::kClose) {
      metrics.protocol_errors.fetch_add(1, std::memory_order_relaxed);
      abort_io();
      return;
    }
    if (parsed.action == ParsedRequest::Action::kDisconnect) {
      metrics.disconnects.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto p = std::make_unique<Pending>();
    p->request = parsed.request;
    p->start = start;
    if (parsed.action == ParsedRequest::Action::kReject) {
      if (reader->skip(parsed.payload) != net::ReadResult::kOk) {
        metrics.hangups.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      if (!reserve(0, nullptr)) return;
      p->error = parsed.error;
      p->message = std::string(parsed.reason);
      queue_reply(std::move(p));
      continue;
    }

    const Command c = parsed.request.command();
    const uint32_t length = parsed.request.length;
    const size_t bytes = (c == Command::kRead || c == Command::kWrite) ? length : 0;
    if (!reserve(bytes, &p->buffer)) return;
    p->reserved = bytes;
    if (bytes > 0 && !p->buffer.valid()) {
      if (reader->skip(parsed.payload) != net::ReadResult::kOk) {
        release(std::move(p));
        metrics.hangups.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      p->error = Error::kNoMem;
      p->message = "out of memory for the request buffer";
      queue_reply(std::move(p));
      continue;
    }
    if (c == Command::kWrite && length > 0 &&
        reader->read_exact(p->buffer.span().first(length)) != net::ReadResult::kOk) {
      // Hung up mid-request: the partial payload is never written.
      release(std::move(p));
      metrics.hangups.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    // std::function must be copyable, so the task carries a raw pointer;
    // WorkerPool runs every task it accepts, so it is always freed.
    ctx_->pool->submit([self = shared_from_this(), raw = p.release()] {
      std::unique_ptr<Pending> q(raw);
      self->execute(q.get());
      self->queue_reply(std::move(q));
    });
  }
}

// ---- workers --------------------------------------------------------------

void Connection::execute(Pending* p) noexcept {
  const Request& r = p->request;
  Store& store = *ctx_->store;
  Status st;
  // The store is a multiple of pages; the export may end inside the last
  // one, whose bytes past the end are never visible. A range that reaches
  // the end of the export may therefore take that whole page.
  uint64_t end = r.offset + r.length;
  if (end == tctx_.export_size) end = (end + kPageSize - 1) / kPageSize * kPageSize;
  switch (r.command()) {
    case Command::kRead:
      if (r.length > 0) st = store.read_bytes(r.offset, p->buffer.span().first(r.length));
      break;
    case Command::kWrite:
      if (r.length > 0) st = store.write_bytes(r.offset, p->buffer.span().first(r.length));
      break;
    case Command::kTrim: {
      // A trim is advisory: only whole pages are dropped.
      const uint64_t first = (r.offset + kPageSize - 1) / kPageSize;
      const uint64_t last = end / kPageSize;
      if (last > first) st = store.discard(first, last - first);
      break;
    }
    case Command::kWriteZeroes:
      if (r.flags & kCmdFlagNoHole) {
        execute_write_zeroes(p);
        return;
      }
      if (end > r.offset) st = store.zero_bytes(r.offset, end - r.offset);
      break;
    case Command::kBlockStatus:
      p->payload = encode_block_status(
          kBaseAllocationId,
          allocation_extents(r.offset, r.length, (r.flags & kCmdFlagReqOne) != 0, kMaxExtents,
                             [&store](PageIndex i) { return page_allocation_flags(store, i); }));
      break;
    default:
      // FLUSH and CACHE: the data lives in this process's memory, so every
      // completed write is already as durable and as cached as it gets.
      break;
  }
  if (!st.is_ok()) {
    p->error = error_from_errno(st.error_number());
    p->message = st.to_string();
  } else if (r.command() != Command::kBlockStatus) {
    p->bytes_done = r.length;
  }
}

// WRITE_ZEROES with NO_HOLE: the range must stay allocated, so whole pages
// become same-filled zero pages (they take no pool memory, yet are not holes
// in block status) instead of being discarded.
void Connection::execute_write_zeroes(Pending* p) noexcept {
  const Request& r = p->request;
  Store& store = *ctx_->store;
  Status st;
  uint64_t pos = r.offset;
  const uint64_t end = r.offset + r.length;
  while (pos < end && st.is_ok()) {
    if (pos % kPageSize == 0 && end - pos >= kPageSize) {
      st = store.write(pos / kPageSize, PageView(kZeroPage, kPageSize));
      pos += kPageSize;
    } else {
      const uint64_t n = std::min<uint64_t>(end - pos, kPageSize - pos % kPageSize);
      st = store.write_bytes(pos, std::span<const std::byte>(kZeroPage, n));
      pos += n;
    }
  }
  if (!st.is_ok()) {
    p->error = error_from_errno(st.error_number());
    p->message = st.to_string();
  } else {
    p->bytes_done = r.length;
  }
}

void Connection::queue_reply(std::unique_ptr<Pending> p) {
  {
    MutexLock lock(&mu_);
    replies_.push_back(std::move(p));
  }
  reply_cv_.notify_one();
}

// ---- writer ---------------------------------------------------------------

namespace {

// Builds the reply of `p` into p.head and up to two more iovecs; returns
// how many iovecs it used.
template <typename P>
int encode_reply(P& p, bool structured, struct iovec* iov) {
  const Request& r = p.request;
  const Command c = r.command();
  std::byte* h = p.head.data();
  if (structured && (c == Command::kRead || c == Command::kBlockStatus)) {
    if (p.error != Error::kOk) {
      const size_t n = std::min<size_t>(p.message.size(), 4096);
      encode_chunk_header(std::span<std::byte, kChunkHeaderSize>(h, kChunkHeaderSize), kReplyFlagDone,
                          ReplyType::kError, r.cookie, static_cast<uint32_t>(6 + n));
      store_be32(h + 20, static_cast<uint32_t>(p.error));
      store_be16(h + 24, static_cast<uint16_t>(n));
      iov[0] = {h, 26};
      iov[1] = {p.message.data(), n};
      return 2;
    }
    if (c == Command::kBlockStatus) {
      encode_chunk_header(std::span<std::byte, kChunkHeaderSize>(h, kChunkHeaderSize), kReplyFlagDone,
                          ReplyType::kBlockStatus, r.cookie, static_cast<uint32_t>(p.payload.size()));
      iov[0] = {h, kChunkHeaderSize};
      iov[1] = {p.payload.data(), p.payload.size()};
      return 2;
    }
    if (r.length == 0) {
      encode_chunk_header(std::span<std::byte, kChunkHeaderSize>(h, kChunkHeaderSize), kReplyFlagDone,
                          ReplyType::kNone, r.cookie, 0);
      iov[0] = {h, kChunkHeaderSize};
      return 1;
    }
    // One data chunk for the whole read: it also satisfies NBD_CMD_FLAG_DF.
    encode_chunk_header(std::span<std::byte, kChunkHeaderSize>(h, kChunkHeaderSize), kReplyFlagDone,
                        ReplyType::kOffsetData, r.cookie, 8 + r.length);
    store_be64(h + 20, r.offset);
    iov[0] = {h, 28};
    iov[1] = {p.buffer.data(), r.length};
    return 2;
  }
  encode_simple_reply(std::span<std::byte, kSimpleReplySize>(h, kSimpleReplySize), p.error, r.cookie);
  iov[0] = {h, kSimpleReplySize};
  if (c == Command::kRead && p.error == Error::kOk && r.length > 0) {
    iov[1] = {p.buffer.data(), r.length};
    return 2;
  }
  return 1;
}

}  // namespace

void Connection::writer_main() {
  std::vector<std::unique_ptr<Pending>> batch;
  std::array<struct iovec, 2 * kMaxBatch> iov;
  for (;;) {
    bool broken;
    {
      MutexLock lock(&mu_);
      while (replies_.empty() && !(reader_done_ && in_flight_ == 0)) reply_cv_.wait(mu_);
      if (replies_.empty()) return;
      while (!replies_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(replies_.front()));
        replies_.pop_front();
      }
      broken = broken_;
    }
    if (!broken) {
      int n = 0;
      for (auto& p : batch) n += encode_reply(*p, tctx_.structured_replies, iov.data() + n);
      if (!net::send_all(sock_, iov.data(), n).is_ok()) abort_io();
    }
    const Clock::time_point now = Clock::now();
    for (auto& p : batch) {
      ctx_->metrics->command(p->request.type).record(p->bytes_done, p->error != Error::kOk, now - p->start);
    }
    {
      MutexLock lock(&mu_);
      for (auto& p : batch) release_locked(p.get());
    }
    batch.clear();  // unmaps buffers dropped over the cache limit outside the lock
    room_cv_.notify_all();
  }
}

// ---- buffers and accounting -----------------------------------------------

void Connection::release(std::unique_ptr<Pending> p) {
  {
    MutexLock lock(&mu_);
    release_locked(p.get());
  }
  room_cv_.notify_all();
}

void Connection::release_locked(Pending* p) {
  give_buffer(&p->buffer);
  --in_flight_;
  in_flight_bytes_ -= p->reserved;
}

Mapping Connection::take_buffer(size_t bytes) {
  // Best fit: the smallest cached buffer that is large enough.
  size_t best = free_buffers_.size();
  for (size_t i = 0; i < free_buffers_.size(); ++i) {
    const size_t s = free_buffers_[i].size();
    if (s >= bytes && (best == free_buffers_.size() || s < free_buffers_[best].size())) best = i;
  }
  if (best == free_buffers_.size()) return Mapping();
  Mapping m = std::move(free_buffers_[best]);
  free_buffers_[best] = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  free_bytes_ -= m.size();
  return m;
}

void Connection::give_buffer(Mapping* buffer) {
  // Cache at most what the in-flight limit can use at once; anything more
  // stays in the Pending and is unmapped with it, outside the lock.
  if (!buffer->valid() || free_bytes_ + buffer->size() > ctx_->max_in_flight_bytes) return;
  free_bytes_ += buffer->size();
  free_buffers_.push_back(std::move(*buffer));
}

}  // namespace uzram::nbd
