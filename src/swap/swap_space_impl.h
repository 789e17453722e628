// File: src/swap/swap_space_impl.h
//
// The ways into a SwapSpace that the public header does not offer: opening
// one over a Store the caller made (tests use a store that can be made to
// wait or to fail), and reaching its Core (tests check invariants and
// states). Thread contract: as SwapSpace.
#pragma once

#include <memory>

#include "swap/space_core.h"
#include "uzram/store.h"
#include "uzram/swap_space.h"

namespace uzram::swap {

// As SwapSpace::open, over `store` (its disksize bounds the bytes mapped at
// once; options.size, algorithm and mem_limit are not used).
Result<std::unique_ptr<SwapSpace>> open_space(const SwapOptions& options, std::unique_ptr<Store> store);

// The Core of a space made by open_space() or SwapSpace::open().
Core& core_of(SwapSpace& space);

}  // namespace uzram::swap
