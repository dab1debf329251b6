#pragma once

#include "base/status.h"
#include "config/config.h"
#include "sidecar/coordinator.h"
#include "sidecar/state_file.h"

// What a restarted lastcall does with the state file a previous run left (state_file.h): a pod
// that is going away must not see lastcall come back ready.
namespace lastcall {

enum class Resumed {
  kNothing,  // no state file, a stale one (removed), or nothing to resume
  kResumed,  // a sequence was resumed, or its result restored
};

// Reads the store; resumes a sequence younger than the grace period (or restores its result, with
// its recovery deadline); logs and removes a stale file, and the file of a preStop-only sequence
// whose recovery came due while lastcall was down (lastcall wrote them). Refuses a file it cannot
// trust, cannot read as a state file, or of another version, and leaves it where it is: the
// failure (the store's code, or kInvalid for the contents) names the path, why, and what to do,
// and the caller refuses to start (exit 2).
Expected<Resumed> ResumeFromStateFile(FileSequenceStore& store, const Config& config,
                                      ShutdownCoordinator& coordinator);

}  // namespace lastcall
