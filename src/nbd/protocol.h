// File: src/nbd/protocol.h
//
// The network block device protocol as uzram speaks it: wire constants of the
// fixed newstyle handshake and of the transmission phase (simple and
// structured replies), and the big-endian helpers that read and write them.
// Every multi-byte field on the wire is big-endian ("network byte order").
// Reference: the NBD protocol document (doc/proto.md of the nbd project);
// the names below are its names without the NBD_ prefix.
//
// What uzram implements (docs/nbd.md has the prose):
//   handshake: fixed newstyle; NBD_OPT_EXPORT_NAME, ABORT, LIST, INFO, GO,
//     STRUCTURED_REPLY, LIST_META_CONTEXT, SET_META_CONTEXT (base:allocation);
//     every other option gets NBD_REP_ERR_UNSUP (no TLS, no extended headers).
//   transmission: READ, WRITE (FUA), DISC, FLUSH, TRIM (FUA), CACHE,
//     WRITE_ZEROES (FUA, NO_HOLE, FAST_ZERO), BLOCK_STATUS (REQ_ONE).
//
// Thread safety: constants and pure functions only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace uzram::nbd {

// ---- handshake ---------------------------------------------------------------

inline constexpr uint64_t kNbdMagic = 0x4e42444d41474943ULL;       // "NBDMAGIC"
inline constexpr uint64_t kOptionMagic = 0x49484156454f5054ULL;    // "IHAVEOPT"
inline constexpr uint64_t kOptionReplyMagic = 0x0003e889045565a9ULL;

// Server handshake flags (16 bits) and client flags (32 bits).
inline constexpr uint16_t kFlagFixedNewstyle = 1 << 0;
inline constexpr uint16_t kFlagNoZeroes = 1 << 1;
inline constexpr uint32_t kClientFixedNewstyle = 1 << 0;
inline constexpr uint32_t kClientNoZeroes = 1 << 1;
inline constexpr uint32_t kKnownClientFlags = kClientFixedNewstyle | kClientNoZeroes;

enum class Option : uint32_t {
  kExportName = 1,
  kAbort = 2,
  kList = 3,
  kPeekExport = 4,  // withdrawn from the protocol
  kStartTls = 5,
  kInfo = 6,
  kGo = 7,
  kStructuredReply = 8,
  kListMetaContext = 9,
  kSetMetaContext = 10,
  kExtendedHeaders = 11,
};

inline constexpr uint32_t kRepErrorBit = 1u << 31;
enum class Rep : uint32_t {
  kAck = 1,
  kServer = 2,
  kInfo = 3,
  kMetaContext = 4,
  kErrUnsup = kRepErrorBit | 1,
  kErrPolicy = kRepErrorBit | 2,
  kErrInvalid = kRepErrorBit | 3,
  kErrPlatform = kRepErrorBit | 4,
  kErrTlsReqd = kRepErrorBit | 5,
  kErrUnknown = kRepErrorBit | 6,
  kErrShutdown = kRepErrorBit | 7,
  kErrBlockSizeReqd = kRepErrorBit | 8,
  kErrTooBig = kRepErrorBit | 9,
};

enum class Info : uint16_t {
  kExport = 0,       // u64 size, u16 transmission flags
  kName = 1,         // the export's name
  kDescription = 2,  // a human-readable description
  kBlockSize = 3,    // u32 minimum, u32 preferred, u32 maximum
};

// Transmission flags (16 bits), sent with the export's size.
inline constexpr uint16_t kFlagHasFlags = 1 << 0;
inline constexpr uint16_t kFlagReadOnly = 1 << 1;
inline constexpr uint16_t kFlagSendFlush = 1 << 2;
inline constexpr uint16_t kFlagSendFua = 1 << 3;
inline constexpr uint16_t kFlagRotational = 1 << 4;
inline constexpr uint16_t kFlagSendTrim = 1 << 5;
inline constexpr uint16_t kFlagSendWriteZeroes = 1 << 6;
inline constexpr uint16_t kFlagSendDf = 1 << 7;
inline constexpr uint16_t kFlagCanMultiConn = 1 << 8;
inline constexpr uint16_t kFlagSendResize = 1 << 9;
inline constexpr uint16_t kFlagSendCache = 1 << 10;
inline constexpr uint16_t kFlagSendFastZero = 1 << 11;

// The one metadata context uzram serves, and the id it answers under.
inline constexpr std::string_view kBaseAllocation = "base:allocation";
inline constexpr uint32_t kBaseAllocationId = 1;
// base:allocation status bits of a block status descriptor.
inline constexpr uint32_t kStateHole = 1 << 0;  // not allocated: the slot is empty
inline constexpr uint32_t kStateZero = 1 << 1;  // reads as zeros

// ---- transmission ------------------------------------------------------------

inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;
inline constexpr uint32_t kStructuredReplyMagic = 0x668e33ef;

inline constexpr size_t kRequestHeaderSize = 28;   // magic flags type cookie offset length
inline constexpr size_t kSimpleReplySize = 16;     // magic error cookie
inline constexpr size_t kChunkHeaderSize = 20;     // magic flags type cookie length

enum class Command : uint16_t {
  kRead = 0,
  kWrite = 1,
  kDisc = 2,
  kFlush = 3,
  kTrim = 4,
  kCache = 5,
  kWriteZeroes = 6,
  kBlockStatus = 7,
  kResize = 8,
};

inline constexpr uint16_t kCmdFlagFua = 1 << 0;
inline constexpr uint16_t kCmdFlagNoHole = 1 << 1;
inline constexpr uint16_t kCmdFlagDf = 1 << 2;
inline constexpr uint16_t kCmdFlagReqOne = 1 << 3;
inline constexpr uint16_t kCmdFlagFastZero = 1 << 4;

inline constexpr uint16_t kReplyFlagDone = 1 << 0;
enum class ReplyType : uint16_t {
  kNone = 0,
  kOffsetData = 1,
  kOffsetHole = 2,
  kBlockStatus = 5,
  kError = (1 << 15) | 1,
  kErrorOffset = (1 << 15) | 2,
};

// Error values on the wire. They equal Linux's errno values, but the protocol
// fixes them, so they are spelled out rather than taken from <cerrno>.
enum class Error : uint32_t {
  kOk = 0,
  kPerm = 1,
  kIo = 5,
  kNoMem = 12,
  kInval = 22,
  kNoSpc = 28,
  kOverflow = 75,
  kNotSup = 95,
  kShutdown = 108,
};

// The nearest protocol error for an errno (EDQUOT and EFBIG become ENOSPC,
// anything unknown EIO), as the protocol document asks of servers.
Error error_from_errno(int err) noexcept;
std::string_view error_name(Error e) noexcept;
std::string_view command_name(Command c) noexcept;  // "read", "write", ... "unknown"

// Limits uzram sets. 32 MiB is the largest READ/WRITE a client may send
// without negotiated block sizes if it wants to work with every server, so
// no client that interoperates is refused.
inline constexpr uint32_t kMaxPayload = 32u << 20;
inline constexpr uint32_t kMinBlockSize = 1;          // byte-granular
inline constexpr uint32_t kPreferredBlockSize = 4096;
inline constexpr uint32_t kMaxOptionLength = 64u << 10;  // longer option data: NBD_REP_ERR_TOO_BIG
inline constexpr uint32_t kMaxNameLength = 4096;         // export names and context queries

// ---- big-endian helpers ------------------------------------------------------
// Byte-wise so that alignment never matters; compilers turn them into a
// load and a bswap.

inline uint16_t load_be16(const std::byte* p) noexcept {
  return static_cast<uint16_t>((std::to_integer<uint16_t>(p[0]) << 8) | std::to_integer<uint16_t>(p[1]));
}
inline uint32_t load_be32(const std::byte* p) noexcept {
  return (static_cast<uint32_t>(load_be16(p)) << 16) | load_be16(p + 2);
}
inline uint64_t load_be64(const std::byte* p) noexcept {
  return (static_cast<uint64_t>(load_be32(p)) << 32) | load_be32(p + 4);
}
inline void store_be16(std::byte* p, uint16_t v) noexcept {
  p[0] = static_cast<std::byte>(v >> 8);
  p[1] = static_cast<std::byte>(v);
}
inline void store_be32(std::byte* p, uint32_t v) noexcept {
  store_be16(p, static_cast<uint16_t>(v >> 16));
  store_be16(p + 2, static_cast<uint16_t>(v));
}
inline void store_be64(std::byte* p, uint64_t v) noexcept {
  store_be32(p, static_cast<uint32_t>(v >> 32));
  store_be32(p + 4, static_cast<uint32_t>(v));
}

// Appends big-endian fields to a byte string (handshake replies are built
// this way; their size is bounded by the option that asked for them).
void append_be16(std::string* out, uint16_t v);
void append_be32(std::string* out, uint32_t v);
void append_be64(std::string* out, uint64_t v);

// ---- reply headers -----------------------------------------------------------

// A simple reply: magic, error, cookie.
void encode_simple_reply(std::span<std::byte, kSimpleReplySize> out, Error error, uint64_t cookie) noexcept;
// A structured reply chunk header; `length` counts the payload after it.
void encode_chunk_header(std::span<std::byte, kChunkHeaderSize> out, uint16_t flags, ReplyType type,
                         uint64_t cookie, uint32_t length) noexcept;

}  // namespace uzram::nbd
