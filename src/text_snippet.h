#pragma once

#include <cstddef>
#include <string>
#include <string_view>

// Error messages about an app's answers quote part of that answer. The answer is untrusted: it may
// be huge, binary, or carry terminal escapes, so it is cut and escaped before it reaches a log.
namespace lastcall {

// Returns `text` in double quotes, cut to its first `max_bytes` bytes (then followed by "..."),
// with `"` and `\` backslash-escaped, \n \r \t spelled out and every other byte outside printable
// ASCII written as \xNN. Pure.
std::string QuoteSnippet(std::string_view text, size_t max_bytes = 80);

}  // namespace lastcall
