#pragma once

// Unit tests that guard against hangs and quadratic blow-ups bound their run time; sanitizers
// slow code down by an order of magnitude, so those bounds scale with kSanitizerSlowdown.
namespace lastcall::testing {

// Which sanitizer this build runs under: GCC defines __SANITIZE_*__, clang has __has_feature.
#if defined(__SANITIZE_THREAD__)
#define LASTCALL_TESTING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LASTCALL_TESTING_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define LASTCALL_TESTING_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LASTCALL_TESTING_ASAN 1
#endif
#endif
#if defined(LASTCALL_TESTING_TSAN)
inline constexpr bool kThreadSanitized = true;
#else
inline constexpr bool kThreadSanitized = false;
#endif
#if defined(LASTCALL_TESTING_ASAN)
inline constexpr bool kAddressSanitized = true;
#else
inline constexpr bool kAddressSanitized = false;
#endif

inline constexpr int kSanitizerSlowdown = kThreadSanitized || kAddressSanitized ? 10 : 1;

// TSan sleeps atexit_sleep_ms (1000 by default) before a process exits while other threads still
// run, to catch races at exit: an exit timed under TSan includes that sleep.
inline constexpr int kTsanExitSleepMs = kThreadSanitized ? 1000 : 0;

// Memory bounds are not checked under a sanitizer: its shadow memory and quarantine are not the
// code's.
inline constexpr bool kSanitized = kSanitizerSlowdown > 1;

}  // namespace lastcall::testing
