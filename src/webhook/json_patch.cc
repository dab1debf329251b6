#include "json_patch.h"

#include <algorithm>
#include <cstddef>
#include <string>

namespace lastcall {

namespace {

using Json = nlohmann::json;

void Diff(const std::string& path, const Json& before, const Json& after, Json* ops) {
  if (before == after) return;
  if (before.is_object() && after.is_object()) {
    for (const auto& [key, value] : before.items()) {
      if (!after.contains(key)) {
        ops->push_back({{"op", "remove"}, {"path", path + "/" + JsonPointerToken(key)}});
      }
    }
    for (const auto& [key, value] : after.items()) {
      const std::string child = path + "/" + JsonPointerToken(key);
      const auto found = before.find(key);
      if (found == before.end()) {
        ops->push_back({{"op", "add"}, {"path", child}, {"value", value}});
      } else {
        Diff(child, *found, value, ops);
      }
    }
    return;
  }
  if (before.is_array() && after.is_array()) {
    const size_t old_size = before.size();
    const size_t new_size = after.size();
    size_t head = 0;
    while (head < old_size && head < new_size && before[head] == after[head]) ++head;
    size_t tail = 0;
    while (tail < old_size - head && tail < new_size - head &&
           before[old_size - 1 - tail] == after[new_size - 1 - tail]) {
      ++tail;
    }
    const size_t old_middle = old_size - head - tail;
    const size_t new_middle = new_size - head - tail;
    const auto at = [&path](size_t index) { return path + "/" + std::to_string(index); };
    const size_t common = std::min(old_middle, new_middle);
    for (size_t i = 0; i < common; ++i) Diff(at(head + i), before[head + i], after[head + i], ops);
    for (size_t i = common; i < new_middle; ++i) {
      ops->push_back({{"op", "add"}, {"path", at(head + i)}, {"value", after[head + i]}});
    }
    // Each removal shifts the next one into the same index.
    for (size_t i = common; i < old_middle; ++i) {
      ops->push_back({{"op", "remove"}, {"path", at(head + common)}});
    }
    return;
  }
  ops->push_back({{"op", "replace"}, {"path", path}, {"value", after}});
}

}  // namespace

std::string JsonPointerToken(std::string_view key) {
  std::string token;
  token.reserve(key.size());
  for (const char c : key) {
    if (c == '~') {
      token += "~0";
    } else if (c == '/') {
      token += "~1";
    } else {
      token += c;
    }
  }
  return token;
}

nlohmann::json JsonPatchDiff(const nlohmann::json& before, const nlohmann::json& after) {
  Json ops = Json::array();
  Diff("", before, after, &ops);
  return ops;
}

std::string Base64Encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  const auto byte = [&bytes](size_t index) {
    return static_cast<unsigned>(static_cast<unsigned char>(bytes[index]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const unsigned group = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += kAlphabet[group >> 18 & 63];
    out += kAlphabet[group >> 12 & 63];
    out += kAlphabet[group >> 6 & 63];
    out += kAlphabet[group & 63];
  }
  if (const size_t rest = bytes.size() - i; rest > 0) {
    const unsigned group = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0U);
    out += kAlphabet[group >> 18 & 63];
    out += kAlphabet[group >> 12 & 63];
    out += rest == 2 ? kAlphabet[group >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace lastcall
