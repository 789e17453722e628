// File: src/store/backing_file.h
//
// BackingDevice: the file or block device that writeback moves pages to, seen
// as an array of 4 KiB blocks. This is the store's one wall to the OS: the
// real implementation (backing_file.cc) is the only code of the store that
// calls open, pread, pwritev, fallocate or ioctl; tests put a fake behind the
// same interface to inject EIO or ENOSPC.
//
// Buffers passed in are 4096-aligned and whole blocks long, so that the file
// can be opened with O_DIRECT (the point of writeback is to free memory; the
// page cache would keep it).
//
// Thread safety: every method may be called from any thread at once; the
// store never writes a block while another thread reads it (a block belongs
// to one slot, under that slot's lock, or to a writeback batch).
// Errors: Status with the errno kept (ENOSPC -> kNoSpace, EIO -> kIoError).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "uzram/page.h"
#include "uzram/status.h"

namespace uzram::store {

class BackingDevice {
 public:
  virtual ~BackingDevice() = default;

  // Size in 4 KiB blocks, at least 1.
  virtual uint64_t blocks() const noexcept = 0;
  // The path, for messages.
  virtual const std::string& path() const noexcept = 0;

  // Reads out.size() bytes (whole blocks) starting at `block`. A short read
  // is kIoError.
  virtual Status pread(uint64_t block, std::span<std::byte> out) noexcept = 0;
  // Writes the pages (each whole blocks) to consecutive blocks from `first`.
  // A write that cannot complete is an error (ENOSPC, EIO, or kIoError for a
  // write that makes no progress).
  virtual Status pwritev(uint64_t first, std::span<const std::span<const std::byte>> pages) noexcept = 0;
  // Gives the space of one block back to the file system. OK when done or
  // when the device has nothing to punch (a block device); kUnsupported when
  // the file system cannot punch holes.
  virtual Status punch(uint64_t block) noexcept = 0;
};

// Opens a regular file (its size, rounded down to 4 KiB blocks, is the
// capacity; it must hold at least one block) or a block device (size from
// BLKGETSIZE64, opened exclusively). kInvalidArgument, with the errno kept,
// for a path that cannot be used.
Result<std::unique_ptr<BackingDevice>> open_backing_file(std::string_view path) noexcept;

}  // namespace uzram::store
