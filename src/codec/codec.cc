// Codec specs and the registry of backends. See codec.h.
#include "codec/codec.h"

#include <charconv>
#include <string>

#include "codec/backends.h"

namespace uzram::codec {
namespace {

// ---------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------

struct Backend {
  std::string_view name;
  int min_level;      // min_level == max_level == 0: the algorithm takes no level
  int max_level;
  int default_level;
  bool takes_dict;
  std::string_view note;  // said after the name in available_codecs(), if any
  Result<std::unique_ptr<Codec>> (*make)(const CodecSpec&);

  bool has_levels() const { return max_level != 0; }
};

// The order is the order of available_codecs() and codec_names(). Defaults
// are the kernel's: lz4hc 9 (LZ4HC_CLEVEL_DEFAULT), zstd 3
// (ZSTD_CLEVEL_DEFAULT), deflate 6 (Z_DEFAULT_COMPRESSION).
constexpr Backend kBackends[] = {
    {"lz4", 0, 0, 0, false, "", internal::make_lz4_codec},
    {"lz4hc", 1, 12, 9, false, "", internal::make_lz4hc_codec},
    {"zstd", 1, 22, 3, true, "", internal::make_zstd_codec},
    {"lzo", 0, 0, 0, false, "lzo1x-1", internal::make_lzo_codec},
    {"deflate", 1, 9, 6, false, "", internal::make_deflate_codec},
};

const Backend* find_backend(std::string_view name) {
  for (const Backend& b : kBackends) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

// "zstd (level 1-22, default 3, dict=FILE)"
std::string describe(const Backend& b) {
  std::string s(b.name);
  std::string details;
  if (b.has_levels()) {
    details = "level " + std::to_string(b.min_level) + "-" + std::to_string(b.max_level) +
              ", default " + std::to_string(b.default_level);
  }
  if (b.takes_dict) details += ", dict=FILE";
  if (!b.note.empty()) details += (details.empty() ? "" : ", ") + std::string(b.note);
  if (!details.empty()) s += " (" + details + ")";
  return s;
}

// "zstd takes level=1-22 and dict=FILE"
std::string what_it_takes(const Backend& b) {
  std::string s(b.name);
  if (!b.has_levels()) return s + " takes no parameters";
  s += " takes level=" + std::to_string(b.min_level) + "-" + std::to_string(b.max_level);
  if (b.takes_dict) s += " and dict=FILE";
  return s;
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string_view trim(std::string_view s) {
  constexpr std::string_view kBlanks = " \t\r\n";
  const size_t first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

Status unknown_codec(std::string_view name) {
  if (name == "lzo-rle") {
    // zram's default since Linux 5.1; liblzo2 has no such variant.
    return Status::invalid_argument(
        "compression algorithm \"lzo-rle\" is the kernel's own LZO variant and is not available; "
        "use \"lzo\" (lzo1x-1). available: " + available_codecs());
  }
  return Status::invalid_argument("unknown compression algorithm " + quoted(name) +
                                  "; available: " + available_codecs());
}

Status check_level(const Backend& b, int level) {
  if (!b.has_levels()) return Status::invalid_argument(what_it_takes(b));
  if (level < b.min_level || level > b.max_level) {
    return Status::invalid_argument("level " + std::to_string(level) + " out of range for " +
                                    std::string(b.name) + " (" + std::to_string(b.min_level) +
                                    "-" + std::to_string(b.max_level) + ")");
  }
  return Status::ok();
}

Result<int> parse_level(const Backend& b, std::string_view value) {
  int level = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, level);
  if (value.empty() || ec != std::errc() || ptr != end) {
    return Status::invalid_argument("level " + quoted(value) + " of " + std::string(b.name) +
                                    " is not a number; " + what_it_takes(b));
  }
  UZRAM_RETURN_IF_ERROR(check_level(b, level));
  return level;
}

// One item of the parameter list: "level=9", "9" or "dict=/path".
Status parse_param(const Backend& b, std::string_view text, std::string_view item, bool* level_seen,
                   bool* dict_seen, CodecSpec* spec) {
  const size_t eq = item.find('=');
  const std::string_view key = eq == std::string_view::npos ? std::string_view("level") : item.substr(0, eq);
  const std::string_view value = eq == std::string_view::npos ? item : item.substr(eq + 1);
  if (key == "level") {
    if (!b.has_levels()) return Status::invalid_argument(what_it_takes(b));
    if (*level_seen) return Status::invalid_argument("level given twice in " + quoted(text));
    *level_seen = true;
    Result<int> level = parse_level(b, value);
    if (!level) return level.status();
    spec->level = *level;
    return Status::ok();
  }
  if (key == "dict") {
    if (!b.takes_dict) {
      return Status::invalid_argument("dict= is only for zstd; " + what_it_takes(b));
    }
    if (*dict_seen) return Status::invalid_argument("dict given twice in " + quoted(text));
    *dict_seen = true;
    if (value.empty()) return Status::invalid_argument("dict= of zstd needs a file name");
    spec->dict_path = std::string(value);
    return Status::ok();
  }
  return Status::invalid_argument("unknown parameter " + quoted(key) + " for " + std::string(b.name) +
                                  "; " + what_it_takes(b));
}

}  // namespace

Result<CodecSpec> parse_codec_spec(std::string_view text) {
  text = trim(text);
  if (text.empty()) {
    return Status::invalid_argument("no compression algorithm given; available: " + available_codecs());
  }
  const size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  const Backend* b = find_backend(name);
  if (b == nullptr) return unknown_codec(name);

  CodecSpec spec;
  spec.name = std::string(b->name);
  bool level_seen = false;
  bool dict_seen = false;
  if (colon != std::string_view::npos) {
    std::string_view params = text.substr(colon + 1);
    if (params.empty()) {
      return Status::invalid_argument("nothing after ':' in " + quoted(text) + "; " + what_it_takes(*b));
    }
    while (true) {
      const size_t comma = params.find(',');
      const std::string_view item = params.substr(0, comma);
      if (item.empty()) return Status::invalid_argument("empty parameter in " + quoted(text));
      UZRAM_RETURN_IF_ERROR(parse_param(*b, text, item, &level_seen, &dict_seen, &spec));
      if (comma == std::string_view::npos) break;
      params.remove_prefix(comma + 1);
    }
  }
  if (!level_seen) spec.level = b->default_level;
  return spec;
}

std::string format_codec_spec(const CodecSpec& spec) {
  std::string s = spec.name;
  const Backend* b = find_backend(spec.name);
  const int level = (b != nullptr && spec.level == 0) ? b->default_level : spec.level;
  char sep = ':';
  if (level != 0) {
    s += sep + std::string("level=") + std::to_string(level);
    sep = ',';
  }
  if (!spec.dict_path.empty()) s += sep + std::string("dict=") + spec.dict_path;
  return s;
}

std::string available_codecs() {
  std::string s;
  for (const Backend& b : kBackends) {
    if (!s.empty()) s += ", ";
    s += describe(b);
  }
  return s;
}

std::vector<std::string> codec_names() {
  std::vector<std::string> names;
  for (const Backend& b : kBackends) names.emplace_back(b.name);
  return names;
}

std::string Codec::description() const { return format_codec_spec(spec()); }

Result<std::unique_ptr<Codec>> make_codec(const CodecSpec& spec) {
  const Backend* b = find_backend(spec.name);
  if (b == nullptr) return unknown_codec(spec.name);
  CodecSpec resolved = spec;
  if (resolved.level == 0) {
    resolved.level = b->default_level;
  } else {
    UZRAM_RETURN_IF_ERROR(check_level(*b, resolved.level));
  }
  if (!resolved.dict_path.empty() && !b->takes_dict) {
    return Status::invalid_argument("dict= is only for zstd; " + what_it_takes(*b));
  }
  return b->make(resolved);
}

Result<std::unique_ptr<Codec>> make_codec(std::string_view text) {
  Result<CodecSpec> spec = parse_codec_spec(text);
  if (!spec) return spec.status();
  return make_codec(*spec);
}

namespace internal {

Status out_of_memory(std::string_view what) {
  return Status::no_space("cannot allocate " + std::string(what));
}

}  // namespace internal
}  // namespace uzram::codec
