// The deflate backend: raw deflate (no zlib or gzip wrapper) with a 2 KiB
// window (windowBits -11) and memLevel 9, levels 1-9 (6 by default): the
// parameters of the kernel's backend_deflate.c, so the two produce the same
// kind of stream. Its window is short for a 4 KiB page, which costs some
// ratio; the kernel chose it for memory.
//
// Each context initialises one deflate and one inflate stream once and
// resets them for every page (deflateReset and inflateReset keep their
// buffers), so pages cost no allocation.
#define ZLIB_CONST  // next_in is const
#include <zlib.h>

#include <climits>
#include <vector>

#include "codec/backends.h"
#include "uzram/page.h"

namespace uzram::codec::internal {
namespace {

constexpr int kWindowBits = -11;  // negative: raw deflate
constexpr int kMemLevel = 9;      // MAX_MEM_LEVEL, as the kernel

class DeflateContext final : public CodecContext {
 public:
  DeflateContext() = default;
  // zlib's state points back at its z_stream: it must not move or be copied.
  DeflateContext(const DeflateContext&) = delete;
  DeflateContext& operator=(const DeflateContext&) = delete;
  ~DeflateContext() override {
    if (deflate_ready_) deflateEnd(&def_);
    if (inflate_ready_) inflateEnd(&inf_);
  }

  Status init(int level);

  size_t compress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept override {
    if (src.size() > UINT_MAX || deflateReset(&def_) != Z_OK) return 0;
    def_.next_in = reinterpret_cast<const Bytef*>(src.data());
    def_.avail_in = static_cast<uInt>(src.size());
    def_.next_out = reinterpret_cast<Bytef*>(dst.data());
    def_.avail_out = dst.size() > UINT_MAX ? UINT_MAX : static_cast<uInt>(dst.size());
    // zlib writes at most avail_out bytes. Z_STREAM_END means all of src is
    // in dst; Z_OK or Z_BUF_ERROR with Z_FINISH means dst filled up first.
    const int rc = deflate(&def_, Z_FINISH);
    return rc == Z_STREAM_END ? static_cast<size_t>(def_.total_out) : 0;
  }

  bool decompress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept override {
    if (src.empty() || src.size() > UINT_MAX || dst.size() > UINT_MAX) return false;
    if (inflateReset(&inf_) != Z_OK) return false;
    inf_.next_in = reinterpret_cast<const Bytef*>(src.data());
    inf_.avail_in = static_cast<uInt>(src.size());
    inf_.next_out = reinterpret_cast<Bytef*>(dst.data());
    inf_.avail_out = static_cast<uInt>(dst.size());
    // Z_STREAM_END: the final block ended. It must end exactly at the end of
    // src and of dst; Z_BUF_ERROR (dst too short or src truncated) and
    // Z_DATA_ERROR (corrupt, or a distance beyond the window) fail.
    const int rc = inflate(&inf_, Z_FINISH);
    return rc == Z_STREAM_END && inf_.avail_in == 0 && inf_.avail_out == 0;
  }

 private:
  z_stream def_{};
  z_stream inf_{};
  bool deflate_ready_ = false;
  bool inflate_ready_ = false;
};

Status DeflateContext::init(int level) {
  int rc = deflateInit2(&def_, level, Z_DEFLATED, kWindowBits, kMemLevel, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) {
    return rc == Z_MEM_ERROR ? out_of_memory("deflate stream") : Status::internal("deflateInit2 failed");
  }
  deflate_ready_ = true;
  rc = inflateInit2(&inf_, kWindowBits);
  if (rc != Z_OK) {
    return rc == Z_MEM_ERROR ? out_of_memory("inflate stream") : Status::internal("inflateInit2 failed");
  }
  inflate_ready_ = true;

  // inflate allocates its window the first time a call returns before the
  // stream ended (a dst too short for it). Provoke that now, with a stream
  // decoded into one byte too few, so that decompress() never allocates.
  std::vector<std::byte> page(kPageSize, std::byte{'u'});
  std::vector<std::byte> out(2 * kPageSize);
  const size_t n = compress(page, out);
  if (n == 0 || decompress(std::span(out).first(n), std::span(page).first(kPageSize - 1)) ||
      !decompress(std::span(out).first(n), page)) {
    return Status::internal("deflate: a page did not survive the warm-up round trip");
  }
  return Status::ok();
}

class DeflateCodec final : public BasicCodec {
 public:
  using BasicCodec::BasicCodec;

  Result<std::unique_ptr<CodecContext>> new_context() const override {
    std::unique_ptr<DeflateContext> ctx = new_nothrow<DeflateContext>();
    if (!ctx) return out_of_memory("deflate context");
    UZRAM_RETURN_IF_ERROR(ctx->init(spec().level));
    return std::unique_ptr<CodecContext>(std::move(ctx));
  }
};

}  // namespace

Result<std::unique_ptr<Codec>> make_deflate_codec(const CodecSpec& spec) {
  std::unique_ptr<Codec> codec = new_nothrow<DeflateCodec>(spec);
  if (!codec) return out_of_memory("deflate codec");
  return codec;
}

}  // namespace uzram::codec::internal
