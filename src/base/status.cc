#include "base/status.h"

namespace lastcall {

std::string_view ToString(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kNotFound:
      return "not found";
    case StatusCode::kInvalid:
      return "invalid";
    case StatusCode::kUntrusted:
      return "untrusted";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

Status::Status(StatusCode code, std::string message)
    // An OK code with a message would be a failure that says it is none: keep it a failure, and
    // say whose bug it is.
    : rep_(std::make_unique<Rep>(Rep{code == StatusCode::kOk ? StatusCode::kInternal : code,
                                     code == StatusCode::kOk
                                         ? "a failure built with the OK code: " + message
                                         : std::move(message)})) {}

Status::Status(const Status& other)
    : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
  return *this;
}

const std::string& Status::message() const noexcept {
  static const std::string kNone;
  return rep_ ? rep_->message : kNone;
}

std::string Status::ToString() const { return rep_ ? rep_->message : "OK"; }

Status Status::Annotate(std::string_view where) const& { return Status(*this).Annotate(where); }

Status Status::Annotate(std::string_view where) && {
  if (rep_ && !where.empty()) rep_->message = std::string(where) + ": " + rep_->message;
  return std::move(*this);
}

}  // namespace lastcall
