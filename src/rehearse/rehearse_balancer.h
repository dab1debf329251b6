#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

// The load balancer `lastcall rehearse` puts in front of the rehearsed replica: a stand-in for
// kube-proxy on 127.0.0.1.
//
// Like kube-proxy (iptables, IPVS and nftables modes alike) it balances TCP connections, not
// requests:
// - Until RemoveEndpoint() (the kubelet emulation calls it once the endpoint removal has
//   propagated), every new connection is forwarded to the replica, byte for byte.
// - After it, new connections go to the rest of the Service: in a cluster the Service has other
//   ready endpoints, so they are answered by a built-in stand-in for "another replica" (every
//   request gets 200 with the header `X-Lastcall-Rehearse: other-replica`, keep-alive).
// - Connections accepted before it stay on the replica until one side closes them: kube-proxy
//   never cuts an established connection when an endpoint goes away (its conntrack entry keeps
//   the DNAT; only UDP entries are flushed). So a client that keeps a connection alive keeps
//   sending requests to a terminating pod for as long as the pod keeps that connection open; a
//   draining app should answer with `Connection: close`. When the replica closes its side, the
//   client's side is closed too; when the replica resets it, the client's side is reset.
// - A connection the replica refuses (nobody listens) is, in a cluster, a refused connection;
//   here the balancer has already accepted it, so it reads the request and answers 502 with
//   `X-Lastcall-Rehearse: refused` (or `connect-timeout` when the connect takes over 3 s), which
//   the load generator counts as refused (or timed out).
// One epoll thread; at most kMaxConnections client connections at once (more are reset).
namespace lastcall {

// The header the balancer's own answers carry (lower case, as ResponseReader stores names).
inline constexpr std::string_view kRehearseHeader = "x-lastcall-rehearse";
inline constexpr std::string_view kOtherReplica = "other-replica";
inline constexpr std::string_view kBackendRefused = "refused";
inline constexpr std::string_view kBackendConnectTimeout = "connect-timeout";

struct BalancerCounts {
  uint64_t to_replica = 0;         // connections forwarded to the replica
  uint64_t to_other_replicas = 0;  // connections answered by the stand-in after the removal
  uint64_t refused = 0;            // connections the replica refused (or timed out connecting)
};

class LoadBalancer {
 public:
  static constexpr size_t kMaxConnections = 4096;

  // `backend_host` is an IPv4 or IPv6 literal (the replica's address), `backend_port` its port.
  LoadBalancer(std::string backend_host, uint16_t backend_port);
  ~LoadBalancer();  // Stop()s
  LoadBalancer(const LoadBalancer&) = delete;
  LoadBalancer& operator=(const LoadBalancer&) = delete;

  // Listens on 127.0.0.1 (a free port) and starts the thread. Returns "" or the problem.
  // REQUIRES: called once.
  std::string Start();
  // The port clients connect to. REQUIRES: Start succeeded.
  uint16_t port() const;

  // From now on, new connections go to the other replicas. Idempotent; thread-safe.
  void RemoveEndpoint();
  bool endpoint_removed() const;

  BalancerCounts counts() const;  // thread-safe

  // Closes every connection (resetting those still open) and joins the thread. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lastcall
