// Protocol helpers: error mapping, names, reply headers. See protocol.h.
#include "nbd/protocol.h"

#include <cerrno>

namespace uzram::nbd {

Error error_from_errno(int err) noexcept {
  switch (err) {
    case 0: return Error::kOk;
    case EPERM:
    case EROFS: return Error::kPerm;
    case ENOMEM: return Error::kNoMem;
    case EINVAL: return Error::kInval;
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return Error::kNoSpc;
    case EOVERFLOW: return Error::kOverflow;
    case EOPNOTSUPP: return Error::kNotSup;
    case ESHUTDOWN: return Error::kShutdown;
    default: return Error::kIo;
  }
}

std::string_view error_name(Error e) noexcept {
  switch (e) {
    case Error::kOk: return "OK";
    case Error::kPerm: return "EPERM";
    case Error::kIo: return "EIO";
    case Error::kNoMem: return "ENOMEM";
    case Error::kInval: return "EINVAL";
    case Error::kNoSpc: return "ENOSPC";
    case Error::kOverflow: return "EOVERFLOW";
    case Error::kNotSup: return "ENOTSUP";
    case Error::kShutdown: return "ESHUTDOWN";
  }
  return "EIO";
}

std::string_view command_name(Command c) noexcept {
  switch (c) {
    case Command::kRead: return "read";
    case Command::kWrite: return "write";
    case Command::kDisc: return "disc";
    case Command::kFlush: return "flush";
    case Command::kTrim: return "trim";
    case Command::kCache: return "cache";
    case Command::kWriteZeroes: return "write_zeroes";
    case Command::kBlockStatus: return "block_status";
    case Command::kResize: return "resize";
  }
  return "unknown";
}

void append_be16(std::string* out, uint16_t v) {
  std::byte b[2];
  store_be16(b, v);
  out->append(reinterpret_cast<const char*>(b), sizeof b);
}

void append_be32(std::string* out, uint32_t v) {
  std::byte b[4];
  store_be32(b, v);
  out->append(reinterpret_cast<const char*>(b), sizeof b);
}

void append_be64(std::string* out, uint64_t v) {
  std::byte b[8];
  store_be64(b, v);
  out->append(reinterpret_cast<const char*>(b), sizeof b);
}

void encode_simple_reply(std::span<std::byte, kSimpleReplySize> out, Error error, uint64_t cookie) noexcept {
  store_be32(out.data(), kSimpleReplyMagic);
  store_be32(out.data() + 4, static_cast<uint32_t>(error));
  store_be64(out.data() + 8, cookie);
}

void encode_chunk_header(std::span<std::byte, kChunkHeaderSize> out, uint16_t flags, ReplyType type,
                         uint64_t cookie, uint32_t length) noexcept {
  store_be32(out.data(), kStructuredReplyMagic);
  store_be16(out.data() + 4, flags);
  store_be16(out.data() + 6, static_cast<uint16_t>(type));
  store_be64(out.data() + 8, cookie);
  store_be32(out.data() + 16, length);
}

}  // namespace uzram::nbd
