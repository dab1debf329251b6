#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "base/logging.h"
#include "base/phase.h"
#include "sequence/sequence_types.h"

// The events of a shutdown sequence as typed, versioned records: what the sequence did, for
// tools. Every log line that reports one carries its record beside the human sentence (JSON: an
// "event" object; text: `event=KIND v=1 key=value...` after the message), so the sentences can be
// reworded freely: tools (rehearse, and the Kubernetes Events of issue 21) read the record
// through this header, never the message. docs/events.md is the schema for people.
//
// Version policy: `v` is the schema's major version. Adding a kind, a field or an enum value is
// not a new version: readers ignore kinds and fields they do not know, and read an unknown enum
// value as absent. Renaming or removing a field, or changing its meaning or type, makes a new
// major version, which older readers refuse with a clear error.
namespace lastcall {

inline constexpr int kEventSchemaVersion = 1;

enum class EventKind {
  kUnknown,          // a kind this reader does not know (a newer lastcall's); kind_name says which
  kTriggered,        // a trigger started the sequence: readiness turned 503
  kTriggerJoined,    // a trigger joined the running sequence
  kResumed,          // lastcall restarted and took up a persisted sequence
  kPhase,            // the sequence entered a phase
  kLbWaitEnded,      // the wait for the load balancers ended early, and why (not for a fixed
                     // lb_delay that simply passed)
  kDrainTrigger,     // one attempt of the app's drain trigger was answered (or failed)
  kPoll,             // the drain monitor answered one poll
  kAppDrained,       // the app pushed that it is drained (POST /drained)
  kSignal,           // a termination signal arrived
  kNote,             // a decision worth a line, without fields of its own
  kFailed,           // the sequence failed (out of memory): it ends as timed_out
  kRecovered,        // no signal followed a preStop hook: serving again
  kExit,             // lastcall exits
  kEndpointRemoved,  // every EndpointSlice that held the pod stopped routing to it (the
                     // cluster's view, issue 21): elapsed is since the trigger
};
std::string_view ToString(EventKind kind);

// Why lb_wait_ended: lb_delay auto's ends, and app_gone (a fixed lb_delay cut short because the
// app no longer listens).
enum class LbWaitWhy { kQuiet, kMax, kDeadline, kCancelled, kAppGone };
std::string_view ToString(LbWaitWhy why);

std::string_view ToString(DrainEndReason why);

// One event. Which fields a kind carries is listed beside each field; the others stay empty.
struct SequenceEvent {
  EventKind kind = EventKind::kUnknown;
  std::string kind_name;  // read: the kind as written (kUnknown keeps it); written: ignored

  std::optional<Phase> phase;           // phase, resumed, failed: the phase entered (or in)
  std::optional<TriggerSource> source;  // triggered, trigger_joined
  std::optional<Millis> elapsed;        // phase, resumed, endpoint_removed: since the first trigger
  std::string detail;                   // triggered, trigger_joined, phase, lb_wait_ended, poll,
                                        // note: one line of context for people (not parsed)
  std::optional<DrainEndReason> drain_end;  // phase drained / timed_out: why DRAINING ended
  std::string last_poll;                    // phase drained by the monitor: what it last said
  bool ended = false;                       // resumed: the sequence had ended already
  std::optional<LbWaitWhy> lb_end;          // lb_wait_ended
  std::optional<Millis> waited;             // lb_wait_ended: since unready
  std::optional<Millis> last_traffic;  // lb_wait_ended (quiet): the last traffic, since unready
  int attempt = 0;                     // drain_trigger
  std::string outcome;          // drain_trigger: accepted, rejected, failed; poll: PollOutcome
  std::string url;              // drain_trigger
  std::optional<int> status;    // drain_trigger: the app's HTTP status
  std::string error;            // drain_trigger: why no status; failed: what failed
  std::string monitor;          // poll: the monitor's kind
  std::optional<double> value;  // poll
  std::string signal;           // signal: its name
  bool repeated = false;        // signal: one arrived before
  std::optional<Millis> recover_after;  // recovered
  std::optional<SequenceEnd> result;    // exit
  std::optional<int> exit_code;         // exit
  std::optional<int> slices;            // endpoint_removed: the slices that held the pod
};

// The record as one JSON object, {"v":1,"kind":...,fields}; fields a kind does not carry are left
// out. Pure.
std::string EventToJson(const SequenceEvent& event);
// Reads what EventToJson wrote (or a newer minor version of it). nullopt with `error` set when the
// text is no JSON object, has no kind, a field of the wrong type, or a newer major version.
std::optional<SequenceEvent> EventFromJson(std::string_view json, std::string* error);

// The fields that carry `event` on a log line in `format` (base/logging.h writes them after the
// message).
LogFields EventLogFields(const SequenceEvent& event, LogFormat format);

// One line of lastcall's log, as a tool reads it.
struct LoggedEvent {
  std::string time;  // the line's timestamp, as written ("2026-11-24T23:59:01.123Z")
  SequenceEvent event;
};

// The event on one log line, JSON or text format; nullopt for a line that carries none (an
// ordinary line, or not lastcall's), and nullopt with `error` set for one whose record cannot be
// read (a newer major version, a malformed field). Never looks at the message. Pure.
std::optional<LoggedEvent> ReadLoggedEvent(std::string_view line, std::string* error);

}  // namespace lastcall
