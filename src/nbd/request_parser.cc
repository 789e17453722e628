// parse_request(): validation of transmission requests. See request_parser.h.
#include "nbd/request_parser.h"

namespace uzram::nbd {
namespace {

// The flags each command accepts. FUA is valid on every command once
// NBD_FLAG_SEND_FUA is advertised (the server may ignore it), as the
// protocol document says.
uint16_t allowed_flags(Command c, const TransmissionContext& ctx) noexcept {
  uint16_t flags = kCmdFlagFua;
  switch (c) {
    case Command::kRead:
      if (ctx.structured_replies) flags |= kCmdFlagDf;
      break;
    case Command::kWriteZeroes:
      flags |= kCmdFlagNoHole | kCmdFlagFastZero;
      break;
    case Command::kBlockStatus:
      flags |= kCmdFlagReqOne;
      break;
    default:
      break;
  }
  return flags;
}

ParsedRequest reject(ParsedRequest p, Error error, std::string_view reason) noexcept {
  p.action = ParsedRequest::Action::kReject;
  p.error = error;
  p.reason = reason;
  return p;
}

}  // namespace

ParsedRequest parse_request(std::span<const std::byte, kRequestHeaderSize> header,
                            const TransmissionContext& ctx) noexcept {
  const std::byte* h = header.data();
  ParsedRequest p;
  if (load_be32(h) != kRequestMagic) {
    p.reason = "bad request magic";
    return p;  // kClose
  }
  Request& r = p.request;
  r.flags = load_be16(h + 4);
  r.type = load_be16(h + 6);
  r.cookie = load_be64(h + 8);
  r.offset = load_be64(h + 16);
  r.length = load_be32(h + 24);
  const Command c = r.command();
  // Without extended headers only WRITE carries a payload; it must be
  // consumed whatever is decided below.
  if (c == Command::kWrite) p.payload = r.length;

  switch (c) {
    case Command::kRead:
    case Command::kWrite:
    case Command::kFlush:
    case Command::kTrim:
    case Command::kCache:
    case Command::kWriteZeroes:
    case Command::kBlockStatus:
      break;
    case Command::kDisc:
      p.action = ParsedRequest::Action::kDisconnect;
      return p;
    default:  // NBD_CMD_RESIZE is not advertised; the rest are unknown
      return reject(p, Error::kInval, "unknown command");
  }
  if ((r.flags & ~allowed_flags(c, ctx)) != 0) return reject(p, Error::kInval, "flag not valid here");

  const uint64_t size = ctx.export_size;
  switch (c) {
    case Command::kRead:
    case Command::kWrite:
      if (r.length > kMaxPayload) {
        return reject(p, ctx.structured_replies ? Error::kOverflow : Error::kInval,
                      "request longer than the maximum block size");
      }
      if (!in_range(r.offset, r.length, size)) {
        return c == Command::kWrite ? reject(p, Error::kNoSpc, "write beyond the end of the export")
                                    : reject(p, Error::kInval, "read beyond the end of the export");
      }
      break;
    case Command::kWriteZeroes:
      if (!in_range(r.offset, r.length, size)) {
        return reject(p, Error::kNoSpc, "write beyond the end of the export");
      }
      break;
    case Command::kTrim:
    case Command::kCache:
      if (!in_range(r.offset, r.length, size)) {
        return reject(p, Error::kInval, "request beyond the end of the export");
      }
      break;
    case Command::kBlockStatus:
      if (!ctx.base_allocation) return reject(p, Error::kInval, "no metadata context negotiated");
      if (r.length == 0) return reject(p, Error::kInval, "block status of zero bytes");
      if (!in_range(r.offset, r.length, size)) {
        return reject(p, Error::kInval, "request beyond the end of the export");
      }
      break;
    default:  // FLUSH: offset and length carry nothing
      break;
  }
  p.action = ParsedRequest::Action::kExecute;
  return p;
}

}  // namespace uzram::nbd
