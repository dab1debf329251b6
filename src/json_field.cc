#include "json_field.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace lastcall {
namespace {

using nlohmann::json;

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

// json::parse without exceptions says only "discarded"; a SAX pass over the same text gets the
// parser's own description of the first error, still without throwing.
class ParseErrorCatcher final : public nlohmann::json_sax<json> {
 public:
  std::string message;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& error) override {
    message = error.what();
    // "[json.exception.parse_error.101] parse error at line 1, ..." -> "parse error at line 1, ..."
    const size_t tag_end = message.find("] ");
    if (message.starts_with("[json.exception.") && tag_end != std::string::npos) {
      message.erase(0, tag_end + 2);
    }
    return false;
  }
};

std::string DescribeParseError(std::string_view body) {
  ParseErrorCatcher catcher;
  json::sax_parse(body.begin(), body.end(), &catcher);
  return catcher.message.empty() ? "parse error" : catcher.message;
}

std::string_view TypeName(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    default:
      return "not a number";
  }
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

// The value the tokens lead to, or nullptr.
const json* Resolve(const json& document, const std::vector<std::string>& tokens) {
  const json* current = &document;
  for (const std::string& token : tokens) {
    if (current->is_object()) {
      auto it = current->find(token);
      if (it == current->end()) return nullptr;
      current = &*it;
    } else if (current->is_array()) {
      const std::optional<size_t> index = ReadArrayIndex(token);
      if (!index || *index >= current->size()) return nullptr;
      current = &(*current)[*index];
    } else {
      return nullptr;
    }
  }
  return current;
}

JsonNumber Fail(std::string error) {
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

JsonNumber ReadJsonNumber(std::string_view body, std::string_view pointer) {
  std::string pointer_error;
  const std::optional<std::vector<std::string>> tokens = ParseJsonPointer(pointer, &pointer_error);
  if (!tokens) return Fail(pointer_error);
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Fail("body is empty, not JSON");
  }
  const json document = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return Fail("body is not JSON: " + DescribeParseError(body) + ": " + PreviewBody(body));
  }
  const std::string where = pointer.empty() ? "the document" : "field " + std::string(pointer);
  const json* value = Resolve(document, *tokens);
  if (value == nullptr) return Fail("no " + where + " in " + PreviewBody(body));
  if (!value->is_number()) {
    return Fail(where + " is " + std::string(TypeName(*value)) + ", not a number");
  }
  JsonNumber out;
  out.value = value->get<double>();
  return out;
}

}  // namespace lastcall
