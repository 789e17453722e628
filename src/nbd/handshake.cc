// Handshake: the fixed newstyle option haggling. See handshake.h; the
// protocol document's "Option haggling" section is what each case follows.
#include "nbd/handshake.h"

#include <algorithm>
#include <utility>

namespace uzram::nbd {
namespace {

constexpr size_t kClientFlagsSize = 4;
constexpr size_t kOptionHeaderSize = 16;  // IHAVEOPT, option, length

const std::byte* bytes(const std::string& s) { return reinterpret_cast<const std::byte*>(s.data()); }

// Reads fields of option data front to back; any read past the end sets
// bad() instead, so that a parser checks once at the end.
class OptionReader {
 public:
  explicit OptionReader(std::string_view data) : data_(data) {}
  uint16_t u16() { return take(2) ? load_be16(p_) : 0; }
  uint32_t u32() { return take(4) ? load_be32(p_) : 0; }
  std::string_view str(uint64_t n) {
    if (!take(n)) return {};
    return std::string_view(reinterpret_cast<const char*>(p_), n);
  }
  bool bad() const { return bad_; }
  size_t left() const { return data_.size() - pos_; }

 private:
  bool take(uint64_t n) {
    if (bad_ || n > left()) {
      bad_ = true;
      return false;
    }
    p_ = reinterpret_cast<const std::byte*>(data_.data() + pos_);
    pos_ += n;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
  const std::byte* p_ = nullptr;
  bool bad_ = false;
};

}  // namespace

Handshake::Handshake(ExportInfo info) : info_(std::move(info)) {}

std::string Handshake::greeting() {
  std::string g;
  append_be64(&g, kNbdMagic);
  append_be64(&g, kOptionMagic);
  append_be16(&g, kFlagFixedNewstyle | kFlagNoZeroes);
  return g;
}

uint64_t Handshake::wanted() const noexcept {
  switch (state_) {
    case State::kClientFlags: return kClientFlagsSize - buf_.size();
    case State::kOptionHeader: return kOptionHeaderSize - buf_.size();
    case State::kOptionData: return option_length_ - buf_.size();
    case State::kSkipOptionData: return skip_left_;
    case State::kDone:
    case State::kClosed: return 0;
  }
  return 0;
}

std::string Handshake::take_output() { return std::exchange(out_, std::string()); }

size_t Handshake::feed(std::span<const std::byte> in) {
  size_t used = 0;
  while (used < in.size() && (state_ != State::kDone && state_ != State::kClosed)) {
    const size_t avail = in.size() - used;
    if (state_ == State::kSkipOptionData) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(skip_left_, avail));
      skip_left_ -= n;
      used += n;
      if (skip_left_ == 0) {
        reply_error(Rep::kErrTooBig, "option data too long");
        state_ = State::kOptionHeader;
      }
      continue;
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(wanted(), avail));
    buf_.append(reinterpret_cast<const char*>(in.data() + used), n);
    used += n;
    if (wanted() != 0) continue;
    switch (state_) {
      case State::kClientFlags: on_client_flags(); break;
      case State::kOptionHeader: on_option_header(); break;
      case State::kOptionData: on_option(); break;
      default: break;
    }
  }
  return used;
}

void Handshake::close(std::string_view reason) {
  state_ = State::kClosed;
  close_reason_ = std::string(reason);
  buf_.clear();
}

void Handshake::on_client_flags() {
  const uint32_t flags = load_be32(bytes(buf_));
  buf_.clear();
  // The protocol: a server that sees client flags it does not know closes.
  if ((flags & ~kKnownClientFlags) != 0) return close("unknown client flags");
  fixed_newstyle_ = (flags & kClientFixedNewstyle) != 0;
  negotiated_.no_zeroes = (flags & kClientNoZeroes) != 0;
  state_ = State::kOptionHeader;
}

void Handshake::on_option_header() {
  const std::byte* p = bytes(buf_);
  if (load_be64(p) != kOptionMagic) return close("bad option magic");
  if (++options_seen_ > kMaxOptions) return close("too many options");
  option_ = load_be32(p + 8);
  option_length_ = load_be32(p + 12);
  buf_.clear();
  if (option_length_ > kMaxOptionLength) {
    // EXPORT_NAME has no error reply: the protocol's only answer is to close.
    if (option_ == static_cast<uint32_t>(Option::kExportName)) return close("export name too long");
    skip_left_ = option_length_;
    state_ = State::kSkipOptionData;
    return;
  }
  state_ = State::kOptionData;
  if (option_length_ == 0) on_option();
}

void Handshake::reply(Rep type, std::string_view payload) {
  append_be64(&out_, kOptionReplyMagic);
  append_be32(&out_, option_);
  append_be32(&out_, static_cast<uint32_t>(type));
  append_be32(&out_, static_cast<uint32_t>(payload.size()));
  out_.append(payload);
}

uint16_t Handshake::transmission_flags() const noexcept {
  uint16_t flags = info_.flags | kFlagHasFlags;
  // DF only means something with structured replies, and the protocol
  // forbids advertising it without them.
  if (!negotiated_.structured_replies) flags &= static_cast<uint16_t>(~kFlagSendDf);
  return flags;
}

void Handshake::finish_transmission_setup() {
  negotiated_.transmission_flags = transmission_flags();
  state_ = State::kDone;
  buf_.clear();
}

void Handshake::on_option() {
  state_ = State::kOptionHeader;  // the usual next step; the cases below may override it
  switch (static_cast<Option>(option_)) {
    case Option::kExportName:
      on_export_name();
      break;
    case Option::kAbort:
      // The client may have gone already; the ACK is a courtesy.
      reply(Rep::kAck);
      close("client aborted");
      break;
    case Option::kList: {
      if (!buf_.empty()) {
        reply_error(Rep::kErrInvalid, "NBD_OPT_LIST takes no data");
        break;
      }
      std::string server;
      append_be32(&server, static_cast<uint32_t>(info_.name.size()));
      server += info_.name;
      server += info_.description;
      reply(Rep::kServer, server);
      reply(Rep::kAck);
      break;
    }
    case Option::kInfo:
    case Option::kGo:
      on_info_or_go(static_cast<Option>(option_) == Option::kGo);
      break;
    case Option::kStructuredReply:
      if (!buf_.empty()) {
        reply_error(Rep::kErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data");
        break;
      }
      negotiated_.structured_replies = true;
      reply(Rep::kAck);
      break;
    case Option::kListMetaContext:
    case Option::kSetMetaContext:
      on_meta_context(static_cast<Option>(option_) == Option::kSetMetaContext);
      break;
    default:
      // STARTTLS (no TLS here), EXTENDED_HEADERS, the withdrawn PEEK_EXPORT
      // and anything unknown. A client that did not ask for fixed newstyle
      // cannot parse an error reply: the old protocol closes instead.
      if (!fixed_newstyle_) return close("unsupported option from a non-fixed-newstyle client");
      reply_error(Rep::kErrUnsup, "option not supported");
      break;
  }
  if (state_ == State::kOptionHeader) buf_.clear();
}

void Handshake::on_export_name() {
  // No reply can refuse EXPORT_NAME: an unknown name closes the connection.
  if (!known_export(buf_)) return close("unknown export name");
  finish_transmission_setup();
  append_be64(&out_, info_.size);
  append_be16(&out_, negotiated_.transmission_flags);
  if (!negotiated_.no_zeroes) out_.append(124, '\0');
}

void Handshake::on_info_or_go(bool go) {
  OptionReader r(buf_);
  const uint32_t name_length = r.u32();
  const std::string_view name = r.str(name_length);
  const uint16_t requests = r.u16();
  bool want_name = false, want_description = false, want_block_size = false;
  for (uint32_t i = 0; i < requests && !r.bad(); ++i) {
    switch (static_cast<Info>(r.u16())) {
      case Info::kName: want_name = true; break;
      case Info::kDescription: want_description = true; break;
      case Info::kBlockSize: want_block_size = true; break;
      default: break;  // NBD_INFO_EXPORT is always sent; unknown ones are ignored
    }
  }
  if (r.bad() || r.left() != 0) return reply_error(Rep::kErrInvalid, "malformed NBD_OPT_INFO/GO");
  if (!known_export(name)) return reply_error(Rep::kErrUnknown, "unknown export");

  std::string info;
  append_be16(&info, static_cast<uint16_t>(Info::kExport));
  append_be64(&info, info_.size);
  append_be16(&info, transmission_flags());
  reply(Rep::kInfo, info);
  if (want_name) {
    info.clear();
    append_be16(&info, static_cast<uint16_t>(Info::kName));
    info += info_.name;
    reply(Rep::kInfo, info);
  }
  if (want_description && !info_.description.empty()) {
    info.clear();
    append_be16(&info, static_cast<uint16_t>(Info::kDescription));
    info += info_.description;
    reply(Rep::kInfo, info);
  }
  if (want_block_size) {
    info.clear();
    append_be16(&info, static_cast<uint16_t>(Info::kBlockSize));
    append_be32(&info, kMinBlockSize);
    append_be32(&info, kPreferredBlockSize);
    append_be32(&info, kMaxPayload);
    reply(Rep::kInfo, info);
  }
  reply(Rep::kAck);
  if (go) finish_transmission_setup();
}

void Handshake::on_meta_context(bool set) {
  OptionReader r(buf_);
  const uint32_t name_length = r.u32();
  const std::string_view name = r.str(name_length);
  const uint32_t queries = r.u32();
  bool match = false;
  bool list_all = !set && queries == 0;  // LIST with no query lists every context
  for (uint32_t i = 0; i < queries && !r.bad(); ++i) {
    const uint32_t length = r.u32();
    if (length > kMaxNameLength) {
      return reply_error(Rep::kErrTooBig, "meta context query too long");
    }
    const std::string_view query = r.str(length);
    if (query == kBaseAllocation) match = true;
    // "base:" lists every context of the namespace, but only in LIST.
    if (!set && query == "base:") list_all = true;
  }
  if (r.bad() || r.left() != 0) return reply_error(Rep::kErrInvalid, "malformed meta context option");
  if (set && !negotiated_.structured_replies) {
    return reply_error(Rep::kErrInvalid, "NBD_OPT_SET_META_CONTEXT needs structured replies first");
  }
  if (!known_export(name)) return reply_error(Rep::kErrUnknown, "unknown export");
  match = match || list_all;
  if (match) {
    std::string context;
    append_be32(&context, kBaseAllocationId);
    context += kBaseAllocation;
    reply(Rep::kMetaContext, context);
  }
  // SET replaces what an earlier SET chose.
  if (set) negotiated_.base_allocation = match;
  reply(Rep::kAck);
}

}  // namespace uzram::nbd
