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
// (the StreamPool's stream lock provides that). A context may decompress what
// any other context of an equal spec compressed.
// Context: compress() and decompress() never block, and never allocate for
// inputs of up to kPageSize bytes (new_context() sizes every buffer for a
// page up front). One exception, inside liblz4: lz4hc at levels 10-12 (the
// optimal parser) mallocs and frees a 64 KiB table in each compress(); if
// that malloc fails, the page counts as incompressible.
//
// Output format: each backend's bare block or frame (docs/codec.md), with no
// uzram header; the caller keeps the compressed size, and the original size
// is the size of the buffer it decompresses into.
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
  int level = 0;           // 0 = the algorithm's default level (parse fills it in)
  std::string dict_path;   // zstd only: a dictionary file (zstd --train)

  bool operator==(const CodecSpec&) const = default;
};

// Parses the text form (surrounding blanks ignored). An unknown name or
// parameter, a level out of the algorithm's range, or dict= on another codec
// than zstd is kInvalidArgument with a message that lists the available
// algorithms and their level ranges. Does not open the dictionary file.
Result<CodecSpec> parse_codec_spec(std::string_view text);

// The canonical text form of a spec: "lz4", "lz4hc:level=9",
// "zstd:level=3,dict=/path". parse_codec_spec() of it gives the spec back.
std::string format_codec_spec(const CodecSpec& spec);

// "lz4, lz4hc (level 1-12, default 9), zstd (level 1-22, default 3, dict=FILE),
//  lzo (lzo1x-1), deflate (level 1-9, default 6)"
std::string available_codecs();
// {"lz4", "lz4hc", "zstd", "lzo", "deflate"}
std::vector<std::string> codec_names();

class CodecContext {
 public:
  virtual ~CodecContext() = default;

  // Compresses src into dst. Returns the compressed size, or 0 when the
  // result would not fit in dst (the caller treats the page as
  // incompressible); bytes past the returned size, or all of dst when 0, are
  // unspecified but nothing beyond dst is ever written. A dst of two pages
  // always fits a compressed page.
  // REQUIRES: dst.size() >= 1.
  virtual size_t compress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept = 0;

  // Decompresses src (exactly the bytes compress() returned) into dst, which
  // must come out exactly dst.size() bytes. Returns false when src is corrupt
  // or decompresses to another size; dst's content is then unspecified.
  virtual bool decompress(std::span<const std::byte> src, std::span<std::byte> dst) noexcept = 0;
};

class Codec {
 public:
  virtual ~Codec() = default;
  // Its level is resolved: never 0 for an algorithm that has levels.
  virtual const CodecSpec& spec() const noexcept = 0;
  // "zstd:level=3" : format_codec_spec(spec()).
  std::string description() const;
  // A fresh context. Allocates; call at setup time, not per page.
  virtual Result<std::unique_ptr<CodecContext>> new_context() const = 0;
};

// Creates the codec a spec names; loads the zstd dictionary file, if any
// (a missing file is kNotFound, an unreadable or unusable one
// kInvalidArgument; both name the path). A hand-built spec is checked as
// parse_codec_spec() checks the text form, except that level 0 means the
// default.
Result<std::unique_ptr<Codec>> make_codec(const CodecSpec& spec);
Result<std::unique_ptr<Codec>> make_codec(std::string_view text);

}  // namespace uzram::codec
