// Tests of the codec spec text form and the registry (src/codec/codec.cc).
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "codec/codec.h"

namespace uzram::codec {
namespace {

const char kAvailable[] =
    "lz4, lz4hc (level 1-12, default 9), zstd (level 1-22, default 3, dict=FILE), lzo (lzo1x-1), "
    "deflate (level 1-9, default 6)";

CodecSpec parse_ok(std::string_view text) {
  Result<CodecSpec> r = parse_codec_spec(text);
  EXPECT_TRUE(r.has_value()) << text << ": " << r.status().to_string();
  return r.has_value() ? *r : CodecSpec{};
}

// The message of a failed parse; fails the test when it parsed.
std::string parse_error(std::string_view text, Status::Code code = Status::Code::kInvalidArgument) {
  Result<CodecSpec> r = parse_codec_spec(text);
  EXPECT_FALSE(r.has_value()) << text << " parsed";
  if (r.has_value()) return {};
  EXPECT_EQ(r.status().code(), code) << text;
  return std::string(r.status().message());
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST(CodecSpecTest, AvailableListsEveryCodecWithItsLevels) {
  EXPECT_EQ(available_codecs(), kAvailable);
  EXPECT_EQ(codec_names(), (std::vector<std::string>{"lz4", "lz4hc", "zstd", "lzo", "deflate"}));
}

TEST(CodecSpecTest, BareNamesGetTheDefaultLevel) {
  EXPECT_EQ(parse_ok("lz4"), (CodecSpec{"lz4", 0, ""}));
  EXPECT_EQ(parse_ok("lz4hc"), (CodecSpec{"lz4hc", 9, ""}));
  EXPECT_EQ(parse_ok("zstd"), (CodecSpec{"zstd", 3, ""}));
  EXPECT_EQ(parse_ok("lzo"), (CodecSpec{"lzo", 0, ""}));
  EXPECT_EQ(parse_ok("deflate"), (CodecSpec{"deflate", 6, ""}));
}

TEST(CodecSpecTest, LevelAsKeyOrBareNumber) {
  EXPECT_EQ(parse_ok("lz4hc:level=9"), (CodecSpec{"lz4hc", 9, ""}));
  EXPECT_EQ(parse_ok("lz4hc:9"), (CodecSpec{"lz4hc", 9, ""}));
  EXPECT_EQ(parse_ok("lz4hc:12"), (CodecSpec{"lz4hc", 12, ""}));
  EXPECT_EQ(parse_ok("zstd:1"), (CodecSpec{"zstd", 1, ""}));
  EXPECT_EQ(parse_ok("zstd:level=22"), (CodecSpec{"zstd", 22, ""}));
  EXPECT_EQ(parse_ok("deflate:level=6"), (CodecSpec{"deflate", 6, ""}));
  EXPECT_EQ(parse_ok("deflate:1"), (CodecSpec{"deflate", 1, ""}));
}

TEST(CodecSpecTest, ZstdTakesADictionaryPath) {
  EXPECT_EQ(parse_ok("zstd:level=3,dict=/path/to/dict"), (CodecSpec{"zstd", 3, "/path/to/dict"}));
  EXPECT_EQ(parse_ok("zstd:dict=/d,level=7"), (CodecSpec{"zstd", 7, "/d"}));
  EXPECT_EQ(parse_ok("zstd:19,dict=rel/d"), (CodecSpec{"zstd", 19, "rel/d"}));
  EXPECT_EQ(parse_ok("zstd:dict=/d"), (CodecSpec{"zstd", 3, "/d"}));
}

TEST(CodecSpecTest, SurroundingBlanksAreIgnored) {
  EXPECT_EQ(parse_ok("  lz4\n"), (CodecSpec{"lz4", 0, ""}));
  EXPECT_EQ(parse_ok("\tzstd:5 "), (CodecSpec{"zstd", 5, ""}));
}

TEST(CodecSpecTest, UnknownNameListsWhatIsAvailable) {
  EXPECT_EQ(parse_error("foo"),
            std::string("unknown compression algorithm \"foo\"; available: ") + kAvailable);
  EXPECT_TRUE(contains(parse_error("LZ4"), "\"LZ4\""));
  EXPECT_TRUE(contains(parse_error("foo:level=3"), "available: lz4"));
  EXPECT_TRUE(contains(parse_error(""), "no compression algorithm given; available: lz4"));
  EXPECT_TRUE(contains(parse_error("   "), "no compression algorithm given"));
  EXPECT_TRUE(contains(parse_error(":3"), "unknown compression algorithm \"\""));
}

TEST(CodecSpecTest, LzoRleIsExplainedNotJustUnknown) {
  const std::string msg = parse_error("lzo-rle");
  EXPECT_TRUE(contains(msg, "kernel's own LZO variant")) << msg;
  EXPECT_TRUE(contains(msg, "use \"lzo\" (lzo1x-1)")) << msg;
}

TEST(CodecSpecTest, LevelOutOfRangeNamesTheRange) {
  EXPECT_EQ(parse_error("lz4hc:level=13"), "level 13 out of range for lz4hc (1-12)");
  EXPECT_EQ(parse_error("lz4hc:0"), "level 0 out of range for lz4hc (1-12)");
  EXPECT_EQ(parse_error("zstd:level=23"), "level 23 out of range for zstd (1-22)");
  EXPECT_EQ(parse_error("zstd:-1"), "level -1 out of range for zstd (1-22)");
  EXPECT_EQ(parse_error("deflate:level=10"), "level 10 out of range for deflate (1-9)");
  EXPECT_EQ(parse_error("deflate:0"), "level 0 out of range for deflate (1-9)");
}

TEST(CodecSpecTest, LevelThatIsNotANumber) {
  EXPECT_EQ(parse_error("zstd:level=abc"), "level \"abc\" of zstd is not a number; zstd takes level=1-22 and dict=FILE");
  EXPECT_TRUE(contains(parse_error("zstd:level="), "level \"\" of zstd is not a number"));
  EXPECT_TRUE(contains(parse_error("zstd:3x"), "level \"3x\" of zstd is not a number"));
  EXPECT_TRUE(contains(parse_error("zstd:+3"), "is not a number"));
  EXPECT_TRUE(contains(parse_error("zstd:99999999999999999999"), "is not a number"));
}

TEST(CodecSpecTest, CodecsWithoutLevelsRejectOne) {
  EXPECT_EQ(parse_error("lz4:level=1"), "lz4 takes no parameters");
  EXPECT_EQ(parse_error("lz4:1"), "lz4 takes no parameters");
  EXPECT_EQ(parse_error("lzo:level=1"), "lzo takes no parameters");
}

TEST(CodecSpecTest, UnknownKeyNamesWhatTheCodecTakes) {
  EXPECT_EQ(parse_error("zstd:foo=1"), "unknown parameter \"foo\" for zstd; zstd takes level=1-22 and dict=FILE");
  EXPECT_EQ(parse_error("lz4hc:accel=2"), "unknown parameter \"accel\" for lz4hc; lz4hc takes level=1-12");
  EXPECT_EQ(parse_error("lz4:accel=2"), "unknown parameter \"accel\" for lz4; lz4 takes no parameters");
}

TEST(CodecSpecTest, DictionaryOnlyForZstd) {
  EXPECT_EQ(parse_error("lz4hc:dict=/d"), "dict= is only for zstd; lz4hc takes level=1-12");
  EXPECT_EQ(parse_error("lz4:dict=/d"), "dict= is only for zstd; lz4 takes no parameters");
  EXPECT_EQ(parse_error("deflate:level=3,dict=/d"), "dict= is only for zstd; deflate takes level=1-9");
  EXPECT_EQ(parse_error("zstd:dict="), "dict= of zstd needs a file name");
}

TEST(CodecSpecTest, MalformedParameterLists) {
  EXPECT_TRUE(contains(parse_error("zstd:"), "nothing after ':' in \"zstd:\""));
  EXPECT_EQ(parse_error("zstd:level=3,"), "empty parameter in \"zstd:level=3,\"");
  EXPECT_EQ(parse_error("zstd:,level=3"), "empty parameter in \"zstd:,level=3\"");
  EXPECT_EQ(parse_error("zstd:level=1,level=2"), "level given twice in \"zstd:level=1,level=2\"");
  EXPECT_EQ(parse_error("zstd:1,level=2"), "level given twice in \"zstd:1,level=2\"");
  EXPECT_EQ(parse_error("zstd:dict=/a,dict=/b"), "dict given twice in \"zstd:dict=/a,dict=/b\"");
}

TEST(CodecSpecTest, FormatGivesTheCanonicalFormThatParsesBack) {
  EXPECT_EQ(format_codec_spec(CodecSpec{"lz4", 0, ""}), "lz4");
  EXPECT_EQ(format_codec_spec(CodecSpec{"lz4hc", 0, ""}), "lz4hc:level=9");
  EXPECT_EQ(format_codec_spec(CodecSpec{"zstd", 5, "/d"}), "zstd:level=5,dict=/d");
  for (const char* text : {"lz4", "lz4hc:3", "zstd", "zstd:19,dict=/x/y", "lzo", "deflate:level=2"}) {
    const CodecSpec spec = parse_ok(text);
    EXPECT_EQ(parse_ok(format_codec_spec(spec)), spec) << text;
  }
}

TEST(CodecSpecTest, MakeCodecDescribesItselfCanonically) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"lz4", "lz4"},
           {"lz4hc", "lz4hc:level=9"},
           {"zstd:7", "zstd:level=7"},
           {"lzo", "lzo"},
           {"deflate", "deflate:level=6"}}) {
    Result<std::unique_ptr<Codec>> codec = make_codec(text);
    ASSERT_TRUE(codec.has_value()) << text << ": " << codec.status().to_string();
    EXPECT_EQ((*codec)->description(), want);
  }
}

TEST(CodecSpecTest, MakeCodecChecksAHandBuiltSpec) {
  Result<std::unique_ptr<Codec>> deflate = make_codec(CodecSpec{"deflate", 0, ""});
  ASSERT_TRUE(deflate.has_value());
  EXPECT_EQ((*deflate)->spec().level, 6);

  Result<std::unique_ptr<Codec>> r = make_codec(CodecSpec{"brotli", 0, ""});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(contains(std::string(r.status().message()), "available: lz4"));

  r = make_codec(CodecSpec{"lz4", 3, ""});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().message(), "lz4 takes no parameters");

  r = make_codec(CodecSpec{"zstd", 40, ""});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().message(), "level 40 out of range for zstd (1-22)");

  r = make_codec(CodecSpec{"lzo", 0, "/d"});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
}

TEST(CodecSpecTest, MakeCodecPassesParseErrorsOn) {
  Result<std::unique_ptr<Codec>> r = make_codec("lz4hc:level=99");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().message(), "level 99 out of range for lz4hc (1-12)");
}

TEST(CodecSpecTest, MissingDictionaryIsNotFoundNamingThePath) {
  Result<std::unique_ptr<Codec>> r = make_codec("zstd:dict=/nonexistent/uzram.dict");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(r.status().message(), "zstd dictionary \"/nonexistent/uzram.dict\": no such file");
}

TEST(CodecSpecTest, UnusableDictionaryFilesAreInvalidArguments) {
  Result<std::unique_ptr<Codec>> r = make_codec("zstd:dict=/");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "zstd dictionary \"/\" is not a regular file");

  char path[] = "/tmp/uzram_codec_spec_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  r = make_codec(std::string("zstd:dict=") + path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), std::string("zstd dictionary \"") + path + "\" is empty");

  // A file that starts with the dictionary magic but holds no valid tables.
  {
    std::ofstream out(path, std::ios::binary);
    const unsigned char magic[] = {0x37, 0xA4, 0x30, 0xEC, 1, 2, 3, 4};
    out.write(reinterpret_cast<const char*>(magic), sizeof(magic));
    out << std::string(200, 'x');
  }
  r = make_codec(std::string("zstd:dict=") + path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), std::string("zstd dictionary \"") + path + "\" is not a usable dictionary");
  std::remove(path);
}

}  // namespace
}  // namespace uzram::codec
