// Status: errno mapping and formatting. See include/uzram/status.h.
#include "uzram/status.h"

#include <cerrno>
#include <cstring>

namespace uzram {

Status::Status(Code code, int err, std::string_view msg)
    : rep_(code == Code::kOk ? nullptr : new Rep{code, err, std::string(msg)}) {}

Status::Status(const Status& other) : rep_(other.rep_ ? new Rep(*other.rep_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) rep_.reset(other.rep_ ? new Rep(*other.rep_) : nullptr);
  return *this;
}

Status Status::from_errno(int err, std::string_view context) {
  Code code;
  switch (err) {
    case ENOSPC:
    case ENOMEM:
    case EDQUOT:
    case EFBIG:
      code = Code::kNoSpace;
      break;
    case EIO:
      code = Code::kIoError;
      break;
    case EINVAL:
      code = Code::kInvalidArgument;
      break;
    case ENOENT:
      code = Code::kNotFound;
      break;
    case EBUSY:
      code = Code::kBusy;
      break;
    case EAGAIN:
      code = Code::kWouldBlock;
      break;
    case ENOSYS:
    case EOPNOTSUPP:
      code = Code::kUnsupported;
      break;
    default:
      code = Code::kInternal;
  }
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  return Status(code, err, msg);
}

int Status::error_number() const noexcept {
  if (!rep_) return 0;
  if (rep_->err != 0) return rep_->err;
  switch (rep_->code) {
    case Code::kOk: return 0;
    case Code::kInvalidArgument: return EINVAL;
    case Code::kOutOfRange: return EINVAL;
    case Code::kNotFound: return ENOENT;
    case Code::kNoSpace: return ENOSPC;
    case Code::kIoError: return EIO;
    case Code::kCorrupt: return EIO;
    case Code::kUnsupported: return EOPNOTSUPP;
    case Code::kBusy: return EBUSY;
    case Code::kWouldBlock: return EAGAIN;
    case Code::kInternal: return EIO;
  }
  return EIO;
}

std::string_view code_name(Status::Code code) noexcept {
  switch (code) {
    case Status::Code::kOk: return "OK";
    case Status::Code::kInvalidArgument: return "invalid argument";
    case Status::Code::kOutOfRange: return "out of range";
    case Status::Code::kNotFound: return "not found";
    case Status::Code::kNoSpace: return "no space";
    case Status::Code::kIoError: return "I/O error";
    case Status::Code::kCorrupt: return "corrupt data";
    case Status::Code::kUnsupported: return "unsupported";
    case Status::Code::kBusy: return "busy";
    case Status::Code::kWouldBlock: return "would block";
    case Status::Code::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (!rep_) return "OK";
  std::string s(code_name(rep_->code));
  if (!rep_->msg.empty()) {
    s += ": ";
    s += rep_->msg;
  }
  return s;
}

Status Status::with_context(std::string_view context) const {
  if (!rep_) return Status();
  std::string msg(context);
  msg += ": ";
  msg += rep_->msg;
  return Status(rep_->code, rep_->err, msg);
}

}  // namespace uzram
