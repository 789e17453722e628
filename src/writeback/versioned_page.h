// File: src/writeback/versioned_page.h
//
// Versioned pages: page contents that are a pure function of (slot, version),
// so that a page read back can be checked to be exactly one whole version
// that was written, and which one. The stress driver, `uzram stress` and the
// seed's regression test write them.
//
// The first 8 bytes hold the tag (slot << 32 | version); the rest is derived
// from a hash of the tag so that successive versions of one slot compress to
// very different sizes: same-filled (1 in 16), incompressible (1 in 16, the
// store keeps them huge) and mixes of random and repeated 64-byte runs. That
// spread is what turned a second compression into an overrun in the seed.
// Version 0 is the empty slot: a page of zeros.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>

#include "uzram/page.h"

namespace uzram::writeback {

// REQUIRES: version >= 1, slot < 2^32.
void fill_versioned_page(PageIndex slot, uint32_t version, PageBuffer out) noexcept;

// The version `page` is a whole copy of, for `slot` (0 for a page of zeros);
// nullopt when it is no whole version of that slot (torn, foreign, garbage).
std::optional<uint32_t> versioned_page_version(PageIndex slot, PageView page) noexcept;

}  // namespace uzram::writeback
