// `uzram serve` with real NBD clients: nbdinfo, nbdcopy, qemu-img, qemu-io,
// fio (ioengine=nbd). Each test starts the uzram program on a Unix socket in
// a temporary directory (or on a loopback TCP port), runs the client under
// `timeout`, and stops the server with a signal. A test whose client is not
// installed is skipped with the package to install (scripts/debian-packages.txt).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "nbd/net.h"
#include "server_test_util.h"

namespace uzram::nbd {
namespace {

using Clock = std::chrono::steady_clock;

bool have(const std::string& tool) { return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0; }

#define REQUIRE_TOOL(tool, package)                                                        \
  do {                                                                                     \
    if (!have(tool)) GTEST_SKIP() << tool " is not installed (Debian package " package ")"; \
  } while (0)

// Runs a shell command under `timeout`; returns its exit status, output in *out.
int run(const std::string& command, std::string* out = nullptr, int seconds = 120) {
  const std::string full = "timeout -k 5 " + std::to_string(seconds) + " " + command + " 2>&1";
  FILE* p = ::popen(full.c_str(), "r");
  if (p == nullptr) return -1;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  const int status = ::pclose(p);
  if (out) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/uzram-clients-test-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    path_ = d ? d : "";
  }
  ~TempDir() {
    if (!path_.empty()) run("rm -rf " + quote(path_));
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The uzram program serving until stop(); its stdout is read through a pipe.
class ServeProcess {
 public:
  explicit ServeProcess(std::vector<std::string> args) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      static std::string program = UZRAM_BINARY;
      argv.push_back(program.data());
      static std::string serve = "serve";
      argv.push_back(serve.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = Fd(fds[0]);
    // Wait (bounded) for the line that says where it listens.
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (output_.find("listening on") == std::string::npos || output_.find('\n') == std::string::npos) {
      if (Clock::now() > deadline || !read_some(deadline)) break;
    }
    const size_t at = output_.find("listening on ");
    if (at != std::string::npos) {
      const size_t start = output_.find('(', at);
      const size_t end = output_.find(')', start);
      if (start != std::string::npos && end != std::string::npos) uri_ = output_.substr(start + 1, end - start - 1);
    }
  }
  ~ServeProcess() {
    if (pid_ > 0) stop(SIGKILL);
  }

  // nbd+unix:///?socket=... or nbd://127.0.0.1:PORT/; empty if it did not start.
  const std::string& uri() const { return uri_; }
  const std::string& output() const { return output_; }

  // Sends `sig`, waits (bounded) for the exit; returns the exit status, or
  // -1 if it had to be killed.
  int stop(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (read_some(deadline)) {
    }
    int status = 0;
    bool exited = false;
    while (Clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited = true;
        break;
      }
      ::usleep(10000);
    }
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    return exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  // Reads what the server printed; false at EOF or the deadline.
  bool read_some(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{out_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(out_.get(), buf, sizeof buf);
    if (n <= 0) return false;
    output_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  Fd out_;
  std::string output_;
  std::string uri_;
};

// A file of `mib` MiB: runs of incompressible, text-like and zero data.
std::string make_file(const std::string& path, int mib) {
  std::ofstream f(path, std::ios::binary);
  for (int i = 0; i < mib; ++i) {
    std::string chunk;
    switch (i % 4) {
      case 0: chunk = testing::random_bytes(1 << 20, i); break;
      case 1: chunk = testing::text_bytes(1 << 20, i); break;
      case 2: chunk = std::string(1 << 20, '\0'); break;
      default: chunk = testing::text_bytes(1 << 19, i) + testing::random_bytes(1 << 19, i); break;
    }
    f.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  }
  return path;
}

ServeProcess serve_unix(const TempDir& dir, const std::string& size, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--size", size, "--unix", dir.path() + "/nbd.sock"};
  args.insert(args.end(), extra.begin(), extra.end());
  return ServeProcess(args);
}

TEST(NbdClientsTest, NbdinfoSeesTheExactSizeTheFlagsAndTheMap) {
  REQUIRE_TOOL("nbdinfo", "libnbd-bin");
  REQUIRE_TOOL("nbdcopy", "libnbd-bin");
  TempDir dir;
  ServeProcess server = serve_unix(dir, "67121209");  // 64 MiB + 12345 bytes
  ASSERT_FALSE(server.uri().empty()) << server.output();
  std::string out;
  ASSERT_EQ(run("nbdinfo --size " + quote(server.uri()), &out), 0) << out;
  EXPECT_EQ(out, "67121209\n");
  for (const char* can : {"flush", "fua", "trim", "zero", "fast-zero", "cache", "df", "multi-conn",
                          "structured-reply"}) {
    EXPECT_EQ(run(std::string("nbdinfo --can ") + can + " " + quote(server.uri()), &out), 0) << can << ": " << out;
  }
  EXPECT_EQ(run("nbdinfo --is read-only " + quote(server.uri()), &out), 2) << out;

  ASSERT_EQ(run("nbdinfo --map " + quote(server.uri()), &out), 0) << out;
  EXPECT_NE(out.find("0    67121209    3  hole,zero"), std::string::npos) << out;
  const std::string file = make_file(dir.path() + "/in", 2);  // 1 MiB random, 1 MiB text
  ASSERT_EQ(run("nbdcopy " + quote(file) + " " + quote(server.uri()), &out), 0) << out;
  ASSERT_EQ(run("nbdinfo --map " + quote(server.uri()), &out), 0) << out;
  EXPECT_NE(out.find("0     2097152    0  data"), std::string::npos) << out;
  EXPECT_NE(out.find("2097152    65024057    3  hole,zero"), std::string::npos) << out;
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(NbdClientsTest, NbdcopyRoundTripOfALargeFileOverSeveralConnections) {
  REQUIRE_TOOL("nbdcopy", "libnbd-bin");
  TempDir dir;
  const std::string in = make_file(dir.path() + "/in", 96);
  ServeProcess server = serve_unix(dir, "96M", {"--algo", "zstd"});
  ASSERT_FALSE(server.uri().empty()) << server.output();
  std::string out;
  ASSERT_EQ(run("nbdcopy --connections=4 --requests=32 " + quote(in) + " " + quote(server.uri()), &out), 0) << out;
  ASSERT_EQ(run("nbdcopy --connections=4 " + quote(server.uri()) + " " + quote(dir.path() + "/out"), &out), 0)
      << out;
  EXPECT_EQ(run("cmp " + quote(in) + " " + quote(dir.path() + "/out"), &out), 0) << out;
  EXPECT_EQ(server.stop(SIGINT), 0);
  EXPECT_NE(server.output().find("stopped by SIGINT"), std::string::npos) << server.output();
}

TEST(NbdClientsTest, QemuImgConvertAndCompare) {
  REQUIRE_TOOL("qemu-img", "qemu-utils");
  TempDir dir;
  const std::string in = make_file(dir.path() + "/in", 24);
  ServeProcess server = serve_unix(dir, "24M");
  ASSERT_FALSE(server.uri().empty()) << server.output();
  std::string out;
  ASSERT_EQ(run("qemu-img convert -n -f raw -O raw " + quote(in) + " " + quote(server.uri()), &out), 0) << out;
  EXPECT_EQ(run("qemu-img compare -f raw -F raw " + quote(in) + " " + quote(server.uri()), &out), 0) << out;
  // And a changed byte is noticed (the comparison can fail).
  ASSERT_EQ(run("qemu-io -f raw -c 'write -P 0x5a 5000 1' " + quote(server.uri()), &out), 0) << out;
  EXPECT_EQ(run("qemu-img compare -f raw -F raw " + quote(in) + " " + quote(server.uri()), &out), 1) << out;
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

// qemu-io's byte-granular patterns against a server started with `extra`.
void qemu_io_patterns_verify(const std::vector<std::string>& extra) {
  TempDir dir;
  ServeProcess server = serve_unix(dir, "32M", extra);
  ASSERT_FALSE(server.uri().empty()) << server.output();
  const std::vector<std::string> commands = {
      "write -P 0xab 0 1M",          "read -P 0xab 0 1M",
      "write -P 0x11 4097 3000",     "read -P 0x11 4097 3000",   // byte-granular, across a page boundary
      "read -P 0xab 0 4097",         "read -P 0xab 7097 1041479",
      "write -z 1M 1M",              "read -P 0 1M 1M",
      "write -P 0x22 2M 2M",         "discard 2M 1M",            "read -P 0x22 3M 1M",
      "aio_write -P 0x33 8M 64k",    "aio_write -P 0x44 9M 64k", "aio_flush",
      "read -P 0x33 8M 64k",         "read -P 0x44 9M 64k",
      "writev -P 0x55 12M 4k 8k 512", "readv -P 0x55 12M 4k 8k 512",
      "write -f -P 0x66 31M 1M",     "read -P 0x66 31M 1M",      // FUA, up to the end
      "flush",
  };
  std::string cmd = "qemu-io -f raw";
  for (const auto& c : commands) cmd += " -c " + quote(c);
  std::string out;
  ASSERT_EQ(run(cmd + " " + quote(server.uri()), &out), 0) << out;
  EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
  EXPECT_EQ(out.find("error"), std::string::npos) << out;
  // A read past the end is refused, not served.
  run("qemu-io -f raw -c 'read 32M 4k' " + quote(server.uri()), &out);
  EXPECT_EQ(out.find("read 4096/4096 bytes"), std::string::npos) << out;
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(NbdClientsTest, QemuIoWriteReadPatternsVerify) {
  REQUIRE_TOOL("qemu-io", "qemu-utils");
  qemu_io_patterns_verify({});
}

// The same patterns on a store of 32 KiB compression units: every partial
// write, discard and zeroing above is a read-modify-write of a unit.
TEST(NbdClientsTest, QemuIoWriteReadPatternsVerifyWithUnits) {
  REQUIRE_TOOL("qemu-io", "qemu-utils");
  qemu_io_patterns_verify({"--unit", "32K", "--algo", "zstd"});
}

// fio's random writes of 4-128 KiB from four jobs, verified by crc32c.
void fio_verifies(const std::vector<std::string>& extra) {
  std::string out;
  TempDir dir;
  ServeProcess server = serve_unix(dir, "64M", extra);
  ASSERT_FALSE(server.uri().empty()) << server.output();
  const std::string fio = "fio --name=uzram --ioengine=nbd --uri=" + quote(server.uri()) +
                          " --rw=randwrite --bsrange=4k-128k --size=16M --offset_increment=16M --numjobs=4"
                          " --iodepth=16 --verify=crc32c --verify_fatal=1 --do_verify=1 --verify_state_save=0"
                          " --buffer_compress_percentage=60"
                          " --refill_buffers --group_reporting";
  ASSERT_EQ(run(fio, &out, 240), 0) << out;
  EXPECT_EQ(out.find("verify: bad"), std::string::npos) << out;
  EXPECT_NE(out.find("err= 0"), std::string::npos) << out;
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

TEST(NbdClientsTest, FioVerifiesCrc32cOverSeveralJobs) {
  REQUIRE_TOOL("fio", "fio");
  std::string out;
  if (run("fio --enghelp=nbd", &out) != 0) GTEST_SKIP() << "this fio has no nbd engine: " << out;
  fio_verifies({"--algo", "zstd", "--threads", "2"});
}

// Writes of 4-128 KiB at 4 KiB offsets against 16 KiB units: most are not
// aligned to a unit, so the jobs meet in read-modify-writes of shared units.
TEST(NbdClientsTest, FioVerifiesCrc32cWithUnits) {
  REQUIRE_TOOL("fio", "fio");
  std::string out;
  if (run("fio --enghelp=nbd", &out) != 0) GTEST_SKIP() << "this fio has no nbd engine: " << out;
  fio_verifies({"--algo", "zstd", "--threads", "2", "--unit", "16K"});
}

TEST(NbdClientsTest, NbdcopyRoundTripWithUnits) {
  REQUIRE_TOOL("nbdcopy", "libnbd-bin");
  TempDir dir;
  const std::string in = make_file(dir.path() + "/in", 24);
  // 24 MiB + 5000 bytes: the last unit is short, its last page partial.
  ASSERT_EQ(run("head -c 5000 /dev/urandom >> " + quote(in)), 0);
  ServeProcess server = serve_unix(dir, "25170824", {"--algo", "zstd", "--unit", "128K"});
  ASSERT_FALSE(server.uri().empty()) << server.output();
  std::string out;
  ASSERT_EQ(run("nbdcopy --connections=4 " + quote(in) + " " + quote(server.uri()), &out), 0) << out;
  ASSERT_EQ(run("nbdcopy --connections=4 " + quote(server.uri()) + " " + quote(dir.path() + "/out"), &out), 0)
      << out;
  EXPECT_EQ(run("cmp " + quote(in) + " " + quote(dir.path() + "/out"), &out), 0) << out;
  EXPECT_EQ(server.stop(SIGTERM), 0);
  EXPECT_NE(server.output().find("unit 128 KiB"), std::string::npos) << server.output();
}

std::string http_get(uint16_t port, const std::string& path) {
  auto fd = net::connect_tcp("127.0.0.1", port);
  if (!fd) return "";
  testing::TestClient c(std::move(fd).value());
  if (!c.send("GET " + path + " HTTP/1.0\r\n\r\n")) return "";
  std::string all, one;
  while (c.recv(1, &one)) all += one;
  return all;
}

TEST(NbdClientsTest, TcpOnLoopbackWithMetricsOverHttp) {
  REQUIRE_TOOL("nbdinfo", "libnbd-bin");
  ServeProcess server({"--size", "8M", "--port", "0", "--metrics", "127.0.0.1:0"});
  ASSERT_FALSE(server.uri().empty()) << server.output();
  EXPECT_EQ(server.uri().rfind("nbd://127.0.0.1:", 0), 0u) << server.uri();
  std::string out;
  ASSERT_EQ(run("nbdinfo --size " + quote(server.uri()), &out), 0) << out;
  EXPECT_EQ(out, "8388608\n");
  const size_t at = server.output().find("metrics on http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << server.output();
  const uint16_t port = static_cast<uint16_t>(std::stoi(server.output().substr(at + 28)));
  const std::string metrics = http_get(port, "/metrics");
  EXPECT_EQ(metrics.rfind("HTTP/1.0 200 OK", 0), 0u) << metrics;
  EXPECT_NE(metrics.find("uzram_nbd_requests_total{command=\"read\"}"), std::string::npos);
  EXPECT_NE(metrics.find("uzram_store_mem_used_total_bytes"), std::string::npos);
  const std::string stats = http_get(port, "/stats");
  const size_t body = stats.find("\r\n\r\n");
  ASSERT_NE(body, std::string::npos) << stats;
  const auto j = nlohmann::json::parse(stats.substr(body + 4));
  EXPECT_GE(j["nbd"]["connections_total"].get<int>(), 1);
  EXPECT_TRUE(j["store"].contains("orig_data_size"));
  EXPECT_EQ(server.stop(SIGTERM), 0);
  EXPECT_NE(server.output().find("stopped by SIGTERM; requests"), std::string::npos) << server.output();
}

TEST(NbdClientsTest, BadArgumentsAreRefusedWithAMessage) {
  std::string out;
  const std::string uzram = UZRAM_BINARY;
  EXPECT_NE(run(uzram + " serve --size 0", &out), 0);
  EXPECT_NE(out.find("must be more than 0"), std::string::npos) << out;
  EXPECT_NE(run(uzram + " serve --size 12Q", &out), 0);
  EXPECT_NE(out.find("12Q"), std::string::npos) << out;
  EXPECT_NE(run(uzram + " serve --size 1M --unix /tmp/x.sock --port 1", &out), 0);
  EXPECT_NE(run(uzram + " serve --size 1M --bind localhost --port 0", &out), 0);
  EXPECT_NE(out.find("numeric"), std::string::npos) << out;
  EXPECT_NE(run(uzram + " serve --size 1M --algo nosuch --port 0", &out), 0);
  EXPECT_NE(run(uzram + " serve --size 1M --port 0 --metrics 127.0.0.1", &out), 0);
  EXPECT_EQ(run(uzram + " serve --size 1M --port 0 --unit 5K", &out), 2);
  EXPECT_NE(out.find("128K"), std::string::npos) << out;
  EXPECT_EQ(run(uzram + " serve --size 1M --port 0 --unit 256K", &out), 2);
  EXPECT_EQ(run(uzram + " serve --size 1M --port 0 --unit 32K --backing-file /dev/null", &out), 1);
  EXPECT_NE(out.find("unit_pages 1"), std::string::npos) << out;
}

}  // namespace
}  // namespace uzram::nbd
