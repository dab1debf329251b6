#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/proc_net_tcp.h"

// The traffic observer's pure half for netlink: builds the sock_diag dump request for TCP
// sockets (NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, inet_diag_req_v2 asking for INET_DIAG_INFO,
// with an INET_DIAG_REQ_BYTECODE port filter the kernel runs on each socket, so that sockets on
// other ports never cross into user space) and parses the kernel's answer (nlmsghdr +
// inet_diag_msg + attributes, tcp_info among them).
// No I/O here: the bytes come from traffic_observer.cc or from a test.
namespace lastcall {

// What one socket of the dump says. The tcp_info fields are present only when the kernel sent
// INET_DIAG_INFO long enough to hold them (TIME_WAIT and request sockets carry none; a kernel
// older than 4.19 lacks bytes_sent).
struct DiagSocket {
  bool ipv6 = false;
  TcpState state = TcpState::kClose;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint64_t cookie = 0;          // the kernel's socket cookie: unique while the socket lives
  uint32_t recv_queue = 0;      // bytes received and not yet read by the app (listeners: backlog)
  uint32_t send_queue = 0;      // bytes the app wrote that the peer has not acknowledged yet
  bool has_info = false;        // the next fields come from tcp_info
  uint64_t bytes_received = 0;  // tcpi_bytes_received: request bytes, all time
  uint64_t bytes_acked = 0;     // tcpi_bytes_acked: answer bytes the peer acknowledged
  std::optional<uint64_t> bytes_sent;  // tcpi_bytes_sent (kernel >= 4.19)
  uint32_t last_data_recv_ms = 0;      // tcpi_last_data_recv: ms since data last arrived
  uint32_t last_data_sent_ms = 0;      // tcpi_last_data_sent: ms since data was last sent
  // Segments sent without data (tcpi_segs_out - tcpi_data_segs_out): ACKs, window updates,
  // probes. Nullopt before kernel 4.6 (no tcpi_data_segs_out); the next two are then 0.
  std::optional<uint32_t> pure_acks_sent;
  uint32_t data_segs_in = 0;   // tcpi_data_segs_in: segments received with data
  uint32_t data_segs_out = 0;  // tcpi_data_segs_out: segments sent with data
  bool syn_data = false;       // TCPI_OPT_SYN_DATA: data rode on the handshake (TCP Fast Open)
};

// The kernel's TCP state bit for `state`, for idiag_states (1 << state).
constexpr uint32_t StateBit(TcpState state) { return 1u << static_cast<unsigned>(state); }

// How the port filter compares a socket's local port: INET_DIAG_BC_S_EQ needs Linux >= 4.16;
// a range of one port (S_GE then S_LE) works on every kernel with sock_diag.
enum class PortMatch { kEqual, kRange };

// The inet_diag bytecode (the payload of INET_DIAG_REQ_BYTECODE) that accepts a socket whose
// local port is one of `ports` and rejects every other: per port a comparison whose success
// falls through to a jump to the end (accept) and whose failure skips to the next port's; the
// last one's failure jumps past the end (reject). Every op is on the chain of `yes` offsets and
// every `no` lands on an op or just past the end, as the kernel's audit (inet_diag_bc_audit)
// requires. Duplicates are dropped; no port gives a program that rejects everything. Empty
// when the ports do not fit one attribute (more than 5000): the caller then filters itself.
// Pure.
std::vector<uint8_t> BuildPortFilter(std::span<const uint16_t> ports, PortMatch match);

// The bytes of one dump request: every TCP socket of `ipv6 ? AF_INET6 : AF_INET` in one of
// `states` (a mask of StateBit values), with tcp_info, and when `filter` is not empty only those
// it accepts (a BuildPortFilter program). `sequence` is echoed in the answers. Pure.
std::vector<uint8_t> BuildInetDiagRequest(bool ipv6, uint32_t states, uint32_t sequence,
                                          std::span<const uint8_t> filter = {});

// One datagram of the kernel's answer parsed. A dump spans several datagrams; the last one holds
// NLMSG_DONE.
struct InetDiagChunk {
  std::vector<DiagSocket> sockets;
  bool done = false;     // NLMSG_DONE seen: the dump is complete
  int kernel_error = 0;  // NLMSG_ERROR's errno (positive), 0 when none
};

// Parses one datagram: netlink messages back to back, each 4-byte aligned. Messages of other
// types are skipped. Returns nullopt and sets *error ("message 2 at byte 72: length 20 is
// shorter than its header") when a length field points outside the buffer or a message is too
// short for what its type promises. Never reads outside `bytes`. Pure.
std::optional<InetDiagChunk> ParseInetDiagChunk(std::span<const uint8_t> bytes, std::string* error);

}  // namespace lastcall
