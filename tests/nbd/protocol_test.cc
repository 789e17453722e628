// Tests of src/nbd/protocol.cc and the big-endian helpers of protocol.h.
#include "nbd/protocol.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace uzram::nbd {
namespace {

TEST(NbdProtocolTest, BigEndianRoundTripsAndByteOrder) {
  std::byte b[8];
  store_be64(b, 0x0102030405060708ULL);
  EXPECT_EQ(std::to_integer<int>(b[0]), 1);
  EXPECT_EQ(std::to_integer<int>(b[7]), 8);
  EXPECT_EQ(load_be64(b), 0x0102030405060708ULL);
  store_be32(b, 0xa1b2c3d4);
  EXPECT_EQ(load_be32(b), 0xa1b2c3d4u);
  store_be16(b, 0xbeef);
  EXPECT_EQ(load_be16(b), 0xbeef);
  std::string s;
  append_be16(&s, 0x0102);
  append_be32(&s, 0x03040506);
  append_be64(&s, 0x0708090a0b0c0d0eULL);
  ASSERT_EQ(s.size(), 14u);
  EXPECT_EQ(s[0], 1);
  EXPECT_EQ(s[13], 0x0e);
}

TEST(NbdProtocolTest, MagicsSpellWhatTheProtocolSays) {
  std::byte b[8];
  store_be64(b, kNbdMagic);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b), 8), "NBDMAGIC");
  store_be64(b, kOptionMagic);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b), 8), "IHAVEOPT");
}

TEST(NbdProtocolTest, ErrnoMapsToProtocolErrors) {
  EXPECT_EQ(error_from_errno(0), Error::kOk);
  EXPECT_EQ(error_from_errno(ENOSPC), Error::kNoSpc);
  EXPECT_EQ(error_from_errno(EDQUOT), Error::kNoSpc);
  EXPECT_EQ(error_from_errno(EFBIG), Error::kNoSpc);
  EXPECT_EQ(error_from_errno(ENOMEM), Error::kNoMem);
  EXPECT_EQ(error_from_errno(EINVAL), Error::kInval);
  EXPECT_EQ(error_from_errno(EIO), Error::kIo);
  EXPECT_EQ(error_from_errno(EOPNOTSUPP), Error::kNotSup);
  EXPECT_EQ(error_from_errno(ECHILD), Error::kIo) << "unknown errnos become EIO";
}

TEST(NbdProtocolTest, ReplyHeadersAreLaidOutAsOnTheWire) {
  std::byte simple[kSimpleReplySize];
  encode_simple_reply(simple, Error::kNoSpc, 42);
  EXPECT_EQ(load_be32(simple), kSimpleReplyMagic);
  EXPECT_EQ(load_be32(simple + 4), 28u);
  EXPECT_EQ(load_be64(simple + 8), 42u);
  std::byte chunk[kChunkHeaderSize];
  encode_chunk_header(chunk, kReplyFlagDone, ReplyType::kOffsetData, 7, 100);
  EXPECT_EQ(load_be32(chunk), kStructuredReplyMagic);
  EXPECT_EQ(load_be16(chunk + 4), kReplyFlagDone);
  EXPECT_EQ(load_be16(chunk + 6), 1);
  EXPECT_EQ(load_be64(chunk + 8), 7u);
  EXPECT_EQ(load_be32(chunk + 16), 100u);
}

}  // namespace
}  // namespace uzram::nbd
