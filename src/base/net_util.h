#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/text.h"

// Small helpers the HTTP client, server and URL parsers share: ASCII text rules from RFC 9110
// and socket addresses. Internal to lastcall's HTTP code; pure except ErrnoText.
namespace lastcall {

// send() flags for every socket lastcall writes to: a closed peer must not raise SIGPIPE
// (where MSG_NOSIGNAL is missing, SO_NOSIGPIPE is set on the socket instead).
#ifdef MSG_NOSIGNAL
inline constexpr int kSendFlags = MSG_NOSIGNAL;
#else
inline constexpr int kSendFlags = 0;
#endif

// RFC 9110 token characters (methods, header names).
bool IsTokenChar(char c);
bool IsToken(std::string_view text);  // non-empty and all token characters

// True when `text` has a byte that would end or split a header line (CR, LF, NUL).
bool HasLineBreak(std::string_view text);

// strerror text for `error`, thread-safe ("Connection refused").
std::string ErrnoText(int error);

// An address for connect() or bind().
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// An IPv4 or IPv6 literal (without brackets) and a port; nullopt for anything else.
std::optional<SocketAddress> IpSocketAddress(const std::string& ip, uint16_t port);
// REQUIRES: ValidateSocketPath(path) is "".
SocketAddress UnixSocketAddress(std::string_view path);
// The port of an IPv4 or IPv6 address; 0 for other families.
uint16_t PortOf(const sockaddr_storage& address);
// "127.0.0.1:5555", "[::1]:5555" (IPv4-mapped IPv6 shown as IPv4), or "unix".
std::string FormatPeer(const sockaddr_storage& address);

}  // namespace lastcall
