#include "inet_diag.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

}  // namespace
}  // namespace lastcall
