#pragma once

#include <cstddef>
#include <exception>
#include <string_view>

// What lastcall does when memory runs out (a container limit, ulimit -v) or an exception escapes
// where nobody expected one: the sequence thread ends the sequence as failed and answers the
// preStop (coordinator.h), the servers drop the one connection they were serving, and anything
// left over ends the process with exit 3 and one fixed line, never SIGABRT. The tools here work
// when nothing can be allocated any more.
namespace lastcall {

// Sets aside `bytes` of address space (allocated, never touched) that ReleaseEmergencyMemory
// gives back, so the code that reports an out-of-memory failure finds room to run. Calling it
// again after a release re-reserves (silently nothing when that fails). Thread-safe.
void ReserveEmergencyMemory(size_t bytes = 512 * 1024);
void ReleaseEmergencyMemory() noexcept;

// Writes all of `bytes` to stderr with write(2), retrying an interrupted write: no allocation,
// no lock, no logger. Best effort: a failed write has nowhere else to go.
void WriteToStderr(std::string_view bytes) noexcept;
// Writes `line` (and a newline) to stderr, as WriteToStderr does.
void WriteFatalLine(std::string_view line) noexcept;

// What `error` (a caught exception) was, for a log line: "out of memory (std::bad_alloc)", the
// what() of a std::exception, or "an unknown exception". Static text when it allocates nothing.
const char* DescribeException(const std::exception_ptr& error) noexcept;

// std::set_terminate: an exception that escapes a thread writes one fixed line and ends the
// process with kExitRuntimeError (3) instead of abort()'s SIGABRT and a core dump.
void InstallTerminateHandler();

}  // namespace lastcall
