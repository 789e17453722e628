// Concurrency stress of the NBD server (label "stress", also run under
// ThreadSanitizer): several connections pipelining writes, reads, trims and
// zeroes with verification against a shadow copy; clients hanging up
// mid-request; metrics read meanwhile; then stop() while a client is busy.
// Every loop is bounded in count; socket reads time out (TestClient).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server_test_util.h"

namespace uzram::nbd {
namespace {

using testing::Reply;
using testing::TestClient;
using testing::TestServer;

constexpr uint64_t kRegion = 4 << 20;  // each writer's own range
constexpr int kWriters = 4;
constexpr int kRounds = 20;
constexpr int kBurst = 16;

// One connection's work: rounds of a pipelined burst of mutations, one in
// each slice of the region (so their order does not matter and the shadow is
// exact), then a pipelined burst of reads checked against the shadow.
void writer(TestServer* ts, int id, std::atomic<int>* failures) {
  TestClient c = ts->client();
  const bool structured = id % 2 == 0;
  if (c.handshake(structured, false) == 0) {
    ++*failures;
    return;
  }
  const uint64_t base = uint64_t(id) * kRegion;
  constexpr uint64_t kSlice = kRegion / kBurst;
  std::string shadow(kRegion, '\0');
  std::mt19937_64 rng(id);
  for (int round = 0; round < kRounds; ++round) {
    std::string burst;
    for (int i = 0; i < kBurst; ++i) {
      const uint32_t length = 1 + static_cast<uint32_t>(rng() % (kSlice - 1));
      const uint64_t offset = i * kSlice + rng() % (kSlice - length);
      const int kind = static_cast<int>(rng() % 10);
      if (kind < 7) {
        const std::string d =
            (rng() % 2) ? testing::random_bytes(length, rng()) : testing::text_bytes(length, rng());
        burst += testing::request_bytes(Command::kWrite, kind == 0 ? kCmdFlagFua : 0, i, base + offset, length) + d;
        shadow.replace(offset, length, d);
      } else if (kind < 9) {
        const uint16_t flags = kind == 7 ? kCmdFlagNoHole : 0;
        burst += testing::request_bytes(Command::kWriteZeroes, flags, i, base + offset, length);
        shadow.replace(offset, length, std::string(length, '\0'));
      } else {
        // TRIM drops the whole pages inside the range; the rest stays.
        burst += testing::request_bytes(Command::kTrim, 0, i, base + offset, length);
        const uint64_t first = (base + offset + kPageSize - 1) / kPageSize * kPageSize - base;
        const uint64_t last = (base + offset + length) / kPageSize * kPageSize - base;
        if (last > first) shadow.replace(first, last - first, std::string(last - first, '\0'));
      }
    }
    if (!c.send(burst)) {
      ++*failures;
      return;
    }
    for (int i = 0; i < kBurst; ++i) {
      Reply r = c.reply();
      if (!r.ok || r.error != 0) {
        ++*failures;
        return;
      }
    }
    std::string reads;
    std::map<uint64_t, std::pair<uint64_t, uint32_t>> asked;
    for (int i = 0; i < kBurst; ++i) {
      const uint32_t len = 1 + static_cast<uint32_t>(rng() % (128 << 10));
      const uint64_t off = rng() % (kRegion - len);
      asked[100 + i] = {off, len};
      reads += testing::request_bytes(Command::kRead, 0, 100 + i, base + off, len);
    }
    if (!c.send(reads)) {
      ++*failures;
      return;
    }
    for (int i = 0; i < kBurst; ++i) {
      Reply r;
      if (structured) {
        r = c.reply();
      } else {
        // Simple replies come in any order and do not carry their length:
        // the cookie says which read this is.
        std::string h;
        if (!c.recv(16, &h)) {
          ++*failures;
          return;
        }
        const auto* p = reinterpret_cast<const std::byte*>(h.data());
        r.error = load_be32(p + 4);
        r.cookie = load_be64(p + 8);
        r.ok = asked.count(r.cookie) && r.error == 0 && c.recv(asked[r.cookie].second, &r.data);
      }
      if (!r.ok || r.error != 0 || !asked.count(r.cookie)) {
        ++*failures;
        return;
      }
      const auto [off, len] = asked[r.cookie];
      if (r.data != shadow.substr(off, len)) {
        ADD_FAILURE() << "connection " << id << " round " << round << ": data mismatch at " << off;
        ++*failures;
        return;
      }
    }
  }
  c.request(Command::kDisc, 0, 0, 0, 0);
}

TEST(NbdServerStressTest, ConnectionsPipelineVerifyHangUpAndStop) {
  TestServer ts(kWriters * kRegion + 12345);
  ASSERT_TRUE(ts.ok());
  std::atomic<int> failures{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) threads.emplace_back(writer, &ts, i, &failures);

  // Clients that hang up at every stage.
  threads.emplace_back([&] {
    for (int i = 0; i < 30; ++i) {
      TestClient h = ts.client();
      switch (i % 3) {
        case 0: h.start(); break;
        case 1:
          if (h.handshake(true, true)) h.request(Command::kWrite, 0, 1, 0, 65536, std::string(1000, 'x'));
          break;
        default:
          if (h.handshake(false, false)) {
            for (int k = 0; k < 8; ++k) h.request(Command::kRead, 0, k, 0, 1 << 20);
          }
          break;
      }
    }
  });
  // Metrics read meanwhile.
  threads.emplace_back([&] {
    for (int i = 0; i < 200 && !done.load(); ++i) {
      EXPECT_FALSE(ts.server().prometheus().empty());
      EXPECT_FALSE(ts.server().stats_json().empty());
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  for (int i = 0; i < kWriters + 1; ++i) threads[i].join();
  done = true;
  threads.back().join();
  EXPECT_EQ(failures.load(), 0);

  // stop() while a client keeps reading: it returns, the client sees EOF.
  TestClient busy = ts.client();
  ASSERT_GT(busy.handshake(true, false), 0u);
  std::thread reader([&] {
    for (int i = 0; i < 100000; ++i) {
      if (!busy.request(Command::kRead, 0, i, 0, 65536)) break;
      if (!busy.reply().ok) break;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ts.server().stop();
  reader.join();
  EXPECT_EQ(ts.server().metrics().connections_current.load(), 0u);
  EXPECT_GT(ts.server().metrics().hangups.load(), 0u);
}

}  // namespace
}  // namespace uzram::nbd
