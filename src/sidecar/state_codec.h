#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"
#include "sequence/sequence_types.h"

// The state file's text: a PersistedSequence as one line of JSON, and back. Pure (no file, no
// clock, no log), so the state-file fuzzer links it alone. The file's place, its trust checks and
// its atomic writes are state_file.h's; what a restarted lastcall does with it is
// state_resume.h's.
namespace lastcall {

// The format's version: a file of another version is not read (a newer lastcall's is refused
// with a sentence saying so, not guessed at).
inline constexpr int kStateFileVersion = 1;

// A state file lastcall wrote is a few hundred bytes; anything larger is not one.
inline constexpr size_t kMaxStateFileBytes = size_t{64} * 1024;

// One line of JSON ending in "\n". Invalid UTF-8 in `detail` is replaced, never written raw.
std::string SerializeSequenceState(const PersistedSequence& state);

// The state in `text`, or kInvalid saying why it is not a state file lastcall wrote (corrupt,
// truncated, another version, a time outside 1970..2200 or out of order): "unknown state file
// version". Never throws. ParseSequenceState(SerializeSequenceState(s)) gives back s, to the
// millisecond.
Expected<PersistedSequence> ParseSequenceState(std::string_view text);

}  // namespace lastcall
