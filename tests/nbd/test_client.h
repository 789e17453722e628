// File: tests/nbd/test_client.h
//
// TestClient: a deliberately small NBD client that speaks raw bytes, for the
// tests that need what real clients never send (bad magic, oversized
// requests, a hang-up mid-payload) or need to see the exact replies. It is
// blocking, with a receive timeout so that a server bug fails the test
// instead of hanging it. Also: wire builders shared with the fuzzer seeds.
//
// Thread safety: one TestClient per thread.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/fd.h"
#include "nbd/net.h"
#include "nbd/protocol.h"

namespace uzram::nbd::testing {

inline std::string option_bytes(uint32_t option, std::string_view data) {
  std::string s;
  append_be64(&s, kOptionMagic);
  append_be32(&s, option);
  append_be32(&s, static_cast<uint32_t>(data.size()));
  s += data;
  return s;
}

// NBD_OPT_GO / NBD_OPT_INFO data: name and info requests.
inline std::string go_data(std::string_view name, std::vector<uint16_t> infos = {}) {
  std::string s;
  append_be32(&s, static_cast<uint32_t>(name.size()));
  s += name;
  append_be16(&s, static_cast<uint16_t>(infos.size()));
  for (uint16_t i : infos) append_be16(&s, i);
  return s;
}

// NBD_OPT_{LIST,SET}_META_CONTEXT data.
inline std::string meta_data(std::string_view name, std::vector<std::string> queries) {
  std::string s;
  append_be32(&s, static_cast<uint32_t>(name.size()));
  s += name;
  append_be32(&s, static_cast<uint32_t>(queries.size()));
  for (const auto& q : queries) {
    append_be32(&s, static_cast<uint32_t>(q.size()));
    s += q;
  }
  return s;
}

inline std::string request_bytes(Command type, uint16_t flags, uint64_t cookie, uint64_t offset,
                                 uint32_t length, uint32_t magic = kRequestMagic) {
  std::string s;
  append_be32(&s, magic);
  append_be16(&s, flags);
  append_be16(&s, static_cast<uint16_t>(type));
  append_be64(&s, cookie);
  append_be64(&s, offset);
  append_be32(&s, length);
  return s;
}

struct OptionReply {
  uint32_t option = 0;
  uint32_t type = 0;
  std::string data;
};

// A reply as the client sees it: simple, or the chunks of a structured one
// folded together (data chunks' bytes, the error of an error chunk).
struct Reply {
  bool ok = false;          // a whole reply was read
  bool structured = false;
  uint32_t error = 0;
  uint64_t cookie = 0;
  uint64_t offset = 0;      // of the data chunk
  std::string data;         // READ data, or BLOCK_STATUS payload
  uint16_t chunk_type = 0;  // of the last chunk
};

class TestClient {
 public:
  static constexpr std::chrono::milliseconds kTimeout{10000};

  explicit TestClient(Fd fd) : fd_(std::move(fd)) {
    (void)net::set_timeouts(fd_.get(), kTimeout, kTimeout);
  }
  static TestClient unix(const std::string& path) {
    auto fd = net::connect_unix(path);
    return TestClient(fd ? std::move(fd).value() : Fd());
  }
  bool connected() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }

  bool send(std::string_view bytes) {
    return net::send_all(fd_.get(), {reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()}).is_ok();
  }
  // Reads exactly n bytes; false on EOF, error or timeout.
  bool recv(size_t n, std::string* out) {
    out->resize(n);
    size_t done = 0;
    while (done < n) {
      const ssize_t r = ::recv(fd_.get(), out->data() + done, n - done, 0);
      if (r <= 0) return false;
      done += static_cast<size_t>(r);
    }
    return true;
  }
  // True when the server closed the connection (EOF) within the timeout.
  bool sees_eof() {
    char c;
    for (;;) {
      const ssize_t r = ::recv(fd_.get(), &c, 1, 0);
      if (r == 0) return true;
      if (r < 0) return errno == ECONNRESET;
    }
  }

  // Reads the greeting and sends the client flags.
  bool start(uint32_t client_flags = kClientFixedNewstyle | kClientNoZeroes) {
    std::string g;
    if (!recv(18, &g)) return false;
    const auto* p = reinterpret_cast<const std::byte*>(g.data());
    if (load_be64(p) != kNbdMagic || load_be64(p + 8) != kOptionMagic) return false;
    std::string f;
    append_be32(&f, client_flags);
    return send(f);
  }
  bool read_option_reply(OptionReply* r) {
    std::string h;
    if (!recv(20, &h)) return false;
    const auto* p = reinterpret_cast<const std::byte*>(h.data());
    if (load_be64(p) != kOptionReplyMagic) return false;
    r->option = load_be32(p + 8);
    r->type = load_be32(p + 12);
    return recv(load_be32(p + 16), &r->data);
  }
  // Option replies up to and including the first ACK or error.
  std::vector<OptionReply> option(uint32_t option, std::string_view data) {
    std::vector<OptionReply> replies;
    if (!send(option_bytes(option, data))) return replies;
    OptionReply r;
    while (read_option_reply(&r)) {
      replies.push_back(r);
      if (r.type == static_cast<uint32_t>(Rep::kAck) || (r.type & kRepErrorBit)) break;
    }
    return replies;
  }
  // The usual client: fixed newstyle, optional structured replies and
  // base:allocation, then NBD_OPT_GO. Returns the export size (0 on failure).
  uint64_t handshake(bool structured, bool base_allocation, uint16_t* flags = nullptr) {
    if (!start()) return 0;
    if (structured) {
      auto r = option(static_cast<uint32_t>(Option::kStructuredReply), "");
      if (r.empty() || r.back().type != static_cast<uint32_t>(Rep::kAck)) return 0;
    }
    if (base_allocation) {
      auto r = option(static_cast<uint32_t>(Option::kSetMetaContext), meta_data("", {"base:allocation"}));
      if (r.empty() || r.back().type != static_cast<uint32_t>(Rep::kAck)) return 0;
    }
    structured_ = structured;
    uint64_t size = 0;
    for (const OptionReply& r : option(static_cast<uint32_t>(Option::kGo), go_data(""))) {
      if (r.type == static_cast<uint32_t>(Rep::kInfo) && r.data.size() == 12) {
        const auto* p = reinterpret_cast<const std::byte*>(r.data.data());
        size = load_be64(p + 2);
        if (flags) *flags = load_be16(p + 10);
      }
      if (r.type & kRepErrorBit) return 0;
    }
    return size;
  }

  bool request(Command type, uint16_t flags, uint64_t cookie, uint64_t offset, uint32_t length,
               std::string_view payload = {}) {
    return send(request_bytes(type, flags, cookie, offset, length) + std::string(payload));
  }
  // Reads one whole reply; `read_length` is what a READ's simple reply
  // carries on success (the client must know it).
  Reply reply(uint32_t read_length = 0) {
    Reply out;
    std::string h;
    if (!recv(4, &h)) return out;
    uint32_t magic = load_be32(reinterpret_cast<const std::byte*>(h.data()));
    if (magic == kSimpleReplyMagic) {
      std::string rest;
      if (!recv(12, &rest)) return out;
      const auto* p = reinterpret_cast<const std::byte*>(rest.data());
      out.error = load_be32(p);
      out.cookie = load_be64(p + 4);
      if (out.error == 0 && read_length > 0 && !recv(read_length, &out.data)) return out;
      out.ok = true;
      return out;
    }
    out.structured = true;
    for (;;) {
      if (magic != kStructuredReplyMagic) return out;
      std::string rest;
      if (!recv(16, &rest)) return out;
      const auto* p = reinterpret_cast<const std::byte*>(rest.data());
      const uint16_t flags = load_be16(p);
      out.chunk_type = load_be16(p + 2);
      out.cookie = load_be64(p + 4);
      std::string payload;
      if (!recv(load_be32(p + 12), &payload)) return out;
      const auto* q = reinterpret_cast<const std::byte*>(payload.data());
      if (out.chunk_type == static_cast<uint16_t>(ReplyType::kOffsetData) && payload.size() >= 8) {
        out.offset = load_be64(q);
        out.data += payload.substr(8);
      } else if (out.chunk_type == static_cast<uint16_t>(ReplyType::kBlockStatus)) {
        out.data += payload;
      } else if ((out.chunk_type & 0x8000) && payload.size() >= 4) {
        out.error = load_be32(q);
      }
      if (flags & kReplyFlagDone) break;
      if (!recv(4, &h)) return out;
      magic = load_be32(reinterpret_cast<const std::byte*>(h.data()));
    }
    out.ok = true;
    return out;
  }

 private:
  Fd fd_;
  bool structured_ = false;
};

}  // namespace uzram::nbd::testing
