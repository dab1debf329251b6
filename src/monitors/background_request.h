#pragma once

#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "base/clock.h"
#include "http/http_client.h"
#include "monitors/monitor.h"

// Work the shutdown sequence sends off its own thread, so that nothing it waits for can hold it:
// - BackgroundRequest: one HTTP request at a time (the drain trigger), so a slow or hanging
//   trigger never holds the drain monitor;
// - BackgroundPoll: one poll of the drain monitor at a time, so that a push from the app (POST
//   /drained) ends the drain at once, also while a poll hangs: the poll is abandoned, not awaited.
// The seams the sequence's tests fake (their clock is single-threaded).
namespace lastcall {

class BackgroundRequest {
 public:
  virtual ~BackgroundRequest() = default;
  // Starts `request`, bounded by `deadline`. A request still in flight from before is abandoned:
  // its answer is never returned. When the request completes, Clock::Wake() interrupts the
  // caller's SleepUntil, so it can Collect without waiting for its next scheduled wake-up.
  virtual void Start(const HttpRequest& request, Deadline deadline) = 0;
  // The answer of the request last started, once it completed (at most once); else nullopt.
  virtual std::optional<HttpResponse> Collect() = 0;
};

// The real one: each request on a thread of its own. An abandoned request is never waited for
// (not by Start, not by the destructor): its thread owns everything it touches, finishes by the
// request's deadline, and is detached. REQUIRES: `clock` outlives this object.
class ThreadedBackgroundRequest final : public BackgroundRequest {
 public:
  ThreadedBackgroundRequest(std::shared_ptr<HttpClient> http, Clock& clock);
  ~ThreadedBackgroundRequest() override;
  ThreadedBackgroundRequest(const ThreadedBackgroundRequest&) = delete;
  ThreadedBackgroundRequest& operator=(const ThreadedBackgroundRequest&) = delete;

  void Start(const HttpRequest& request, Deadline deadline) override;
  std::optional<HttpResponse> Collect() override;

 private:
  struct Call;  // shared by this object and the request's thread
  void Abandon();

  std::shared_ptr<HttpClient> http_;
  Clock& clock_;
  std::shared_ptr<Call> call_;  // the request last started; only touched by the owner's thread
};

class BackgroundPoll {
 public:
  virtual ~BackgroundPoll() = default;
  // Starts one DrainMonitor::Poll(deadline). A poll still in flight from before is abandoned: its
  // result is never returned. When the poll completes, Clock::Wake() interrupts the caller's
  // SleepUntil, so it can Collect at once.
  virtual void Start(Deadline deadline) = 0;
  // The result of the poll last started, once it completed (at most once); else nullopt.
  virtual std::optional<PollResult> Collect() = 0;
  // Abandons the poll in flight, if any: its result is never returned and its end wakes nobody.
  virtual void Abandon() = 0;
};

// Polls on the caller's thread, inside Start: what the sequence's tests use with their fake
// monitors (which move the fake clock), and all a caller needs when nothing may interrupt it.
class InlinePoll final : public BackgroundPoll {
 public:
  explicit InlinePoll(DrainMonitor& monitor) : monitor_(monitor) {}
  void Start(Deadline deadline) override { result_ = monitor_.Poll(deadline); }
  std::optional<PollResult> Collect() override { return std::exchange(result_, std::nullopt); }
  void Abandon() override { result_.reset(); }

 private:
  DrainMonitor& monitor_;
  std::optional<PollResult> result_;
};

// The real one: polls run one at a time on one worker thread, started here (at `lastcall run`'s
// start, so that no thread needs creating mid-drain, when a memory limit may forbid it). A poll
// started while an abandoned one still runs waits for it (at most until that one's deadline: the
// monitor's Poll returns by its deadline, DrainMonitor being only thread-compatible). The worker
// shares ownership of the monitor and of its own state; the destructor joins it when it is idle
// (the usual end) and detaches it rather than wait for a poll that may hang until its deadline.
// Throws std::system_error when the thread cannot start. REQUIRES: `clock` outlives this object;
// whatever `monitor` refers to (its HttpClient, FileReader) lives as long as `monitor`.
class ThreadedPoll final : public BackgroundPoll {
 public:
  ThreadedPoll(std::shared_ptr<DrainMonitor> monitor, Clock& clock);
  ~ThreadedPoll() override;
  ThreadedPoll(const ThreadedPoll&) = delete;
  ThreadedPoll& operator=(const ThreadedPoll&) = delete;

  void Start(Deadline deadline) override;
  std::optional<PollResult> Collect() override;
  void Abandon() override;

 private:
  struct Shared;  // the worker's inbox and outbox, shared with it

  std::shared_ptr<Shared> shared_;
  std::thread worker_;
};

}  // namespace lastcall
