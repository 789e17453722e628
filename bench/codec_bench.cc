// codec_bench: the raw speed and ratio of each codec, one 4 KiB page at a
// time on one thread, as a store write or read runs them: the limit that
// uzram's own write and read speeds are measured against.
//
// Corpus: the file named by UZRAM_CORPUS (at most 256 MiB of it), else the
// executables of /usr/bin concatenated in memory, up to 32 MiB. Pages that
// are one repeated 8-byte word are left out: the store keeps those without
// compressing them (same-filled).
// Codecs: UZRAM_CODECS, specs separated by blanks, else a default list.
//
// Counters: bytes_per_second (of original data), items_per_second (pages),
// ratio = original bytes / stored bytes, where a page that does not shrink
// below 4 KiB counts as 4 KiB (the store keeps it raw), as zram's
// orig_data_size / compr_data_size.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "base/fd.h"
#include "codec/codec.h"
#include "uzram/page.h"

namespace uzram::codec {
namespace {

constexpr size_t kMaxCorpusFile = size_t{256} << 20;
constexpr size_t kMaxCorpusUsrBin = size_t{32} << 20;

struct Corpus {
  std::vector<std::byte> bytes;  // whole pages, none same-filled
  std::string source;
  size_t pages() const { return bytes.size() / kPageSize; }
  std::span<const std::byte> page(size_t i) const { return {bytes.data() + i * kPageSize, kPageSize}; }
};

// Appends up to `limit` bytes of the file at `path`; false when unreadable.
bool append_file(const std::string& path, size_t limit, std::vector<std::byte>* out) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  const size_t start = out->size();
  out->resize(start + limit);
  size_t done = 0;
  while (done < limit) {
    const ssize_t n = ::read(fd.get(), out->data() + start + done, limit - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  out->resize(start + done);
  return true;
}

bool same_filled(std::span<const std::byte> page) {
  uint64_t first;
  std::memcpy(&first, page.data(), sizeof(first));
  for (size_t i = sizeof(first); i < page.size(); i += sizeof(first)) {
    uint64_t w;
    std::memcpy(&w, page.data() + i, sizeof(w));
    if (w != first) return false;
  }
  return true;
}

Corpus load_corpus() {
  Corpus c;
  std::vector<std::byte> raw;
  if (const char* path = std::getenv("UZRAM_CORPUS"); path != nullptr && *path != '\0') {
    if (!append_file(path, kMaxCorpusFile, &raw)) {
      std::fprintf(stderr, "codec_bench: cannot read UZRAM_CORPUS=%s: %s\n", path, std::strerror(errno));
      std::exit(2);
    }
    c.source = path;
  } else {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/usr/bin", ec)) {
      if (entry.is_symlink(ec) || !entry.is_regular_file(ec)) continue;
      files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) {
      if (raw.size() >= kMaxCorpusUsrBin) break;
      append_file(f, kMaxCorpusUsrBin - raw.size(), &raw);
    }
    c.source = "/usr/bin executables";
  }
  const size_t pages = raw.size() / kPageSize;
  size_t skipped = 0;
  for (size_t i = 0; i < pages; ++i) {
    std::span<const std::byte> page(raw.data() + i * kPageSize, kPageSize);
    if (same_filled(page)) {
      ++skipped;
      continue;
    }
    c.bytes.insert(c.bytes.end(), page.begin(), page.end());
  }
  c.source += ", " + std::to_string(c.pages()) + " pages (" + std::to_string(skipped) +
              " same-filled left out)";
  return c;
}

// One codec's result over the whole corpus, made once and shared by its
// compress and decompress benchmarks.
struct Compressed {
  std::vector<std::byte> bytes;
  std::vector<size_t> offset;  // page i is bytes[offset[i], offset[i + 1])
  double ratio = 0;
};

std::unique_ptr<CodecContext> context_or_exit(const Codec& codec) {
  Result<std::unique_ptr<CodecContext>> ctx = codec.new_context();
  if (!ctx) {
    std::fprintf(stderr, "codec_bench: %s: %s\n", codec.description().c_str(), ctx.status().to_string().c_str());
    std::exit(2);
  }
  return std::move(*ctx);
}

Compressed compress_corpus(const Codec& codec, const Corpus& corpus) {
  std::unique_ptr<CodecContext> ctx = context_or_exit(codec);
  Compressed out;
  std::vector<std::byte> scratch(2 * kPageSize), check(kPageSize);
  size_t stored = 0;
  for (size_t i = 0; i < corpus.pages(); ++i) {
    const size_t n = ctx->compress(corpus.page(i), scratch);
    if (n == 0 || !ctx->decompress(std::span(scratch).first(n), check) ||
        !std::equal(check.begin(), check.end(), corpus.page(i).begin())) {
      std::fprintf(stderr, "codec_bench: %s: page %zu does not round-trip\n", codec.description().c_str(), i);
      std::exit(1);
    }
    out.offset.push_back(out.bytes.size());
    out.bytes.insert(out.bytes.end(), scratch.begin(), scratch.begin() + static_cast<ptrdiff_t>(n));
    stored += std::min(n, kPageSize);
  }
  out.offset.push_back(out.bytes.size());
  out.ratio = static_cast<double>(corpus.bytes.size()) / static_cast<double>(stored);
  return out;
}

void set_counters(benchmark::State& state, double ratio) {
  const auto pages = static_cast<int64_t>(state.iterations());
  state.SetItemsProcessed(pages);
  state.SetBytesProcessed(pages * static_cast<int64_t>(kPageSize));
  state.counters["ratio"] = ratio;
}

void bench_compress(benchmark::State& state, const Codec* codec, const Corpus* corpus, const Compressed* result) {
  std::unique_ptr<CodecContext> ctx = context_or_exit(*codec);
  std::vector<std::byte> scratch(2 * kPageSize);
  const size_t pages = corpus->pages();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ctx->compress(corpus->page(i), scratch));
    benchmark::ClobberMemory();
    if (++i == pages) i = 0;
  }
  set_counters(state, result->ratio);
}

void bench_decompress(benchmark::State& state, const Codec* codec, const Corpus* corpus, const Compressed* result) {
  std::unique_ptr<CodecContext> ctx = context_or_exit(*codec);
  std::vector<std::byte> page(kPageSize);
  const size_t pages = corpus->pages();
  size_t i = 0;
  for (auto _ : state) {
    std::span<const std::byte> src(result->bytes.data() + result->offset[i],
                                   result->offset[i + 1] - result->offset[i]);
    if (!ctx->decompress(src, page)) {
      state.SkipWithError("decompress failed");
      break;
    }
    benchmark::ClobberMemory();
    if (++i == pages) i = 0;
  }
  set_counters(state, result->ratio);
}

std::vector<std::string> codec_specs() {
  std::vector<std::string> specs;
  if (const char* env = std::getenv("UZRAM_CODECS"); env != nullptr && *env != '\0') {
    std::istringstream in(env);
    for (std::string s; in >> s;) specs.push_back(s);
    return specs;
  }
  return {"lz4", "lz4hc", "zstd:1", "zstd:3", "lzo", "deflate"};
}

}  // namespace
}  // namespace uzram::codec

int main(int argc, char** argv) {
  using namespace uzram::codec;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  static const Corpus corpus = load_corpus();
  if (corpus.pages() == 0) {
    std::fprintf(stderr, "codec_bench: the corpus holds no page to compress\n");
    return 2;
  }
  benchmark::AddCustomContext("corpus", corpus.source);

  // Codecs and their compressed corpora live until the end of main.
  static std::vector<std::unique_ptr<Codec>> codecs;
  static std::vector<std::unique_ptr<Compressed>> results;
  for (const std::string& spec : codec_specs()) {
    uzram::Result<std::unique_ptr<Codec>> codec = make_codec(spec);
    if (!codec) {
      std::fprintf(stderr, "codec_bench: %s\n", codec.status().to_string().c_str());
      return 2;
    }
    codecs.push_back(std::move(*codec));
    results.push_back(std::make_unique<Compressed>(compress_corpus(*codecs.back(), corpus)));
    const std::string name = codecs.back()->description();
    benchmark::RegisterBenchmark(("compress/" + name).c_str(), bench_compress, codecs.back().get(), &corpus,
                                 results.back().get());
    benchmark::RegisterBenchmark(("decompress/" + name).c_str(), bench_decompress, codecs.back().get(), &corpus,
                                 results.back().get());
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
