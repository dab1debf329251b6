#include "proc_net_tcp.h"

#include <algorithm>
#include <charconv>

#include "text.h"

namespace lastcall {
namespace {

// Fields are separated by spaces; a CR (a file written on Windows) separates too.
bool IsFieldSeparator(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsFieldSeparator(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !IsFieldSeparator(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

bool IsHex(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

// Reads 1 to `max_digits` hex digits.
std::optional<uint32_t> ReadHex(std::string_view text, size_t max_digits) {
  if (!IsHex(text) || text.size() > max_digits) return std::nullopt;
  uint32_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value, 16);
  return value;
}

struct Endpoint {
  uint16_t port = 0;
  bool ipv6 = false;
};

// "0100007F:1F90" (IPv4, the address in the kernel's byte order) or 32 hex digits and a port.
std::optional<Endpoint> ReadEndpoint(std::string_view field) {
  const size_t colon = field.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view address = field.substr(0, colon);
  if (!IsHex(address) || (address.size() != 8 && address.size() != 32)) return std::nullopt;
  const std::optional<uint32_t> port = ReadHex(field.substr(colon + 1), 4);
  if (!port) return std::nullopt;
  return Endpoint{static_cast<uint16_t>(*port), address.size() == 32};
}

uint64_t HashPair(std::string_view local, std::string_view remote) {
  uint64_t hash = 14695981039346656037ull;
  auto mix = [&hash](std::string_view text) {
    for (char c : text) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ull;
    }
  };
  mix(local);
  mix(" ");
  mix(remote);
  return hash;
}

bool IsSlot(std::string_view field) {
  return field.size() >= 2 && field.back() == ':' &&
         std::all_of(field.begin(), field.end() - 1, [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string ToString(TcpState state) {
  switch (state) {
    case TcpState::kEstablished:
      return "ESTABLISHED";
    case TcpState::kSynSent:
      return "SYN_SENT";
    case TcpState::kSynRecv:
      return "SYN_RECV";
    case TcpState::kFinWait1:
      return "FIN_WAIT1";
    case TcpState::kFinWait2:
      return "FIN_WAIT2";
    case TcpState::kTimeWait:
      return "TIME_WAIT";
    case TcpState::kClose:
      return "CLOSE";
    case TcpState::kCloseWait:
      return "CLOSE_WAIT";
    case TcpState::kLastAck:
      return "LAST_ACK";
    case TcpState::kListen:
      return "LISTEN";
    case TcpState::kClosing:
      return "CLOSING";
    case TcpState::kNewSynRecv:
      return "NEW_SYN_RECV";
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  const auto number = static_cast<unsigned>(state);
  return std::string("UNKNOWN(0x") + kHex[(number >> 4) & 0xf] + kHex[number & 0xf] + ")";
}

std::optional<std::vector<TcpSocketRow>> ParseProcNetTcp(std::string_view text,
                                                         std::string* error) {
  std::vector<TcpSocketRow> rows;
  bool header_seen = false;
  size_t line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    const std::vector<std::string_view> fields = SplitFields(line);
    if (fields.empty()) continue;
    auto fail = [&](const std::string& what) {
      *error = "line " + std::to_string(line_number) + ": " + what;
      return std::nullopt;
    };
    if (!header_seen) {
      if (fields[0] != "sl") {
        return fail("expected the header line \"sl local_address rem_address st ...\", found " +
                    QuoteSnippet(line, 60));
      }
      header_seen = true;
      continue;
    }
    if (fields.size() < 4) {
      return fail("expected at least 4 fields (sl local_address rem_address st), found " +
                  std::to_string(fields.size()) + ": " + QuoteSnippet(line, 60));
    }
    if (!IsSlot(fields[0])) {
      return fail("expected a slot number like \"12:\", found " + QuoteSnippet(fields[0], 40));
    }
    const std::optional<Endpoint> local = ReadEndpoint(fields[1]);
    if (!local) {
      return fail("local address " + QuoteSnippet(fields[1], 60) + " is not hex ADDR:PORT");
    }
    const std::optional<Endpoint> remote = ReadEndpoint(fields[2]);
    if (!remote) {
      return fail("remote address " + QuoteSnippet(fields[2], 60) + " is not hex ADDR:PORT");
    }
    if (local->ipv6 != remote->ipv6) {
      return fail("local and remote addresses are of different families");
    }
    const std::optional<uint32_t> state = ReadHex(fields[3], 2);
    if (!state) return fail("state " + QuoteSnippet(fields[3], 40) + " is not a hex byte");
    rows.push_back(TcpSocketRow{local->port, remote->port, static_cast<TcpState>(*state),
                                local->ipv6, HashPair(fields[1], fields[2])});
  }
  if (!header_seen) {
    *error = "empty: expected the header line \"sl local_address rem_address st ...\"";
    return std::nullopt;
  }
  return rows;
}

size_t CountConnections(std::span<const TcpSocketRow> rows, std::span<const int> local_ports,
                        std::span<const TcpState> states) {
  return static_cast<size_t>(std::count_if(rows.begin(), rows.end(), [&](const TcpSocketRow& row) {
    return std::find(states.begin(), states.end(), row.state) != states.end() &&
           std::find(local_ports.begin(), local_ports.end(), static_cast<int>(row.local_port)) !=
               local_ports.end();
  }));
}

}  // namespace lastcall
