#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

// lastcall's one way to fail at run time, in the manner of leveldb's Status and absl's StatusOr.
//
// The convention (docs/architecture.md, "Errors"):
// - Start-up (flags, the config file, the token file) throws: ConfigError, caught once where the
//   subcommand loads its configuration, exit 2. Nothing at run time throws on purpose.
// - At run time a function that can fail returns a Status (nothing to return) or an Expected<T>
//   (a value or the Status saying why not). Both are [[nodiscard]]: a failure cannot be dropped
//   by accident; write `(void)Store()` where dropping it is the decision.
// - The message names what was wrong and where, as one phrase a person can act on: "<where>:
//   <what>" ("/run/lastcall-state/state.json: is owned by uid 0, not by lastcall's uid 1000").
//   Annotate() prefixes the where as the error travels up. Callers branch on code(), never on the
//   message's words: messages may be reworded.
// - OK costs one null pointer: a Status that is OK holds no string and allocates nothing.
//
// Older conventions remain in modules this change did not touch (a `std::string* error` out
// parameter, "" meaning OK, an error field inside a result struct); new code uses these types, and
// a module that is reworked moves to them.
namespace lastcall {

// What kind of failure: what a caller may branch on. Few on purpose; add one only when a caller
// must tell it apart from the others.
enum class StatusCode {
  kOk = 0,
  kNotFound,     // the thing asked for does not exist (no state file): often not an error at all
  kInvalid,      // the input is not what it must be (malformed, another version, out of range)
  kUntrusted,    // it exists but lastcall may not trust it (owner, mode, links, file type)
  kUnavailable,  // a system call failed (cannot open, read, write, rename): perhaps transient
  kInternal,     // lastcall broke its own contract (a bug)
};

std::string_view ToString(StatusCode code);

class [[nodiscard]] Status {
 public:
  // OK.
  Status() noexcept = default;
  // REQUIRES: code != kOk (an OK status has no message; use Status()).
  Status(StatusCode code, std::string message);

  static Status Ok() noexcept { return Status(); }
  static Status NotFound(std::string message) {
    return {StatusCode::kNotFound, std::move(message)};
  }
  static Status Invalid(std::string message) { return {StatusCode::kInvalid, std::move(message)}; }
  static Status Untrusted(std::string message) {
    return {StatusCode::kUntrusted, std::move(message)};
  }
  static Status Unavailable(std::string message) {
    return {StatusCode::kUnavailable, std::move(message)};
  }
  static Status Internal(std::string message) {
    return {StatusCode::kInternal, std::move(message)};
  }

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&& other) noexcept = default;
  Status& operator=(Status&& other) noexcept = default;
  ~Status() = default;

  bool ok() const noexcept { return rep_ == nullptr; }
  StatusCode code() const noexcept { return rep_ ? rep_->code : StatusCode::kOk; }
  // What was wrong and where; "" when OK.
  const std::string& message() const noexcept;
  // "OK", or the message (the code is for programs; people read the message).
  std::string ToString() const;

  // The same failure, its message prefixed with where it happened: "<where>: <message>". OK stays
  // OK.
  Status Annotate(std::string_view where) const&;
  Status Annotate(std::string_view where) &&;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }
  friend bool operator!=(const Status& a, const Status& b) { return !(a == b); }

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;  // null when OK
};

// A T, or the Status saying why there is none. Construct it from a T (success) or from a failed
// Status (failure). Reading value() of a failure is a bug (REQUIRES: ok()).
template <typename T>
class [[nodiscard]] Expected {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Expected<Status> means Status");

 public:
  // Implicit both ways, so a function returns `value` or `Status::Invalid(...)` as it is.
  // Success.
  Expected(const T& value) : value_(value) {}
  Expected(T&& value) : value_(std::move(value)) {}
  // Failure. REQUIRES: !status.ok(); an OK status here is a bug and reads as kInternal.
  Expected(Status status)
      : status_(status.ok() ? Status::Internal("Expected built from an OK status")
                            : std::move(status)) {}

  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  // OK when there is a value.
  const Status& status() const& noexcept { return status_; }
  Status status() && { return std::move(status_); }

  // REQUIRES: ok().
  const T& value() const& { return *value_; }
  T& value() & { return *value_; }
  T&& value() && { return std::move(*value_); }
  const T& operator*() const& { return *value_; }
  T& operator*() & { return *value_; }
  T&& operator*() && { return std::move(*value_); }
  const T* operator->() const { return &*value_; }
  T* operator->() { return &*value_; }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::optional<T> value_;
  Status status_;  // OK exactly when value_ holds a value
};

}  // namespace lastcall
