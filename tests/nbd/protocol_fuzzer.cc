// nbd_protocol_fuzzer: the handshake and request parsers on arbitrary client
// bytes. libFuzzer drives it when the compiler has -fsanitize=fuzzer (clang);
// otherwise fuzz_driver.cc runs the seeds and bounded random mutations of
// them. Beyond "no crash, no sanitizer report", it checks properties:
//   - feeding the handshake in pieces gives the same replies and outcome as
//     feeding it at once, and it never consumes past its end;
//   - every request decision is consistent with the export (an executed
//     request is in range and within the payload limit; a rejection carries
//     an error; only WRITE carries a payload);
//   - block status extents are non-empty, within the request, and no more
//     than the limit.
#include <cstddef>
#include <cstdint>
#include <string>

#include "nbd/block_status.h"
#include "nbd/handshake.h"
#include "nbd/request_parser.h"
#include "nbd/server.h"

namespace {

using namespace uzram::nbd;

#define FUZZ_CHECK(cond) \
  do {                   \
    if (!(cond)) __builtin_trap(); \
  } while (0)

constexpr uint64_t kExportSize = (1u << 20) + 123;

ExportInfo fuzz_export() {
  ExportInfo e;
  e.name = "uzram";
  e.description = "fuzz";
  e.size = kExportSize;
  e.flags = kServerExportFlags;
  return e;
}

uint32_t page_flags(uzram::PageIndex i) {
  const uint64_t x = (i * 0x9E3779B97F4A7C15ull) >> 61;
  return x < 3 ? 0 : (x < 6 ? kStateHole | kStateZero : kStateZero);
}

void check_requests(const uint8_t* data, size_t size, const Negotiated& n) {
  const TransmissionContext ctx{kExportSize, n.structured_replies, n.base_allocation};
  size_t pos = 0;
  for (int i = 0; i < 4096 && size - pos >= kRequestHeaderSize; ++i) {
    const ParsedRequest p = parse_request(
        std::span<const std::byte, kRequestHeaderSize>(reinterpret_cast<const std::byte*>(data + pos),
                                                       kRequestHeaderSize),
        ctx);
    pos += kRequestHeaderSize;
    const Request& r = p.request;
    using A = ParsedRequest::Action;
    if (p.action == A::kClose || p.action == A::kDisconnect) return;
    FUZZ_CHECK(p.payload == (r.command() == Command::kWrite ? r.length : 0));
    if (p.action == A::kReject) {
      FUZZ_CHECK(p.error != Error::kOk && !p.reason.empty());
    } else {
      FUZZ_CHECK(p.error == Error::kOk);
      if (r.command() != Command::kFlush) FUZZ_CHECK(in_range(r.offset, r.length, kExportSize));
      if (r.command() == Command::kRead || r.command() == Command::kWrite) FUZZ_CHECK(r.length <= kMaxPayload);
      if (r.command() == Command::kBlockStatus) {
        FUZZ_CHECK(n.base_allocation && r.length > 0);
        const bool one = (r.flags & kCmdFlagReqOne) != 0;
        const auto extents = allocation_extents(r.offset, r.length, one, 64, page_flags);
        uint64_t total = 0;
        for (const Extent& e : extents) {
          FUZZ_CHECK(e.length > 0);
          total += e.length;
        }
        FUZZ_CHECK(!extents.empty() && extents.size() <= (one ? 1u : 64u) && total <= r.length);
        FUZZ_CHECK(extents.size() == (one ? 1u : 64u) || total == r.length);
      }
    }
    pos += static_cast<size_t>(std::min<uint64_t>(p.payload, size - pos));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  Handshake whole(fuzz_export());
  const size_t used = whole.feed({bytes, size});
  const std::string out = whole.take_output();
  FUZZ_CHECK(used <= size);
  if (!whole.done() && !whole.closed()) FUZZ_CHECK(used == size && whole.wanted() > 0);

  // The same bytes in pieces of varying size.
  Handshake pieces(fuzz_export());
  std::string out2;
  size_t pos = 0, step = 1 + (size ? data[0] % 7 : 0);
  while (pos < size && !pieces.done() && !pieces.closed()) {
    const size_t n = std::min(step, size - pos);
    const size_t u = pieces.feed({bytes + pos, n});
    FUZZ_CHECK(u <= n);
    pos += u;
    out2 += pieces.take_output();
    if (u < n) break;
    step = step * 5 % 23 + 1;
  }
  FUZZ_CHECK(out == out2);
  FUZZ_CHECK(whole.done() == pieces.done() && whole.closed() == pieces.closed());
  FUZZ_CHECK(pos == used);
  if (whole.done()) {
    const Negotiated& a = whole.negotiated();
    const Negotiated& b = pieces.negotiated();
    FUZZ_CHECK(a.structured_replies == b.structured_replies && a.base_allocation == b.base_allocation &&
               a.transmission_flags == b.transmission_flags);
    FUZZ_CHECK(!a.base_allocation || a.structured_replies);
    FUZZ_CHECK(a.structured_replies || !(a.transmission_flags & kFlagSendDf));
    check_requests(data + used, size - used, a);
  }
  return 0;
}
