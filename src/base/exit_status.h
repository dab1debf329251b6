#pragma once

// Every exit code lastcall's subcommands return, in one place (docs/reference.md, "Exit codes").
namespace lastcall {

enum ExitStatus : int {
  kExitDrained = 0,       // the sequence ended drained (run, prestop), or success (check, version)
  kExitTimedOut = 1,      // the drain timed out or failed (run, prestop, rehearse: something lost)
  kExitUsage = 2,         // usage or configuration error: bad flag, bad YAML, budget does not fit
  kExitRuntimeError = 3,  // runtime error: port in use, control endpoint unreachable
};

}  // namespace lastcall
