#pragma once

#include <cstdint>
#include <string_view>

namespace lastcall {

// The phases of PRODUCT.md §2. Only kServing answers /readyz with 200.
enum class Phase : uint8_t { kServing, kUnready, kDraining, kDrained, kTimedOut };
std::string_view ToString(Phase phase);

// What started (or joined) a sequence.
enum class TriggerSource : uint8_t { kSignal, kPreStop, kResumed };
std::string_view ToString(TriggerSource source);

}  // namespace lastcall
