// RssAnon from /proc/self/status. See rss.h.
#include "cli/rss.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace uzram::cli {

std::optional<uint64_t> parse_rss_anon(std::string_view text) {
  constexpr std::string_view kKey = "RssAnon:";
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.substr(0, kKey.size()) != kKey) continue;
    line.remove_prefix(kKey.size());
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos) return std::nullopt;
    line.remove_prefix(first);
    uint64_t kib = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), kib);
    if (ec != std::errc() || end == line.data()) return std::nullopt;
    std::string_view unit(end, line.data() + line.size() - end);
    size_t u = unit.find_first_not_of(" \t");
    if (u == std::string_view::npos || unit.substr(u, 2) != "kB") return std::nullopt;
    return kib * 1024;
  }
  return std::nullopt;
}

Result<uint64_t> rss_anon_bytes() {
  std::ifstream in("/proc/self/status");
  if (!in) return Status::unsupported("cannot read /proc/self/status");
  std::ostringstream text;
  text << in.rdbuf();
  std::optional<uint64_t> bytes = parse_rss_anon(text.str());
  if (!bytes) return Status::unsupported("/proc/self/status has no RssAnon line");
  return *bytes;
}

}  // namespace uzram::cli
