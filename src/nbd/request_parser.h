// File: src/nbd/request_parser.h
//
// parse_request(): decodes one 28-byte transmission request header and decides
// what the server does with it, before any payload is read. It is a pure
// function of the header and of what the handshake negotiated, so the
// fuzzer and the unit tests call it without a socket or a store.
//
// The decision keeps the stream in sync: a WRITE whose header is refused
// still has its payload on the wire, and `payload` says how many bytes the
// caller must read (and drop) before the next header. Only a bad magic is
// unrecoverable: the stream has lost its framing, so the connection closes.
//
// Errors follow the protocol document: an unknown command or flag, or a
// read, trim, cache or block status past the end, is EINVAL; a write or
// write-zeroes past the end is ENOSPC; a READ or WRITE longer than
// kMaxPayload is EOVERFLOW once structured replies are on (EINVAL before,
// since a simple-reply client may not know EOVERFLOW).
//
// Thread safety: pure function.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "nbd/protocol.h"

namespace uzram::nbd {

struct Request {
  uint16_t type = 0;     // a Command value, or an unknown one
  uint16_t flags = 0;    // kCmdFlag* bits
  uint64_t cookie = 0;   // the client's handle, echoed in the reply
  uint64_t offset = 0;
  uint32_t length = 0;

  Command command() const noexcept { return static_cast<Command>(type); }
};

// What the handshake settled that requests are checked against.
struct TransmissionContext {
  uint64_t export_size = 0;
  bool structured_replies = false;
  bool base_allocation = false;
};

struct ParsedRequest {
  enum class Action : uint8_t {
    kExecute,     // valid: run it; a WRITE's `payload` bytes follow the header
    kReject,      // reply `error`, after reading and dropping `payload` bytes
    kDisconnect,  // NBD_CMD_DISC: finish what is in flight, then close
    kClose,       // the stream is out of sync: close now
  };
  Request request;
  Action action = Action::kClose;
  Error error = Error::kOk;
  uint32_t payload = 0;        // bytes after the header that belong to this request
  std::string_view reason;     // for a rejection: a short message (static storage)
};

ParsedRequest parse_request(std::span<const std::byte, kRequestHeaderSize> header,
                            const TransmissionContext& ctx) noexcept;

// True when [offset, offset + length) lies inside an export of `size` bytes
// (without overflowing).
inline bool in_range(uint64_t offset, uint64_t length, uint64_t size) noexcept {
  return offset <= size && length <= size - offset;
}

}  // namespace uzram::nbd
