// MemoryCgroup and ZramSwap: see cgroup.h.
//
// Signal state: g_cleanup holds what the handler needs, in a form it may
// touch (atomics and fixed buffers; async-signal-safe calls only: kill,
// waitpid, swapoff, rmdir, nanosleep, write, raise). It is armed while a
// MemoryCgroup or a ZramSwap exists.
#include "cli/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

namespace uzram::cli {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
constexpr int kNumSignals = 4;

struct CleanupState {
  std::atomic<int> users{0};           // live MemoryCgroup + ZramSwap objects
  std::atomic<pid_t> child{0};         // to kill first
  std::atomic<bool> swap_on{false};
  std::atomic<bool> cgroup_live{false};
  char swap_path[128] = {};
  char cgroup_dir[512] = {};
  struct sigaction previous[kNumSignals];
};
CleanupState g_cleanup;

void pause_ms(long ms) {
  struct timespec t = {0, ms * 1'000'000};
  ::nanosleep(&t, nullptr);
}

void say(const char* s) {
  ssize_t ignored = ::write(STDERR_FILENO, s, std::strlen(s));
  (void)ignored;
}

// Async-signal-safe.
void cleanup_now() {
  pid_t child = g_cleanup.child.exchange(0);
  if (child > 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
  }
  if (g_cleanup.swap_on.exchange(false)) {
    if (::swapoff(g_cleanup.swap_path) != 0) say("uzram: interrupted; swapoff failed, run: swapoff -a\n");
  }
  if (g_cleanup.cgroup_live.exchange(false)) {
    for (int i = 0; i < 100 && ::rmdir(g_cleanup.cgroup_dir) != 0 && errno == EBUSY; ++i) pause_ms(10);
  }
}

void on_signal(int sig) {
  cleanup_now();
  for (int i = 0; i < kNumSignals; ++i) {
    if (kSignals[i] != sig) continue;
    const struct sigaction& prev = g_cleanup.previous[i];
    // The handler that was there before (ZramDevice's resets the device and
    // re-raises); otherwise the default action, which kills us on return.
    if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
      prev.sa_handler(sig);
      return;
    }
  }
  ::raise(sig);  // SA_RESETHAND restored the default; delivered when we return
}

void arm() {
  if (g_cleanup.users.fetch_add(1) != 0) return;
  struct sigaction action = {};
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int sig : kSignals) sigaddset(&action.sa_mask, sig);
  for (int i = 0; i < kNumSignals; ++i) ::sigaction(kSignals[i], &action, &g_cleanup.previous[i]);
}

void disarm() {
  if (g_cleanup.users.fetch_sub(1) != 1) return;
  for (int i = 0; i < kNumSignals; ++i) ::sigaction(kSignals[i], &g_cleanup.previous[i], nullptr);
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::from_errno(errno ? errno : ENOENT, path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Status write_text(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::from_errno(errno, path);
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) return Status::from_errno(n < 0 ? err : EIO, "writing " + path);
  return Status::ok();
}

struct Mount {
  std::string dir;
  std::string type;
  std::string options;
};

std::vector<Mount> cgroup_mounts() {
  std::vector<Mount> out;
  Result<std::string> text = read_text("/proc/self/mounts");
  if (!text) return out;
  std::istringstream in(*text);
  std::string dev, dir, type, opts, a, b;
  while (in >> dev >> dir >> type >> opts >> a >> b) {
    if (type == "cgroup" || type == "cgroup2") out.push_back(Mount{dir, type, opts});
  }
  return out;
}

bool has_option(const std::string& opts, const std::string& name) {
  std::istringstream in(opts);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == name) return true;
  }
  return false;
}

}  // namespace

// ---- MemoryCgroup ----------------------------------------------------------------

Result<std::unique_ptr<MemoryCgroup>> MemoryCgroup::create(uint64_t limit_bytes) {
  Result<std::string> self = read_text("/proc/self/cgroup");
  if (!self) return self.status();
  std::string v1_path, v2_path;
  bool have_v2 = false;
  std::istringstream lines(*self);
  std::string line;
  while (std::getline(lines, line)) {
    size_t c1 = line.find(':');
    size_t c2 = line.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path = line.substr(c2 + 1);
    if (line.compare(0, c1, "0") == 0 && controllers.empty()) {
      v2_path = path;
      have_v2 = true;
    } else if (has_option(controllers, "memory")) {
      v1_path = path;
    }
  }
  std::vector<Mount> mounts = cgroup_mounts();
  std::string parent;
  int version = 0;
  if (!v1_path.empty()) {
    for (const Mount& m : mounts) {
      if (m.type == "cgroup" && has_option(m.options, "memory")) {
        parent = m.dir + (v1_path == "/" ? "" : v1_path);
        version = 1;
      }
    }
  }
  if (version == 0 && have_v2) {
    for (const Mount& m : mounts) {
      if (m.type != "cgroup2") continue;
      std::string dir = m.dir + (v2_path == "/" ? "" : v2_path);
      Result<std::string> ctl = read_text(dir + "/cgroup.controllers");
      if (!ctl || ctl->find("memory") == std::string::npos) continue;
      Result<std::string> sub = read_text(dir + "/cgroup.subtree_control");
      if (!sub || sub->find("memory") == std::string::npos) {
        Status st = write_text(dir + "/cgroup.subtree_control", "+memory");
        if (!st.is_ok()) {
          return Status::unsupported("cgroup v2: cannot enable the memory controller below " + dir + " (" +
                                     st.to_string() + "; a cgroup with processes cannot delegate it)");
        }
      }
      parent = dir;
      version = 2;
      break;
    }
  }
  if (version == 0) return Status::unsupported("no memory cgroup controller is mounted");

  std::string dir = parent + "/uzram-swap-bench-" + std::to_string(::getpid());
  if (::mkdir(dir.c_str(), 0755) != 0) {
    return Status::from_errno(errno, "creating the memory cgroup " + dir + " (cgroups not writable?)");
  }
  std::unique_ptr<MemoryCgroup> cg(new MemoryCgroup(dir, version));
  std::snprintf(g_cleanup.cgroup_dir, sizeof g_cleanup.cgroup_dir, "%s", dir.c_str());
  g_cleanup.cgroup_live.store(true);
  arm();
  const std::string limit = std::to_string(limit_bytes);
  Status st = version == 2 ? write_text(dir + "/memory.max", limit) : write_text(dir + "/memory.limit_in_bytes", limit);
  if (!st.is_ok()) return st.with_context("setting the cgroup's memory limit");
  return cg;
}

MemoryCgroup::~MemoryCgroup() {
  if (g_cleanup.cgroup_live.exchange(false)) {
    int err = 0;
    for (int i = 0; i < 200; ++i) {
      if (::rmdir(dir_.c_str()) == 0) {
        err = 0;
        break;
      }
      err = errno;
      if (err != EBUSY) break;
      pause_ms(10);  // the child's exit is still being accounted
    }
    if (err != 0) std::fprintf(stderr, "uzram: could not remove %s (%s); run: rmdir %s\n", dir_.c_str(), std::strerror(err), dir_.c_str());
  }
  g_cleanup.child.store(0);
  disarm();
}

Status MemoryCgroup::add(pid_t pid) { return write_text(dir_ + "/cgroup.procs", std::to_string(pid)); }

void MemoryCgroup::set_child(pid_t pid) noexcept { g_cleanup.child.store(pid); }

Result<uint64_t> MemoryCgroup::peak() const {
  Result<std::string> text = read_text(dir_ + (version_ == 2 ? "/memory.peak" : "/memory.max_usage_in_bytes"));
  if (!text) return text.status();
  return std::strtoull(text->c_str(), nullptr, 10);
}

// ---- ZramSwap ----------------------------------------------------------------------

std::string swap_header(uint64_t bytes) {
  // The layout of the kernel's union swap_header (include/linux/swap.h),
  // version 1: bootbits[1024], version, last_page, nr_badpages, uuid[16],
  // volume_name[16], ..., and "SWAPSPACE2" in the page's last 10 bytes.
  std::string h(4096, '\0');
  uint32_t version = 1;
  uint32_t last_page = static_cast<uint32_t>(bytes / 4096 - 1);
  uint32_t bad = 0;
  std::memcpy(&h[1024], &version, 4);
  std::memcpy(&h[1028], &last_page, 4);
  std::memcpy(&h[1032], &bad, 4);
  std::mt19937_64 rng(std::random_device{}());
  for (int i = 0; i < 16; ++i) h[1036 + i] = static_cast<char>(rng());
  std::memcpy(&h[1052], "uzram-bench", 11);
  std::memcpy(&h[4086], "SWAPSPACE2", 10);
  return h;
}

Result<std::unique_ptr<ZramSwap>> ZramSwap::enable(const std::string& block_path, int io_fd, uint64_t bytes) {
  if (bytes < 40 * 4096) return Status::invalid_argument("swap device too small");
  void* buf = nullptr;
  if (::posix_memalign(&buf, 4096, 4096) != 0) return Status::no_space("swap header buffer");
  std::string h = swap_header(bytes);
  std::memcpy(buf, h.data(), 4096);
  ssize_t n = ::pwrite(io_fd, buf, 4096, 0);
  int err = errno;
  std::free(buf);
  if (n != 4096) return Status::from_errno(n < 0 ? err : EIO, "writing the swap header on " + block_path);
  std::snprintf(g_cleanup.swap_path, sizeof g_cleanup.swap_path, "%s", block_path.c_str());
  std::unique_ptr<ZramSwap> swap(new ZramSwap(block_path));
  arm();
  g_cleanup.swap_on.store(true);
  if (::swapon(block_path.c_str(), SWAP_FLAG_PREFER | (100 & SWAP_FLAG_PRIO_MASK)) != 0) {
    g_cleanup.swap_on.store(false);
    return Status::from_errno(errno, "swapon " + block_path);
  }
  return swap;
}

ZramSwap::~ZramSwap() {
  if (g_cleanup.swap_on.exchange(false)) {
    if (::swapoff(path_.c_str()) != 0) {
      std::fprintf(stderr, "uzram: swapoff %s failed (%s); run: swapoff %s\n", path_.c_str(), std::strerror(errno),
                   path_.c_str());
    }
  }
  disarm();
}

}  // namespace uzram::cli
