#pragma once

// A real HAProxy on 127.0.0.1 in front of two replicas, for the end-to-end tests: generated
// config, its runtime API on a stats socket, and the servers' states read back from it.
#include <cstdint>
#include <string>
#include <vector>

#include "harness.h"

namespace lastcall::e2e {

struct Backend {
  std::string name;         // "app1"
  uint16_t port = 0;        // where traffic goes
  uint16_t check_port = 0;  // where the active health check goes (lastcall's probe port)
};

struct HaproxyOptions {
  std::string check_path = "/readyz";  // option httpchk GET <path>
  int check_interval_ms = 200;         // inter; fall 1 rise 1
  // Close the server side after every answer: then an ESTABLISHED connection to an app is a
  // request in flight, which is what the `connections` monitor counts. With server keep-alive
  // HAProxy's idle pooled connections would count too.
  bool server_close = false;
  // `http-reuse always` and idle server connections kept 60 s (`pool-purge-delay`): any idle
  // connection may carry any client's next request, as ingress-nginx's upstream keep-alive pool
  // does (keepalive_timeout 60 s); idle connections to the app stay open.
  bool reuse_always = false;
};

class Haproxy {
 public:
  // Writes the config into a temp dir, starts `haproxy -db` and waits until every backend's
  // health check passed. Throws std::runtime_error with HAProxy's output when it does not.
  Haproxy(const std::vector<Backend>& backends, const HaproxyOptions& options);

  uint16_t port() const { return port_; }
  // Sends one runtime API command ("set server be/app1 state maint") and returns the answer.
  std::string Command(const std::string& command) const;
  // "UP", "DOWN", "MAINT", ... from `show stat` for backend server `name`; "" when not found.
  std::string ServerStatus(const std::string& name) const;
  // HAProxy's log: with `option dontlog-normal`, one line per failed or abnormal request.
  std::string Log() const { return process_.Output(); }
  const std::string& config() const { return config_; }

 private:
  uint16_t port_ = 0;
  std::string socket_;
  std::string config_;
  test::Process process_;
};

}  // namespace lastcall::e2e
