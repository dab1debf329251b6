#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/config_loader.h"

// `lastcall rehearse`'s inputs and the pure parsers behind its flags. The command itself is in
// rehearse_command.h.
namespace lastcall {

// Bounds that keep a rehearsal a rehearsal: a laptop or a CI runner, not a load test.
inline constexpr int kMaxRehearseRps = 1000;
inline constexpr Millis kMaxRehearseDuration{120000};
inline constexpr Millis kMaxPropagationDelay{60000};
inline constexpr size_t kMaxRehearsePaths = 32;
inline constexpr int kDefaultRehearseRps = 100;
inline constexpr const char* kDefaultReportPath = "lastcall-rehearse.html";  // in the working dir
// Replaced in --app-cmd by a free port that rehearse picks (and then targets).
inline constexpr std::string_view kPortPlaceholder = "{port}";
// Replaced in --app-cmd (with --push) by the URL the app POSTs to once drained: lastcall's
// /drained on a loopback control port that rehearse picks.
inline constexpr std::string_view kDrainedUrlPlaceholder = "{drained_url}";

struct RehearseOptions {
  // -c, LASTCALL_CONFIG, LASTCALL_* and every `run` flag but --listen and --control: the
  // configuration the rehearsed lastcall runs with.
  ConfigSources config;
  std::vector<std::string> app_command;     // --app-cmd, split; empty: the bundled example app
  std::string app_url;                      // --app-url; "" means http://127.0.0.1:8080 or {port}
  std::optional<int> rps;                   // --rps; unset: 100
  std::optional<Millis> duration;           // --duration; unset: until the termination ended
  std::vector<std::string> paths;           // --paths; unset: "/"
  std::optional<Millis> propagation_delay;  // --propagation-delay; unset: 1s
  bool native = false;                      // --native: lastcall as a native sidecar
  bool direct = false;                      // --direct: no load balancer in front of the app
  bool push = false;  // --push: the app says when it is drained (POST /drained on lastcall's
                      // control endpoint, then on loopback TCP)
  std::vector<std::string> reports;  // --report FILE.html|FILE.json, repeatable; unset:
                                     // kDefaultReportPath
};

// Splits a command line the way a POSIX shell splits words for simple quoting: blanks separate
// words; 'single quotes' keep everything literally; "double quotes" keep everything but \" \\ \$
// \` escapes; a backslash outside quotes escapes the next character. Nothing is expanded and
// nothing else is special, so shell operators (| ; & < > ` $ ( ) and a leading ~ or #) are refused
// with a hint to wrap the command in `sh -c '...'`. Returns nullopt and sets *error on an
// unterminated quote, a trailing backslash, an operator, or no words at all. Pure.
std::optional<std::vector<std::string>> SplitCommandLine(std::string_view text, std::string* error);

// Parses "--paths /a,/b?x=1": comma-separated request targets, each starting with "/", without
// spaces or control characters, at most kMaxRehearsePaths. Returns nullopt and sets *error
// otherwise. Pure.
std::optional<std::vector<std::string>> ParsePathList(std::string_view text, std::string* error);

// "" when `path` names a report format rehearse writes (.html, .htm, .json), else the problem.
std::string ValidateReportPath(std::string_view path);

}  // namespace lastcall
