// File: src/nbd/handshake.h
//
// Handshake: the server side of the NBD fixed newstyle handshake, as a state
// machine over byte buffers. It owns no socket: the caller sends greeting(),
// feeds it what the client sent, and sends what take_output() returns, until
// the handshake is done (transmission begins) or closed. The fuzzer drives it
// the same way with arbitrary bytes.
//
// feed() never consumes a byte past the end of the handshake, so whatever the
// client pipelined after NBD_OPT_GO / NBD_OPT_EXPORT_NAME stays with the
// caller for the request parser. wanted() is how many bytes the machine needs
// to make progress; a caller that reads exactly that never over-reads.
//
// Bounds: option data is buffered up to kMaxOptionLength bytes; longer data
// is skipped (counted, not stored) and answered with NBD_REP_ERR_TOO_BIG.
// At most kMaxOptions options per connection, then the handshake closes.
// The output of one feed() is bounded by the replies to the options it
// completed (each at most a few hundred bytes plus the export name).
//
// Thread safety: one Handshake per connection, used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "nbd/protocol.h"

namespace uzram::nbd {

// The export the server offers. There is one; its name and "" (the default
// export) both select it.
struct ExportInfo {
  std::string name = "uzram";
  std::string description;
  uint64_t size = 0;    // bytes, advertised exactly (byte-granular)
  uint16_t flags = 0;   // transmission flags; kFlagSendDf is dropped unless structured replies are on
};

// What the handshake settled, valid once done().
struct Negotiated {
  bool structured_replies = false;
  bool base_allocation = false;   // meta context base:allocation selected (id kBaseAllocationId)
  bool no_zeroes = false;
  uint16_t transmission_flags = 0;
};

class Handshake {
 public:
  static constexpr size_t kMaxOptions = 1024;

  explicit Handshake(ExportInfo info);

  // The server's first message: NBDMAGIC, IHAVEOPT, handshake flags.
  static std::string greeting();

  // Consumes bytes the client sent; returns how many (less than in.size()
  // only once done() or closed()).
  size_t feed(std::span<const std::byte> in);
  // Bytes needed before the next step; 0 once done() or closed().
  uint64_t wanted() const noexcept;
  // Replies produced so far, to be sent in order; clears them.
  std::string take_output();

  bool done() const noexcept { return state_ == State::kDone; }
  bool closed() const noexcept { return state_ == State::kClosed; }
  // Why the handshake closed: "client aborted", "unknown client flags", ...
  std::string_view close_reason() const noexcept { return close_reason_; }
  const Negotiated& negotiated() const noexcept { return negotiated_; }

 private:
  enum class State : uint8_t { kClientFlags, kOptionHeader, kOptionData, kSkipOptionData, kDone, kClosed };

  void on_client_flags();
  void on_option_header();
  void on_option();  // buf_ holds the whole option data
  void on_info_or_go(bool go);
  void on_meta_context(bool set);
  void on_export_name();
  void finish_transmission_setup();
  void close(std::string_view reason);
  bool known_export(std::string_view name) const noexcept {
    return name.empty() || name == info_.name;
  }
  uint16_t transmission_flags() const noexcept;

  void reply(Rep type, std::string_view payload = {});
  void reply_error(Rep type, std::string_view message) { reply(type, message); }

  const ExportInfo info_;
  State state_ = State::kClientFlags;
  std::string buf_;              // the bytes of the field being read (at most kMaxOptionLength)
  uint32_t option_ = 0;          // the option being read
  uint32_t option_length_ = 0;
  uint64_t skip_left_ = 0;       // bytes of oversized option data still to skip
  size_t options_seen_ = 0;
  bool fixed_newstyle_ = false;
  Negotiated negotiated_;
  std::string out_;
  std::string close_reason_;
};

}  // namespace uzram::nbd
