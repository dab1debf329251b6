#include "base/inet_diag.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>

namespace lastcall {
namespace {

constexpr size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }

// Reads a T at `offset` of `bytes` in host order. REQUIRES: offset + sizeof(T) <= bytes.size().
template <typename T>
T Load(std::span<const uint8_t> bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// A tcp_info field, if the attribute the kernel sent is long enough to hold it (the struct grew
// over kernel versions; older kernels send a shorter one).
template <typename T>
std::optional<T> InfoField(std::span<const uint8_t> info, size_t offset) {
  if (offset + sizeof(T) > info.size()) return std::nullopt;
  return Load<T>(info, offset);
}

void ReadTcpInfo(std::span<const uint8_t> info, DiagSocket& socket) {
  const auto received = InfoField<uint64_t>(info, offsetof(tcp_info, tcpi_bytes_received));
  const auto acked = InfoField<uint64_t>(info, offsetof(tcp_info, tcpi_bytes_acked));
  const auto last_recv = InfoField<uint32_t>(info, offsetof(tcp_info, tcpi_last_data_recv));
  const auto last_sent = InfoField<uint32_t>(info, offsetof(tcp_info, tcpi_last_data_sent));
  // Without bytes_received (kernel < 4.1) the info tells nothing the observer uses.
  if (!received || !acked || !last_recv || !last_sent) return;
  socket.has_info = true;
  socket.bytes_received = *received;
  socket.bytes_acked = *acked;
  socket.last_data_recv_ms = *last_recv;
  socket.last_data_sent_ms = *last_sent;
  socket.bytes_sent = InfoField<uint64_t>(info, offsetof(tcp_info, tcpi_bytes_sent));
  // Both counters start at 0 on an accepted socket (the SYN-ACK is the request socket's) and only
  // grow; their difference counts what the kernel sent that carried no data.
  const auto segs_out = InfoField<uint32_t>(info, offsetof(tcp_info, tcpi_segs_out));
  const auto data_segs_out = InfoField<uint32_t>(info, offsetof(tcp_info, tcpi_data_segs_out));
  const auto data_segs_in = InfoField<uint32_t>(info, offsetof(tcp_info, tcpi_data_segs_in));
  if (segs_out && data_segs_out && data_segs_in && *segs_out >= *data_segs_out) {
    socket.pure_acks_sent = *segs_out - *data_segs_out;
    socket.data_segs_in = *data_segs_in;
    socket.data_segs_out = *data_segs_out;
  }
  const auto options = InfoField<uint8_t>(info, offsetof(tcp_info, tcpi_options));
  socket.syn_data = options && (*options & TCPI_OPT_SYN_DATA) != 0;
}

// One SOCK_DIAG_BY_FAMILY message's payload: inet_diag_msg, then attributes.
bool ReadDiagMessage(std::span<const uint8_t> payload, DiagSocket& socket, std::string& what) {
  if (payload.size() < sizeof(inet_diag_msg)) {
    what = "payload of " + std::to_string(payload.size()) +
           " bytes is shorter than inet_diag_msg (" + std::to_string(sizeof(inet_diag_msg)) + ")";
    return false;
  }
  const auto msg = Load<inet_diag_msg>(payload, 0);
  if (msg.idiag_family != AF_INET && msg.idiag_family != AF_INET6) {
    what = "address family " + std::to_string(msg.idiag_family) + " is neither IPv4 nor IPv6";
    return false;
  }
  socket.ipv6 = msg.idiag_family == AF_INET6;
  socket.state = static_cast<TcpState>(msg.idiag_state);
  socket.local_port = ntohs(msg.id.idiag_sport);
  socket.remote_port = ntohs(msg.id.idiag_dport);
  socket.cookie = uint64_t{msg.id.idiag_cookie[0]} | (uint64_t{msg.id.idiag_cookie[1]} << 32);
  socket.recv_queue = msg.idiag_rqueue;
  socket.send_queue = msg.idiag_wqueue;
  size_t offset = Align4(sizeof(inet_diag_msg));
  while (offset + sizeof(rtattr) <= payload.size()) {
    const auto attr = Load<rtattr>(payload, offset);
    if (attr.rta_len < sizeof(rtattr) || offset + attr.rta_len > payload.size()) {
      what = "attribute at byte " + std::to_string(offset) + " has length " +
             std::to_string(attr.rta_len) + ", outside the message";
      return false;
    }
    if (attr.rta_type == INET_DIAG_INFO) {
      ReadTcpInfo(payload.subspan(offset + sizeof(rtattr), attr.rta_len - sizeof(rtattr)), socket);
    }
    offset += Align4(attr.rta_len);
  }
  return true;
}

}  // namespace

std::vector<uint8_t> BuildPortFilter(std::span<const uint16_t> ports, PortMatch match) {
  std::vector<uint16_t> unique(ports.begin(), ports.end());
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  std::vector<inet_diag_bc_op> ops;
  if (unique.empty()) {
    // One jump past the end: the kernel audits `yes` (4, the end) and runs `no` (reject).
    ops.push_back({INET_DIAG_BC_JMP, 4, 8});
  } else {
    // A comparison is two ops (the second carries the port in `no`); a jump is one.
    const size_t compare_ops = match == PortMatch::kEqual ? 2 : 4;
    const size_t total_ops = unique.size() * (compare_ops + 1) - 1;  // the last needs no jump
    if (total_ops * sizeof(inet_diag_bc_op) + sizeof(rtattr) > 0xFFFF) return {};
    for (size_t i = 0; i < unique.size(); ++i) {
      const bool last = i + 1 == unique.size();
      // Bytes from this port's first op to the next port's first op (or past the end: reject).
      const size_t block = (compare_ops + (last ? 0 : 1)) * sizeof(inet_diag_bc_op);
      const size_t skip_to_next = last ? block + sizeof(inet_diag_bc_op) : block;
      auto compare = [&](uint8_t code, size_t at) {
        ops.push_back({code, 8, static_cast<unsigned short>(skip_to_next - at)});
        ops.push_back({0, 0, unique[i]});
      };
      if (match == PortMatch::kEqual) {
        compare(INET_DIAG_BC_S_EQ, 0);
      } else {
        compare(INET_DIAG_BC_S_GE, 0);
        compare(INET_DIAG_BC_S_LE, 2 * sizeof(inet_diag_bc_op));
      }
      if (!last) {
        // Matched: jump to the end of the program (accept).
        const size_t remaining = (total_ops - ops.size()) * sizeof(inet_diag_bc_op);
        ops.push_back({INET_DIAG_BC_JMP, 4, static_cast<unsigned short>(remaining)});
      }
    }
  }
  std::vector<uint8_t> bytes(ops.size() * sizeof(inet_diag_bc_op));
  std::memcpy(bytes.data(), ops.data(), bytes.size());
  return bytes;
}

std::vector<uint8_t> BuildInetDiagRequest(bool ipv6, uint32_t states, uint32_t sequence,
                                          std::span<const uint8_t> filter) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  const size_t attribute = filter.empty() ? 0 : Align4(sizeof(rtattr) + filter.size());
  message.header.nlmsg_len = static_cast<uint32_t>(sizeof(message) + attribute);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.header.nlmsg_seq = sequence;
  message.request.sdiag_family = ipv6 ? AF_INET6 : AF_INET;
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_ext = 1u << (INET_DIAG_INFO - 1);
  message.request.idiag_states = states;
  std::vector<uint8_t> bytes(sizeof(message) + attribute);
  std::memcpy(bytes.data(), &message, sizeof(message));
  if (!filter.empty()) {
    rtattr header{};
    header.rta_len = static_cast<unsigned short>(sizeof(rtattr) + filter.size());
    header.rta_type = INET_DIAG_REQ_BYTECODE;
    std::memcpy(bytes.data() + sizeof(message), &header, sizeof(header));
    std::memcpy(bytes.data() + sizeof(message) + sizeof(rtattr), filter.data(), filter.size());
  }
  return bytes;
}

std::optional<InetDiagChunk> ParseInetDiagChunk(std::span<const uint8_t> bytes,
                                                std::string* error) {
  InetDiagChunk chunk;
  size_t offset = 0;
  size_t index = 0;
  while (offset < bytes.size() && !chunk.done) {
    ++index;
    auto fail = [&](const std::string& what) {
      *error =
          "message " + std::to_string(index) + " at byte " + std::to_string(offset) + ": " + what;
      return std::nullopt;
    };
    if (bytes.size() - offset < sizeof(nlmsghdr)) {
      return fail(std::to_string(bytes.size() - offset) + " bytes left, shorter than a header");
    }
    const auto header = Load<nlmsghdr>(bytes, offset);
    if (header.nlmsg_len < sizeof(nlmsghdr)) {
      return fail("length " + std::to_string(header.nlmsg_len) + " is shorter than its header");
    }
    if (header.nlmsg_len > bytes.size() - offset) {
      return fail("length " + std::to_string(header.nlmsg_len) + " runs past the " +
                  std::to_string(bytes.size()) + " bytes received");
    }
    const auto payload =
        bytes.subspan(offset + sizeof(nlmsghdr), header.nlmsg_len - sizeof(nlmsghdr));
    if (header.nlmsg_type == NLMSG_DONE) {
      chunk.done = true;
    } else if (header.nlmsg_type == NLMSG_ERROR) {
      if (payload.size() < sizeof(int)) return fail("error message without an error number");
      const int code = Load<int>(payload, 0);
      // errno 0 in NLMSG_ERROR is an acknowledgement, not an error.
      if (code != 0) {
        chunk.kernel_error = code == INT_MIN ? INT_MAX : (code < 0 ? -code : code);
        chunk.done = true;
      }
    } else if (header.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      DiagSocket socket;
      std::string what;
      if (!ReadDiagMessage(payload, socket, what)) return fail(what);
      chunk.sockets.push_back(socket);
    }
    offset += Align4(header.nlmsg_len);
  }
  return chunk;
}

}  // namespace lastcall
