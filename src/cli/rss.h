// File: src/cli/rss.h
//
// The anonymous resident memory of this process (RssAnon in /proc/self/status),
// which is what a Store costs in RAM: pool, slot table, buffers. File pages
// (the mapped bench input) are RssFile and do not count.
//
// Linux keeps these counters per CPU and folds them in lazily, so a reading
// can lag the truth by a few dozen pages per CPU; good to about 1 MiB, which
// is why the bench reports a delta over a whole phase and not per page.
//
// Thread safety: any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "uzram/status.h"

namespace uzram::cli {

// Bytes of RssAnon of the calling process.
Result<uint64_t> rss_anon_bytes();

// The RssAnon line of a /proc/PID/status text, in bytes; nullopt when there is
// no such line or it does not read "RssAnon: <number> kB".
std::optional<uint64_t> parse_rss_anon(std::string_view status_text);

}  // namespace uzram::cli
