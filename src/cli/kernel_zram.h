// File: src/cli/kernel_zram.h
//
// ZramDevice: exclusive use of the kernel's /dev/zramN for the time of a
// benchmark, the anchor uzram is measured against. claim() takes a device
// only when nobody uses it; the destructor resets it, always.
//
// Claiming checks, in order, and says which one failed:
//   - we are root (configuring /sys/block/zramN needs it);
//   - /sys/block/zramN and the block node /dev/zramN exist (modprobe zram);
//   - no other ZramDevice of this process, and no other uzram process, holds
//     it (an flock on /run/lock/uzram-zramN.lock, held until the destructor);
//   - it is not swap (/proc/swaps), not mounted (/proc/mounts), has no holders
//     (device mapper), can be opened O_EXCL, and is not initialized
//     (initstate 0 and disksize 0): a configured device belongs to someone.
//
// Never leave the device configured: the destructor closes the I/O
// descriptor and writes /sys/block/zramN/reset. While a device is claimed,
// SIGINT, SIGTERM, SIGHUP and SIGQUIT run a handler that detaches the I/O
// descriptor (dup2 of /dev/null, so that its number is never reused), resets
// the device (retrying while in-flight requests still hold it open), and then
// lets the signal kill the process as it would have (a signal that was
// ignored before claim() stays ignored). SIGKILL cannot be caught:
// after `kill -9`, run `echo 1 > /sys/block/zram0/reset`.
//
// Thread safety: claim() and the destructor from one thread. After
// open_io(), any number of threads may pread/pwrite the descriptor. The
// setters and stats() are not to race with each other.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "uzram/status.h"
#include "uzram/store.h"

namespace uzram::cli {

class ZramDevice {
 public:
  // kUnsupported (not root, no such device), kBusy (in use; the message says
  // by what) or another code for an unexpected failure.
  static Result<std::unique_ptr<ZramDevice>> claim(int index = 0);
  ~ZramDevice();
  ZramDevice(const ZramDevice&) = delete;
  ZramDevice& operator=(const ZramDevice&) = delete;

  const std::string& name() const noexcept { return name_; }           // "zram0"
  const std::string& block_path() const noexcept { return dev_path_; }  // "/dev/zram0"

  // The names in comp_algorithm ("[lzo-rle] lzo lz4" -> lzo-rle, lzo, lz4).
  Result<std::vector<std::string>> algorithms() const;
  // Sets comp_algorithm; kUnsupported, naming the offered ones, when the
  // kernel lacks `kernel_name`. level > 0 also sets algorithm_params.
  // REQUIRES: before set_disksize().
  Status set_algorithm(std::string_view kernel_name, int level = 0);
  Status set_disksize(uint64_t bytes);
  // Opens the block device O_RDWR | O_DIRECT (once; later calls return the
  // same descriptor). REQUIRES: set_disksize() done.
  Result<int> open_io();
  // mm_stat and io_stat in StoreStats' fields (they mean the same); the
  // fields zram has no file for stay 0.
  Result<StoreStats> stats() const;

 private:
  ZramDevice(int index, Fd lock_fd, Fd null_fd);
  Status write_attr(std::string_view attr, std::string_view value) const;
  Result<std::string> read_attr(std::string_view attr) const;
  void reset() noexcept;

  std::string name_;
  std::string sys_dir_;   // /sys/block/zram0
  std::string dev_path_;  // /dev/zram0
  Fd lock_fd_;            // flock(LOCK_EX) against other uzram processes
  Fd null_fd_;            // /dev/null, dup2'ed over io_fd_ by the signal handler
  Fd io_fd_;
};

// Why a benchmark's kernel side did not run, as one word for scripts and
// tests: "busy" (another user has the device: try again later),
// "unsupported" (not root, no zram, or the algorithm is not offered) or
// "error" (anything else; the message says what).
std::string_view skip_kind(const Status& why) noexcept;

// Our codec name for the kernel's: "lzo" is "lzo" (not "lzo-rle", which
// differs in its output), others keep their names. Parameters after ':' are
// dropped.
std::string kernel_algorithm_name(std::string_view ours);

// ---- parsing of the kernel's files, exposed for tests --------------------

// "[lzo-rle] lzo lz4 \n" -> {"lzo-rle", "lzo", "lz4"}.
std::vector<std::string> parse_comp_algorithm(std::string_view text);
// mm_stat: orig_data_size compr_data_size mem_used_total mem_limit
// mem_used_max same_pages pages_compacted huge_pages [huge_pages_since].
// Older kernels print fewer columns: at least 7 are required, missing ones
// read 0. kCorrupt for anything that is not whitespace-separated numbers.
Status parse_mm_stat(std::string_view line, StoreStats* out);
// io_stat: failed_reads failed_writes invalid_io notify_free.
Status parse_io_stat(std::string_view line, StoreStats* out);
// True when /proc/swaps text lists `dev_path` as a swap area.
bool swaps_lists(std::string_view proc_swaps, std::string_view dev_path);
// The mount point of `dev_path` in /proc/mounts text, or "" when not mounted.
std::string mount_point_of(std::string_view proc_mounts, std::string_view dev_path);

}  // namespace uzram::cli
