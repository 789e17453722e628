// The zstd backend: one zstd frame per page, levels 1-22 (3 by default, as
// the kernel's backend_zstd.c), with an optional dictionary.
//
// Frames are written without the 4-byte magic number (ZSTD_f_zstd1_magicless)
// and without the dictionary ID: neither says anything the store does not
// know, and a page of heap data at zstd's ratio is 600-900 bytes, so 4-8
// bytes a page are worth keeping. The content size stays in the header (it
// lets the decoder reject a frame of the wrong size before decoding it).
//
// A dictionary file is loaded once by the Codec into a ZSTD_CDict and a
// ZSTD_DDict; zstd documents both as read-only once built, so every context
// of the codec references the same pair without a lock.
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_c_format / ZSTD_d_format (magicless frames)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "base/fd.h"
#include "codec/backends.h"
#include "uzram/page.h"

namespace uzram::codec::internal {
namespace {

// Trained dictionaries are ~100 KiB (zstd --train's default maxdict is
// 112640 bytes); a file far larger is a mistake, not a dictionary.
constexpr size_t kMaxDictBytes = 16u << 20;

struct ZstdDictionary {
  ZSTD_CDict* cdict = nullptr;
  ZSTD_DDict* ddict = nullptr;

  ZstdDictionary() = default;
  ZstdDictionary(const ZstdDictionary&) = delete;
  ZstdDictionary& operator=(const ZstdDictionary&) = delete;
  ~ZstdDictionary() {
    ZSTD_freeCDict(cdict);
    ZSTD_freeDDict(ddict);
  }
};

class ZstdContext final : public CodecContext {
 public:
  ZstdContext() = default;
  ZstdContext(const ZstdContext&) = delete;
  ZstdContext& operator=(const ZstdContext&) = delete;
  ~ZstdContext() override {
    ZSTD_freeCCtx(cctx_);
    ZSTD_freeDCtx(dctx_);
  }

  Status init(int level, std::shared_ptr<const ZstdDictionary> dict);

  // ZSTD_compress2 takes the parameters set in init() (they are sticky) and
  // starts a new frame each call. It writes at most dstCapacity bytes; when
  // the frame does not fit it returns dstSize_tooSmall, which is 0 here.
  size_t compress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept override {
    const size_t n = ZSTD_compress2(cctx_, dst.data(), dst.size(), src.data(), src.size());
    return ZSTD_isError(n) ? 0 : n;
  }

  bool decompress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept override {
    // Uses the DCtx's format and referenced DDict; fails on trailing bytes,
    // on a frame whose content is larger than dst, and on any corruption.
    const size_t n = ZSTD_decompressDCtx(dctx_, dst.data(), dst.size(), src.data(), src.size());
    return !ZSTD_isError(n) && n == dst.size();
  }

 private:
  ZSTD_CCtx* cctx_ = nullptr;
  ZSTD_DCtx* dctx_ = nullptr;
  std::shared_ptr<const ZstdDictionary> dict_;  // shared, read-only; may be null
};

Status zstd_error(std::string_view what, size_t code) {
  return Status::internal("zstd: " + std::string(what) + ": " + ZSTD_getErrorName(code));
}

Status ZstdContext::init(int level, std::shared_ptr<const ZstdDictionary> dict) {
  dict_ = std::move(dict);
  cctx_ = ZSTD_createCCtx();
  dctx_ = ZSTD_createDCtx();
  if (cctx_ == nullptr || dctx_ == nullptr) return out_of_memory("zstd contexts");
  struct {
    ZSTD_cParameter param;
    int value;
  } const cparams[] = {
      {ZSTD_c_compressionLevel, level},
      {ZSTD_c_format, ZSTD_f_zstd1_magicless},
      {ZSTD_c_dictIDFlag, 0},
      {ZSTD_c_checksumFlag, 0},
  };
  for (const auto& p : cparams) {
    const size_t rc = ZSTD_CCtx_setParameter(cctx_, p.param, p.value);
    if (ZSTD_isError(rc)) return zstd_error("set compression parameter", rc);
  }
  size_t rc = ZSTD_DCtx_setParameter(dctx_, ZSTD_d_format, ZSTD_f_zstd1_magicless);
  if (ZSTD_isError(rc)) return zstd_error("set decompression parameter", rc);
  if (dict_) {
    rc = ZSTD_CCtx_refCDict(cctx_, dict_->cdict);
    if (ZSTD_isError(rc)) return zstd_error("reference dictionary", rc);
    rc = ZSTD_DCtx_refDDict(dctx_, dict_->ddict);
    if (ZSTD_isError(rc)) return zstd_error("reference dictionary", rc);
  }

  // The CCtx sizes its workspace on first use, for the parameters that the
  // level and the source size give. One page through both directions now
  // keeps that allocation out of the hot path.
  std::vector<std::byte> page(kPageSize);
  for (size_t i = 0; i < page.size(); ++i) page[i] = static_cast<std::byte>((i * 7) ^ (i >> 5));
  std::vector<std::byte> out(2 * kPageSize);
  const size_t n = compress(page, out);
  if (n == 0 || !decompress(std::span(out).first(n), page)) {
    return Status::internal("zstd: a page did not survive the warm-up round trip");
  }
  return Status::ok();
}

class ZstdCodec final : public BasicCodec {
 public:
  ZstdCodec(const CodecSpec& spec, std::shared_ptr<const ZstdDictionary> dict)
      : BasicCodec(spec), dict_(std::move(dict)) {}

  Result<std::unique_ptr<CodecContext>> new_context() const override {
    std::unique_ptr<ZstdContext> ctx = new_nothrow<ZstdContext>();
    if (!ctx) return out_of_memory("zstd context");
    UZRAM_RETURN_IF_ERROR(ctx->init(spec().level, dict_));
    return std::unique_ptr<CodecContext>(std::move(ctx));
  }

 private:
  const std::shared_ptr<const ZstdDictionary> dict_;  // null without dict=
};

// Reads the whole dictionary file. ENOENT is kNotFound; anything else that
// keeps it from being used is kInvalidArgument. Messages name the path.
Result<std::vector<char>> read_dictionary(const std::string& path) {
  const std::string what = "zstd dictionary \"" + path + "\"";
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT) return Status(Status::Code::kNotFound, err, what + ": no such file");
    return Status(Status::Code::kInvalidArgument, err, what + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    const int err = errno;
    return Status(Status::Code::kInvalidArgument, err, what + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) return Status::invalid_argument(what + " is not a regular file");
  if (st.st_size == 0) return Status::invalid_argument(what + " is empty");
  if (static_cast<uint64_t>(st.st_size) > kMaxDictBytes) {
    return Status::invalid_argument(what + " is larger than 16 MiB; train one with zstd --train");
  }
  std::vector<char> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      return Status(Status::Code::kInvalidArgument, err, what + ": " + std::strerror(err));
    }
    if (n == 0) return Status::invalid_argument(what + " shrank while being read");
    done += static_cast<size_t>(n);
  }
  return bytes;
}

Result<std::shared_ptr<const ZstdDictionary>> load_dictionary(const std::string& path, int level) {
  Result<std::vector<char>> bytes = read_dictionary(path);
  if (!bytes) return bytes.status();
  auto dict = std::make_shared<ZstdDictionary>();
  // Both copy the bytes: the buffer can go when they return. Content without
  // the dictionary magic is taken as a raw-content dictionary.
  dict->cdict = ZSTD_createCDict(bytes->data(), bytes->size(), level);
  dict->ddict = ZSTD_createDDict(bytes->data(), bytes->size());
  if (dict->cdict == nullptr || dict->ddict == nullptr) {
    return Status::invalid_argument("zstd dictionary \"" + path + "\" is not a usable dictionary");
  }
  return std::shared_ptr<const ZstdDictionary>(std::move(dict));
}

}  // namespace

Result<std::unique_ptr<Codec>> make_zstd_codec(const CodecSpec& spec) {
  std::shared_ptr<const ZstdDictionary> dict;
  if (!spec.dict_path.empty()) {
    Result<std::shared_ptr<const ZstdDictionary>> loaded = load_dictionary(spec.dict_path, spec.level);
    if (!loaded) return loaded.status();
    dict = std::move(*loaded);
  }
  std::unique_ptr<Codec> codec = new_nothrow<ZstdCodec>(spec, std::move(dict));
  if (!codec) return out_of_memory("zstd codec");
  // A context now, so that a dictionary zstd cannot work with fails here
  // rather than when the first stream is made.
  Result<std::unique_ptr<CodecContext>> probe = codec->new_context();
  if (!probe) return probe.status().with_context(format_codec_spec(spec));
  return codec;
}

}  // namespace uzram::codec::internal
