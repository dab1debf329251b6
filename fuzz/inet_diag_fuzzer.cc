// ParseInetDiagChunk over arbitrary bytes (a datagram from the kernel's sock_diag), then what the
// traffic observer does with the sockets it returns.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "base/inet_diag.h"
#include "fuzz_check.h"
#include "monitors/traffic_observer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lastcall::fuzz::Require;
  std::string error;
  const auto chunk = lastcall::ParseInetDiagChunk(std::span<const uint8_t>(data, size), &error);
  if (!chunk) {
    Require(!error.empty(), "a rejected datagram comes with a reason");
    return 0;
  }
  Require(chunk->kernel_error >= 0, "a kernel error is a positive errno");
  lastcall::TrafficSnapshot before;
  lastcall::TrafficSnapshot now;
  for (const auto& socket : chunk->sockets) {
    lastcall::TrafficConnection c;
    c.id = socket.cookie;
    c.state = socket.state;
    c.has_info = socket.has_info;
    c.bytes_received = socket.bytes_received;
    c.bytes_answered = socket.bytes_sent.value_or(socket.bytes_acked);
    c.last_data_recv_ms = socket.last_data_recv_ms;
    c.last_data_sent_ms = socket.last_data_sent_ms;
    c.recv_queue = socket.recv_queue;
    c.send_queue = socket.send_queue;
    c.has_pure_acks = socket.pure_acks_sent.has_value();
    c.pure_acks = socket.pure_acks_sent.value_or(0);
    c.data_segs_in = socket.data_segs_in;
    c.data_segs_out = socket.data_segs_out;
    c.syn_data = socket.syn_data;
    (c.id % 2 == 0 ? before : now).connections.push_back(c);
  }
  lastcall::InFlightHistory history({static_cast<int>(size % 65536)});
  history.Classify(before);
  history.Classify(now);
  Require(history.remembered() <= now.connections.size(), "closed connections are forgotten");
  const auto since = lastcall::CompareTraffic(before, now);
  Require(since.new_connections <= now.connections.size(), "new connections are connections");
  return 0;
}
