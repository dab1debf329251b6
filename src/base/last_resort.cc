#include "base/last_resort.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <new>

#include "base/exit_status.h"

namespace lastcall {
namespace {

std::atomic<void*> g_reserve{nullptr};

[[noreturn]] void EndOnTerminate() noexcept;

}  // namespace

void ReserveEmergencyMemory(size_t bytes) {
  if (g_reserve.load() != nullptr) return;
  // malloc, not new: untouched pages cost address space only, and a failure is a null.
  void* block = std::malloc(bytes);  // NOLINT(cppcoreguidelines-no-malloc)
  void* expected = nullptr;
  if (block != nullptr && !g_reserve.compare_exchange_strong(expected, block)) std::free(block);
}

void ReleaseEmergencyMemory() noexcept { std::free(g_reserve.exchange(nullptr)); }

void WriteToStderr(std::string_view bytes) noexcept {
  while (!bytes.empty()) {
    const ssize_t n = write(STDERR_FILENO, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void WriteFatalLine(std::string_view line) noexcept {
  WriteToStderr(line);
  WriteToStderr("\n");
}

const char* DescribeException(const std::exception_ptr& error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const std::bad_alloc&) {
    return "out of memory (std::bad_alloc)";
  } catch (const std::exception& e) {
    return e.what();  // lives as long as `error` does
  } catch (...) {
    return "an unknown exception";
  }
}

namespace {

void EndOnTerminate() noexcept {
  ReleaseEmergencyMemory();
  const std::exception_ptr error = std::current_exception();
  WriteFatalLine(
      "lastcall: fatal: an unexpected error ended lastcall (exit 3, a runtime error); the "
      "line after this one says what it was");
  WriteFatalLine(error ? DescribeException(error) : "std::terminate without an exception");
  _exit(kExitRuntimeError);
}

}  // namespace

void InstallTerminateHandler() { std::set_terminate(EndOnTerminate); }

}  // namespace lastcall

// libstdc++'s default terminate handler, defined here: the static link then leaves out libstdc++'s
// own (vterminate.o) and the C++ demangler that only it uses (cp-demangle.o, 42 KB), and on this
// kernel a KiB of code can be a KiB of resident memory in every pod (docs/architecture.md, "What
// the binary carries"). It ends the process as InstallTerminateHandler's does, for a terminate
// before main() installs that one. Declared by <exception>.
namespace __gnu_cxx {
void __verbose_terminate_handler() { lastcall::EndOnTerminate(); }
}  // namespace __gnu_cxx
