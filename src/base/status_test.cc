#include "base/status.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

namespace lastcall {
namespace {

Expected<int> Half(int n) {
  if (n % 2 != 0) return Status::Invalid("odd number " + std::to_string(n));
  return n / 2;
}

Status Check(bool good) { return good ? Status() : Status::Unavailable("cannot read: EIO"); }

TEST_CASE("an OK status is the default, holds no message and compares equal to any OK") {
  const Status ok;
  CHECK(ok.ok());
  CHECK(ok.code() == StatusCode::kOk);
  CHECK(ok.message().empty());
  CHECK(ok.ToString() == "OK");
  CHECK(ok == Status::Ok());
  CHECK(Check(true).ok());
  // Cheap on the OK path: no more than the one pointer.
  CHECK(sizeof(Status) == sizeof(void*));
}

TEST_CASE("a failure keeps its code and its message; Annotate says where") {
  const Status failed = Check(false);
  CHECK_FALSE(failed.ok());
  CHECK(failed.code() == StatusCode::kUnavailable);
  CHECK(failed.message() == "cannot read: EIO");
  CHECK(failed.ToString() == "cannot read: EIO");
  const Status where = failed.Annotate("/run/state.json");
  CHECK(where.message() == "/run/state.json: cannot read: EIO");
  CHECK(where.code() == StatusCode::kUnavailable);
  CHECK(failed.message() == "cannot read: EIO");  // the lvalue overload copies
  CHECK(Status().Annotate("anywhere").ok());
  CHECK(Status::NotFound("x").Annotate("").message() == "x");
  CHECK(failed != where);
  CHECK(failed == Status::Unavailable("cannot read: EIO"));
  CHECK(failed != Status::Invalid("cannot read: EIO"));
}

TEST_CASE("copies are deep, moves leave the source OK") {
  Status original = Status::Untrusted("is owned by uid 0");
  Status copy = original;
  copy = std::move(copy).Annotate("dir");
  CHECK(original.message() == "is owned by uid 0");
  CHECK(copy.message() == "dir: is owned by uid 0");
  Status assigned;
  assigned = original;
  CHECK(assigned == original);
  const Status& same = assigned;
  assigned = same;  // self-assignment keeps it
  CHECK(assigned == original);
  Status moved = std::move(original);
  CHECK(moved.code() == StatusCode::kUntrusted);
}

TEST_CASE("a failure built with the OK code stays a failure") {
  const Status odd(StatusCode::kOk, "oops");
  CHECK_FALSE(odd.ok());
  CHECK(odd.code() == StatusCode::kInternal);
  CHECK(odd.message().find("oops") != std::string::npos);
}

TEST_CASE("Expected holds a value or the status saying why not") {
  const Expected<int> two = Half(4);
  REQUIRE(two.ok());
  CHECK(static_cast<bool>(two));
  CHECK(two.status().ok());
  CHECK(*two == 2);
  CHECK(two.value() == 2);
  CHECK(two.value_or(-1) == 2);

  const Expected<int> odd = Half(3);
  CHECK_FALSE(odd.ok());
  CHECK(odd.status().code() == StatusCode::kInvalid);
  CHECK(odd.status().message() == "odd number 3");
  CHECK(odd.value_or(-1) == -1);

  // An OK status is no failure to carry: it reads as a bug, never as a value.
  const Expected<std::string> confused = Status();
  CHECK_FALSE(confused.ok());
  CHECK(confused.status().code() == StatusCode::kInternal);
}

TEST_CASE("Expected moves its value and its status out") {
  Expected<std::unique_ptr<int>> owned = std::make_unique<int>(7);
  REQUIRE(owned.ok());
  std::unique_ptr<int> taken = std::move(owned).value();
  CHECK(*taken == 7);
  Expected<std::vector<int>> list = std::vector<int>{1, 2};
  CHECK(list->size() == 2);
  Expected<std::string> failed = Status::NotFound("no file");
  const Status why = std::move(failed).status();
  CHECK(why.code() == StatusCode::kNotFound);
  CHECK(ToString(why.code()) == "not found");
}

}  // namespace
}  // namespace lastcall
