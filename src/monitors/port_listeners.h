#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/url.h"
#include "config/config.h"
#include "monitors/monitor.h"
#include "monitors/traffic_observer.h"

// Whether the app is gone, decided from the kernel's tables of the pod's network namespace (who
// listens on the app's port, in which address family, and which connections to it are open),
// never from one refused connection to one address: an app that listens on [::1] only (Node >= 17
// binds `localhost` there first) refuses 127.0.0.1 and is very much alive. The tables are read
// through the traffic observer (sock_diag, or /proc/net/tcp and /proc/net/tcp6).
//
// Gone means: no socket listens on the port in any address family, and no connection to it is
// open (ESTABLISHED, SYN_RECV, CLOSE_WAIT): an app that closed its listener but still answers the
// requests it accepted (Go's Server.Shutdown does that) is not gone either.
namespace lastcall {

struct PortListeners {
  uint16_t port = 0;
  size_t ipv4 = 0;         // LISTEN sockets on the port, IPv4
  size_t ipv6 = 0;         // and IPv6 (a dual-stack [::] listener is one of these)
  size_t connections = 0;  // open connections whose local port it is
  bool Nobody() const { return ipv4 == 0 && ipv6 == 0 && connections == 0; }
};

// What `snapshot` says about `port`. REQUIRES: the snapshot was taken for that port alone (its
// listener counts are over all its ports). Pure.
PortListeners ListenersOnPort(const TrafficSnapshot& snapshot, uint16_t port);

// "an IPv6 socket listens on port 8080", "2 IPv4 sockets and an IPv6 socket listen on port
// 8080, and 3 connections to it are open", "nothing listens on port 8080, but a connection to it
// is open". Pure.
std::string DescribeListeners(const PortListeners& seen);

// "127.0.0.1:8080", "[::1]:8080". Pure.
std::string HostPort(const Url& url);

// `url` on the loopback address of the other family (http://[::1]:8080/drain for
// http://127.0.0.1:8080/drain and back). nullopt when `url` is not on a loopback IP literal.
// Pure.
std::optional<Url> OtherLoopback(const Url& url);
std::string FormatUrl(const Url& url);  // http://[::1]:8080/drain. Pure.

// A refused connection to `url` (a poll whose outcome is kRefused), judged by what the kernel
// says of its port: returned as it came, kRefused, when nothing is there (`seen` Nobody: the app
// is gone), its detail saying so; otherwise kError (not drained, not gone) naming what listens
// where and, when only the other loopback family listens, the URL to use. `seen` nullopt: the
// tables could not be read (`table_error` says why): kError too, as nothing proves the app gone.
// Pure.
PollResult JudgeRefused(const Url& url, PollResult refused,
                        const std::optional<PortListeners>& seen, std::string_view table_error);

// The start-up warning about `url` (configured as `keys`), to which a connection was refused
// while `seen` shows the port in use: "nothing listens on 127.0.0.1:8080, but [::1]:8080 does
// (IPv6): use http://[::1]:8080/drain" when `other_loopback_accepts`, else what listens where.
// nullopt when nobody uses the port at all (the app may not have started yet). Pure.
std::optional<std::string> RefusedUrlWarning(std::string_view keys, const Url& url,
                                             const PortListeners& seen,
                                             bool other_loopback_accepts);

// The seam: what the kernel says about one port.
class ListeningTable {
 public:
  virtual ~ListeningTable() = default;
  // Returns nullopt and sets *error when neither sock_diag nor /proc/net/tcp* can be read, or
  // when the read is not done by `deadline`. Thread-compatible.
  virtual std::optional<PortListeners> Read(uint16_t port, TrafficTime deadline,
                                            std::string* error) = 0;
};

// Reads through MakeKernelTrafficObserver (one observation per Read). `files` must outlive it.
std::unique_ptr<ListeningTable> MakeKernelListeningTable(FileReader& files);

// Wraps a monitor that polls a URL (status, json, prometheus): a refused poll of a TCP URL is
// judged by JudgeRefused with what `table` reads of the URL's port, so that kRefused (which the
// sequence takes for "the app is gone": refused_means, the app-gone shortcut of lb_delay) is only
// ever returned with proof. Unix-socket URLs are left as they are: their path is their only
// address. Without a URL the monitor is returned as it is.
std::unique_ptr<DrainMonitor> WithGoneCheck(std::unique_ptr<DrainMonitor> monitor,
                                            const std::optional<Parsed<Url>>& url,
                                            std::unique_ptr<ListeningTable> table);

}  // namespace lastcall
