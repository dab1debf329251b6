#include "base/inet_diag.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

namespace lastcall {
namespace {

template <typename T>
void Append(std::vector<uint8_t>& bytes, const T& value) {
  const size_t at = bytes.size();
  bytes.resize(at + sizeof(T));
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}

// Overwrites bytes [offset, offset + sizeof(T)) with `value`.
template <typename T>
void Store(std::vector<uint8_t>& bytes, size_t offset, const T& value) {
  std::array<uint8_t, sizeof(T)> raw;
  std::memcpy(raw.data(), &value, sizeof(T));
  REQUIRE(offset + sizeof(T) <= bytes.size());
  std::copy(raw.begin(), raw.end(), bytes.begin() + static_cast<std::ptrdiff_t>(offset));
}

void Pad4(std::vector<uint8_t>& bytes) {
  while (bytes.size() % 4 != 0) bytes.push_back(0);
}

// One SOCK_DIAG_BY_FAMILY message as the kernel sends it; `info_size` bytes of tcp_info (0: no
// INET_DIAG_INFO attribute).
std::vector<uint8_t> DiagMessage(uint8_t family, uint8_t state, uint16_t local_port,
                                 uint64_t cookie, size_t info_size, const tcp_info& info = {}) {
  std::vector<uint8_t> payload;
  inet_diag_msg msg{};
  msg.idiag_family = family;
  msg.idiag_state = state;
  msg.id.idiag_sport = htons(local_port);
  msg.id.idiag_dport = htons(40000);
  msg.id.idiag_cookie[0] = static_cast<uint32_t>(cookie);
  msg.id.idiag_cookie[1] = static_cast<uint32_t>(cookie >> 32);
  msg.idiag_rqueue = 3;
  msg.idiag_wqueue = 7;
  Append(payload, msg);
  // An attribute the parser skips, before the one it reads.
  rtattr other{};
  other.rta_len = sizeof(rtattr) + 1;
  other.rta_type = INET_DIAG_SHUTDOWN;
  Append(payload, other);
  payload.push_back(0);
  Pad4(payload);
  if (info_size > 0) {
    rtattr attr{};
    attr.rta_len = static_cast<unsigned short>(sizeof(rtattr) + info_size);
    attr.rta_type = INET_DIAG_INFO;
    Append(payload, attr);
    const size_t at = payload.size();
    payload.resize(at + info_size);
    std::memcpy(payload.data() + at, &info, info_size);
    Pad4(payload);
  }
  std::vector<uint8_t> bytes;
  nlmsghdr header{};
  header.nlmsg_len = static_cast<uint32_t>(sizeof(nlmsghdr) + payload.size());
  header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  Append(bytes, header);
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  return bytes;
}

std::vector<uint8_t> Control(uint16_t type, int error_number = 0) {
  std::vector<uint8_t> bytes;
  nlmsghdr header{};
  header.nlmsg_len = sizeof(nlmsghdr) + (type == NLMSG_ERROR ? sizeof(nlmsgerr) : sizeof(int));
  header.nlmsg_type = type;
  Append(bytes, header);
  if (type == NLMSG_ERROR) {
    nlmsgerr err{};
    err.error = error_number;
    Append(bytes, err);
  } else {
    Append(bytes, 0);
  }
  return bytes;
}

std::vector<uint8_t> Concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

tcp_info SampleInfo() {
  tcp_info info{};
  info.tcpi_bytes_received = 120;
  info.tcpi_bytes_acked = 80;
  info.tcpi_bytes_sent = 90;
  info.tcpi_last_data_recv = 5;
  info.tcpi_last_data_sent = 12;
  info.tcpi_segs_out = 9;
  info.tcpi_data_segs_out = 7;
  info.tcpi_data_segs_in = 6;
  return info;
}

TEST_CASE("inet_diag: the request asks for TCP sockets of one family with tcp_info") {
  for (bool ipv6 : {false, true}) {
    const std::vector<uint8_t> bytes = BuildInetDiagRequest(ipv6, 0x4A, 7);
    REQUIRE(bytes.size() == sizeof(nlmsghdr) + sizeof(inet_diag_req_v2));
    nlmsghdr header;
    std::memcpy(&header, bytes.data(), sizeof(header));
    inet_diag_req_v2 request;
    std::memcpy(&request, bytes.data() + sizeof(header), sizeof(request));
    CHECK(header.nlmsg_len == bytes.size());
    CHECK(header.nlmsg_type == SOCK_DIAG_BY_FAMILY);
    CHECK(header.nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP));
    CHECK(header.nlmsg_seq == 7);
    CHECK(request.sdiag_family == (ipv6 ? AF_INET6 : AF_INET));
    CHECK(request.sdiag_protocol == IPPROTO_TCP);
    CHECK(request.idiag_ext == (1 << (INET_DIAG_INFO - 1)));
    CHECK(request.idiag_states == 0x4A);
  }
  CHECK(StateBit(TcpState::kListen) == (1u << 10));
}

TEST_CASE("inet_diag: a dump with sockets, tcp_info and NLMSG_DONE") {
  const tcp_info info = SampleInfo();
  const auto bytes =
      Concat({DiagMessage(AF_INET, 1, 8080, 0x1122334455667788ull, sizeof(tcp_info), info),
              DiagMessage(AF_INET6, 10, 8080, 2, 0), Control(NLMSG_DONE)});
  std::string error;
  const auto chunk = ParseInetDiagChunk(bytes, &error);
  REQUIRE_MESSAGE(chunk, error);
  CHECK(chunk->done);
  CHECK(chunk->kernel_error == 0);
  REQUIRE(chunk->sockets.size() == 2);
  const DiagSocket& first = chunk->sockets[0];
  CHECK_FALSE(first.ipv6);
  CHECK(first.state == TcpState::kEstablished);
  CHECK(first.local_port == 8080);
  CHECK(first.remote_port == 40000);
  CHECK(first.cookie == 0x1122334455667788ull);
  CHECK(first.recv_queue == 3);
  CHECK(first.send_queue == 7);
  CHECK(first.has_info);
  CHECK(first.bytes_received == 120);
  CHECK(first.bytes_acked == 80);
  CHECK(first.bytes_sent == 90);
  CHECK(first.last_data_recv_ms == 5);
  CHECK(first.last_data_sent_ms == 12);
  CHECK(first.pure_acks_sent == 2u);
  CHECK(first.data_segs_in == 6);
  CHECK(first.data_segs_out == 7);
  CHECK_FALSE(first.syn_data);
  const DiagSocket& second = chunk->sockets[1];
  CHECK(second.ipv6);
  CHECK(second.state == TcpState::kListen);
  CHECK_FALSE(second.has_info);
}

TEST_CASE("inet_diag: a shorter tcp_info (older kernel) gives what it holds") {
  const tcp_info info = SampleInfo();
  std::string error;
  // Up to bytes_received but without bytes_sent (kernels 4.1 to 4.18).
  const size_t without_sent = offsetof(tcp_info, tcpi_bytes_sent);
  auto chunk = ParseInetDiagChunk(DiagMessage(AF_INET, 1, 80, 1, without_sent, info), &error);
  REQUIRE(chunk);
  REQUIRE(chunk->sockets.size() == 1);
  CHECK(chunk->sockets[0].has_info);
  CHECK_FALSE(chunk->sockets[0].bytes_sent.has_value());
  CHECK(chunk->sockets[0].bytes_acked == 80);
  CHECK(chunk->sockets[0].pure_acks_sent == 2u);
  // Without data_segs_out (kernels 4.2 to 4.5): the ACKs sent are unknown, the rest is there.
  chunk = ParseInetDiagChunk(
      DiagMessage(AF_INET, 1, 80, 1, offsetof(tcp_info, tcpi_data_segs_out), info), &error);
  REQUIRE(chunk);
  CHECK(chunk->sockets[0].has_info);
  CHECK_FALSE(chunk->sockets[0].pure_acks_sent.has_value());
  // Too short for bytes_received: no info at all.
  chunk = ParseInetDiagChunk(DiagMessage(AF_INET, 1, 80, 1, 64, info), &error);
  REQUIRE(chunk);
  CHECK_FALSE(chunk->sockets[0].has_info);
  CHECK_FALSE(chunk->done);  // no NLMSG_DONE in this datagram: more follow
}

TEST_CASE("inet_diag: the kernel's error ends the dump with its errno") {
  std::string error;
  auto chunk = ParseInetDiagChunk(Control(NLMSG_ERROR, -EPERM), &error);
  REQUIRE(chunk);
  CHECK(chunk->done);
  CHECK(chunk->kernel_error == EPERM);
  // errno 0 is an acknowledgement.
  chunk = ParseInetDiagChunk(Concat({Control(NLMSG_ERROR, 0), Control(NLMSG_DONE)}), &error);
  REQUIRE(chunk);
  CHECK(chunk->kernel_error == 0);
  CHECK(chunk->done);
}

TEST_CASE("inet_diag: malformed datagrams are refused with where and what") {
  const auto good = DiagMessage(AF_INET, 1, 8080, 1, sizeof(tcp_info), SampleInfo());
  struct Case {
    std::vector<uint8_t> bytes;
    std::string error;
  };
  std::vector<Case> cases;
  cases.push_back({std::vector<uint8_t>(good.begin(), good.begin() + 10),
                   "message 1 at byte 0: 10 bytes left, shorter than a header"});
  {
    auto bytes = good;
    const uint32_t length = 8;
    Store(bytes, 0, length);
    cases.push_back({bytes, "message 1 at byte 0: length 8 is shorter than its header"});
  }
  {
    auto bytes = Concat({Control(NLMSG_NOOP), good});
    bytes.resize(bytes.size() - 4);
    cases.push_back({bytes, "message 2 at byte 20: length " + std::to_string(good.size()) +
                                " runs past the " + std::to_string(bytes.size()) +
                                " bytes received"});
  }
  {
    // The header's length cut to hold only half of inet_diag_msg.
    auto bytes = good;
    const uint32_t length = sizeof(nlmsghdr) + 36;
    Store(bytes, 0, length);
    bytes.resize(length);
    cases.push_back({bytes,
                     "message 1 at byte 0: payload of 36 bytes is shorter than "
                     "inet_diag_msg (72)"});
  }
  {
    // The attribute's length points past the message.
    auto bytes = good;
    const size_t attr_at = sizeof(nlmsghdr) + sizeof(inet_diag_msg);
    const uint16_t length = 60000;
    Store(bytes, attr_at, length);
    cases.push_back({bytes,
                     "message 1 at byte 0: attribute at byte 72 has length 60000, "
                     "outside the message"});
  }
  cases.push_back({DiagMessage(AF_UNIX, 1, 8080, 1, 0),
                   "message 1 at byte 0: address family 1 is neither IPv4 nor IPv6"});
  for (const Case& c : cases) {
    CAPTURE(c.error);
    std::string error;
    CHECK_FALSE(ParseInetDiagChunk(c.bytes, &error).has_value());
    CHECK(error == c.error);
  }
  // Every prefix of a good dump parses or fails cleanly: never a read outside the buffer (the
  // fuzzer goes further).
  const auto dump = Concat({good, good, Control(NLMSG_DONE)});
  for (size_t n = 0; n <= dump.size(); ++n) {
    std::string error;
    (void)ParseInetDiagChunk(std::span<const uint8_t>(dump.data(), n), &error);
  }
}

// --- the port filter --------------------------------------------------------------------------

std::vector<inet_diag_bc_op> Ops(const std::vector<uint8_t>& bytes) {
  REQUIRE(bytes.size() % sizeof(inet_diag_bc_op) == 0);
  std::vector<inet_diag_bc_op> ops(bytes.size() / sizeof(inet_diag_bc_op));
  std::memcpy(ops.data(), bytes.data(), bytes.size());
  return ops;
}

// The kernel's inet_diag_bc_audit for the ops the filter uses: walks the `yes` chain, and each
// `no` must land on an op of that chain or just past the end. Returns false where it refuses.
bool KernelAccepts(const std::vector<uint8_t>& bytes) {
  const auto ops = Ops(bytes);
  const int total = static_cast<int>(bytes.size());
  std::vector<int> chain;  // remaining lengths at each op on the yes chain
  for (int len = total; len > 0;) {
    const inet_diag_bc_op& op = ops[static_cast<size_t>(total - len) / 4];
    chain.push_back(len);
    int min_len = 4;
    switch (op.code) {
      case INET_DIAG_BC_S_EQ:
      case INET_DIAG_BC_S_GE:
      case INET_DIAG_BC_S_LE:
        min_len += 4;
        if (len < min_len) return false;
        break;
      case INET_DIAG_BC_JMP:
        break;
      default:
        return false;
    }
    if (op.yes < min_len || op.yes > len + 4 || (op.yes & 3) != 0) return false;
    len -= op.yes;
    if (len < 0) return false;
  }
  for (int len = total; len > 0;) {
    const inet_diag_bc_op& op = ops[static_cast<size_t>(total - len) / 4];
    const int min_len = op.code == INET_DIAG_BC_JMP ? 4 : 8;
    if (op.no < min_len || op.no > len + 4 || (op.no & 3) != 0) return false;
    if (op.no < len && std::find(chain.begin(), chain.end(), len - op.no) == chain.end()) {
      return false;
    }
    len -= op.yes;
  }
  return true;
}

// The kernel's inet_diag_bc_run on a socket with local port `port`.
bool KernelRuns(const std::vector<uint8_t>& bytes, uint16_t port) {
  const auto ops = Ops(bytes);
  const int total = static_cast<int>(bytes.size());
  int len = total;
  while (len > 0) {
    const size_t at = static_cast<size_t>(total - len) / 4;
    const inet_diag_bc_op& op = ops[at];
    bool yes = true;
    switch (op.code) {
      case INET_DIAG_BC_JMP:
        yes = false;
        break;
      case INET_DIAG_BC_S_EQ:
        yes = port == ops[at + 1].no;
        break;
      case INET_DIAG_BC_S_GE:
        yes = port >= ops[at + 1].no;
        break;
      case INET_DIAG_BC_S_LE:
        yes = port <= ops[at + 1].no;
        break;
      default:
        FAIL("unexpected op " << int{op.code});
    }
    len -= yes ? op.yes : op.no;
  }
  return len == 0;
}

TEST_CASE(
    "inet_diag: the port filter accepts exactly the ports, as the kernel audits and runs it") {
  const std::vector<std::vector<uint16_t>> cases = {
      {}, {8080}, {80, 443}, {443, 80, 443}, {1, 65535}, {8080, 8081, 8082, 9090, 3000}};
  for (const PortMatch match : {PortMatch::kEqual, PortMatch::kRange}) {
    for (const std::vector<uint16_t>& ports : cases) {
      CAPTURE(ports.size());
      const std::vector<uint8_t> filter = BuildPortFilter(ports, match);
      REQUIRE_FALSE(filter.empty());
      CHECK(KernelAccepts(filter));
      for (const uint16_t probe :
           {uint16_t{0}, uint16_t{1}, uint16_t{79}, uint16_t{80}, uint16_t{81}, uint16_t{443},
            uint16_t{3000}, uint16_t{8080}, uint16_t{8081}, uint16_t{8083}, uint16_t{9090},
            uint16_t{65534}, uint16_t{65535}}) {
        const bool wanted = std::find(ports.begin(), ports.end(), probe) != ports.end();
        CHECK_MESSAGE(KernelRuns(filter, probe) == wanted, "port " << probe);
      }
    }
  }
  // Sizes: S_EQ is 2 ops, the range 4, plus a jump between ports; duplicates count once.
  CHECK(BuildPortFilter(std::vector<uint16_t>{8080}, PortMatch::kEqual).size() == 8);
  CHECK(BuildPortFilter(std::vector<uint16_t>{80, 443, 80}, PortMatch::kEqual).size() == 20);
  CHECK(BuildPortFilter(std::vector<uint16_t>{80, 443}, PortMatch::kRange).size() == 36);
  // More ports than one attribute holds: no filter (the caller filters).
  std::vector<uint16_t> many(6000);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<uint16_t>(i + 1);
  CHECK(BuildPortFilter(many, PortMatch::kEqual).empty());
}

TEST_CASE("inet_diag: the request carries the filter as INET_DIAG_REQ_BYTECODE") {
  const std::vector<uint8_t> filter =
      BuildPortFilter(std::vector<uint16_t>{8080, 9090}, PortMatch::kEqual);
  const std::vector<uint8_t> bytes = BuildInetDiagRequest(false, 0x4A, 3, filter);
  const size_t head = sizeof(nlmsghdr) + sizeof(inet_diag_req_v2);
  REQUIRE(bytes.size() == head + sizeof(rtattr) + filter.size());
  nlmsghdr header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  CHECK(header.nlmsg_len == bytes.size());
  rtattr attribute;
  std::memcpy(&attribute, bytes.data() + head, sizeof(attribute));
  CHECK(attribute.rta_type == INET_DIAG_REQ_BYTECODE);
  CHECK(attribute.rta_len == sizeof(rtattr) + filter.size());
  CHECK(std::equal(filter.begin(), filter.end(), bytes.begin() + head + sizeof(rtattr)));
}

// The kernel itself: a dump with the filter returns the sockets on the port and no other, for
// both forms (this kernel has S_EQ; every kernel has the range).
TEST_CASE("inet_diag: the kernel runs the port filter") {
  auto listen_on_any = [](uint16_t* port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), length) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    *port = ntohs(address.sin_port);
    return fd;
  };
  uint16_t wanted = 0;
  uint16_t other = 0;
  const int a = listen_on_any(&wanted);
  const int b = listen_on_any(&other);
  for (const PortMatch match : {PortMatch::kEqual, PortMatch::kRange}) {
    const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    REQUIRE(fd >= 0);
    const std::vector<uint8_t> filter = BuildPortFilter(std::vector<uint16_t>{wanted}, match);
    const std::vector<uint8_t> request =
        BuildInetDiagRequest(false, StateBit(TcpState::kListen), 1, filter);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    REQUIRE(::sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                     sizeof(kernel)) == static_cast<ssize_t>(request.size()));
    std::vector<uint8_t> buffer(32 * 1024);
    std::vector<uint16_t> seen;
    bool done = false;
    while (!done) {
      const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
      REQUIRE(got > 0);
      std::string error;
      const auto chunk = ParseInetDiagChunk(
          std::span<const uint8_t>(buffer.data(), static_cast<size_t>(got)), &error);
      REQUIRE_MESSAGE(chunk, error);
      REQUIRE(chunk->kernel_error == 0);
      for (const DiagSocket& socket : chunk->sockets) seen.push_back(socket.local_port);
      done = chunk->done;
    }
    ::close(fd);
    CHECK(seen == std::vector<uint16_t>{wanted});
  }
  ::close(a);
  ::close(b);
}

}  // namespace
}  // namespace lastcall
