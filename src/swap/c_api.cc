// The C API: include/uzram/uzram.h over SwapSpace. No exception crosses it
// (the SwapSpace API is noexcept; the string work here is guarded).
#include "uzram/uzram.h"

#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "uzram/swap_space.h"

struct uzram_space {
  std::unique_ptr<uzram::SwapSpace> space;
};

namespace {

void put_error(char* err, size_t errlen, const std::string& msg) {
  if (err == nullptr || errlen == 0) return;
  size_t n = msg.size() < errlen - 1 ? msg.size() : errlen - 1;
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}

int errno_of(const uzram::Status& st) {
  int e = st.error_number();
  return e != 0 ? e : EIO;
}

}  // namespace

extern "C" uzram_space* uzram_space_open(const char* options, char* err, size_t errlen) {
  try {
    uzram::Result<uzram::SwapOptions> opts = uzram::SwapOptions::parse(options ? options : "");
    if (!opts) {
      put_error(err, errlen, opts.status().to_string());
      errno = EINVAL;
      return nullptr;
    }
    uzram::Result<std::unique_ptr<uzram::SwapSpace>> space = uzram::SwapSpace::open(*opts);
    if (!space) {
      put_error(err, errlen, space.status().to_string());
      errno = errno_of(space.status());
      return nullptr;
    }
    auto* s = new uzram_space;
    s->space = std::move(*space);
    put_error(err, errlen, "");
    return s;
  } catch (const std::bad_alloc&) {
    put_error(err, errlen, "out of memory");
    errno = ENOMEM;
  } catch (const std::exception& e) {
    put_error(err, errlen, e.what());
    errno = EIO;
  }
  return nullptr;
}

extern "C" void* uzram_map(uzram_space* s, size_t bytes) {
  if (s == nullptr) {
    errno = EINVAL;
    return nullptr;
  }
  uzram::Result<void*> p = s->space->map(bytes);
  if (!p) {
    errno = errno_of(p.status());
    return nullptr;
  }
  return *p;
}

extern "C" int uzram_unmap(uzram_space* s, void* addr, size_t bytes) {
  if (s == nullptr) {
    errno = EINVAL;
    return -1;
  }
  uzram::Status st = s->space->unmap(addr, bytes);
  if (!st.is_ok()) {
    errno = errno_of(st);
    return -1;
  }
  return 0;
}

extern "C" int uzram_stats_json(uzram_space* s, char* buf, size_t len) {
  if (s == nullptr || buf == nullptr) {
    errno = EINVAL;
    return -1;
  }
  try {
    std::string json = uzram::to_json(s->space->stats());
    if (json.size() + 1 > len || json.size() > static_cast<size_t>(INT32_MAX)) {
      errno = ERANGE;
      return -1;
    }
    std::memcpy(buf, json.c_str(), json.size() + 1);
    return static_cast<int>(json.size());
  } catch (const std::exception&) {
    errno = ENOMEM;
    return -1;
  }
}

extern "C" void uzram_space_close(uzram_space* s) { delete s; }
