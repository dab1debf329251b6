#include "base/proc_net_tcp.h"

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "test_fixtures.h"

namespace lastcall {
namespace {

constexpr char kHeader[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
    "inode\n";

std::vector<TcpSocketRow> MustParse(std::string_view text) {
  std::string error;
  std::optional<std::vector<TcpSocketRow>> rows = ParseProcNetTcp(text, &error);
  INFO(error);
  REQUIRE(rows.has_value());
  return *rows;
}

std::string ParseError(std::string_view text) {
  std::string error;
  return ParseProcNetTcp(text, &error).has_value() ? "(parsed)" : error;
}

TEST_CASE("ParseProcNetTcp reads ports, state and family of each row") {
  struct Case {
    std::string name;
    std::string row;
    uint16_t local_port;
    uint16_t remote_port;
    TcpState state;
    bool ipv6;
  };
  const Case cases[] = {
      {"listener", "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000",
       8080, 0, TcpState::kListen, false},
      {"established, lower-case hex", "1: 0100007f:1f90 0100007f:c350 01", 8080, 50000,
       TcpState::kEstablished, false},
      {"time-wait row with fewer fields",
       "  12: 0A00020F:1F90 0A000107:D001 06 00000000:00000000 03:00001661 00000000     0 0 0 3",
       8080, 0xD001, TcpState::kTimeWait, false},
      {"tabs and a long slot", "\t1234:\t0100007F:0050\t0100007F:FFFF\t08\t", 80, 65535,
       TcpState::kCloseWait, false},
      {"ipv6", "0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D431 01",
       8080, 0xD431, TcpState::kEstablished, true},
      {"short port, unknown state", "0: 0100007F:1 0100007F:2 2A", 1, 2,
       static_cast<TcpState>(0x2A), false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    std::vector<TcpSocketRow> rows = MustParse(std::string(kHeader) + c.row + "\n");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].local_port == c.local_port);
    CHECK(rows[0].remote_port == c.remote_port);
    CHECK(rows[0].state == c.state);
    CHECK(rows[0].ipv6 == c.ipv6);
  }
}

TEST_CASE("ParseProcNetTcp takes an empty table, blank lines, CRLF and a missing final newline") {
  CHECK(MustParse(kHeader).empty());
  CHECK(MustParse("sl").empty());
  CHECK(MustParse(std::string("\n") + kHeader + "\n0: 0100007F:1F90 0100007F:C350 01").size() == 1);
  CHECK(MustParse("  sl local\r\n 0: 0100007F:1F90 0100007F:C350 01\r\n").size() == 1);
}

TEST_CASE("ParseProcNetTcp names the line and what is wrong") {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"", "empty: expected the header line \"sl local_address rem_address st ...\""},
      {"\n \n", "empty: expected the header line \"sl local_address rem_address st ...\""},
      {"0: 0100007F:1F90 0100007F:C350 01\n",
       R"(line 1: expected the header line "sl local_address rem_address st ...", found "0: 0100007F:1F90 0100007F:C350 01")"},
      {"sl\n0: 0100007F:1F90 0100007F:C350\n",
       R"(line 2: expected at least 4 fields (sl local_address rem_address st), found 3: "0: 0100007F:1F90 0100007F:C350")"},
      {"sl\n\n0 0100007F:1F90 0100007F:C350 01\n",
       R"(line 3: expected a slot number like "12:", found "0")"},
      {"sl\nx: 0100007F:1F90 0100007F:C350 01\n",
       R"(line 2: expected a slot number like "12:", found "x:")"},
      {"sl\n0: 0100007F:1G90 0100007F:C350 01\n",
       R"(line 2: local address "0100007F:1G90" is not hex ADDR:PORT)"},
      {"sl\n0: 0100007F 0100007F:C350 01\n",
       R"(line 2: local address "0100007F" is not hex ADDR:PORT)"},
      {"sl\n0: 100007F:1F90 0100007F:C350 01\n",
       R"(line 2: local address "100007F:1F90" is not hex ADDR:PORT)"},
      {"sl\n0: 0100007F:11F90 0100007F:C350 01\n",
       R"(line 2: local address "0100007F:11F90" is not hex ADDR:PORT)"},
      {"sl\n0: 0100007F:1F90 0100007F: 01\n",
       R"(line 2: remote address "0100007F:" is not hex ADDR:PORT)"},
      {"sl\n0: 0100007F:1F90 00000000000000000000000001000000:C350 01\n",
       "line 2: local and remote addresses are of different families"},
      {"sl\n0: 0100007F:1F90 0100007F:C350 101\n", R"(line 2: state "101" is not a hex byte)"},
      {"sl\n0: 0100007F:1F90 0100007F:C350 ZZ\n", R"(line 2: state "ZZ" is not a hex byte)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    CHECK(ParseError(c.text) == c.error);
  }
}

TEST_CASE("CountConnections counts rows in the given states on the given local ports") {
  const std::vector<TcpSocketRow> tcp = MustParse(testing::ReadFixture("proc_net_tcp.txt"));
  const std::vector<TcpSocketRow> tcp6 = MustParse(testing::ReadFixture("proc_net_tcp6.txt"));
  REQUIRE(tcp.size() == 9);
  REQUIRE(tcp6.size() == 6);
  const TcpState established[] = {TcpState::kEstablished};
  const TcpState with_close_wait[] = {TcpState::kEstablished, TcpState::kCloseWait};
  const int http[] = {8080};
  const int http_and_mysql[] = {8080, 3306};
  const int none[] = {9999};
  // 8080: two ESTABLISHED, one CLOSE_WAIT, one TIME_WAIT, one SYN_RECV, one LISTEN; and an
  // outbound connection from an ephemeral port to a remote 8080, which is not ours.
  CHECK(CountConnections(tcp, http, established) == 2);
  CHECK(CountConnections(tcp, http, with_close_wait) == 3);
  CHECK(CountConnections(tcp, http_and_mysql, established) == 3);
  CHECK(CountConnections(tcp, none, established) == 0);
  const TcpState syn_recv[] = {TcpState::kSynRecv};
  CHECK(CountConnections(tcp, http, syn_recv) == 1);
  const TcpState listen[] = {TcpState::kListen};
  CHECK(CountConnections(tcp, http_and_mysql, listen) == 2);
  // tcp6 holds IPv4-mapped connections to dual-stack listeners too.
  CHECK(CountConnections(tcp6, http, established) == 2);
  CHECK(CountConnections(tcp6, http, with_close_wait) == 3);
  for (const TcpSocketRow& row : tcp) CHECK_FALSE(row.ipv6);
  for (const TcpSocketRow& row : tcp6) CHECK(row.ipv6);
}

TEST_CASE("TcpState prints as the kernel names it") {
  CHECK(ToString(TcpState::kEstablished) == "ESTABLISHED");
  CHECK(ToString(TcpState::kCloseWait) == "CLOSE_WAIT");
  CHECK(ToString(TcpState::kSynRecv) == "SYN_RECV");
  CHECK(ToString(static_cast<TcpState>(0x2A)) == "UNKNOWN(0x2A)");
}

// --- ProcNetTcpReader: the same table in chunks cut anywhere ----------------------------------

std::vector<TcpSocketRow> ReadInChunks(std::string_view text, size_t chunk, std::string* error) {
  std::vector<TcpSocketRow> rows;
  ProcNetTcpReader reader;
  const auto keep = [&rows](const TcpSocketRow& row) { rows.push_back(row); };
  bool ok = true;
  for (size_t at = 0; ok && at < text.size(); at += chunk) {
    ok = reader.Feed(text.substr(at, chunk), keep);
  }
  ok = ok && reader.Finish(keep);
  *error = ok ? "" : reader.error();
  return rows;
}

bool SameRows(const std::vector<TcpSocketRow>& a, const std::vector<TcpSocketRow>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].local_port != b[i].local_port || a[i].remote_port != b[i].remote_port ||
        a[i].state != b[i].state || a[i].ipv6 != b[i].ipv6 || a[i].pair_hash != b[i].pair_hash) {
      return false;
    }
  }
  return true;
}

TEST_CASE("ProcNetTcpReader: chunks of any size give the rows of the whole text") {
  const std::vector<std::string> tables = {
      testing::ReadFixture("proc_net_tcp.txt"), testing::ReadFixture("proc_net_tcp6.txt"),
      std::string(kHeader) +
          "0: 0100007F:1F90 0100007F:C350 01\r\n\n1: 0100007F:1F90 "
          "0100007F:C351 06"};  // CRLF, a blank line, no final newline
  for (const std::string& text : tables) {
    const std::vector<TcpSocketRow> whole = MustParse(text);
    REQUIRE_FALSE(whole.empty());
    for (size_t chunk = 1; chunk <= text.size(); ++chunk) {
      CAPTURE(chunk);
      std::string error;
      const std::vector<TcpSocketRow> rows = ReadInChunks(text, chunk, &error);
      REQUIRE(error.empty());
      CHECK(SameRows(rows, whole));
    }
  }
}

TEST_CASE("ProcNetTcpReader: errors name the line wherever the chunks cut it") {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "empty: expected the header line \"sl local_address rem_address st ...\""},
      {"sl\n0: 0100007F:1F90 0100007F:C350 01\n1: 0100007F:1G90 0100007F:C350 01\n",
       R"(line 3: local address "0100007F:1G90" is not hex ADDR:PORT)"},
      {"sl\n\n0: 0100007F:1F90 0100007F:C350",
       R"(line 3: expected at least 4 fields (sl local_address rem_address st), found 3: "0: 0100007F:1F90 0100007F:C350")"},
      {"sl\n0: 0100007F:1F90 0100007F:C350 01 " + std::string(5000, 'x') + "\n",
       "line 2: longer than 4096 bytes"},
      {"sl\n" + std::string(5000, ' '), "line 2: longer than 4096 bytes"},
  };
  for (const Case& c : cases) {
    for (size_t chunk : {size_t{1}, size_t{7}, size_t{64}, size_t{65536}}) {
      CAPTURE(chunk);
      std::string error;
      ReadInChunks(c.text, chunk, &error);
      CHECK(error == c.error);
    }
  }
}

TEST_CASE("ProcNetTcpReader: a long table holds one line at most, and stops at the first error") {
  ProcNetTcpReader reader;
  size_t rows = 0;
  const auto count = [&rows](const TcpSocketRow&) { ++rows; };
  REQUIRE(reader.Feed(kHeader, count));
  const std::string row = "0: 0100007F:1F90 0100007F:C350 06 00000000:00000000 00:00000000\n";
  for (int i = 0; i < 100000; ++i) REQUIRE(reader.Feed(row, count));
  CHECK(rows == 100000);
  CHECK(reader.rows() == 100000);
  CHECK_FALSE(reader.Feed("garbage 0100007F:1F90 0100007F:C350 01\n", count));
  CHECK(reader.error() == R"(line 100002: expected a slot number like "12:", found "garbage")");
  CHECK_FALSE(reader.Feed(row, count));  // nothing more once malformed
  CHECK(rows == 100000);
}

// Serves texts by path, a chunk at a time; `fail_after` chunks of `path_that_fails`, the read
// fails (a table that vanished mid-read).
class ChunkedFiles final : public FileReader {
 public:
  std::map<std::string, std::string> files;
  std::string path_that_fails;
  size_t fail_after = 0;
  std::optional<std::string> Read(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return std::nullopt;
    return it->second;
  }
  bool ReadChunks(const std::string& path, size_t chunk,
                  const std::function<bool(std::string_view)>& consume) override {
    auto it = files.find(path);
    if (it == files.end()) return false;
    std::string_view text = it->second;
    for (size_t at = 0, n = 0; at < text.size(); at += chunk, ++n) {
      if (path == path_that_fails && n == fail_after) return false;
      if (!consume(text.substr(at, chunk))) return true;
    }
    return true;
  }
};

std::string Table(int rows) {
  std::string text = kHeader;
  for (int i = 0; i < rows; ++i) {
    text +=
        "   0: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000 "
        "       0 1 1 0000000000000000 20 4 0 10 -1\n";
  }
  return text;
}

TEST_CASE("StreamProcNetTcp: whole, missing, stopped, late, failed part way, malformed") {
  using std::chrono::steady_clock;
  const auto later = steady_clock::now() + std::chrono::hours(1);
  ChunkedFiles files;
  files.files["/t"] = Table(100);
  size_t rows = 0;
  auto count = [&](const TcpSocketRow&) { ++rows; };

  TableReadResult whole = StreamProcNetTcp(files, "/t", 256, later, count, {});
  CHECK(whole.outcome == TableRead::kRead);
  CHECK(rows == 100);
  CHECK(whole.rows == 100);

  CHECK(StreamProcNetTcp(files, "/none", 256, later, count, {}).outcome == TableRead::kMissing);

  rows = 0;
  TableReadResult stopped =
      StreamProcNetTcp(files, "/t", 256, later, count, [](size_t chunks) { return chunks >= 2; });
  CHECK(stopped.outcome == TableRead::kStopped);
  CHECK(rows < 100);

  // The deadline is looked at between chunks only: the first chunk is always read.
  rows = 0;
  TableReadResult late = StreamProcNetTcp(files, "/t", 256, steady_clock::now(), count, {});
  CHECK(late.outcome == TableRead::kFailed);
  CHECK(late.error.rfind("/t: read abandoned at the deadline after ", 0) == 0);
  CHECK(rows > 0);

  files.path_that_fails = "/t";
  files.fail_after = 3;
  TableReadResult cut = StreamProcNetTcp(files, "/t", 256, later, count, {});
  CHECK(cut.outcome == TableRead::kFailed);
  CHECK(cut.error == "/t: read failed part way");
  files.fail_after = 0;
  CHECK(StreamProcNetTcp(files, "/t", 256, later, count, {}).outcome == TableRead::kMissing);

  files.files["/bad"] = Table(2) + "   9: nothex:1F90 0100007F:C350 01\n";
  TableReadResult bad = StreamProcNetTcp(files, "/bad", 64, later, count, {});
  CHECK(bad.outcome == TableRead::kFailed);
  CHECK(bad.error.rfind("/bad: line 4: ", 0) == 0);
}

}  // namespace
}  // namespace lastcall
