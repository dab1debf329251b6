// ParseProcNetTcp over arbitrary text, then the count the connections monitor takes from it, and
// ProcNetTcpReader fed the same text in pieces (as /proc is read, in chunks): the same rows and
// the same error wherever the pieces are cut.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/proc_net_tcp.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lastcall::TcpState;
  using lastcall::fuzz::Require;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  const auto rows = lastcall::ParseProcNetTcp(text, &error);
  lastcall::ProcNetTcpReader reader;
  size_t streamed = 0;
  const auto count = [&streamed](const lastcall::TcpSocketRow&) { ++streamed; };
  const size_t piece = 1 + size % 97;
  bool ok = true;
  for (size_t at = 0; ok && at < text.size(); at += piece)
    ok = reader.Feed(text.substr(at, piece), count);
  ok = ok && reader.Finish(count);
  Require(ok == rows.has_value(), "chunks and whole text agree on whether it parses");
  Require(ok ? streamed == rows->size() : reader.error() == error,
          "chunks give the whole text's rows, or its error");
  if (!rows) {
    Require(!error.empty(), "a rejected table comes with a reason");
    return 0;
  }
  for (const auto& row : *rows) Require(!lastcall::ToString(row.state).empty(), "states print");
  constexpr std::array<int, 3> kPorts{8080, 80, 443};
  constexpr std::array<TcpState, 2> kStates{TcpState::kEstablished, TcpState::kCloseWait};
  const size_t established = lastcall::CountConnections(*rows, kPorts, {kStates.data(), 1});
  const size_t with_close_wait = lastcall::CountConnections(*rows, kPorts, kStates);
  Require(established <= with_close_wait, "counting more states never counts fewer sockets");
  Require(with_close_wait <= rows->size(), "a count is at most the number of rows");
  return 0;
}
