#include "base/net_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace lastcall {
namespace {

// Works with both the GNU strerror_r (returns char*) and the XSI one (returns int).
[[maybe_unused]] const char* PickErrorText(int /*result*/, const char* buffer) { return buffer; }
[[maybe_unused]] const char* PickErrorText(const char* result, const char* /*buffer*/) {
  return result;
}

}  // namespace

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsTokenChar);
}

bool HasLineBreak(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

std::string ErrnoText(int error) {
  char buffer[128] = "unknown error";
  return PickErrorText(strerror_r(error, buffer, sizeof(buffer)), buffer);
}

std::optional<SocketAddress> IpSocketAddress(const std::string& ip, uint16_t port) {
  SocketAddress address;
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET, ip.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    std::memcpy(&address.storage, &v4, sizeof(v4));
    address.length = sizeof(v4);
    return address;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    std::memcpy(&address.storage, &v6, sizeof(v6));
    address.length = sizeof(v6);
    return address;
  }
  return std::nullopt;
}

SocketAddress UnixSocketAddress(std::string_view path) {
  SocketAddress address;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  size_t length = std::min(path.size(), sizeof(un.sun_path) - 1);
  std::memcpy(un.sun_path, path.data(), length);
  std::memcpy(&address.storage, &un, sizeof(un));
  address.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length + 1);
  return address;
}

uint16_t PortOf(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    sockaddr_in v4{};
    std::memcpy(&v4, &address, sizeof(v4));
    return ntohs(v4.sin_port);
  }
  if (address.ss_family == AF_INET6) {
    sockaddr_in6 v6{};
    std::memcpy(&v6, &address, sizeof(v6));
    return ntohs(v6.sin6_port);
  }
  return 0;
}

std::string FormatPeer(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "";
  std::string port = ":" + std::to_string(PortOf(address));
  if (address.ss_family == AF_INET) {
    sockaddr_in v4{};
    std::memcpy(&v4, &address, sizeof(v4));
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
    return text + port;
  }
  if (address.ss_family == AF_INET6) {
    sockaddr_in6 v6{};
    std::memcpy(&v6, &address, sizeof(v6));
    if (IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) {
      // A v4 client on the dual-stack socket: show it as it would appear on a v4 socket.
      inet_ntop(AF_INET, &v6.sin6_addr.s6_addr[12], text, sizeof(text));
      return text + port;
    }
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    return "[" + std::string(text) + "]" + port;
  }
  return "unix";
}

}  // namespace lastcall
