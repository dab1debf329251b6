#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/file_reader.h"

// The connections drain monitor's pure half: the kernel's socket tables /proc/net/tcp and
// /proc/net/tcp6 (one per network namespace, which the containers of a pod share).
namespace lastcall {

// The kernel's TCP states, with the numbers /proc/net/tcp* prints (include/net/tcp_states.h).
// Request sockets of half-open connections are printed as kSynRecv.
enum class TcpState : uint8_t {
  kEstablished = 0x01,
  kSynSent = 0x02,
  kSynRecv = 0x03,
  kFinWait1 = 0x04,
  kFinWait2 = 0x05,
  kTimeWait = 0x06,
  kClose = 0x07,
  kCloseWait = 0x08,
  kLastAck = 0x09,
  kListen = 0x0A,
  kClosing = 0x0B,
  kNewSynRecv = 0x0C,
};
// "ESTABLISHED", "CLOSE_WAIT", ...; "UNKNOWN(0x2A)" for a number this list lacks.
std::string ToString(TcpState state);

struct TcpSocketRow {
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  TcpState state = TcpState::kClose;
  bool ipv6 = false;  // the row's addresses are 128-bit (a /proc/net/tcp6 row)
  // A hash (FNV-1a) of the local and remote ADDR:PORT fields as printed: tells one connection
  // from another across two reads of the table, while it lives.
  uint64_t pair_hash = 0;
};

// Parses /proc/net/tcp or /proc/net/tcp6 as it is read, in chunks of any size cut anywhere (in
// a line, between CR and LF): each complete row goes to `on_row` at once, and only the partial
// line at the end of a chunk is kept, so memory stays bounded whatever the table holds. Rows
// and errors are exactly those of ParseProcNetTcp (below), which is built on it. A line longer
// than kMaxProcNetTcpLine bytes is an error (a real row is under 200). Not thread-safe.
inline constexpr size_t kMaxProcNetTcpLine = 4096;
class ProcNetTcpReader {
 public:
  using OnRow = std::function<void(const TcpSocketRow&)>;
  // Takes the next bytes. Returns false once the text is malformed (error() says why); the
  // reader then takes nothing more.
  bool Feed(std::string_view bytes, const OnRow& on_row);
  // The end of the text: parses a last line without newline and checks that the header was
  // there. Returns false when malformed.
  bool Finish(const OnRow& on_row);
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t rows() const { return rows_; }  // rows parsed so far

 private:
  bool Line(std::string_view line, const OnRow& on_row);
  std::string partial_;  // the start of a line the last chunk cut
  std::string error_;
  size_t line_number_ = 0;
  size_t rows_ = 0;
  bool header_seen_ = false;
};

// Parses the text of /proc/net/tcp or /proc/net/tcp6: a header line (`sl local_address
// rem_address st ...`), then one row per socket, `N: ADDR:PORT ADDR:PORT ST ...`, addresses in
// hex (8 digits for IPv4, 32 for IPv6), ports and state in hex. Blanks between fields may be any
// run of spaces and tabs; fields after the state are ignored; blank lines are skipped. Returns
// nullopt and sets *error ("line 3: local address \"0100007F:1G90\" is not hex ADDR:PORT") on
// failure. Pure.
std::optional<std::vector<TcpSocketRow>> ParseProcNetTcp(std::string_view text, std::string* error);

// How a table read by StreamProcNetTcp ended.
enum class TableRead {
  kRead,     // whole, every row given to on_row
  kMissing,  // could not be opened (IPv6 off, no /proc): nothing read, fine for one of two tables
  kStopped,  // `stop` said the answer is known: the rest unread, no error
  kFailed,   // error() says why: a read that failed part way, the deadline, malformed text
};
struct TableReadResult {
  TableRead outcome = TableRead::kFailed;
  std::string error;  // kFailed: "<path>: <what>"
  size_t rows = 0;    // rows given to on_row
};

// Streams the table at `path` (/proc/net/tcp or tcp6) through `files`, `chunk_bytes` at a time,
// giving each row to `on_row`: memory does not grow with the namespace's sockets. Between two
// chunks it stops once `stop(chunks_read)` says the caller knows enough, or fails once
// `deadline` has passed while the kernel printed the last chunk (a table of 200k sockets takes
// longer than a poll may). The one place both socket readers (the connections monitor, the
// traffic observer's fallback) read the kernel's tables.
TableReadResult StreamProcNetTcp(FileReader& files, const char* path, size_t chunk_bytes,
                                 std::chrono::steady_clock::time_point deadline,
                                 const ProcNetTcpReader::OnRow& on_row,
                                 const std::function<bool(size_t chunks_read)>& stop);

// How many rows are in one of `states` with a local port in `local_ports`. Pure.
size_t CountConnections(std::span<const TcpSocketRow> rows, std::span<const int> local_ports,
                        std::span<const TcpState> states);

}  // namespace lastcall
