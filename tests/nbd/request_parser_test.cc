// Tests of src/nbd/request_parser.cc: what each request header decides.
#include "nbd/request_parser.h"

#include <gtest/gtest.h>

#include <string>

#include "test_client.h"

namespace uzram::nbd {
namespace {

using Action = ParsedRequest::Action;

constexpr uint64_t kSize = 1000000;  // not a multiple of the page size, on purpose

ParsedRequest parse(Command type, uint16_t flags, uint64_t offset, uint32_t length, bool structured = true,
                    bool meta = true, uint32_t magic = kRequestMagic) {
  const std::string h = testing::request_bytes(type, flags, 0x1122334455667788ULL, offset, length, magic);
  TransmissionContext ctx{kSize, structured, meta};
  return parse_request(std::span<const std::byte, kRequestHeaderSize>(
                           reinterpret_cast<const std::byte*>(h.data()), kRequestHeaderSize),
                       ctx);
}

TEST(RequestParserTest, ValidReadDecodesEveryField) {
  const ParsedRequest p = parse(Command::kRead, kCmdFlagDf, 4096, 512);
  EXPECT_EQ(p.action, Action::kExecute);
  EXPECT_EQ(p.request.command(), Command::kRead);
  EXPECT_EQ(p.request.cookie, 0x1122334455667788ULL);
  EXPECT_EQ(p.request.offset, 4096u);
  EXPECT_EQ(p.request.length, 512u);
  EXPECT_EQ(p.request.flags, kCmdFlagDf);
  EXPECT_EQ(p.payload, 0u);
}

TEST(RequestParserTest, BadMagicClosesTheConnection) {
  EXPECT_EQ(parse(Command::kRead, 0, 0, 1, true, true, 0xdeadbeef).action, Action::kClose);
}

TEST(RequestParserTest, WriteCarriesItsPayloadEvenWhenRejected) {
  ParsedRequest p = parse(Command::kWrite, kCmdFlagFua, 0, 100);
  EXPECT_EQ(p.action, Action::kExecute);
  EXPECT_EQ(p.payload, 100u);
  p = parse(Command::kWrite, 0, kSize - 10, 100);
  EXPECT_EQ(p.action, Action::kReject);
  EXPECT_EQ(p.error, Error::kNoSpc);
  EXPECT_EQ(p.payload, 100u);
  p = parse(Command::kWrite, kCmdFlagReqOne, 0, 7);
  EXPECT_EQ(p.error, Error::kInval);
  EXPECT_EQ(p.payload, 7u);
}

TEST(RequestParserTest, ByteGranularRangesUpToTheExactEndAreValid) {
  EXPECT_EQ(parse(Command::kRead, 0, kSize - 1, 1).action, Action::kExecute);
  EXPECT_EQ(parse(Command::kWrite, 0, 1, kSize - 1).action, Action::kExecute);
  EXPECT_EQ(parse(Command::kRead, 0, kSize, 0).action, Action::kExecute);
  EXPECT_EQ(parse(Command::kRead, 0, kSize, 1).error, Error::kInval);
}

TEST(RequestParserTest, OutOfRangeErrorsFollowTheProtocol) {
  EXPECT_EQ(parse(Command::kRead, 0, kSize - 1, 2).error, Error::kInval);
  EXPECT_EQ(parse(Command::kTrim, 0, kSize, 1).error, Error::kInval);
  EXPECT_EQ(parse(Command::kCache, 0, kSize + 5, 0).error, Error::kInval);
  EXPECT_EQ(parse(Command::kWriteZeroes, 0, 0, kSize + 1).error, Error::kNoSpc);
  EXPECT_EQ(parse(Command::kBlockStatus, 0, kSize - 1, 2).error, Error::kInval);
}

TEST(RequestParserTest, OffsetPlusLengthOverflowIsOutOfRange) {
  const ParsedRequest p = parse(Command::kRead, 0, ~uint64_t{0} - 10, 100);
  EXPECT_EQ(p.action, Action::kReject);
  EXPECT_EQ(p.error, Error::kInval);
}

TEST(RequestParserTest, OversizedReadOrWriteIsEoverflowWithStructuredRepliesElseEinval) {
  EXPECT_EQ(parse(Command::kRead, 0, 0, kMaxPayload + 1).error, Error::kOverflow);
  EXPECT_EQ(parse(Command::kRead, 0, 0, kMaxPayload + 1, false, false).error, Error::kInval);
  const ParsedRequest w = parse(Command::kWrite, 0, 0, kMaxPayload + 1);
  EXPECT_EQ(w.error, Error::kOverflow);
  EXPECT_EQ(w.payload, kMaxPayload + 1);
}

TEST(RequestParserTest, TrimAndZeroesMayExceedTheMaximumPayload) {
  TransmissionContext big{uint64_t{1} << 40, true, true};
  const std::string h = testing::request_bytes(Command::kTrim, 0, 1, 0, 0xffffffffu);
  const ParsedRequest p = parse_request(
      std::span<const std::byte, kRequestHeaderSize>(reinterpret_cast<const std::byte*>(h.data()), kRequestHeaderSize),
      big);
  EXPECT_EQ(p.action, Action::kExecute);
}

TEST(RequestParserTest, FlagsAreCheckedPerCommand) {
  EXPECT_EQ(parse(Command::kWriteZeroes, kCmdFlagNoHole | kCmdFlagFastZero | kCmdFlagFua, 0, 10).action,
            Action::kExecute);
  EXPECT_EQ(parse(Command::kRead, kCmdFlagNoHole, 0, 10).error, Error::kInval);
  EXPECT_EQ(parse(Command::kRead, kCmdFlagDf, 0, 10, false, false).error, Error::kInval)
      << "DF without structured replies";
  EXPECT_EQ(parse(Command::kBlockStatus, kCmdFlagReqOne, 0, 10).action, Action::kExecute);
  EXPECT_EQ(parse(Command::kTrim, kCmdFlagReqOne, 0, 10).error, Error::kInval);
  EXPECT_EQ(parse(Command::kFlush, kCmdFlagFua, 0, 0).action, Action::kExecute) << "FUA is valid everywhere";
  EXPECT_EQ(parse(Command::kRead, 1 << 9, 0, 10).error, Error::kInval);
}

TEST(RequestParserTest, BlockStatusNeedsTheContextAndALength) {
  EXPECT_EQ(parse(Command::kBlockStatus, 0, 0, 10, true, false).error, Error::kInval);
  EXPECT_EQ(parse(Command::kBlockStatus, 0, 0, 0).error, Error::kInval);
}

TEST(RequestParserTest, DiscAndUnknownCommands) {
  EXPECT_EQ(parse(Command::kDisc, 0, 0, 0).action, Action::kDisconnect);
  EXPECT_EQ(parse(Command::kResize, 0, 0, 0).error, Error::kInval);
  const ParsedRequest p = parse(static_cast<Command>(77), 0, 0, 0);
  EXPECT_EQ(p.action, Action::kReject);
  EXPECT_EQ(p.error, Error::kInval);
  EXPECT_EQ(p.payload, 0u);
}

}  // namespace
}  // namespace uzram::nbd
