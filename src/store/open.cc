// Store::open: validation of StoreOptions and construction of a StoreImpl,
// or of a UnitStore when unit_pages > 1.
#include <time.h>

#include <cmath>
#include <string>

#include "store/open_parts.h"
#include "store/store_impl.h"
#include "store/unit_store.h"

namespace uzram {

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& options) {
  if (options.unit_pages > 1) {
    UZRAM_RETURN_IF_ERROR(store::validate_store_options(options));
    Result<std::unique_ptr<store::UnitStore>> units = store::UnitStore::create(options);
    if (!units) return units.status();
    return std::unique_ptr<Store>(std::move(*units));
  }
  Result<std::unique_ptr<store::StoreImpl>> impl = store::StoreImpl::create(options);
  if (!impl) return impl.status();
  return std::unique_ptr<Store>(std::move(*impl));
}

namespace store {
namespace {

// The pool's virtual arena: room for every slot raw (disksize) plus as much
// again for fragmentation before compaction, and 64 MiB for small disks.
// Only virtual: pages are taken as zspages are made.
constexpr uint64_t kArenaSlack = uint64_t{64} << 20;
// Keeps 2 * disksize + slack far below the 47-bit user address space.
constexpr uint64_t kMaxDisksize = uint64_t{1} << 44;  // 16 TiB

int64_t coarse_seconds() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return ts.tv_sec;
}

}  // namespace

Status validate_store_options(const StoreOptions& o) {
  if (o.disksize == 0 || o.disksize % kPageSize != 0) {
    return Status::invalid_argument("disksize must be a positive multiple of 4096 bytes (got " +
                                    std::to_string(o.disksize) + ")");
  }
  if (o.disksize > kMaxDisksize) {
    return Status::invalid_argument("disksize must be at most 16 TiB (got " + std::to_string(o.disksize) + ")");
  }
  if (o.max_pages_per_zspage < 1 || o.max_pages_per_zspage > 16) {
    return Status::invalid_argument("max_pages_per_zspage must be 1..16 (got " +
                                    std::to_string(o.max_pages_per_zspage) + ")");
  }
  if (o.class_shards > pool::kMaxClassShards) {
    return Status::invalid_argument("class_shards must be 0 (one per CPU) or 1.." +
                                    std::to_string(pool::kMaxClassShards) + " (got " +
                                    std::to_string(o.class_shards) + ")");
  }
  if (!(o.inject_fast_path_failure >= 0.0 && o.inject_fast_path_failure <= 1.0)) {  // also rejects NaN
    return Status::invalid_argument("inject_fast_path_failure must be a fraction within 0..1 (got " +
                                    std::to_string(o.inject_fast_path_failure) + ")");
  }
  if (Result<codec::CodecSpec> spec = codec::parse_codec_spec(o.algorithm); !spec) {
    return spec.status().with_context("algorithm");
  }
  for (int i = 0; i < kMaxPriority; ++i) {
    if (o.recomp_algorithms[i].empty()) continue;
    if (Result<codec::CodecSpec> spec = codec::parse_codec_spec(o.recomp_algorithms[i]); !spec) {
      return spec.status().with_context("recomp_algorithms (priority " + std::to_string(i + 1) + ")");
    }
  }
  if (o.unit_pages < 1 || o.unit_pages > store::UnitStore::kMaxUnitPages) {
    return Status::invalid_argument("unit_pages must be 1..32 (got " + std::to_string(o.unit_pages) + ")");
  }
  if (o.unit_pages > 1) {
    for (const std::string& a : o.recomp_algorithms) {
      if (!a.empty()) return Status::invalid_argument("recomp_algorithms need unit_pages 1 (got " + std::to_string(o.unit_pages) + ")");
    }
    if (o.inject_fast_path_failure > 0.0) {
      return Status::invalid_argument("inject_fast_path_failure needs unit_pages 1: a unit store has no fast path");
    }
  }
  return Status::ok();
}

pool::PoolOptions pool_options_for(const StoreOptions& options) {
  pool::PoolOptions po;
  po.max_pages_per_zspage = options.max_pages_per_zspage;
  po.arena_bytes = static_cast<size_t>(2 * options.disksize + kArenaSlack);
  po.max_pages = static_cast<size_t>((options.mem_limit + kPageSize - 1) / kPageSize);
  po.class_shards = options.class_shards;
  return po;
}

Result<std::unique_ptr<codec::StreamPool>> make_streams(std::string_view spec, size_t streams, std::string_view what) {
  Result<std::unique_ptr<codec::Codec>> codec = codec::make_codec(spec);
  if (!codec) return codec.status().with_context(what);
  std::shared_ptr<const codec::Codec> shared(std::move(*codec));
  Result<std::unique_ptr<codec::StreamPool>> pool = codec::StreamPool::create(std::move(shared), streams);
  if (!pool) return pool.status().with_context(what);
  return pool;
}

Result<std::unique_ptr<StoreImpl>> StoreImpl::create(const StoreOptions& options) {
  UZRAM_RETURN_IF_ERROR(validate_store_options(options));

  std::unique_ptr<StoreImpl> s(new StoreImpl());
  s->disksize_ = options.disksize;
  s->inject_rate_ = options.inject_fast_path_failure;
  s->epoch_ = coarse_seconds();

  Result<std::unique_ptr<SlotTable>> table = SlotTable::create(options.disksize / kPageSize);
  if (!table) return table.status();
  s->table_ = std::move(*table);

  Result<std::unique_ptr<pool::Pool>> pool = pool::Pool::create(pool_options_for(options));
  if (!pool) return pool.status().with_context("pool");
  s->pool_ = std::move(*pool);
  s->huge_size_ = s->pool_->huge_class_size();
  s->mem_limit_.store(options.mem_limit, std::memory_order_relaxed);

  Result<std::unique_ptr<codec::StreamPool>> primary = make_streams(options.algorithm, options.streams, "algorithm");
  if (!primary) return primary.status();
  s->streams_[0] = std::move(*primary);
  for (int i = 0; i < kMaxPriority; ++i) {
    if (options.recomp_algorithms[i].empty()) continue;
    const std::string what = "recomp_algorithms (priority " + std::to_string(i + 1) + ")";
    Result<std::unique_ptr<codec::StreamPool>> secondary = make_streams(options.recomp_algorithms[i], options.streams, what);
    if (!secondary) return secondary.status();
    s->streams_[i + 1] = std::move(*secondary);
    s->top_priority_ = static_cast<uint32_t>(i + 1);
  }
  return s;
}

// The pool's destructor returns its whole arena; objects need no freeing one
// by one, and the backing file keeps whatever was written to it.
StoreImpl::~StoreImpl() = default;

uint32_t StoreImpl::now() const noexcept {
  return static_cast<uint32_t>(coarse_seconds() - epoch_) + clock_skew_.load(std::memory_order_relaxed);
}

}  // namespace store
}  // namespace uzram
