// File: tests/nbd/server_test_util.h
//
// TestServer: a Store and a Server on a Unix socket in a fresh temporary
// directory, torn down (server stopped, directory removed) with the object.
// Plus data makers for the tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "nbd/server.h"
#include "test_client.h"
#include "uzram/store.h"

namespace uzram::nbd::testing {

inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Incompressible bytes from a seed.
inline std::string random_bytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  uint64_t x = seed;
  for (size_t i = 0; i < n; i += 8) {
    x = mix64(x);
    for (size_t k = 0; k < 8 && i + k < n; ++k) s[i + k] = static_cast<char>(x >> (8 * k));
  }
  return s;
}

// Compressible bytes (text-like) from a seed.
inline std::string text_bytes(size_t n, uint64_t seed) {
  static const char* const kWords[] = {"alpha ", "beta ", "{\"key\": ", "42, ", "value\n", "uzram "};
  std::string s;
  uint64_t x = seed;
  while (s.size() < n) {
    x = mix64(x);
    s += kWords[x % 6];
  }
  s.resize(n);
  return s;
}

// The resident set of this process, in bytes.
inline uint64_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

class TestServer {
 public:
  // export_size bytes (any number), the store rounded up to whole pages.
  explicit TestServer(uint64_t export_size, uint64_t mem_limit = 0, ServerOptions options = {}) {
    char tmpl[] = "/tmp/uzram-nbd-test-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    if (d == nullptr) {
      ADD_FAILURE() << "mkdtemp failed";
      return;
    }
    dir_ = d;
    path_ = dir_ + "/nbd.sock";
    StoreOptions so;
    so.disksize = (export_size + kPageSize - 1) / kPageSize * kPageSize;
    so.algorithm = "lz4";
    so.mem_limit = mem_limit;
    auto store = Store::open(so);
    if (!store) {
      ADD_FAILURE() << store.status().to_string();
      return;
    }
    store_ = std::move(store).value();
    auto listener = net::listen_unix(path_);
    if (!listener) {
      ADD_FAILURE() << listener.status().to_string();
      return;
    }
    options.export_size = export_size;
    if (options.threads == 0) options.threads = 2;
    auto server = Server::start(store_.get(), options, std::move(listener).value());
    if (!server) {
      ADD_FAILURE() << server.status().to_string();
      return;
    }
    server_ = std::move(server).value();
  }
  ~TestServer() {
    if (server_) server_->stop();
    server_.reset();
    if (!dir_.empty()) {
      ::unlink(path_.c_str());
      ::rmdir(dir_.c_str());
    }
  }

  bool ok() const { return server_ != nullptr; }
  Server& server() { return *server_; }
  Store& store() { return *store_; }
  const std::string& path() const { return path_; }
  TestClient client() { return TestClient::unix(path_); }

 private:
  std::string dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Server> server_;
};

}  // namespace uzram::nbd::testing
