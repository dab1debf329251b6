#pragma once

// Unit tests that guard against hangs and quadratic blow-ups bound their run time; sanitizers
// slow code down by an order of magnitude, so those bounds scale with kSanitizerSlowdown.
namespace lastcall::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int kSanitizerSlowdown = 10;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr int kSanitizerSlowdown = 10;
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif

// TSan sleeps atexit_sleep_ms (1000 by default) before a process exits while other threads still
// run, to catch races at exit: an exit timed under TSan includes that sleep.
#if defined(__SANITIZE_THREAD__)
inline constexpr int kTsanExitSleepMs = 1000;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr int kTsanExitSleepMs = 1000;
#else
inline constexpr int kTsanExitSleepMs = 0;
#endif
#else
inline constexpr int kTsanExitSleepMs = 0;
#endif

// Memory bounds are not checked under a sanitizer: its shadow memory and quarantine are not the
// code's.
inline constexpr bool kSanitized = kSanitizerSlowdown > 1;

}  // namespace lastcall::testing
