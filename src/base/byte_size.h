#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

// Sizes at lastcall's edges (YAML, environment, flags): "65536", "512KiB", "4MiB" (also the
// Kubernetes spellings "512Ki", "4Mi"). Inside, a plain byte count.
namespace lastcall {

inline constexpr size_t kMinByteSize = 1024;             // smaller cannot hold an HTTP answer
inline constexpr size_t kMaxByteSize = size_t{1} << 30;  // 1 GiB: beyond that, a typo

// Parses a size: decimal digits and an optional binary unit (B, KiB/Ki, MiB/Mi, GiB/Gi; case as
// written). Leading and trailing spaces are ignored. The result must lie in [kMinByteSize,
// kMaxByteSize]. Returns nullopt on failure and sets *error to the problem ("unknown unit \"MB\"
// (units: B, KiB, MiB, GiB)"); the message does not repeat the input. Pure.
std::optional<size_t> ParseByteSize(std::string_view text, std::string* error);

// "4MiB", "512KiB", "1000B": the largest unit that divides the size.
// ParseByteSize(FormatByteSize(n))
// == n for every n in range.
std::string FormatByteSize(size_t bytes);

}  // namespace lastcall
