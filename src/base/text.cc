#include "base/text.h"

#include <fmt/format.h>

#include <algorithm>

namespace lastcall {
std::optional<std::pair<char32_t, size_t>> DecodeUtf8(std::string_view text) {
  const auto at = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = at(0);
  if (lead < 0x80) return std::make_pair(static_cast<char32_t>(lead), size_t{1});
  size_t length = 0;
  char32_t code = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    code = lead & 0x1fU;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    code = lead & 0x0fU;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    code = lead & 0x07U;
  } else {
    return std::nullopt;
  }
  if (text.size() < length) return std::nullopt;
  for (size_t i = 1; i < length; ++i) {
    if ((at(i) & 0xc0U) != 0x80U) return std::nullopt;
    code = (code << 6) | (at(i) & 0x3fU);
  }
  const char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
    return std::nullopt;
  }
  return std::make_pair(code, length);
}

std::optional<TextFlaw> FindTextFlaw(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto decoded = DecodeUtf8(text.substr(i));
    if (!decoded) return TextFlaw{i, 1, true};
    const char32_t code = decoded->first;
    if ((code < 0x20 && code != '\t' && code != '\n' && code != '\r') || code == 0x7f ||
        (code >= 0x80 && code <= 0x9f && code != 0x85)) {
      return TextFlaw{i, decoded->second, false};
    }
    i += decoded->second;
  }
  return std::nullopt;
}

std::string DescribeTextFlaw(std::string_view text) {
  const std::optional<TextFlaw> flaw = FindTextFlaw(text);
  if (!flaw) return "";
  return (flaw->not_utf8 ? "a byte that is not UTF-8 " : "a control character ") +
         Quote(text.substr(flaw->offset, flaw->length)) + " at byte " +
         std::to_string(flaw->offset + 1);
}

namespace {

// The length of the valid UTF-8 sequence that starts `text` (2 to 4 bytes; overlong forms,
// surrogates, code points past U+10FFFF and the C1 controls U+0080-U+009F excluded), or 0.
size_t Utf8SequenceLength(std::string_view text) {
  const auto decoded = DecodeUtf8(text);
  if (!decoded || decoded->second < 2 || decoded->first <= 0x9f) return 0;
  return decoded->second;
}

// Appends `text` with control bytes, DEL and bytes that are not part of valid UTF-8 (with
// `escape_non_ascii`, every byte from 0x80 up) as \xNN, and \n \r \t spelled out. With `quoted`,
// `"` and `\` are backslash-escaped too (the text goes between double quotes).
void AppendEscaped(std::string* out, std::string_view text, bool escape_non_ascii,
                   bool quoted = true) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (quoted && (c == '"' || c == '\\')) {
      *out += '\\';
      *out += c;
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '\r') {
      *out += "\\r";
    } else if (c == '\t') {
      *out += "\\t";
    } else if (byte >= 0x20 && byte < 0x7f) {
      *out += c;
    } else if (const size_t length = escape_non_ascii ? 0 : Utf8SequenceLength(text.substr(i));
               length > 0) {
      out->append(text.substr(i, length));
      i += length - 1;
    } else if (const auto c1 =
                   escape_non_ascii || byte != 0xc2 ? std::nullopt : DecodeUtf8(text.substr(i));
               c1 && c1->second == 2) {
      // A C1 control: in YAML and JSON-ish escapes \xNN names the code point, not a byte, so
      // one escape for both bytes reads back as the same character.
      const auto code = static_cast<unsigned>(c1->first);
      *out += "\\x";
      *out += kHex[code >> 4];
      *out += kHex[code & 0xf];
      ++i;
    } else {
      *out += "\\x";
      *out += kHex[byte >> 4];
      *out += kHex[byte & 0xf];
    }
  }
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("lb_dealy").
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string Quote(std::string_view text) {
  std::string out = "\"";
  AppendEscaped(&out, text, /*escape_non_ascii=*/false);
  out += '"';
  return out;
}

std::string EscapeForDisplay(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendEscaped(&out, text, /*escape_non_ascii=*/false, /*quoted=*/false);
  return out;
}

std::string QuoteSnippet(std::string_view text, size_t max_bytes) {
  const bool cut = text.size() > max_bytes;
  if (cut) text = text.substr(0, max_bytes);
  std::string out;
  out.reserve(text.size() + 8);
  out += '"';
  AppendEscaped(&out, text, /*escape_non_ascii=*/true);
  out += '"';
  if (cut) out += "...";
  return out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i != 0) out += separator;
    out += parts[i];
  }
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

std::string_view TrimSpace(std::string_view text) {
  while (!text.empty() && IsBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsBlank(text.back())) text.remove_suffix(1);
  return text;
}

std::vector<std::string> SplitAndTrim(std::string_view text, char separator) {
  std::vector<std::string> parts;
  if (Trim(text).empty()) return parts;
  while (true) {
    size_t at = text.find(separator);
    parts.emplace_back(Trim(text.substr(0, at)));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return parts;
}

char ToLowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ToLowerAscii(c);
  return out;
}

std::string ToUpperAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ToLowerAscii(x) == ToLowerAscii(y);
         });
}

std::string FoldName(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c != '_' && c != '-') out += ToLowerAscii(c);
  }
  return out;
}

std::optional<std::string> SuggestClosest(std::string_view name,
                                          const std::vector<std::string>& candidates,
                                          std::string_view strip_prefix) {
  std::string folded = FoldName(name.substr(std::min(strip_prefix.size(), name.size())));
  constexpr size_t kMaxGuessable = 64;  // longer is no typo, and the distance table grows as n*m
  if (folded.size() > kMaxGuessable) return std::nullopt;
  std::optional<std::string> best;
  size_t best_distance = std::max<size_t>(1, folded.size() / 3) + 1;
  for (const std::string& candidate : candidates) {
    std::string_view tail = candidate;
    tail.remove_prefix(std::min(strip_prefix.size(), tail.size()));
    size_t distance = EditDistance(folded, FoldName(tail));
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

UtcFields SplitUtc(std::chrono::system_clock::time_point at) {
  const auto micros = std::chrono::floor<std::chrono::microseconds>(at);
  const std::chrono::sys_days day = std::chrono::floor<std::chrono::days>(micros);
  const std::chrono::year_month_day date(day);
  const long long in_day = (micros - day).count();
  UtcFields fields;
  fields.year = static_cast<int>(date.year());
  fields.month = static_cast<unsigned>(date.month());
  fields.day = static_cast<unsigned>(date.day());
  fields.hour = static_cast<int>(in_day / 3'600'000'000);
  fields.minute = static_cast<int>(in_day / 60'000'000 % 60);
  fields.second = static_cast<int>(in_day / 1'000'000 % 60);
  fields.microsecond = static_cast<int>(in_day % 1'000'000);
  return fields;
}

std::string FormatUtcTimestamp(std::chrono::system_clock::time_point at) {
  const UtcFields utc = SplitUtc(at);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", utc.year, utc.month,
                     utc.day, utc.hour, utc.minute, utc.second, utc.microsecond / 1000);
}

}  // namespace lastcall
