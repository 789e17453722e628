// A stand-in for libFuzzer's main() where the compiler has no
// -fsanitize=fuzzer (gcc): runs every seed file given (files or directories),
// then random mutations of them, until -runs=N inputs or -max_total_time=S
// seconds (whichever comes first). Deterministic (-seed=N, default 1), so a
// failure repeats. Other libFuzzer flags are accepted and ignored.
#include <dirent.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void add_file(const std::string& path, std::vector<std::string>* seeds) {
  std::ifstream f(path, std::ios::binary);
  seeds->emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void add_path(const std::string& path, std::vector<std::string>* seeds) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return;
  if (!S_ISDIR(st.st_mode)) return add_file(path, seeds);
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') add_file(path + "/" + e->d_name, seeds);
  }
  ::closedir(d);
}

std::string mutate(std::string s, std::mt19937_64& rng) {
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    const size_t at = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 6) {
      case 0:
        if (!s.empty()) s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
        break;
      case 1:
        if (!s.empty()) s[at] = static_cast<char>(rng());
        break;
      case 2: s.insert(at, 1, static_cast<char>(rng())); break;
      case 3:
        if (!s.empty()) s.erase(at, 1 + rng() % 8);
        break;
      case 4: {  // an interesting 32-bit value, big-endian
        static const uint32_t kValues[] = {0, 1, 0xffffffffu, 0x7fffffffu, 32u << 20, (32u << 20) + 1, 4096, 65537};
        const uint32_t v = kValues[rng() % 8];
        for (int k = 0; k < 4 && at + k < s.size(); ++k) s[at + k] = static_cast<char>(v >> (24 - 8 * k));
        break;
      }
      default:
        if (!s.empty()) s.resize(at);
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 100000, seconds = 20;
  unsigned long seed = 1;
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0) {
      runs = std::atol(a.c_str() + 6);
    } else if (a.rfind("-max_total_time=", 0) == 0) {
      seconds = std::atol(a.c_str() + 16);
    } else if (a.rfind("-seed=", 0) == 0) {
      seed = std::strtoul(a.c_str() + 6, nullptr, 10);
    } else if (a[0] != '-') {
      add_path(a, &seeds);
    }
  }
  if (seeds.empty()) seeds.emplace_back();
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  std::mt19937_64 rng(seed);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  long done = 0;
  for (; done < runs && std::chrono::steady_clock::now() < deadline; ++done) {
    const std::string input = mutate(seeds[rng() % seeds.size()], rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::printf("fuzz driver: %zu seeds, %ld mutated inputs, no failure\n", seeds.size(), done);
  return 0;
}
