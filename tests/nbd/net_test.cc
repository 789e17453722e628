// Tests of src/nbd/net.cc: listeners, address parsing, SocketReader.
#include "nbd/net.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

namespace uzram::nbd::net {
namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/uzram-net-test-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  return d ? d : "/tmp";
}

std::span<const std::byte> bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST(NbdNetTest, SplitHostPort) {
  std::string a;
  uint16_t p = 0;
  ASSERT_TRUE(split_host_port("127.0.0.1:9100", &a, &p).is_ok());
  EXPECT_EQ(a, "127.0.0.1");
  EXPECT_EQ(p, 9100);
  ASSERT_TRUE(split_host_port("[::1]:0", &a, &p).is_ok());
  EXPECT_EQ(a, "[::1]");
  EXPECT_EQ(p, 0);
  for (const char* bad : {"", "9100", ":9100", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:x", "::1:9100",
                          "localhost:9100", "1.2.3:80"}) {
    EXPECT_FALSE(split_host_port(bad, &a, &p).is_ok()) << bad;
  }
}

TEST(NbdNetTest, TcpListenerOnPortZeroReportsItsPortAndAccepts) {
  auto l = listen_tcp("127.0.0.1", 0);
  ASSERT_TRUE(l.has_value()) << l.status().to_string();
  EXPECT_NE(l->port, 0);
  EXPECT_EQ(l->endpoint, "127.0.0.1:" + std::to_string(l->port));
  EXPECT_EQ(l->uri, "nbd://" + l->endpoint + "/");
  auto c = connect_tcp("127.0.0.1", l->port);
  ASSERT_TRUE(c.has_value());
  auto s = accept_connection(l->fd);
  ASSERT_TRUE(s.has_value());
  ASSERT_TRUE(send_all(c->get(), bytes("hello")).is_ok());
  SocketReader r(s->get());
  std::byte buf[5];
  ASSERT_EQ(r.read_exact(buf), ReadResult::kOk);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 5), "hello");
}

TEST(NbdNetTest, UnixListenerReplacesAStaleSocketButNotAFile) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/s.sock";
  {
    auto l = listen_unix(path);
    ASSERT_TRUE(l.has_value()) << l.status().to_string();
    EXPECT_EQ(l->uri, "nbd+unix:///?socket=" + path);
    // A second server on a live socket is refused.
    auto again = listen_unix(path);
    EXPECT_FALSE(again.has_value());
  }
  // The first listener is closed but its file remains: stale, replaced.
  auto l2 = listen_unix(path);
  ASSERT_TRUE(l2.has_value()) << l2.status().to_string();
  remove_socket_file(*l2);
  struct stat st;
  EXPECT_NE(::stat(path.c_str(), &st), 0);

  const std::string file = dir + "/plain";
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_FALSE(listen_unix(file).has_value());
  EXPECT_EQ(::stat(file.c_str(), &st), 0) << "a plain file is never removed";
  ::unlink(file.c_str());
  ::rmdir(dir.c_str());
}

TEST(NbdNetTest, UnixPathTooLongIsAnError) {
  EXPECT_FALSE(listen_unix(std::string(200, 'a')).has_value());
  EXPECT_FALSE(listen_unix("").has_value());
}

TEST(NbdNetTest, SocketReaderReadsExactSkipsAndSeesEof) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  Fd a(sv[0]), b(sv[1]);
  std::string big(200000, 'z');
  big[0] = 'a';
  big[199999] = 'q';
  std::thread writer([&] {
    (void)send_all(a.get(), bytes("0123456789"));
    (void)send_all(a.get(), bytes(big));
    a.reset();
  });
  SocketReader r(b.get());
  std::byte small[4];
  ASSERT_EQ(r.read_exact(small), ReadResult::kOk);
  EXPECT_EQ(std::to_integer<char>(small[0]), '0');
  ASSERT_EQ(r.skip(6), ReadResult::kOk);
  std::string got(big.size(), '\0');
  ASSERT_EQ(r.read_exact({reinterpret_cast<std::byte*>(got.data()), got.size()}), ReadResult::kOk);
  EXPECT_EQ(got, big);
  EXPECT_EQ(r.read_exact(small), ReadResult::kEof);
  writer.join();
}

TEST(NbdNetTest, WakerWakesAWait) {
  auto w = Waker::create();
  ASSERT_TRUE(w.has_value());
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  Fd a(sv[0]), b(sv[1]);
  EXPECT_EQ(wait_readable(b.get(), *w, std::chrono::milliseconds(1)), WaitResult::kTimeout);
  w->wake();
  EXPECT_EQ(wait_readable(b.get(), *w, std::chrono::milliseconds(-1)), WaitResult::kWoken);
}

TEST(NbdNetTest, MapBufferGivesWritableMemory) {
  auto m = map_buffer(1 << 20);
  ASSERT_TRUE(m.has_value());
  m->data()[0] = std::byte{1};
  m->data()[(1 << 20) - 1] = std::byte{2};
  EXPECT_EQ(m->size(), 1u << 20);
}

}  // namespace
}  // namespace uzram::nbd::net
