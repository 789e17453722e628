// File: include/uzram/status.h
//
// Status and Result<T>: errors as values, for every layer of uzram.
//
// A Status is either OK or carries a Code, the errno that caused it (0 when
// none) and a short human-readable message. OK holds no allocation, so
// returning Status::ok() from a hot path costs one pointer. Result<T> holds
// either a T or a non-OK Status; it is shaped like absl::StatusOr and C++23
// std::expected so that it can become an alias of the latter later.
//
// Thread safety: a Status or Result is a value; distinct objects may be used
// from distinct threads, one object is not to be mutated concurrently.
//
// Expected outcomes are not errors: a full pool on the fast path, an
// incompressible page, or "would block" on a try_ call return an empty
// handle, a bool or a small enum, not a Status.
#pragma once

#include <cassert>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace uzram {

class [[nodiscard]] Status {
 public:
  enum class Code : uint8_t {
    kOk = 0,
    kInvalidArgument,  // bad size, bad name, bad option: the caller's mistake
    kOutOfRange,       // index or offset beyond the end
    kNotFound,         // nothing stored where asked, or no such file
    kNoSpace,          // a limit was reached (mem_limit, pool arena, backing file)
    kIoError,          // the OS reported an I/O error (EIO, short write, ...)
    kCorrupt,          // stored bytes failed to decompress
    kUnsupported,      // the kernel or build lacks the feature
    kBusy,             // the resource is in use by someone else
    kWouldBlock,       // a non-blocking call could not proceed now
    kInternal,         // an unexpected OS failure
  };

  Status() noexcept = default;  // OK
  static Status ok() noexcept { return Status(); }

  static Status invalid_argument(std::string_view msg) { return Status(Code::kInvalidArgument, 0, msg); }
  static Status out_of_range(std::string_view msg) { return Status(Code::kOutOfRange, 0, msg); }
  static Status not_found(std::string_view msg) { return Status(Code::kNotFound, 0, msg); }
  static Status no_space(std::string_view msg) { return Status(Code::kNoSpace, 0, msg); }
  static Status io_error(std::string_view msg, int err = 0) { return Status(Code::kIoError, err, msg); }
  static Status corrupt(std::string_view msg) { return Status(Code::kCorrupt, 0, msg); }
  static Status unsupported(std::string_view msg) { return Status(Code::kUnsupported, 0, msg); }
  static Status busy(std::string_view msg) { return Status(Code::kBusy, 0, msg); }
  static Status would_block(std::string_view msg) { return Status(Code::kWouldBlock, 0, msg); }
  static Status internal(std::string_view msg, int err = 0) { return Status(Code::kInternal, err, msg); }

  // Maps an errno to the nearest Code (ENOSPC -> kNoSpace, EIO -> kIoError,
  // EINVAL -> kInvalidArgument, ENOENT -> kNotFound, EBUSY -> kBusy, EAGAIN ->
  // kWouldBlock, ENOSYS/EOPNOTSUPP -> kUnsupported, else kInternal) and keeps
  // the errno so that a front end can hand it back (NBD error codes).
  static Status from_errno(int err, std::string_view context);

  Status(Code code, int err, std::string_view msg);
  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  bool is_ok() const noexcept { return rep_ == nullptr; }
  explicit operator bool() const noexcept { return is_ok(); }
  Code code() const noexcept { return rep_ ? rep_->code : Code::kOk; }
  // The errno behind this status, or an errno that matches its code
  // (ENOSPC for kNoSpace, EINVAL for kInvalidArgument, ...); 0 when OK.
  int error_number() const noexcept;
  std::string_view message() const noexcept { return rep_ ? std::string_view(rep_->msg) : std::string_view(); }
  // "no space: mem_limit of 64 MiB reached" ; "OK" when OK.
  std::string to_string() const;

  // Returns a copy whose message is "context: message".
  Status with_context(std::string_view context) const;

 private:
  struct Rep {
    Code code;
    int err;
    std::string msg;
  };
  std::unique_ptr<Rep> rep_;  // nullptr means OK
};

std::string_view code_name(Status::Code code) noexcept;

// Result<T>: a T, or why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(v_).is_ok() && "Result built from an OK Status holds no value");
  }

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // OK when a value is held.
  Status status() const { return has_value() ? Status() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace uzram

// Returns early from the enclosing function with the status when it is not OK.
#define UZRAM_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::uzram::Status uzram_status_ = (expr);          \
    if (!uzram_status_.is_ok()) return uzram_status_; \
  } while (0)
