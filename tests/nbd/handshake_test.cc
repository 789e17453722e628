// Tests of src/nbd/handshake.cc: the option haggling, on byte buffers.
#include "nbd/handshake.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nbd/server.h"
#include "test_client.h"

namespace uzram::nbd {
namespace {

using testing::go_data;
using testing::meta_data;
using testing::option_bytes;

constexpr uint32_t kOpt(Option o) { return static_cast<uint32_t>(o); }
constexpr uint32_t kRep(Rep r) { return static_cast<uint32_t>(r); }

ExportInfo test_export() {
  ExportInfo e;
  e.name = "uzram";
  e.description = "test disk";
  e.size = 1 << 20;
  e.flags = kServerExportFlags;
  return e;
}

std::string client_flags(uint32_t flags = kClientFixedNewstyle | kClientNoZeroes) {
  std::string s;
  append_be32(&s, flags);
  return s;
}

std::span<const std::byte> as_span(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

struct ParsedReply {
  uint32_t option;
  uint32_t type;
  std::string data;
};

// Splits server output into option replies; `rest` gets what does not parse
// as one (the EXPORT_NAME reply).
std::vector<ParsedReply> parse_replies(const std::string& out, std::string* rest = nullptr) {
  std::vector<ParsedReply> replies;
  size_t pos = 0;
  while (out.size() - pos >= 20) {
    const auto* p = reinterpret_cast<const std::byte*>(out.data() + pos);
    if (load_be64(p) != kOptionReplyMagic) break;
    const uint32_t len = load_be32(p + 16);
    if (out.size() - pos - 20 < len) break;
    replies.push_back({load_be32(p + 8), load_be32(p + 12), out.substr(pos + 20, len)});
    pos += 20 + len;
  }
  if (rest) *rest = out.substr(pos);
  return replies;
}

// Feeds all of `in` and returns the output; `used` gets the bytes consumed.
std::string run(Handshake* hs, const std::string& in, size_t* used = nullptr) {
  const size_t n = hs->feed(as_span(in));
  if (used) *used = n;
  return hs->take_output();
}

TEST(HandshakeTest, GreetingAdvertisesFixedNewstyleAndNoZeroes) {
  const std::string g = Handshake::greeting();
  ASSERT_EQ(g.size(), 18u);
  const auto* p = reinterpret_cast<const std::byte*>(g.data());
  EXPECT_EQ(load_be64(p), kNbdMagic);
  EXPECT_EQ(load_be64(p + 8), kOptionMagic);
  EXPECT_EQ(load_be16(p + 16), kFlagFixedNewstyle | kFlagNoZeroes);
}

TEST(HandshakeTest, GoWithDefaultNameSendsExportInfoAndStartsTransmission) {
  Handshake hs(test_export());
  EXPECT_EQ(hs.wanted(), 4u);
  const std::string in = client_flags() + option_bytes(kOpt(Option::kGo), go_data(""));
  size_t used = 0;
  const auto replies = parse_replies(run(&hs, in, &used));
  EXPECT_EQ(used, in.size());
  ASSERT_TRUE(hs.done());
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].type, kRep(Rep::kInfo));
  ASSERT_EQ(replies[0].data.size(), 12u);
  const auto* p = reinterpret_cast<const std::byte*>(replies[0].data.data());
  EXPECT_EQ(load_be16(p), static_cast<uint16_t>(Info::kExport));
  EXPECT_EQ(load_be64(p + 2), 1u << 20);
  const uint16_t flags = load_be16(p + 10);
  EXPECT_TRUE(flags & kFlagCanMultiConn);
  EXPECT_FALSE(flags & kFlagSendDf) << "DF needs structured replies";
  EXPECT_FALSE(flags & kFlagReadOnly);
  EXPECT_EQ(replies[1].type, kRep(Rep::kAck));
  EXPECT_EQ(replies[1].option, kOpt(Option::kGo));
  EXPECT_EQ(hs.negotiated().transmission_flags, flags);
  EXPECT_FALSE(hs.negotiated().structured_replies);
}

TEST(HandshakeTest, GoLeavesPipelinedRequestBytesUnconsumed) {
  Handshake hs(test_export());
  const std::string handshake = client_flags() + option_bytes(kOpt(Option::kGo), go_data("uzram"));
  const std::string in = handshake + testing::request_bytes(Command::kRead, 0, 1, 0, 512);
  size_t used = 0;
  run(&hs, in, &used);
  EXPECT_TRUE(hs.done());
  EXPECT_EQ(used, handshake.size());
  EXPECT_EQ(hs.wanted(), 0u);
}

TEST(HandshakeTest, ByteAtATimeGivesTheSameOutputAsOneBuffer) {
  const std::string in = client_flags() + option_bytes(kOpt(Option::kStructuredReply), "") +
                         option_bytes(kOpt(Option::kList), "") +
                         option_bytes(kOpt(Option::kSetMetaContext), meta_data("", {"base:allocation"})) +
                         option_bytes(kOpt(Option::kInfo), go_data("uzram", {1, 2, 3})) +
                         option_bytes(kOpt(Option::kGo), go_data(""));
  Handshake whole(test_export());
  const std::string expected = run(&whole, in);
  Handshake bytewise(test_export());
  std::string got;
  for (char c : in) {
    ASSERT_EQ(bytewise.feed(as_span(std::string(1, c))), 1u);
    got += bytewise.take_output();
  }
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(whole.done());
  EXPECT_TRUE(bytewise.done());
  EXPECT_TRUE(bytewise.negotiated().base_allocation);
  EXPECT_TRUE(bytewise.negotiated().transmission_flags & kFlagSendDf);
}

TEST(HandshakeTest, UnknownClientFlagsClose) {
  Handshake hs(test_export());
  run(&hs, client_flags(1u << 7));
  EXPECT_TRUE(hs.closed());
  EXPECT_EQ(hs.close_reason(), "unknown client flags");
}

TEST(HandshakeTest, BadOptionMagicCloses) {
  Handshake hs(test_export());
  std::string opt = option_bytes(kOpt(Option::kGo), go_data(""));
  opt[0] = 'X';
  run(&hs, client_flags() + opt);
  EXPECT_TRUE(hs.closed());
}

TEST(HandshakeTest, GoForUnknownExportIsErrUnknownAndHagglingContinues) {
  Handshake hs(test_export());
  auto replies = parse_replies(run(&hs, client_flags() + option_bytes(kOpt(Option::kGo), go_data("other"))));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].type, kRep(Rep::kErrUnknown));
  EXPECT_FALSE(hs.done());
  EXPECT_FALSE(hs.closed());
  replies = parse_replies(run(&hs, option_bytes(kOpt(Option::kGo), go_data("uzram"))));
  EXPECT_TRUE(hs.done());
}

TEST(HandshakeTest, MalformedGoIsErrInvalid) {
  Handshake hs(test_export());
  std::string bad = go_data("uzram", {3});
  bad.pop_back();  // the info request list is one byte short
  const auto replies = parse_replies(run(&hs, client_flags() + option_bytes(kOpt(Option::kGo), bad)));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].type, kRep(Rep::kErrInvalid));
  EXPECT_FALSE(hs.done());
}

TEST(HandshakeTest, InfoAnswersRequestedBlockSizeAndKeepsHaggling) {
  Handshake hs(test_export());
  const auto replies = parse_replies(
      run(&hs, client_flags() + option_bytes(kOpt(Option::kInfo), go_data("", {3, 1, 2}))));
  ASSERT_EQ(replies.size(), 5u);  // export, name, description, block size, ack
  bool saw_block_size = false;
  for (const auto& r : replies) {
    if (r.type != kRep(Rep::kInfo)) continue;
    const auto* p = reinterpret_cast<const std::byte*>(r.data.data());
    if (load_be16(p) == static_cast<uint16_t>(Info::kBlockSize)) {
      saw_block_size = true;
      EXPECT_EQ(load_be32(p + 2), kMinBlockSize);
      EXPECT_EQ(load_be32(p + 6), kPreferredBlockSize);
      EXPECT_EQ(load_be32(p + 10), kMaxPayload);
    }
    if (load_be16(p) == static_cast<uint16_t>(Info::kName)) {
      EXPECT_EQ(r.data.substr(2), "uzram");
    }
  }
  EXPECT_TRUE(saw_block_size);
  EXPECT_EQ(replies.back().type, kRep(Rep::kAck));
  EXPECT_FALSE(hs.done());
}

TEST(HandshakeTest, ListNamesTheExport) {
  Handshake hs(test_export());
  const auto replies = parse_replies(run(&hs, client_flags() + option_bytes(kOpt(Option::kList), "")));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].type, kRep(Rep::kServer));
  const auto* p = reinterpret_cast<const std::byte*>(replies[0].data.data());
  ASSERT_EQ(load_be32(p), 5u);
  EXPECT_EQ(replies[0].data.substr(4, 5), "uzram");
  EXPECT_EQ(replies[1].type, kRep(Rep::kAck));
}

TEST(HandshakeTest, ListWithDataIsErrInvalid) {
  Handshake hs(test_export());
  const auto replies = parse_replies(run(&hs, client_flags() + option_bytes(kOpt(Option::kList), "x")));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].type, kRep(Rep::kErrInvalid));
}

TEST(HandshakeTest, AbortAcksAndCloses) {
  Handshake hs(test_export());
  const auto replies = parse_replies(run(&hs, client_flags() + option_bytes(kOpt(Option::kAbort), "")));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].type, kRep(Rep::kAck));
  EXPECT_TRUE(hs.closed());
}

TEST(HandshakeTest, ExportNameRepliesWithSizeFlagsAndZeroesUnlessNoZeroes) {
  for (bool no_zeroes : {false, true}) {
    Handshake hs(test_export());
    const uint32_t flags = kClientFixedNewstyle | (no_zeroes ? kClientNoZeroes : 0);
    const std::string out = run(&hs, client_flags(flags) + option_bytes(kOpt(Option::kExportName), ""));
    ASSERT_TRUE(hs.done());
    ASSERT_EQ(out.size(), no_zeroes ? 10u : 134u);
    const auto* p = reinterpret_cast<const std::byte*>(out.data());
    EXPECT_EQ(load_be64(p), 1u << 20);
    EXPECT_TRUE(load_be16(p + 8) & kFlagHasFlags);
  }
}

TEST(HandshakeTest, ExportNameOfUnknownExportCloses) {
  Handshake hs(test_export());
  run(&hs, client_flags() + option_bytes(kOpt(Option::kExportName), "nope"));
  EXPECT_TRUE(hs.closed());
}

TEST(HandshakeTest, SetMetaContextNeedsStructuredReplies) {
  Handshake hs(test_export());
  auto replies = parse_replies(run(
      &hs, client_flags() + option_bytes(kOpt(Option::kSetMetaContext), meta_data("", {"base:allocation"}))));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].type, kRep(Rep::kErrInvalid));

  replies = parse_replies(run(&hs, option_bytes(kOpt(Option::kStructuredReply), "") +
                                       option_bytes(kOpt(Option::kSetMetaContext),
                                                    meta_data("", {"base:allocation", "qemu:dirty-bitmap:x"}))));
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[1].type, kRep(Rep::kMetaContext));
  const auto* p = reinterpret_cast<const std::byte*>(replies[1].data.data());
  EXPECT_EQ(load_be32(p), kBaseAllocationId);
  EXPECT_EQ(replies[1].data.substr(4), "base:allocation");
  EXPECT_EQ(replies[2].type, kRep(Rep::kAck));
}

TEST(HandshakeTest, SetMetaContextWithoutMatchClearsTheSelection) {
  Handshake hs(test_export());
  run(&hs, client_flags() + option_bytes(kOpt(Option::kStructuredReply), "") +
               option_bytes(kOpt(Option::kSetMetaContext), meta_data("", {"base:allocation"})) +
               option_bytes(kOpt(Option::kSetMetaContext), meta_data("", {"base:"})) +
               option_bytes(kOpt(Option::kGo), go_data("")));
  ASSERT_TRUE(hs.done());
  EXPECT_FALSE(hs.negotiated().base_allocation) << "\"base:\" is a LIST wildcard only";
}

TEST(HandshakeTest, ListMetaContextWithNoQueryListsBaseAllocation) {
  Handshake hs(test_export());
  const auto replies = parse_replies(
      run(&hs, client_flags() + option_bytes(kOpt(Option::kListMetaContext), meta_data("", {}))));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].type, kRep(Rep::kMetaContext));
  EXPECT_EQ(replies[0].data.substr(4), "base:allocation");
}

TEST(HandshakeTest, MetaContextForUnknownExportIsErrUnknown) {
  Handshake hs(test_export());
  const auto replies = parse_replies(
      run(&hs, client_flags() + option_bytes(kOpt(Option::kListMetaContext), meta_data("zz", {}))));
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].type, kRep(Rep::kErrUnknown));
}

TEST(HandshakeTest, UnsupportedOptionsGetErrUnsup) {
  Handshake hs(test_export());
  const auto replies = parse_replies(run(&hs, client_flags() + option_bytes(kOpt(Option::kStartTls), "") +
                                                  option_bytes(kOpt(Option::kExtendedHeaders), "") +
                                                  option_bytes(999, "abc")));
  ASSERT_EQ(replies.size(), 3u);
  for (const auto& r : replies) EXPECT_EQ(r.type, kRep(Rep::kErrUnsup));
  EXPECT_FALSE(hs.closed());
}

TEST(HandshakeTest, NonFixedClientIsClosedOnUnsupportedOption) {
  Handshake hs(test_export());
  run(&hs, client_flags(0) + option_bytes(999, ""));
  EXPECT_TRUE(hs.closed());
}

TEST(HandshakeTest, OversizedOptionIsSkippedAndAnsweredTooBig) {
  Handshake hs(test_export());
  std::string header;
  append_be64(&header, kOptionMagic);
  append_be32(&header, kOpt(Option::kInfo));
  append_be32(&header, kMaxOptionLength + 10);
  run(&hs, client_flags() + header);
  EXPECT_EQ(hs.wanted(), kMaxOptionLength + 10);
  const std::string body(kMaxOptionLength + 10, 'x');
  const auto replies = parse_replies(run(&hs, body + option_bytes(kOpt(Option::kGo), go_data(""))));
  ASSERT_GE(replies.size(), 1u);
  EXPECT_EQ(replies[0].type, kRep(Rep::kErrTooBig));
  EXPECT_TRUE(hs.done());
}

TEST(HandshakeTest, TooManyOptionsClose) {
  Handshake hs(test_export());
  std::string in = client_flags();
  for (size_t i = 0; i <= Handshake::kMaxOptions; ++i) in += option_bytes(kOpt(Option::kStructuredReply), "");
  run(&hs, in);
  EXPECT_TRUE(hs.closed());
  EXPECT_EQ(hs.close_reason(), "too many options");
}

}  // namespace
}  // namespace uzram::nbd
