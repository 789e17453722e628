// File: src/cli/cgroup.h
//
// What `uzram swap-bench --compare-kernel` needs of the kernel to run the same
// workload under kernel swap: a memory cgroup with the same limit, and the
// claimed zram device switched on as swap.
//
// MemoryCgroup: a child of this process's own memory cgroup (/proc/self/cgroup),
// cgroup v2 (memory.max, memory.peak) or, where the memory controller is on
// the v1 hierarchy, v1 (memory.limit_in_bytes, memory.max_usage_in_bytes).
// It is removed in the destructor (after its processes exited).
//
// ZramSwap: swapon of a claimed zram device (we write the swap header
// ourselves: no mkswap needed), swapoff in the destructor.
//
// Never left behind: while either exists, SIGINT, SIGTERM, SIGHUP and SIGQUIT
// run a handler (async-signal-safe calls only) that kills the benchmark's
// child, switches the swap off and removes the cgroup, then hands the signal
// to the handler that was there before (ZramDevice's, which resets the
// device) so that it kills the process as it would have.
//
// Thread safety: one object of each kind per process, created and destroyed
// on one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "uzram/status.h"

namespace uzram::cli {

class MemoryCgroup {
 public:
  // kUnsupported when there is no memory controller to use, kBusy or the
  // errno's code when the cgroup cannot be made (not root, read-only
  // cgroupfs, v2 parent that cannot delegate the controller); the message
  // says which.
  static Result<std::unique_ptr<MemoryCgroup>> create(uint64_t limit_bytes);
  ~MemoryCgroup();
  MemoryCgroup(const MemoryCgroup&) = delete;
  MemoryCgroup& operator=(const MemoryCgroup&) = delete;

  const std::string& path() const noexcept { return dir_; }
  int version() const noexcept { return version_; }
  // Moves a process into the cgroup.
  Status add(pid_t pid);
  // The most memory charged to the cgroup at once, in bytes.
  Result<uint64_t> peak() const;
  // Records the child to kill first if a signal comes.
  void set_child(pid_t pid) noexcept;

 private:
  MemoryCgroup(std::string dir, int version) noexcept : dir_(std::move(dir)), version_(version) {}
  std::string dir_;
  int version_ = 2;
};

class ZramSwap {
 public:
  // Writes a swap header on `block_path` (through `io_fd`, opened O_DIRECT)
  // for `bytes` of device, and switches it on.
  static Result<std::unique_ptr<ZramSwap>> enable(const std::string& block_path, int io_fd, uint64_t bytes);
  ~ZramSwap();  // swapoff
  ZramSwap(const ZramSwap&) = delete;
  ZramSwap& operator=(const ZramSwap&) = delete;

 private:
  explicit ZramSwap(std::string path) noexcept : path_(std::move(path)) {}
  std::string path_;
};

// The version-1 swap header of a device of `bytes`: one 4 KiB page (for tests).
std::string swap_header(uint64_t bytes);

}  // namespace uzram::cli
