#include "base/json_field.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lastcall {
namespace {

using nlohmann::json;
using Steady = std::chrono::steady_clock;

// The start of a body for an error message: at most 80 bytes, blanks and line breaks folded into
// one space, bytes outside printable ASCII shown as '?'.
std::string PreviewBody(std::string_view body) {
  constexpr size_t kMaxBytes = 80;
  std::string out;
  for (size_t i = 0; i < body.size() && i < kMaxBytes; ++i) {
    const auto byte = static_cast<unsigned char>(body[i]);
    if (byte == ' ' || byte == '\n' || byte == '\r' || byte == '\t') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += byte > 0x20 && byte < 0x7f ? body[i] : '?';
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (body.size() > kMaxBytes) out += "...";
  return out;
}

// RFC 6901 array indexes: "0" or digits without a leading zero. ("-", one past the end, never
// names an element.)
std::optional<size_t> ReadArrayIndex(const std::string& token) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  if (!std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return static_cast<size_t>(std::stoull(token));
}

// One streaming pass over the body that keeps only what the pointer names: a DOM of an
// attacker's multi-megabyte body would cost tens of bytes per value and its nesting a frame per
// level. Containers on the pointer's path are followed; everything else is only syntax-checked.
class PointerFinder final : public nlohmann::json_sax<json> {
 public:
  PointerFinder(const std::vector<std::string>& tokens, Steady::time_point deadline)
      : tokens_(tokens), deadline_(deadline) {}

  std::string parse_message;  // the parser's description of a syntax error
  bool too_deep = false;
  bool deadline_passed = false;
  bool found = false;            // the pointer names a value (the last one, for duplicates)
  std::optional<double> number;  // ... which is a number
  std::string_view found_type;   // ... or is of this type

  bool null() override { return Scalar("null"); }
  bool boolean(bool) override { return Scalar("a boolean"); }
  bool number_integer(number_integer_t v) override { return Scalar("", static_cast<double>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Scalar("", static_cast<double>(v)); }
  bool number_float(number_float_t v, const string_t&) override { return Scalar("", v); }
  bool string(string_t&) override { return Scalar("a string"); }
  bool binary(binary_t&) override { return Scalar("binary data"); }
  bool start_object(std::size_t) override { return Open(true, "an object"); }
  bool key(string_t& name) override {
    Frame& top = frames_.back();
    top.key_on_path =
        top.on_path && frames_.size() <= tokens_.size() && name == tokens_[frames_.size() - 1];
    return Tick();
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(false, "an array"); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& error) override {
    parse_message = error.what();
    // "[json.exception.parse_error.101] parse error at line 1, ..." -> "parse error at line 1, ..."
    const size_t tag_end = parse_message.find("] ");
    if (parse_message.starts_with("[json.exception.") && tag_end != std::string::npos) {
      parse_message.erase(0, tag_end + 2);
    }
    return false;
  }

 private:
  struct Frame {
    bool is_object = false;
    bool on_path = false;      // this container's path is a prefix of the pointer
    bool key_on_path = false;  // objects: the current member's key continues the path
    size_t next_index = 0;     // arrays: the index of the next element
  };

  // Where the value that starts now sits: on the pointer's path, and exactly at its end.
  struct Position {
    bool on_path;
    bool is_target;
  };
  Position Enter() {
    if (frames_.empty()) return {true, tokens_.empty()};
    Frame& top = frames_.back();
    const size_t depth = frames_.size();  // the value's depth; tokens_[depth - 1] names it
    bool on_path = false;
    if (top.is_object) {
      on_path = top.key_on_path;
    } else {
      on_path = top.on_path && depth <= tokens_.size() &&
                ReadArrayIndex(tokens_[depth - 1]) == top.next_index;
      ++top.next_index;
    }
    return {on_path, on_path && depth == tokens_.size()};
  }

  bool Scalar(std::string_view type, std::optional<double> value = std::nullopt) {
    if (Enter().is_target) Found(type, value);
    return Tick();
  }

  bool Open(bool is_object, std::string_view type) {
    const Position position = Enter();
    if (position.is_target) Found(type, std::nullopt);
    if (frames_.size() >= kMaxJsonDepth) {
      too_deep = true;
      return false;
    }
    frames_.push_back(Frame{is_object, position.on_path && !position.is_target, false, 0});
    return Tick();
  }

  bool Close() {
    frames_.pop_back();
    return Tick();
  }

  void Found(std::string_view type, std::optional<double> value) {
    found = true;
    found_type = type;
    number = value;
  }

  // Reading the clock costs ~20 ns; once every 4096 events keeps that invisible and still stops
  // well within a millisecond of the deadline.
  bool Tick() {
    if (++events_ % 4096 != 0 || Steady::now() < deadline_) return true;
    deadline_passed = true;
    return false;
  }

  const std::vector<std::string>& tokens_;
  const Steady::time_point deadline_;
  std::vector<Frame> frames_;  // at most kMaxJsonDepth
  size_t events_ = 0;
};

JsonNumber NotANumber(std::string error) {
  JsonNumber out;
  out.error = std::move(error);
  return out;
}

}  // namespace

std::optional<std::vector<std::string>> ParseJsonPointer(std::string_view pointer,
                                                         std::string* error) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer[0] != '/') {
    *error = "JSON pointer \"" + std::string(pointer) + "\" must be empty or start with '/'";
    return std::nullopt;
  }
  for (size_t i = 0; i < pointer.size(); ++i) {
    const char c = pointer[i];
    if (c == '/') {
      tokens.emplace_back();
    } else if (c != '~') {
      tokens.back() += c;
    } else if (i + 1 < pointer.size() && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
      tokens.back() += pointer[++i] == '0' ? '~' : '/';
    } else {
      *error = "JSON pointer \"" + std::string(pointer) + "\" has '~' not followed by 0 or 1";
      return std::nullopt;
    }
  }
  return tokens;
}

JsonNumber ReadJsonNumber(std::string_view body, std::string_view pointer,
                          std::chrono::steady_clock::time_point deadline) {
  std::string pointer_error;
  const std::optional<std::vector<std::string>> tokens = ParseJsonPointer(pointer, &pointer_error);
  if (!tokens) return NotANumber(pointer_error);
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return NotANumber("body is empty, not JSON");
  }
  PointerFinder finder(*tokens, deadline);
  if (!json::sax_parse(body.begin(), body.end(), &finder)) {
    if (finder.deadline_passed) {
      JsonNumber out = NotANumber("gave up reading the body: the poll's deadline passed");
      out.deadline_passed = true;
      return out;
    }
    if (finder.too_deep) {
      return NotANumber("body nests arrays and objects deeper than " +
                        std::to_string(kMaxJsonDepth) + " levels: " + PreviewBody(body));
    }
    const std::string message = finder.parse_message.empty() ? "parse error" : finder.parse_message;
    return NotANumber("body is not JSON: " + message + ": " + PreviewBody(body));
  }
  const std::string where = pointer.empty() ? "the document" : "field " + std::string(pointer);
  if (!finder.found) return NotANumber("no " + where + " in " + PreviewBody(body));
  if (!finder.number) {
    return NotANumber(where + " is " + std::string(finder.found_type) + ", not a number");
  }
  JsonNumber out;
  out.value = *finder.number;
  return out;
}

size_t JsonNestingDepth(std::string_view text, size_t limit) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace lastcall
