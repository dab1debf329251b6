#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Text helpers every module shares: quoting for messages, trimming, ASCII case, "did you mean",
// UTC timestamps. All pure.
namespace lastcall {

// `text` in double quotes, as a YAML double-quoted scalar (also valid JSON for printable ASCII):
// `"` and `\` backslash-escaped, \n \r \t spelled out, other C0 controls, DEL and the C1
// controls U+0080-U+009F as \xNN (NN their code point, one escape for the two bytes of a C1), and
// bytes that are not valid UTF-8 as \xNN each; other valid UTF-8 is kept (it stays readable).
// For text without a TextFlaw (below), a YAML reader reads the result back as `text` exactly;
// that is what `lastcall check` relies on. What config messages show as (got "...").
std::string Quote(std::string_view text);

// A one-line message made safe for a terminal or a log: like Quote's escaping but without the
// quotes and without escaping `"` and `\` (a message may hold quoted text already).
std::string EscapeForDisplay(std::string_view text);

// Error messages about an app's answers quote part of that answer. The answer is untrusted: it may
// be huge, binary, or carry terminal escapes, so it is cut and escaped before it reaches a log.
// Returns `text` in double quotes, cut to its first `max_bytes` bytes (then followed by "..."),
// with `"` and `\` backslash-escaped, \n \r \t spelled out and every other byte outside printable
// ASCII written as \xNN.
std::string QuoteSnippet(std::string_view text, size_t max_bytes = 80);

// The parts with `separator` between them.
std::string Join(const std::vector<std::string>& parts, std::string_view separator);

// The code point of the UTF-8 sequence that starts `text` and the sequence's length in bytes (1
// for ASCII); nullopt when the bytes there are not UTF-8 (a stray continuation byte, a cut-off
// sequence, an overlong form, a surrogate, past U+10FFFF). REQUIRES: `text` is not empty.
std::optional<std::pair<char32_t, size_t>> DecodeUtf8(std::string_view text);

// What YAML text may not hold, and so no configuration value may hold, from a file, a flag or the
// environment: bytes that are not UTF-8 (a YAML stream is Unicode), C0 controls but tab, line
// feed and carriage return, DEL, and C1 controls but NEL (U+0085).
struct TextFlaw {
  size_t offset = 0;  // in bytes
  size_t length = 1;  // the bytes of the character (1 for a byte that is not UTF-8)
  bool not_utf8 = false;
};
std::optional<TextFlaw> FindTextFlaw(std::string_view text);
// "" when `text` has no TextFlaw, else the first one for a message: `a byte that is not UTF-8
// "\xff" at byte 4` or `a control character "\x1b" at byte 4` (bytes counted from 1).
std::string DescribeTextFlaw(std::string_view text);

// Character classes the parsers share (ASCII only, whatever the locale).
inline bool IsBlank(char c) { return c == ' ' || c == '\t'; }
inline bool IsSpace(char c) { return IsBlank(c) || c == '\n' || c == '\r'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Without leading and trailing spaces, tabs, CR and LF.
std::string_view Trim(std::string_view text);
// Without leading and trailing spaces and tabs only (HTTP's optional whitespace).
std::string_view TrimSpace(std::string_view text);

// Splits on `separator`, trimming each part (Trim). An empty or blank text is an empty list.
std::vector<std::string> SplitAndTrim(std::string_view text, char separator);

// ASCII case mapping; other bytes are kept, so UTF-8 passes through.
char ToLowerAscii(char c);
std::string ToLowerAscii(std::string_view text);
std::string ToUpperAscii(std::string_view text);
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Case, "_" and "-" do not matter when guessing what was meant: lbDelay, lb-delay -> lbdelay.
std::string FoldName(std::string_view name);

// The candidate closest to `name`, when it is close enough to be a plausible typo (case, "-" and
// "_" are ignored, transposed letters count once). `strip_prefix` is ignored at the start of the
// name and of each candidate ("LASTCALL_"). For "did you mean ...?" messages.
std::optional<std::string> SuggestClosest(std::string_view name,
                                          const std::vector<std::string>& candidates,
                                          std::string_view strip_prefix = "");

// A time's UTC calendar fields, from <chrono>'s civil calendar: not gmtime_r, which would link
// the C library's time zone code (tzset, and sscanf with it) into every pod for a UTC date.
struct UtcFields {
  int year = 1970;
  unsigned month = 1;  // 1..12
  unsigned day = 1;    // 1..31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int microsecond = 0;
};
UtcFields SplitUtc(std::chrono::system_clock::time_point at);

// "2026-11-29T09:00:00.123Z": UTC, milliseconds. For logs, /status and reports.
std::string FormatUtcTimestamp(std::chrono::system_clock::time_point at);

}  // namespace lastcall
