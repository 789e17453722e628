// File: src/codec/codec.h
//
// Codec: one compression algorithm with its parameters, chosen by name like
// the kernel zram's comp_algorithm ("lz4", "lz4hc", "zstd", "lzo", "deflate").
// A Codec is immutable and thread-safe; the work happens in a CodecContext,
// which holds the algorithm's state (zstd's CCtx/DCtx, lzo's work memory) and
// belongs to one thread at a time. Contexts are handed out per CPU by
// StreamPool (per_cpu_streams.h); nothing else should create them on a hot path.
//
// Thread safety: Codec: any thread. CodecContext: one thread at a time
// (the StreamPool's stream lock provides that).
// Context: compress() and decompress() never allocate and never block.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "uzram/status.h"

namespace uzram::codec {

// What a codec name and its parameters parse to. Text form, as taken by the
// CLI and StoreOptions: "NAME[:key=value[,key=value...]]", e.g. "lz4",
// "lz4hc:level=9", "zstd:level=3,dict=/path/to/dict", "deflate:level=6".
// A bare number after the colon is the level: "zstd:3".
struct CodecSpec {
  std::string name;        // canonical name: lz4, lz4hc, zstd, lzo, deflate
  int level = 0;           // 0 = the algorithm's default level
  std::string dict_path;   // zstd only: a dictionary file (zstd --train)
};

// Parses the text form. An unknown name or parameter, or a level out of the
// algorithm's range, is kInvalidArgument with a message that lists the
// available algorithms and their level ranges.
Result<CodecSpec> parse_codec_spec(std::string_view text);

// "lz4, lz4hc (level 1-12), zstd (level 1-22, dict=FILE), lzo, deflate (level 1-9)"
std::string available_codecs();
std::vector<std::string> codec_names();

class CodecContext {
 public:
  virtual ~CodecContext() = default;

  // Compresses src into dst. Returns the compressed size, or 0 when the
  // result would not fit in dst (the caller treats the page as incompressible).
  // REQUIRES: dst.size() >= 1.
  virtual size_t compress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept = 0;

  // Decompresses src into dst, which must come out exactly dst.size() bytes.
  // Returns false when src is corrupt or decompresses to another size.
  virtual bool decompress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept = 0;
};

class Codec {
 public:
  virtual ~Codec() = default;
  virtual const CodecSpec& spec() const noexcept = 0;
  // "zstd:level=3" : the spec in its canonical text form.
  virtual std::string description() const = 0;
  // A fresh context. Allocates; call at setup time, not per page.
  virtual Result<std::unique_ptr<CodecContext>> new_context() const = 0;
};

// Creates the codec a spec names; loads the zstd dictionary file, if any
// (a missing or unreadable file is an error naming the path).
Result<std::unique_ptr<Codec>> make_codec(const CodecSpec& spec);
Result<std::unique_ptr<Codec>> make_codec(std::string_view text);

}  // namespace uzram::codec
