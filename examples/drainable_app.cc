// drainable_app: a small HTTP app that implements lastcall's drain protocol (PRODUCT.md §3).
//
// It stands in for "your app" in the rehearse quick start, the integration and end-to-end tests and
// the benchmarks. `GET /work?ms=N` is the unit of work: it sleeps N ms and counts as in flight from
// the moment its handler starts until its response has been written to the socket.
//
//   POST /drain         202, idempotent: start draining. Requests that still arrive are served
//                       (the load balancer stops sending them, not the app); responses then carry
//                       `Connection: close` so keep-alive clients reconnect elsewhere.
//   GET  /drain         200 when draining and nothing is in flight, else 202.
//                       Body: {"draining":bool,"inflight":N}. With ?wait=N ms (or Ns, at
//                       most 60s), a long poll: answers as soon as it is drained, or 202 when
//                       the wait ends (lastcall's shutdown.drain.monitor.long_poll).
//   GET  /drain/status  200 always: {"name":..,"draining":bool,"inflight":N,"served":N}.
//   GET  /work?ms=N     200 {"name":..,"slept_ms":N} after sleeping N ms (capped at 60000).
//   GET  /healthz       200 whenever the process serves, draining or not: readiness is the
//                       sidecar's job, and a failing liveness check mid-drain would get us killed.
//   GET  /              200, a line of text naming the replica.
//
// On SIGTERM or SIGINT it shuts down the way Go's http.Server.Shutdown does: close the listener,
// let the requests being handled finish (bounded by --shutdown-timeout), exit 0 without waiting
// for idle keep-alive connections. With --naive it exits at once instead, dropping in-flight
// work: the baseline of an app without graceful shutdown. With --push-drained URL it tells the
// sidecar itself (POST URL, e.g. lastcall's http://127.0.0.1:9902/drained) the moment it is
// draining with nothing in flight, instead of waiting for the next poll, on a connection opened
// when draining started (drained_pusher.h). Signals are blocked and
// collected by one thread with sigwait; nothing runs in an asynchronous handler.
//
// Timing stamps, for the end-to-end tests and benchmarks that measure what happens around the app:
// the moments below are taken on CLOCK_MONOTONIC (steady_clock), which every process on the host
// shares, and printed as seconds with microseconds. At exit one line
//   stamps: last_work_arrived=S last_work_ended=S drain_requested=S drained=S stop=S
//           drained_unix=S
// ("-" for a moment that did not happen): the last /work request's handler start and its answer
// written, the first POST /drain, the first moment draining with nothing in flight, the signal,
// and the drained moment again as Unix time, for shell scripts. With --push-drained the push
// line says when it was sent: "drained at mono=S unix=S: pushed to URL at mono=S: 200".
//
// Exit codes: 0 clean shutdown; 1 shutdown timed out with work still in flight, or the server
// failed (port in use, accept error); 2 bad flags.
#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "drained_pusher.h"

namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int64_t kMaxWorkMs = 60000;
// httplib serves a connection on one pool thread until it closes, so the pool must outnumber the
// connections clients keep open, or the extra ones (and polls of /drain) wait for a thread.
constexpr size_t kDefaultThreads = 256;
// Requests per keep-alive connection before the app closes it (httplib's default is 5): rare
// enough to spare reconnects, frequent enough that connections queued for a thread get one.
constexpr size_t kKeepAliveMaxCount = 100;
// httplib listens with a backlog of 5, which drops SYNs under a benchmark's connection bursts.
constexpr int kListenBacklog = 1024;

struct Options {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 picks a free port
  std::string name = "app";               // echoed in responses, to tell replicas apart
  milliseconds shutdown_timeout{30000};   // bound on waiting for in-flight requests at SIGTERM
  size_t threads = kDefaultThreads;       // request-handling threads
  bool naive = false;                     // exit at SIGTERM at once, dropping in-flight requests
  bool drain_exit = false;                // shut down by itself once drained
  bool drain_endpoint = true;             // serve /drain (off: 404, an app implementing nothing)
  int keep_alive_seconds = 5;             // an idle keep-alive connection is closed after this
  bool log_requests = false;              // one stdout line per request
  std::string push_drained;  // http://HOST:PORT/PATH to POST once drained (lastcall's /drained)
};

// Parses Go-style durations made of <integer><unit> parts, unit one of ms, s, m, h ("250ms",
// "30s", "1m30s"), or a bare "0". Returns nothing for anything else.
std::optional<milliseconds> ParseDuration(std::string_view text) {
  if (text == "0") return milliseconds{0};
  if (text.empty()) return std::nullopt;
  int64_t total_ms = 0;
  while (!text.empty()) {
    int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || value < 0 || value > 1'000'000'000) return std::nullopt;
    text.remove_prefix(static_cast<size_t>(end - text.data()));
    int64_t unit_ms = 0;
    if (text.starts_with("ms")) {
      unit_ms = 1;
      text.remove_prefix(2);
    } else if (text.starts_with("s")) {
      unit_ms = 1000;
      text.remove_prefix(1);
    } else if (text.starts_with("m")) {
      unit_ms = 60 * 1000;
      text.remove_prefix(1);
    } else if (text.starts_with("h")) {
      unit_ms = 60 * 60 * 1000;
      text.remove_prefix(1);
    } else {
      return std::nullopt;
    }
    total_ms += value * unit_ms;
  }
  return milliseconds{total_ms};
}

struct ListenAddress {
  std::string host;  // without brackets; "0.0.0.0" for ":PORT"
  int port = 0;
};

// Parses "HOST:PORT", "[V6]:PORT" or ":PORT".
std::optional<ListenAddress> ParseListenAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  int port = -1;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc{} || end != port_text.data() + port_text.size() || port < 0 ||
      port > 65535) {
    return std::nullopt;
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return ListenAddress{host.empty() ? "0.0.0.0" : std::string(host), port};
}

std::string FormatHostPort(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

void Log(const std::string& line) {
  std::fprintf(stderr, "drainable_app: %s\n", line.c_str());
  std::fflush(stderr);
}

// Seconds with microseconds since the clock's epoch: "12345.678901".
template <typename Duration>
std::string FormatSeconds(Duration since_epoch) {
  const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count();
  char text[32];
  std::snprintf(text, sizeof text, "%lld.%06lld", static_cast<long long>(us / 1000000),
                static_cast<long long>(us % 1000000));
  return text;
}
std::string FormatMono(std::optional<Clock::time_point> at) {
  return at ? FormatSeconds(at->time_since_epoch()) : "-";
}

// The moments the stamps line reports (see the top of the file).
struct Stamps {
  std::optional<Clock::time_point> last_work_arrived;
  std::optional<Clock::time_point> last_work_ended;
  std::optional<Clock::time_point> drain_requested;
  std::optional<Clock::time_point> drained;
  std::chrono::system_clock::time_point drained_unix{};
  std::optional<Clock::time_point> stop;
};

// /work requests are the app's work; the others are answered at once and not counted in flight.
enum class RequestKind { kWork, kControl };

// What the app knows about itself, shared by the request threads, the signal thread and main.
// Thread-safe.
class AppState {
 public:
  enum class Stop { kSignal, kDrained, kServerFailed };

  explicit AppState(bool drain_exit) : drain_exit_(drain_exit) {}

  struct Snapshot {
    bool draining = false;
    int64_t inflight = 0;  // /work requests being handled or answered
    int64_t served = 0;    // /work requests answered
  };

  Snapshot Read() const {
    std::lock_guard lock(mu_);
    return {draining_, inflight_, served_};
  }

  // True once draining or shutting down: responses then ask clients to close the connection.
  bool Closing() const {
    std::lock_guard lock(mu_);
    return draining_ || shutting_down_;
  }

  // A connection was accepted and waits for a pool thread; then it is picked up.
  void ConnectionQueued() {
    std::lock_guard lock(mu_);
    ++queued_connections_;
  }
  void ConnectionPickedUp() {
    std::lock_guard lock(mu_);
    --queued_connections_;
    cv_.notify_all();
  }

  // `prepare` is called once, outside the lock, when draining starts; `push` once, outside the
  // lock, when the app is draining and nothing is in flight, with that moment's stamps, on the
  // thread that answered the last request (it must not block).
  void OnDrained(std::function<void()> prepare, std::function<void(const Stamps&)> push) {
    std::lock_guard lock(mu_);
    prepare_ = std::move(prepare);
    push_ = std::move(push);
  }

  void BeginRequest(RequestKind kind) {
    const Clock::time_point now = Clock::now();
    std::lock_guard lock(mu_);
    ++active_requests_;
    if (kind == RequestKind::kWork) {
      ++inflight_;
      stamps_.last_work_arrived = now;
    }
  }
  void EndRequest(RequestKind kind) {
    const Clock::time_point now = Clock::now();
    std::function<void(const Stamps&)> push;
    Stamps stamps;
    {
      std::lock_guard lock(mu_);
      --active_requests_;
      if (kind == RequestKind::kWork) {
        --inflight_;
        ++served_;
        stamps_.last_work_ended = now;
        StampDrainedLocked(now);
        MaybeStopWhenDrainedLocked();
        push = TakePushLocked();
        stamps = stamps_;
      }
      cv_.notify_all();
    }
    if (push) push(stamps);
  }

  // Waits until draining with nothing in flight, shutting down, or `deadline`: a long poll.
  Snapshot WaitDrained(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [this] {
      return (draining_ && inflight_ == 0) || shutting_down_ || stop_.has_value();
    });
    return {draining_, inflight_, served_};
  }

  // Returns true on the first call only.
  bool StartDraining() {
    const Clock::time_point now = Clock::now();
    std::function<void()> prepare;
    std::function<void(const Stamps&)> push;
    Stamps stamps;
    bool first = false;
    {
      std::lock_guard lock(mu_);
      first = !draining_;
      draining_ = true;
      if (first) {
        stamps_.drain_requested = now;
        prepare = prepare_;
      }
      StampDrainedLocked(now);
      MaybeStopWhenDrainedLocked();
      push = TakePushLocked();
      stamps = stamps_;
      cv_.notify_all();  // a long poll may be waiting for this
    }
    if (prepare) prepare();
    if (push) push(stamps);
    return first;
  }

  // Asks main to stop the server; the first reason wins. Returns true on the first call only.
  bool RequestStop(Stop reason) {
    const Clock::time_point now = Clock::now();
    std::lock_guard lock(mu_);
    if (stop_) return false;
    stop_ = reason;
    stamps_.stop = now;
    cv_.notify_all();
    return true;
  }

  Stamps ReadStamps() const {
    std::lock_guard lock(mu_);
    return stamps_;
  }

  Stop WaitForStopRequest() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return stop_.has_value(); });
    shutting_down_ = true;
    return *stop_;
  }

  void MarkServerStopped() {
    std::lock_guard lock(mu_);
    server_stopped_ = true;
    cv_.notify_all();
  }

  // Returns whether the server thread has stopped by `deadline`.
  bool WaitServerStopped(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [this] { return server_stopped_; });
  }

  // Returns whether, by `deadline`, the server thread has stopped or nothing is left to answer:
  // no request being handled and no accepted connection waiting for a thread. What remains then
  // are idle keep-alive connections.
  bool WaitQuiet(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [this] {
      return server_stopped_ || (active_requests_ == 0 && queued_connections_ == 0);
    });
  }

 private:
  void MaybeStopWhenDrainedLocked() {
    if (drain_exit_ && draining_ && inflight_ == 0 && !stop_) {
      stop_ = Stop::kDrained;
      cv_.notify_all();
    }
  }

  void StampDrainedLocked(Clock::time_point now) {
    if (draining_ && inflight_ == 0 && !stamps_.drained) {
      stamps_.drained = now;
      stamps_.drained_unix = std::chrono::system_clock::now();
    }
  }

  // The push callback, once: when draining with nothing in flight.
  std::function<void(const Stamps&)> TakePushLocked() {
    if (!push_ || pushed_ || !draining_ || inflight_ != 0) return {};
    pushed_ = true;
    return push_;
  }

  const bool drain_exit_;
  mutable std::mutex mu_;
  std::function<void()> prepare_;            // GUARDED_BY(mu_)
  std::function<void(const Stamps&)> push_;  // GUARDED_BY(mu_)
  bool pushed_ = false;                      // GUARDED_BY(mu_)
  Stamps stamps_;                            // GUARDED_BY(mu_)
  std::condition_variable cv_;
  bool draining_ = false;           // GUARDED_BY(mu_)
  bool shutting_down_ = false;      // GUARDED_BY(mu_)
  bool server_stopped_ = false;     // GUARDED_BY(mu_)
  int64_t inflight_ = 0;            // GUARDED_BY(mu_)
  int64_t served_ = 0;              // GUARDED_BY(mu_)
  int64_t active_requests_ = 0;     // GUARDED_BY(mu_)
  int64_t queued_connections_ = 0;  // GUARDED_BY(mu_)
  std::optional<Stop> stop_;        // GUARDED_BY(mu_)
};

// One request, from its handler's start until httplib has written the response and destroyed it.
// Ends exactly once, however many copies of httplib's releaser run.
class RequestTicket {
 public:
  RequestTicket(AppState& state, RequestKind kind) : state_(state), kind_(kind) {
    state_.BeginRequest(kind_);
  }
  ~RequestTicket() { End(); }
  RequestTicket(const RequestTicket&) = delete;
  RequestTicket& operator=(const RequestTicket&) = delete;

  void End() {
    if (!ended_.exchange(true)) state_.EndRequest(kind_);
  }

 private:
  AppState& state_;
  const RequestKind kind_;
  std::atomic<bool> ended_{false};
};

// Answers, keeping `ticket` until httplib has written the response and destroys it: a drain poll
// answered 200, or an exit at shutdown, must never race a response still waiting to be sent.
// ~Response (inline in httplib.h) runs the content-provider releaser: a hook that runs after the
// write on every path. A content provider itself is no use: httplib stops writing those at stop().
void Reply(httplib::Response& res, std::shared_ptr<RequestTicket> ticket, int status,
           const std::string& body, const char* content_type) {
  res.status = status;
  res.set_content(body, content_type);
  res.content_provider_resource_releaser_ = [ticket = std::move(ticket)](bool /*success*/) {
    ticket->End();
  };
}

// httplib's thread pool, counting the accepted connections that wait for a thread: at shutdown
// they may hold requests, so they are not idle.
class CountingThreadPool : public httplib::TaskQueue {
 public:
  CountingThreadPool(size_t threads, AppState& state) : state_(state), pool_(threads) {}

  void enqueue(std::function<void()> serve_connection) override {
    state_.ConnectionQueued();
    pool_.enqueue([this, serve_connection = std::move(serve_connection)] {
      state_.ConnectionPickedUp();
      serve_connection();
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  AppState& state_;
  httplib::ThreadPool pool_;
};

// httplib::Server with a knob the library keeps to itself.
class AppServer : public httplib::Server {
 public:
  // REQUIRES: bound. httplib listens with a backlog of 5; listen(2) again just resizes it.
  bool RaiseBacklog(int backlog) { return ::listen(svr_sock_, backlog) == 0; }
};

// httplib's default socket options set SO_REUSEPORT, which lets a second app bind a port already
// in use without an error. SO_REUSEADDR alone allows quick restarts and still reports conflicts.
void SetListenerOptions(int fd) {
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
}

// "250ms" or "5s" (whole numbers), at most kMaxWorkMs: the wait of a long poll of GET /drain.
std::optional<milliseconds> ParseWait(const std::string& text) {
  const bool in_ms = text.size() > 2 && text.compare(text.size() - 2, 2, "ms") == 0;
  const bool in_s = !in_ms && text.size() > 1 && text.back() == 's';
  if (!in_ms && !in_s) return std::nullopt;
  const size_t digits = text.size() - (in_ms ? 2 : 1);
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + digits, value);
  if (error != std::errc{} || end != text.data() + digits || value < 0) return std::nullopt;
  if (in_s && value > kMaxWorkMs / 1000) return std::nullopt;
  const int64_t ms = in_s ? value * 1000 : value;
  if (ms > kMaxWorkMs) return std::nullopt;
  return milliseconds{ms};
}

nlohmann::json DrainBody(const AppState::Snapshot& snapshot) {
  return {{"draining", snapshot.draining}, {"inflight", snapshot.inflight}};
}

void InstallRoutes(AppServer& server, AppState& state, const Options& options) {
  server.Get("/", [&](const httplib::Request&, httplib::Response& res) {
    auto ticket = std::make_shared<RequestTicket>(state, RequestKind::kControl);
    Reply(res, std::move(ticket), 200, "drainable_app " + options.name + "\n", "text/plain");
  });

  server.Get("/healthz", [&](const httplib::Request&, httplib::Response& res) {
    Reply(res, std::make_shared<RequestTicket>(state, RequestKind::kControl), 200, "ok\n",
          "text/plain");
  });

  server.Get("/work", [&](const httplib::Request& req, httplib::Response& res) {
    int64_t ms = 0;
    if (req.has_param("ms")) {
      const std::string text = req.get_param_value("ms");
      auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), ms);
      if (error != std::errc{} || end != text.data() + text.size() || ms < 0) {
        Reply(res, std::make_shared<RequestTicket>(state, RequestKind::kControl), 400,
              "ms must be a non-negative integer\n", "text/plain");
        return;
      }
    }
    ms = std::min(ms, kMaxWorkMs);
    auto ticket = std::make_shared<RequestTicket>(state, RequestKind::kWork);
    std::this_thread::sleep_for(milliseconds{ms});
    Reply(res, std::move(ticket), 200,
          nlohmann::json{{"name", options.name}, {"slept_ms", ms}}.dump(), "application/json");
  });

  server.Get("/drain/status", [&](const httplib::Request&, httplib::Response& res) {
    auto ticket = std::make_shared<RequestTicket>(state, RequestKind::kControl);
    const AppState::Snapshot snapshot = state.Read();
    const nlohmann::json body = {{"name", options.name},
                                 {"draining", snapshot.draining},
                                 {"inflight", snapshot.inflight},
                                 {"served", snapshot.served}};
    Reply(res, std::move(ticket), 200, body.dump(), "application/json");
  });

  if (options.drain_endpoint) {
    server.Post("/drain", [&](const httplib::Request&, httplib::Response& res) {
      auto ticket = std::make_shared<RequestTicket>(state, RequestKind::kControl);
      if (state.StartDraining()) Log("draining");
      Reply(res, std::move(ticket), 202, DrainBody(state.Read()).dump(), "application/json");
    });
    // Not draining means not drained: nobody asked, so a lost trigger shows as a drain timeout.
    server.Get("/drain", [&](const httplib::Request& req, httplib::Response& res) {
      auto ticket = std::make_shared<RequestTicket>(state, RequestKind::kControl);
      AppState::Snapshot snapshot = state.Read();
      if (req.has_param("wait")) {
        const std::optional<milliseconds> wait = ParseWait(req.get_param_value("wait"));
        if (!wait) {
          Reply(res, std::move(ticket), 400, "wait must be N ms or N s, at most 60s\n",
                "text/plain");
          return;
        }
        snapshot = state.WaitDrained(Clock::now() + *wait);
      }
      const int status = snapshot.draining && snapshot.inflight == 0 ? 200 : 202;
      Reply(res, std::move(ticket), status, DrainBody(snapshot).dump(), "application/json");
    });
  }

  server.set_post_routing_handler([&state](const httplib::Request&, httplib::Response& res) {
    if (state.Closing()) res.set_header("Connection", "close");
  });

  if (options.log_requests) {
    server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::printf("%s %s %d\n", req.method.c_str(), req.target.c_str(), res.status);
      std::fflush(stdout);
    });
  }
}

// Start-up only: exits 2 with a message on bad flags.
Options ParseOptions(int argc, char** argv) {
  Options options;
  std::string shutdown_timeout = "30s";
  CLI::App cli{"An HTTP app that implements lastcall's drain protocol.", "drainable_app"};
  cli.add_option("--listen", options.listen, "HOST:PORT to listen on (port 0: any free port)")
      ->envname("DRAINABLE_APP_LISTEN")
      ->capture_default_str();
  cli.add_option("--name", options.name, "Name echoed in responses")
      ->envname("DRAINABLE_APP_NAME")
      ->capture_default_str();
  cli.add_option("--shutdown-timeout", shutdown_timeout,
                 "At SIGTERM, how long to let in-flight requests finish (250ms, 30s, 1m30s)")
      ->envname("DRAINABLE_APP_SHUTDOWN_TIMEOUT")
      ->capture_default_str();
  cli.add_option("--threads", options.threads, "Request-handling threads")
      ->envname("DRAINABLE_APP_THREADS")
      ->check(CLI::Range(size_t{1}, size_t{4096}))
      ->capture_default_str();
  cli.add_flag("--naive", options.naive, "Exit at SIGTERM at once, dropping in-flight requests")
      ->envname("DRAINABLE_APP_NAIVE");
  cli.add_flag("--drain-exit", options.drain_exit, "Shut down by itself once drained")
      ->envname("DRAINABLE_APP_DRAIN_EXIT");
  bool no_drain_endpoint = false;
  cli.add_flag("--no-drain-endpoint", no_drain_endpoint, "Answer 404 on /drain")
      ->envname("DRAINABLE_APP_NO_DRAIN_ENDPOINT");
  cli.add_option("--keep-alive-timeout", options.keep_alive_seconds,
                 "Seconds an idle keep-alive connection stays open (httplib's default: 5; "
                 "nginx's 75, ingress-nginx's upstream pool 60)")
      ->envname("DRAINABLE_APP_KEEP_ALIVE_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cli.add_flag("--log-requests", options.log_requests, "Print one stdout line per request")
      ->envname("DRAINABLE_APP_LOG_REQUESTS");
  cli.add_option("--push-drained", options.push_drained,
                 "Once drained, POST here (lastcall's control endpoint, e.g. "
                 "http://127.0.0.1:9902/drained) instead of waiting to be polled")
      ->envname("DRAINABLE_APP_PUSH_DRAINED");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(cli.exit(e) == 0 ? 0 : 2);
  }
  options.drain_endpoint = !no_drain_endpoint;
  const std::optional<milliseconds> timeout = ParseDuration(shutdown_timeout);
  if (!timeout) {
    Log("invalid --shutdown-timeout \"" + shutdown_timeout + "\": want e.g. 500ms, 30s, 1m30s");
    std::exit(2);
  }
  if (!options.push_drained.empty() && (options.push_drained.rfind("http://", 0) != 0 ||
                                        options.push_drained.find('/', 7) == std::string::npos)) {
    Log("invalid --push-drained \"" + options.push_drained + "\": want http://HOST:PORT/PATH");
    std::exit(2);
  }
  options.shutdown_timeout = *timeout;
  return options;
}

void LogStamps(const Stamps& stamps) {
  Log("stamps: last_work_arrived=" + FormatMono(stamps.last_work_arrived) +
      " last_work_ended=" + FormatMono(stamps.last_work_ended) + " drain_requested=" +
      FormatMono(stamps.drain_requested) + " drained=" + FormatMono(stamps.drained) +
      " stop=" + FormatMono(stamps.stop) + " drained_unix=" +
      (stamps.drained ? FormatSeconds(stamps.drained_unix.time_since_epoch()) : "-"));
}

// Exits without running destructors: request threads may still be inside the server.
[[noreturn]] void ExitNow(int code) {
  std::fflush(nullptr);
  std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are collected by one thread with sigwait, so block them before any thread starts
  // (threads inherit the mask). A client hanging up must not kill us with SIGPIPE.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const Options options = ParseOptions(argc, argv);
  const std::optional<ListenAddress> address = ParseListenAddress(options.listen);
  if (!address) {
    Log("invalid --listen \"" + options.listen + "\": want HOST:PORT, [V6]:PORT or :PORT");
    return 2;
  }

  AppState state(options.drain_exit);
  std::optional<DrainedPusher> pusher;
  if (!options.push_drained.empty()) {
    // The last request's thread only sends (DrainedPusher); the answer is read and reported on
    // the pusher's thread, after the push, so the report reads the stamps the push saw. Shared
    // pointers: that thread is detached and may outlive main's locals.
    auto drained = std::make_shared<std::optional<Stamps>>();
    auto mu = std::make_shared<std::mutex>();
    pusher.emplace(options.push_drained, [url = options.push_drained, drained, mu](
                                             Clock::time_point sent, const std::string& result) {
      std::lock_guard lock(*mu);
      const Stamps stamps = drained->value_or(Stamps{});
      Log("drained at mono=" + FormatMono(stamps.drained) +
          " unix=" + FormatSeconds(stamps.drained_unix.time_since_epoch()) + ": pushed to " + url +
          " at mono=" + FormatMono(sent) + ": " + result);
    });
    state.OnDrained([&pusher] { pusher->Prepare(); },
                    [&pusher, drained, mu](const Stamps& stamps) {
                      {
                        std::lock_guard lock(*mu);
                        *drained = stamps;
                      }
                      pusher->Push();
                    });
  }
  AppServer server;
  server.new_task_queue = [&state, threads = options.threads] {
    return new CountingThreadPool(threads, state);
  };
  server.set_keep_alive_max_count(kKeepAliveMaxCount);
  server.set_keep_alive_timeout(options.keep_alive_seconds);
  // httplib writes headers and body separately; with Nagle's algorithm the body then waits for
  // the client's delayed ACK, adding 40 ms to every keep-alive response.
  server.set_tcp_nodelay(true);
  server.set_socket_options(SetListenerOptions);
  InstallRoutes(server, state, options);

  int port = address->port;
  const bool bound = port == 0 ? (port = server.bind_to_any_port(address->host)) > 0
                               : server.bind_to_port(address->host, port);
  if (!bound) {
    Log("cannot listen on " + options.listen);
    return 1;
  }
  if (!server.RaiseBacklog(kListenBacklog)) Log("cannot raise the listen backlog; serving anyway");

  std::thread server_thread([&server, &state] {
    if (!server.listen_after_bind()) state.RequestStop(AppState::Stop::kServerFailed);
    state.MarkServerStopped();
  });
  std::thread([&state, stop_signals] {
    for (;;) {
      int signo = 0;
      if (sigwait(&stop_signals, &signo) != 0) continue;
      if (!state.RequestStop(AppState::Stop::kSignal)) Log("already shutting down");
    }
  }).detach();

  // stop() does nothing until the accept loop runs, so announce the port only once it does.
  while (!server.is_running() && !state.WaitServerStopped(Clock::now() + milliseconds{1})) {
  }
  if (!server.is_running()) {
    Log("server failed to start");
    ExitNow(1);
  }
  std::printf("drainable_app listening on %s\n", FormatHostPort(address->host, port).c_str());
  std::fflush(stdout);

  const AppState::Stop reason = state.WaitForStopRequest();
  const int64_t inflight = state.Read().inflight;
  if (reason == AppState::Stop::kServerFailed) {
    Log("server failed");
    ExitNow(1);
  }
  if (options.naive) {
    Log("naive: exiting now, dropping " + std::to_string(inflight) + " in-flight request(s)");
    LogStamps(state.ReadStamps());
    ExitNow(0);
  }
  Log(std::string(reason == AppState::Stop::kDrained ? "drained" : "signal") + ": shutting down, " +
      std::to_string(inflight) + " request(s) in flight");
  server.stop();
  const bool quiet = state.WaitQuiet(Clock::now() + options.shutdown_timeout);
  LogStamps(state.ReadStamps());
  if (!quiet) {
    Log("shutdown timeout: " + std::to_string(state.Read().inflight) +
        " request(s) still in flight");
    ExitNow(1);
  }
  Log("shut down cleanly; served " + std::to_string(state.Read().served) + " request(s)");
  if (!state.WaitServerStopped(Clock::now())) {
    // Idle keep-alive connections would hold httplib's threads until their timeout (5 s); Go's
    // Shutdown closes them, and exiting does the same.
    ExitNow(0);
  }
  server_thread.join();
  return 0;
}
