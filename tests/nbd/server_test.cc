// Tests of src/nbd/server.cc and connection.cc: a real Store served on a
// Unix socket, driven by TestClient with exact bytes.
#include "nbd/server.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "server_test_util.h"

namespace uzram::nbd {
namespace {

using testing::random_bytes;
using testing::Reply;
using testing::TestClient;
using testing::TestServer;
using testing::text_bytes;

constexpr uint32_t kE(Error e) { return static_cast<uint32_t>(e); }

// Writes then reads back through one client; returns the data read.
std::string write_read(TestClient& c, uint64_t offset, const std::string& data, uint64_t cookie = 1) {
  EXPECT_TRUE(c.request(Command::kWrite, 0, cookie, offset, static_cast<uint32_t>(data.size()), data));
  Reply w = c.reply();
  EXPECT_TRUE(w.ok);
  EXPECT_EQ(w.error, 0u);
  EXPECT_EQ(w.cookie, cookie);
  EXPECT_TRUE(c.request(Command::kRead, 0, cookie + 1, offset, static_cast<uint32_t>(data.size())));
  Reply r = c.reply(static_cast<uint32_t>(data.size()));
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.error, 0u);
  EXPECT_EQ(r.cookie, cookie + 1);
  return r.data;
}

// Block status flags of the first extent at offset.
uint32_t first_extent_flags(TestClient& c, uint64_t offset, uint32_t length, uint32_t* extent_length = nullptr) {
  EXPECT_TRUE(c.request(Command::kBlockStatus, kCmdFlagReqOne, 99, offset, length));
  Reply r = c.reply();
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.error, 0u);
  if (r.data.size() < 12) return ~0u;
  const auto* p = reinterpret_cast<const std::byte*>(r.data.data());
  EXPECT_EQ(load_be32(p), kBaseAllocationId);
  EXPECT_EQ(r.data.size(), 12u) << "REQ_ONE gives one descriptor";
  if (extent_length) *extent_length = load_be32(p + 4);
  return load_be32(p + 8);
}

TEST(NbdServerTest, WriteReadRoundTripWithSimpleAndStructuredReplies) {
  TestServer ts(4 << 20);
  ASSERT_TRUE(ts.ok());
  for (bool structured : {false, true}) {
    TestClient c = ts.client();
    uint16_t flags = 0;
    ASSERT_EQ(c.handshake(structured, false, &flags), 4u << 20);
    EXPECT_TRUE(flags & kFlagCanMultiConn);
    EXPECT_EQ((flags & kFlagSendDf) != 0, structured);
    const std::string data = text_bytes(300000, structured);
    EXPECT_EQ(write_read(c, 12345, data), data);
  }
}

TEST(NbdServerTest, ByteGranularRequestsUpToAnUnalignedExportEnd) {
  constexpr uint64_t kSize = 1000003;
  TestServer ts(kSize);
  ASSERT_TRUE(ts.ok());
  TestClient c = ts.client();
  ASSERT_EQ(c.handshake(true, true), kSize);
  const std::string tail = random_bytes(5003, 7);
  EXPECT_EQ(write_read(c, kSize - tail.size(), tail), tail);
  // One byte past the end: refused, and the connection goes on.
  ASSERT_TRUE(c.request(Command::kWrite, 0, 5, kSize - 1, 2, "xy"));
  EXPECT_EQ(c.reply().error, kE(Error::kNoSpc));
  ASSERT_TRUE(c.request(Command::kRead, 0, 6, kSize, 1));
  Reply r = c.reply();
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.error, kE(Error::kInval));
  EXPECT_EQ(r.cookie, 6u);
  // Zeroing through the end takes the partial last page too.
  ASSERT_TRUE(c.request(Command::kWriteZeroes, 0, 7, kSize - 3000, 3000));
  EXPECT_EQ(c.reply().error, 0u);
  ASSERT_TRUE(c.request(Command::kRead, 0, 8, kSize - 5003, 5003));
  r = c.reply(5003);
  EXPECT_EQ(r.data, tail.substr(0, 2003) + std::string(3000, '\0'));
  EXPECT_EQ(write_read(c, 0, "a"), "a");
}

TEST(NbdServerTest, OversizedRequestsAreRejectedAndTheConnectionGoesOn) {
  TestServer ts(64 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient c = ts.client();
  ASSERT_EQ(c.handshake(true, false), 64u << 20);
  ASSERT_TRUE(c.request(Command::kRead, 0, 1, 0, kMaxPayload + 1));
  Reply r = c.reply();
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.error, kE(Error::kOverflow));
  // A too-long WRITE: its payload is read and dropped, nothing is written.
  const std::string payload(kMaxPayload + 1, 'w');
  ASSERT_TRUE(c.request(Command::kWrite, 0, 2, 0, kMaxPayload + 1, payload));
  r = c.reply();
  EXPECT_EQ(r.error, kE(Error::kOverflow));
  EXPECT_EQ(r.cookie, 2u);
  ASSERT_TRUE(c.request(Command::kRead, 0, 3, 0, 4096));
  r = c.reply();
  EXPECT_EQ(r.data, std::string(4096, '\0'));
  EXPECT_EQ(write_read(c, 100, "still here", 10), "still here");
}

TEST(NbdServerTest, UnknownCommandsAndBadFlagsGetEinval) {
  TestServer ts(1 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient c = ts.client();
  ASSERT_GT(c.handshake(false, false), 0u);
  ASSERT_TRUE(c.request(static_cast<Command>(42), 0, 1, 0, 0));
  EXPECT_EQ(c.reply().error, kE(Error::kInval));
  ASSERT_TRUE(c.request(Command::kRead, kCmdFlagDf, 2, 0, 10));
  EXPECT_EQ(c.reply().error, kE(Error::kInval));
  ASSERT_TRUE(c.request(Command::kBlockStatus, 0, 3, 0, 10));
  EXPECT_EQ(c.reply().error, kE(Error::kInval)) << "no meta context negotiated";
  ASSERT_TRUE(c.request(Command::kFlush, 0, 4, 0, 0));
  EXPECT_EQ(c.reply().error, 0u);
  ASSERT_TRUE(c.request(Command::kCache, 0, 5, 0, 1 << 20));
  EXPECT_EQ(c.reply().error, 0u);
}

TEST(NbdServerTest, BadMagicClosesOnlyThatConnection) {
  TestServer ts(1 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient good = ts.client();
  ASSERT_GT(good.handshake(true, false), 0u);
  TestClient bad = ts.client();
  ASSERT_GT(bad.handshake(true, false), 0u);
  ASSERT_TRUE(bad.send(testing::request_bytes(Command::kRead, 0, 1, 0, 10, 0x12345678)));
  EXPECT_TRUE(bad.sees_eof());
  EXPECT_EQ(write_read(good, 0, "fine"), "fine");
  EXPECT_EQ(ts.server().metrics().protocol_errors.load(), 1u);
}

TEST(NbdServerTest, MalformedHandshakeClosesOnlyThatConnection) {
  TestServer ts(1 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient good = ts.client();
  ASSERT_GT(good.handshake(false, false), 0u);
  {
    TestClient bad = ts.client();
    ASSERT_TRUE(bad.start());
    ASSERT_TRUE(bad.send("this is not an option header at all"));
    EXPECT_TRUE(bad.sees_eof());
  }
  {
    TestClient bad = ts.client();
    ASSERT_TRUE(bad.start(1u << 20));  // unknown client flag
    EXPECT_TRUE(bad.sees_eof());
  }
  {
    TestClient quitter = ts.client();
    ASSERT_TRUE(quitter.start());
    std::string opt = testing::option_bytes(static_cast<uint32_t>(Option::kGo), testing::go_data(""));
    ASSERT_TRUE(quitter.send(opt.substr(0, 10)));  // hangs up mid-option
  }
  EXPECT_EQ(write_read(good, 0, "fine"), "fine");
}

TEST(NbdServerTest, HangUpMidRequestWritesNothingAndLosesNothing) {
  TestServer ts(1 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient c = ts.client();
  ASSERT_GT(c.handshake(true, false), 0u);
  const std::string before = text_bytes(8192, 1);
  EXPECT_EQ(write_read(c, 0, before), before);
  {
    TestClient h = ts.client();
    ASSERT_GT(h.handshake(true, false), 0u);
    const std::string half(4096, 'h');
    ASSERT_TRUE(h.request(Command::kWrite, 0, 1, 0, 8192, half));  // half the payload, then gone
  }
  // The hang-up is noticed; the half-sent write never reaches the store.
  for (int i = 0; i < 500 && ts.server().metrics().hangups.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(ts.server().metrics().hangups.load(), 1u);
  ASSERT_TRUE(c.request(Command::kRead, 0, 9, 0, 8192));
  EXPECT_EQ(c.reply(8192).data, before);
}

TEST(NbdServerTest, ManyRequestsInFlightAreAllAnsweredByCookie) {
  TestServer ts(8 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient c = ts.client();
  ASSERT_GT(c.handshake(true, false), 0u);
  constexpr int kN = 300;  // more than the in-flight limit: the server reads them as room frees
  std::string burst;
  std::map<uint64_t, std::string> expected;
  for (int i = 0; i < kN; ++i) {
    const std::string d = (i % 3 == 0) ? random_bytes(10000, i) : text_bytes(10000, i);
    burst += testing::request_bytes(Command::kWrite, i % 2 ? kCmdFlagFua : 0, 1000 + i, uint64_t(i) * 20000,
                                    10000) + d;
    expected[2000 + i] = d;
  }
  std::thread sender([&] { EXPECT_TRUE(c.send(burst)); });
  std::map<uint64_t, int> seen;
  for (int i = 0; i < kN; ++i) {
    Reply r = c.reply();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.error, 0u);
    ++seen[r.cookie];
  }
  sender.join();
  EXPECT_EQ(seen.size(), size_t(kN));
  burst.clear();
  for (int i = 0; i < kN; ++i) {
    burst += testing::request_bytes(Command::kRead, kCmdFlagDf, 2000 + i, uint64_t(i) * 20000, 10000);
  }
  std::thread sender2([&] { EXPECT_TRUE(c.send(burst)); });
  for (int i = 0; i < kN; ++i) {
    Reply r = c.reply();
    ASSERT_TRUE(r.ok);
    ASSERT_EQ(r.error, 0u);
    ASSERT_TRUE(expected.count(r.cookie));
    EXPECT_EQ(r.data, expected[r.cookie]) << r.cookie;
    EXPECT_EQ(r.offset, (r.cookie - 2000) * 20000);
    expected.erase(r.cookie);
  }
  sender2.join();
  EXPECT_TRUE(expected.empty());
}

TEST(NbdServerTest, MemLimitGivesEnospcAndKeepsWhatWasWritten) {
  TestServer ts(16 << 20, 1 << 20);  // pool memory: 1 MiB
  ASSERT_TRUE(ts.ok());
  TestClient c = ts.client();
  ASSERT_GT(c.handshake(true, false), 0u);
  std::vector<std::string> written;
  bool full = false;
  for (uint64_t i = 0; i < 1024 && !full; ++i) {
    const std::string d = random_bytes(64 << 10, i);
    ASSERT_TRUE(c.request(Command::kWrite, 0, i, i * (64 << 10), 64 << 10, d));
    Reply r = c.reply();
    ASSERT_TRUE(r.ok);
    if (r.error == kE(Error::kNoSpc)) {
      full = true;
    } else {
      ASSERT_EQ(r.error, 0u);
      written.push_back(d);
    }
  }
  ASSERT_TRUE(full) << "the limit was never reached";
  ASSERT_FALSE(written.empty());
  for (size_t i = 0; i < written.size(); ++i) {
    ASSERT_TRUE(c.request(Command::kRead, 0, 5000 + i, i * (64 << 10), 64 << 10));
    Reply r = c.reply();
    ASSERT_EQ(r.error, 0u);
    EXPECT_EQ(r.data, written[i]) << "block " << i;
  }
  // Freeing space makes writes succeed again.
  ASSERT_TRUE(c.request(Command::kTrim, 0, 1, 0, 16 << 20));
  EXPECT_EQ(c.reply().error, 0u);
  EXPECT_EQ(write_read(c, 0, random_bytes(64 << 10, 99), 77), random_bytes(64 << 10, 99));
}

TEST(NbdServerTest, TrimZeroesAndBlockStatusFollowTheSlotTable) {
  TestServer ts(1 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient c = ts.client();
  ASSERT_GT(c.handshake(true, true), 0u);
  uint32_t len = 0;
  EXPECT_EQ(first_extent_flags(c, 0, 1 << 20, &len), kStateHole | kStateZero);
  EXPECT_EQ(len, 1u << 20);

  const std::string data = text_bytes(16 * kPageSize, 3);
  EXPECT_EQ(write_read(c, 0, data), data);
  EXPECT_EQ(first_extent_flags(c, 0, 1 << 20, &len), 0u);
  EXPECT_EQ(len, 16 * kPageSize);

  // TRIM of pages 2..3 (plus a partial page, which stays data).
  ASSERT_TRUE(c.request(Command::kTrim, 0, 1, 2 * kPageSize, 2 * kPageSize + 100));
  EXPECT_EQ(c.reply().error, 0u);
  EXPECT_EQ(first_extent_flags(c, 2 * kPageSize, kPageSize * 3, &len), kStateHole | kStateZero);
  EXPECT_EQ(len, 2 * kPageSize);
  EXPECT_EQ(first_extent_flags(c, 4 * kPageSize, kPageSize), 0u);

  // WRITE_ZEROES with NO_HOLE: zero but allocated; without: a hole.
  ASSERT_TRUE(c.request(Command::kWriteZeroes, kCmdFlagNoHole | kCmdFlagFastZero, 2, 6 * kPageSize, 2 * kPageSize));
  EXPECT_EQ(c.reply().error, 0u);
  EXPECT_EQ(first_extent_flags(c, 6 * kPageSize, 4 * kPageSize, &len), kStateZero);
  EXPECT_EQ(len, 2 * kPageSize);
  ASSERT_TRUE(c.request(Command::kWriteZeroes, 0, 3, 10 * kPageSize, kPageSize));
  EXPECT_EQ(c.reply().error, 0u);
  EXPECT_EQ(first_extent_flags(c, 10 * kPageSize, kPageSize), kStateHole | kStateZero);
  ASSERT_TRUE(c.request(Command::kRead, 0, 4, 6 * kPageSize, 5 * kPageSize));
  Reply r = c.reply();
  EXPECT_EQ(r.data, std::string(2 * kPageSize, '\0') + data.substr(8 * kPageSize, 2 * kPageSize) +
                        std::string(kPageSize, '\0'));

  // Without REQ_ONE the whole range is described, extents adding up.
  ASSERT_TRUE(c.request(Command::kBlockStatus, 0, 5, 0, 1 << 20));
  r = c.reply();
  ASSERT_TRUE(r.ok);
  uint64_t total = 0;
  for (size_t i = 4; i + 8 <= r.data.size(); i += 8) {
    total += load_be32(reinterpret_cast<const std::byte*>(r.data.data() + i));
  }
  EXPECT_EQ(total, 1u << 20);
}

TEST(NbdServerTest, WritesOnOneConnectionAreSeenOnAnother) {
  TestServer ts(1 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient a = ts.client(), b = ts.client();
  ASSERT_GT(a.handshake(true, false), 0u);
  ASSERT_GT(b.handshake(false, false), 0u);
  for (int i = 0; i < 20; ++i) {
    const std::string d = random_bytes(777, i);
    ASSERT_TRUE(a.request(Command::kWrite, 0, i, i * 1000, 777, d));
    ASSERT_EQ(a.reply().error, 0u);
    ASSERT_TRUE(a.request(Command::kFlush, 0, i, 0, 0));
    ASSERT_EQ(a.reply().error, 0u);
    ASSERT_TRUE(b.request(Command::kRead, 0, i, i * 1000, 777));
    EXPECT_EQ(b.reply(777).data, d);
  }
}

TEST(NbdServerTest, DiscAnswersWhatIsInFlightThenCloses) {
  TestServer ts(1 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient c = ts.client();
  ASSERT_GT(c.handshake(false, false), 0u);
  std::string burst;
  for (int i = 0; i < 20; ++i) burst += testing::request_bytes(Command::kWrite, 0, i, i * 4096, 4096) + text_bytes(4096, i);
  burst += testing::request_bytes(Command::kDisc, 0, 99, 0, 0);
  ASSERT_TRUE(c.send(burst));
  for (int i = 0; i < 20; ++i) {
    Reply r = c.reply();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.error, 0u);
  }
  EXPECT_TRUE(c.sees_eof());
  TestClient d = ts.client();
  ASSERT_GT(d.handshake(false, false), 0u);
  ASSERT_TRUE(d.request(Command::kRead, 0, 1, 19 * 4096, 4096));
  EXPECT_EQ(d.reply(4096).data, text_bytes(4096, 19));
}

TEST(NbdServerTest, AClientThatDoesNotReadRepliesCannotMakeTheServerBufferWithoutBound) {
  TestServer ts(64 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient c = ts.client();
  ASSERT_GT(c.handshake(false, false), 0u);
  constexpr int kN = 600;  // 600 MiB of replies asked for; the limit is 64 MiB in flight
  std::string burst;
  for (int i = 0; i < kN; ++i) burst += testing::request_bytes(Command::kRead, 0, i, 0, 1 << 20);
  const uint64_t rss_before = testing::rss_bytes();
  ASSERT_TRUE(c.send(burst));
  // Let the server do all it can without us reading.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t growth = testing::rss_bytes() - std::min(rss_before, testing::rss_bytes());
  EXPECT_LT(growth, uint64_t{300} << 20) << "the server buffered " << (growth >> 20) << " MiB";
  for (int i = 0; i < kN; ++i) {
    Reply r = c.reply(1 << 20);
    ASSERT_TRUE(r.ok) << i;
    ASSERT_EQ(r.error, 0u);
  }
}

TEST(NbdServerTest, StopClosesConnectedClientsAndPrintsStatistics) {
  TestServer ts(1 << 20);
  ASSERT_TRUE(ts.ok());
  TestClient idle = ts.client();
  ASSERT_GT(idle.handshake(true, false), 0u);
  TestClient mid = ts.client();
  ASSERT_TRUE(mid.start());  // stuck in the handshake
  EXPECT_EQ(write_read(idle, 0, "x"), "x");
  ts.server().stop();
  EXPECT_TRUE(idle.sees_eof());
  EXPECT_TRUE(mid.sees_eof());
  EXPECT_NE(ts.server().summary().find("requests 2 (errors 0)"), std::string::npos) << ts.server().summary();
  const auto j = nlohmann::json::parse(ts.server().stats_json());
  EXPECT_EQ(j["nbd"]["commands"]["write"]["requests"], 1);
  EXPECT_EQ(j["nbd"]["connections"], 0);
}

TEST(NbdServerTest, ExportSizeLargerThanTheStoreIsRefusedAndLeavesNoSocketFile) {
  StoreOptions so;
  so.disksize = 1 << 20;
  auto store = Store::open(so);
  ASSERT_TRUE(store.has_value());
  char tmpl[] = "/tmp/uzram-nbd-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/s.sock";
  auto listener = net::listen_unix(path);
  ASSERT_TRUE(listener.has_value());
  ServerOptions o;
  o.export_size = (1 << 20) + 1;
  auto server = Server::start(store->get(), o, std::move(listener).value());
  EXPECT_FALSE(server.has_value());
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket file is removed";
  ::unlink(path.c_str());
  ::rmdir(tmpl);
}

}  // namespace
}  // namespace uzram::nbd
