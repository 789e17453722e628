// ZramDevice: claim, configure, read and reset the kernel's /dev/zramN.
// See kernel_zram.h.
//
// Signal state: one device at most is claimed per process. g_signal holds
// what the handler needs, in a form it may touch (atomics and a fixed
// buffer, async-signal-safe calls only: dup2, open, write, close, nanosleep).
// claim() fills it before installing the handler; ~ZramDevice() disarms it
// after the reset and restores the previous handlers.
#include "cli/kernel_zram.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

namespace uzram::cli {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
constexpr int kNumSignals = sizeof(kSignals) / sizeof(kSignals[0]);

struct SignalState {
  std::atomic<bool> armed{false};   // a device is claimed and needs a reset
  std::atomic<int> io_fd{-1};       // the device's I/O descriptor, -1 when closed
  std::atomic<int> null_fd{-1};     // /dev/null, to dup2 over io_fd
  char reset_path[96] = {};         // /sys/block/zramN/reset, set before armed
  char message[96] = {};            // "uzram: interrupted; zram0 reset\n"
  char failed[160] = {};            // what to run when the reset did not take
  struct sigaction previous[kNumSignals];
};
SignalState g_signal;

// Writes "1" to the reset attribute until the kernel takes it: a request in
// flight on another thread, or udev probing the device, holds it open for a
// moment and makes reset fail with EBUSY. Async-signal-safe.
// Returns 0, or the errno of the last attempt.
int write_reset(const char* path, int attempts) noexcept {
  int err = 0;
  for (int i = 0; i < attempts; ++i) {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      err = errno;
    } else {
      ssize_t n = ::write(fd, "1", 1);
      err = n == 1 ? 0 : errno;
      ::close(fd);
      if (err == 0) return 0;
    }
    struct timespec pause = {0, 10'000'000};  // 10 ms
    ::nanosleep(&pause, nullptr);
  }
  return err;
}

void on_fatal_signal(int sig) {
  if (g_signal.armed.exchange(false)) {
    int io = g_signal.io_fd.exchange(-1);
    int null_fd = g_signal.null_fd.load();
    if (io >= 0 && null_fd >= 0) ::dup2(null_fd, io);  // drops our reference to the device
    if (write_reset(g_signal.reset_path, 500) == 0) {
      ssize_t ignored = ::write(STDERR_FILENO, g_signal.message, std::strlen(g_signal.message));
      (void)ignored;
    } else {
      ssize_t ignored = ::write(STDERR_FILENO, g_signal.failed, std::strlen(g_signal.failed));
      (void)ignored;
    }
  }
  // SA_RESETHAND restored the default action; the signal is blocked while
  // this handler runs, so it is delivered, and kills us, when we return.
  ::raise(sig);
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::from_errno(errno ? errno : EIO, path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Whitespace-separated unsigned numbers; false on anything else.
bool parse_numbers(std::string_view text, std::vector<uint64_t>* out) {
  size_t pos = 0;
  while (true) {
    pos = text.find_first_not_of(" \t\n", pos);
    if (pos == std::string_view::npos) return true;
    size_t end = text.find_first_of(" \t\n", pos);
    if (end == std::string_view::npos) end = text.size();
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data() + pos, text.data() + end, v);
    if (ec != std::errc() || p != text.data() + end) return false;
    out->push_back(v);
    pos = end;
  }
}

std::string first_entry(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return "";
  std::string found;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      found = e->d_name;
      break;
    }
  }
  ::closedir(d);
  return found;
}

}  // namespace

// ---- parsing ----------------------------------------------------------------

std::vector<std::string> parse_comp_algorithm(std::string_view text) {
  std::vector<std::string> names;
  size_t pos = 0;
  while ((pos = text.find_first_not_of(" \t\n", pos)) != std::string_view::npos) {
    size_t end = text.find_first_of(" \t\n", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view word = text.substr(pos, end - pos);
    if (!word.empty() && word.front() == '[') word.remove_prefix(1);
    if (!word.empty() && word.back() == ']') word.remove_suffix(1);
    if (!word.empty()) names.emplace_back(word);
    pos = end;
  }
  return names;
}

Status parse_mm_stat(std::string_view line, StoreStats* out) {
  std::vector<uint64_t> v;
  if (!parse_numbers(line, &v) || v.size() < 7 || v.size() > 9) {
    return Status::corrupt("mm_stat: expected 7 to 9 numbers, got \"" + trim(std::string(line)) + "\"");
  }
  v.resize(9, 0);
  out->orig_data_size = v[0];
  out->compr_data_size = v[1];
  out->mem_used_total = v[2];
  out->mem_limit = v[3];
  out->mem_used_max = v[4];
  out->same_pages = v[5];
  out->pages_compacted = v[6];
  out->huge_pages = v[7];
  out->huge_pages_since = v[8];
  return Status::ok();
}

Status parse_io_stat(std::string_view line, StoreStats* out) {
  std::vector<uint64_t> v;
  if (!parse_numbers(line, &v) || v.size() != 4) {
    return Status::corrupt("io_stat: expected 4 numbers, got \"" + trim(std::string(line)) + "\"");
  }
  out->failed_reads = v[0];
  out->failed_writes = v[1];
  out->invalid_io = v[2];
  out->notify_free = v[3];
  return Status::ok();
}

bool swaps_lists(std::string_view proc_swaps, std::string_view dev_path) {
  size_t pos = 0;
  while (pos < proc_swaps.size()) {
    size_t eol = proc_swaps.find('\n', pos);
    if (eol == std::string_view::npos) eol = proc_swaps.size();
    std::string_view line = proc_swaps.substr(pos, eol - pos);
    pos = eol + 1;
    std::string_view name = line.substr(0, line.find_first_of(" \t"));
    if (name == dev_path) return true;
  }
  return false;
}

std::string mount_point_of(std::string_view proc_mounts, std::string_view dev_path) {
  size_t pos = 0;
  while (pos < proc_mounts.size()) {
    size_t eol = proc_mounts.find('\n', pos);
    if (eol == std::string_view::npos) eol = proc_mounts.size();
    std::string_view line = proc_mounts.substr(pos, eol - pos);
    pos = eol + 1;
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.substr(0, sp) != dev_path) continue;
    std::string_view rest = line.substr(sp + 1);
    return std::string(rest.substr(0, rest.find(' ')));
  }
  return "";
}

std::string kernel_algorithm_name(std::string_view ours) {
  std::string_view name = ours.substr(0, ours.find(':'));
  if (name == "lzo") return "lzo";  // lzo1x-1; the kernel's "lzo-rle" is another format
  return std::string(name);
}

// ---- the device ---------------------------------------------------------------

ZramDevice::ZramDevice(int index, Fd lock_fd, Fd null_fd)
    : name_("zram" + std::to_string(index)),
      sys_dir_("/sys/block/" + name_),
      dev_path_("/dev/" + name_),
      lock_fd_(std::move(lock_fd)),
      null_fd_(std::move(null_fd)) {}

Result<std::unique_ptr<ZramDevice>> ZramDevice::claim(int index) {
  const std::string name = "zram" + std::to_string(index);
  const std::string sys_dir = "/sys/block/" + name;
  const std::string dev_path = "/dev/" + name;
  struct stat st;
  if (::geteuid() != 0) return Status::unsupported("not root (configuring " + sys_dir + " needs root)");
  if (::stat(sys_dir.c_str(), &st) != 0) {
    return Status::unsupported("no " + sys_dir + " (is the zram module loaded? modprobe zram)");
  }
  if (::stat(dev_path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
    return Status::unsupported("no block device node " + dev_path);
  }
  if (g_signal.armed.load()) return Status::busy("a zram device is already claimed by this process");

  // Other uzram processes (a bench and a swap bench at once) see our lock.
  std::string lock_path = (::access("/run/lock", W_OK) == 0 ? "/run/lock/uzram-" : "/tmp/uzram-") + name + ".lock";
  Fd lock_fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock_fd) return Status::from_errno(errno, lock_path);
  if (::flock(lock_fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Status::busy(name + " is claimed by another uzram process (lock " + lock_path + ")");
    return Status::from_errno(errno, "flock " + lock_path);
  }

  Result<std::string> swaps = read_file("/proc/swaps");
  if (swaps && swaps_lists(*swaps, dev_path)) return Status::busy(name + " is a swap area (swapoff " + dev_path + " first)");
  Result<std::string> mounts = read_file("/proc/mounts");
  if (mounts) {
    std::string where = mount_point_of(*mounts, dev_path);
    if (!where.empty()) return Status::busy(name + " is mounted on " + where);
  }
  std::string holder = first_entry(sys_dir + "/holders");
  if (!holder.empty()) return Status::busy(name + " is held by " + holder);
  Result<std::string> initstate = read_file(sys_dir + "/initstate");
  Result<std::string> disksize = read_file(sys_dir + "/disksize");
  if (!initstate) return initstate.status();
  if (!disksize) return disksize.status();
  if (trim(*initstate) != "0" || trim(*disksize) != "0") {
    return Status::busy(name + " is in use (initstate " + trim(*initstate) + ", disksize " + trim(*disksize) +
                        "); if nobody needs it: echo 1 > " + sys_dir + "/reset");
  }
  {
    Fd probe(::open(dev_path.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC));
    if (!probe) {
      if (errno == EBUSY) return Status::busy(name + " is open exclusively by another program");
      return Status::from_errno(errno, dev_path);
    }
  }
  Fd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null_fd) return Status::from_errno(errno, "/dev/null");

  std::unique_ptr<ZramDevice> device(new ZramDevice(index, std::move(lock_fd), std::move(null_fd)));
  std::snprintf(g_signal.reset_path, sizeof(g_signal.reset_path), "%s/reset", sys_dir.c_str());
  std::snprintf(g_signal.message, sizeof(g_signal.message), "uzram: interrupted; %s reset\n", name.c_str());
  std::snprintf(g_signal.failed, sizeof(g_signal.failed), "uzram: interrupted; could not reset %s, run: echo 1 > %s\n",
                name.c_str(), g_signal.reset_path);
  g_signal.null_fd.store(device->null_fd_.get());
  g_signal.io_fd.store(-1);
  g_signal.armed.store(true);
  struct sigaction action = {};
  action.sa_handler = on_fatal_signal;
  action.sa_flags = SA_RESETHAND;
  // The other fatal signals wait while the handler resets the device.
  sigemptyset(&action.sa_mask);
  for (int sig : kSignals) sigaddset(&action.sa_mask, sig);
  for (int i = 0; i < kNumSignals; ++i) {
    ::sigaction(kSignals[i], nullptr, &g_signal.previous[i]);
    // An ignored signal (SIGHUP under nohup) stays ignored: it kills nothing,
    // so there is nothing to clean up after.
    if (g_signal.previous[i].sa_handler != SIG_IGN) ::sigaction(kSignals[i], &action, nullptr);
  }
  return device;
}

ZramDevice::~ZramDevice() {
  reset();
  g_signal.armed.store(false);
  for (int i = 0; i < kNumSignals; ++i) ::sigaction(kSignals[i], &g_signal.previous[i], nullptr);
  g_signal.null_fd.store(-1);
}

void ZramDevice::reset() noexcept {
  g_signal.io_fd.store(-1);
  io_fd_.reset();
  const std::string path = sys_dir_ + "/reset";
  if (int err = write_reset(path.c_str(), 500); err != 0) {
    std::fprintf(stderr, "uzram: could not reset %s (%s); run: echo 1 > %s\n", name_.c_str(), std::strerror(err),
                 path.c_str());
  }
}

Status ZramDevice::write_attr(std::string_view attr, std::string_view value) const {
  const std::string path = sys_dir_ + "/" + std::string(attr);
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Status::from_errno(errno, path);
  ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n < 0) return Status::from_errno(errno, "write \"" + std::string(value) + "\" to " + path);
  if (static_cast<size_t>(n) != value.size()) return Status::io_error("short write to " + path);
  return Status::ok();
}

Result<std::string> ZramDevice::read_attr(std::string_view attr) const {
  return read_file(sys_dir_ + "/" + std::string(attr));
}

Result<std::vector<std::string>> ZramDevice::algorithms() const {
  Result<std::string> text = read_attr("comp_algorithm");
  if (!text) return text.status();
  return parse_comp_algorithm(*text);
}

Status ZramDevice::set_algorithm(std::string_view kernel_name, int level) {
  Result<std::vector<std::string>> offered = algorithms();
  if (!offered) return offered.status();
  bool found = false;
  std::string list;
  for (const std::string& name : *offered) {
    found = found || name == kernel_name;
    list += (list.empty() ? "" : ", ") + name;
  }
  if (!found) {
    return Status::unsupported("kernel zram offers " + list + ", not " + std::string(kernel_name));
  }
  UZRAM_RETURN_IF_ERROR(write_attr("comp_algorithm", kernel_name));
  if (level > 0) {
    UZRAM_RETURN_IF_ERROR(
        write_attr("algorithm_params", "algo=" + std::string(kernel_name) + " level=" + std::to_string(level)));
  }
  return Status::ok();
}

Status ZramDevice::set_disksize(uint64_t bytes) { return write_attr("disksize", std::to_string(bytes)); }

Result<int> ZramDevice::open_io() {
  if (!io_fd_) {
    io_fd_.reset(::open(dev_path_.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC));
    if (!io_fd_) return Status::from_errno(errno, dev_path_);
    g_signal.io_fd.store(io_fd_.get());
  }
  return io_fd_.get();
}

Result<StoreStats> ZramDevice::stats() const {
  StoreStats stats;
  Result<std::string> mm = read_attr("mm_stat");
  if (!mm) return mm.status();
  UZRAM_RETURN_IF_ERROR(parse_mm_stat(*mm, &stats));
  Result<std::string> io = read_attr("io_stat");
  if (!io) return io.status();
  UZRAM_RETURN_IF_ERROR(parse_io_stat(*io, &stats));
  return stats;
}

std::string_view skip_kind(const Status& why) noexcept {
  switch (why.code()) {
    case Status::Code::kBusy: return "busy";
    case Status::Code::kUnsupported: return "unsupported";
    default: return "error";
  }
}

}  // namespace uzram::cli
