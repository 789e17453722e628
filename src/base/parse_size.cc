// parse_size(). See parse_size.h.
#include "base/parse_size.h"

#include <cctype>
#include <string>

namespace uzram {

Result<uint64_t> parse_size(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::invalid_argument("bad size '" + std::string(text) + "': " + std::string(why));
  };
  size_t i = 0;
  uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (kMaxSizeArgument - digit) / 10) return bad("too large");
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return bad("expected a number of bytes, e.g. 4096, 64M, 1G");
  std::string suffix;
  for (char c : text.substr(i)) suffix += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int shift = 0;
  if (suffix.empty() || suffix == "B") {
    shift = 0;
  } else if (suffix == "K" || suffix == "KB" || suffix == "KIB") {
    shift = 10;
  } else if (suffix == "M" || suffix == "MB" || suffix == "MIB") {
    shift = 20;
  } else if (suffix == "G" || suffix == "GB" || suffix == "GIB") {
    shift = 30;
  } else if (suffix == "T" || suffix == "TB" || suffix == "TIB") {
    shift = 40;
  } else {
    return bad("unknown suffix (use K, M, G or T)");
  }
  if (value == 0) return bad("must be more than 0");
  if (value > (kMaxSizeArgument >> shift)) return bad("too large");
  return value << shift;
}

}  // namespace uzram
