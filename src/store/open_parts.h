// File: src/store/open_parts.h
//
// What both Store implementations (StoreImpl, UnitStore) are built from:
// the validation of StoreOptions, the pool's options, and a codec's streams.
// Defined in open.cc, where Store::open chooses between them.
#pragma once

#include <memory>
#include <string_view>

#include "codec/per_cpu_streams.h"
#include "pool/pool.h"
#include "uzram/store.h"

namespace uzram::store {

// kInvalidArgument with a message naming the option.
Status validate_store_options(const StoreOptions& options);

// The pool for a store of options.disksize: its arena and its page limit.
pool::PoolOptions pool_options_for(const StoreOptions& options);

// `streams` streams (0: one per CPU) of the codec named by `spec`; errors
// say `what` the spec was given as.
Result<std::unique_ptr<codec::StreamPool>> make_streams(std::string_view spec, size_t streams, std::string_view what);

}  // namespace uzram::store
