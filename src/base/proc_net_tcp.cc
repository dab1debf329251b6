#include "base/proc_net_tcp.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "base/text.h"

namespace lastcall {
namespace {

// Fields are separated by spaces; a CR (a file written on Windows) separates too.
bool IsFieldSeparator(char c) { return c == ' ' || c == '\t' || c == '\r'; }

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

bool ProcNetTcpReader::Line(std::string_view line, const OnRow& on_row) {
  ++line_number_;
  auto fail = [&](const std::string& what) {
    error_ = "line " + std::to_string(line_number_) + ": " + what;
    return false;
  };
  // The first four fields are all a row needs; the rest are only counted for the message.
  std::array<std::string_view, 4> fields;
  size_t count = 0;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsFieldSeparator(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !IsFieldSeparator(line[i])) ++i;
    if (i > start) {
      if (count < fields.size()) fields[count] = line.substr(start, i - start);
      ++count;
    }
  }
  if (count == 0) return true;
  if (!header_seen_) {
    if (fields[0] != "sl") {
      return fail("expected the header line \"sl local_address rem_address st ...\", found " +
                  QuoteSnippet(line, 60));
    }
    header_seen_ = true;
    return true;
  }
  if (count < 4) {
    return fail("expected at least 4 fields (sl local_address rem_address st), found " +
                std::to_string(count) + ": " + QuoteSnippet(line, 60));
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
  ++rows_;
  on_row(TcpSocketRow{local->port, remote->port, static_cast<TcpState>(*state), local->ipv6,
                      HashPair(fields[1], fields[2])});
  return true;
}

bool ProcNetTcpReader::Feed(std::string_view bytes, const OnRow& on_row) {
  if (!ok()) return false;
  while (!bytes.empty()) {
    const size_t newline = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, newline);
    if (partial_.size() + piece.size() > kMaxProcNetTcpLine) {
      error_ = "line " + std::to_string(line_number_ + 1) + ": longer than " +
               std::to_string(kMaxProcNetTcpLine) + " bytes";
      return false;
    }
    if (newline == std::string_view::npos) {
      partial_.append(piece);
      return true;
    }
    bool parsed = false;
    if (partial_.empty()) {
      parsed = Line(piece, on_row);  // the common case: a whole line inside the chunk, no copy
    } else {
      partial_.append(piece);
      parsed = Line(partial_, on_row);
      partial_.clear();
    }
    if (!parsed) return false;
    bytes.remove_prefix(newline + 1);
  }
  return true;
}

bool ProcNetTcpReader::Finish(const OnRow& on_row) {
  if (!ok()) return false;
  if (!partial_.empty()) {
    const std::string last = std::move(partial_);
    partial_.clear();
    if (!Line(last, on_row)) return false;
  }
  if (!header_seen_) {
    error_ = "empty: expected the header line \"sl local_address rem_address st ...\"";
    return false;
  }
  return true;
}

std::optional<std::vector<TcpSocketRow>> ParseProcNetTcp(std::string_view text,
                                                         std::string* error) {
  std::vector<TcpSocketRow> rows;
  ProcNetTcpReader reader;
  const auto keep = [&rows](const TcpSocketRow& row) { rows.push_back(row); };
  if (!reader.Feed(text, keep) || !reader.Finish(keep)) {
    *error = reader.error();
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

TableReadResult StreamProcNetTcp(FileReader& files, const char* path, size_t chunk_bytes,
                                 std::chrono::steady_clock::time_point deadline,
                                 const ProcNetTcpReader::OnRow& on_row,
                                 const std::function<bool(size_t chunks_read)>& stop) {
  ProcNetTcpReader reader;
  TableReadResult result;
  size_t chunks = 0;
  bool stopped = false;
  bool late = false;
  const bool opened = files.ReadChunks(path, chunk_bytes, [&](std::string_view chunk) {
    if (chunks > 0 && stop && stop(chunks)) {
      stopped = true;
      return false;
    }
    if (chunks > 0 && std::chrono::steady_clock::now() >= deadline) {
      late = true;
      return false;
    }
    ++chunks;
    return reader.Feed(chunk, on_row);
  });
  result.rows = reader.rows();
  const std::string where(path);
  if (!opened) {
    if (chunks == 0) {
      result.outcome = TableRead::kMissing;
    } else {
      result.error = where + ": read failed part way";
    }
    return result;
  }
  if (stopped) {
    result.outcome = TableRead::kStopped;
    return result;
  }
  if (late) {
    result.error =
        where + ": read abandoned at the deadline after " + std::to_string(reader.rows()) + " rows";
    return result;
  }
  if (!reader.ok() || !reader.Finish(on_row)) {
    result.error = where + ": " + reader.error();
    result.rows = reader.rows();
    return result;
  }
  result.rows = reader.rows();
  result.outcome = TableRead::kRead;
  return result;
}

}  // namespace lastcall
