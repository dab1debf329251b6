#include "state_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "http_testing.h"
#include "small_file.h"

namespace lastcall {
namespace {

using std::chrono::milliseconds;
using SysClock = std::chrono::system_clock;

TEST_CASE("a state file round-trips through SerializeSequenceState and ParseSequenceState") {
  PersistedSequence state;
  state.phase = Phase::kDraining;
  state.source = TriggerSource::kPreStop;
  state.triggered_at = SysClock::time_point(milliseconds(1'732'500'000'000));
  state.draining_since = SysClock::time_point(milliseconds(1'732'500'005'000));
  state.trigger_accepted = true;
  state.end = SequenceEnd::kDrained;
  state.ended_at = SysClock::time_point(milliseconds(1'732'500'007'500));
  state.detail = "app drained \"fast\"";
  const std::string text = SerializeSequenceState(state);
  std::string error;
  const auto parsed = ParseSequenceState(text, &error);
  REQUIRE(parsed.has_value());
  CHECK(parsed->phase == Phase::kDraining);
  CHECK(parsed->source == TriggerSource::kPreStop);
  CHECK(parsed->triggered_at == state.triggered_at);
  CHECK(parsed->draining_since == state.draining_since);
  CHECK(parsed->trigger_accepted);
  CHECK(!parsed->signal_received);
  CHECK(parsed->end == SequenceEnd::kDrained);
  CHECK(parsed->ended_at == state.ended_at);
  CHECK(parsed->detail == state.detail);
  CHECK(SerializeSequenceState(*parsed) == text);
}

TEST_CASE("ParseSequenceState rejects what lastcall did not write") {
  const std::string head = R"({"version":1,"phase":"draining","trigger":"signal",)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not a JSON object"},
      {"[1]", "not a JSON object"},
      {R"({"version":2})", "unknown state file version"},
      {R"({"version":4294967297})", "unknown state file version"},
      {R"({"version":1,"phase":"draining"})", "missing phase, trigger or triggered_at_ms"},
      {head + R"("triggered_at_ms":1.5})", "missing phase, trigger or triggered_at_ms"},
      {R"({"version":1,"phase":"x","trigger":"signal","triggered_at_ms":1})",
       "unknown phase or trigger name"},
      // Found by fuzz/state_file_fuzzer.cc: converting these to system_clock's nanoseconds
      // overflowed (undefined behaviour) before they were range-checked.
      {head + R"("triggered_at_ms":17325000000001})",
       "triggered_at_ms is not a time between 1970 and 2200"},
      {head + R"("triggered_at_ms":-9223372036854775807})",
       "triggered_at_ms is not a time between 1970 and 2200"},
      {head + R"("triggered_at_ms":18446744073709551615})",
       "triggered_at_ms is not a time between 1970 and 2200"},
      {head + R"("triggered_at_ms":1000,"draining_since_ms":17325000000001})",
       "draining_since_ms is not a time between triggered_at_ms and 2200"},
      {head + R"("triggered_at_ms":1000,"draining_since_ms":999})",
       "draining_since_ms is not a time between triggered_at_ms and 2200"},
      // Guessing "timed_out" for these made a restarted lastcall exit 1 at once.
      {head + R"("triggered_at_ms":1000,"result":"maybe"})",
       "unknown result (not \"drained\", \"timed_out\" or null)"},
      {head + R"("triggered_at_ms":1000,"result":1})",
       "unknown result (not \"drained\", \"timed_out\" or null)"},
      {head + R"("triggered_at_ms":1000,"result":"drained","ended_at_ms":999})",
       "ended_at_ms is not a time between triggered_at_ms and 2200 after a result"},
      {head + R"("triggered_at_ms":1000,"ended_at_ms":2000})",
       "ended_at_ms is not a time between triggered_at_ms and 2200 after a result"},
  };
  for (const auto& [text, want] : cases) {
    CAPTURE(text);
    std::string error;
    CHECK(!ParseSequenceState(text, &error).has_value());
    CHECK(error == want);
  }
}

PersistedSequence Draining() {
  PersistedSequence state;
  state.phase = Phase::kDraining;
  state.source = TriggerSource::kPreStop;
  state.triggered_at = SysClock::now();
  return state;
}

TEST_CASE("FileSequenceStore::Save never writes through a planted symlink") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/state.json";
  const std::string victim = dir.path() + "/victim";
  std::ofstream(victim) << "precious";
  // The names an attacker could predict: the old temporary name, and the state file itself.
  REQUIRE(symlink(victim.c_str(), (path + ".tmp").c_str()) == 0);
  REQUIRE(symlink(victim.c_str(), path.c_str()) == 0);
  FileSequenceStore store(path);
  store.Save(Draining());

  CHECK(ReadSmallFile(victim, 1024).text == "precious");
  struct stat info {};
  REQUIRE(lstat(path.c_str(), &info) == 0);
  CHECK(S_ISREG(info.st_mode));  // the link itself was replaced
  CHECK((info.st_mode & 0777) == 0600);
  std::string error;
  const auto loaded = store.Load(&error);
  REQUIRE(loaded);
  CHECK(ParseSequenceState(*loaded, &error)->phase == Phase::kDraining);
  // No temporary file is left behind.
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++entries;
  }
  CHECK(entries == 3);  // victim, state.json, the planted state.json.tmp
}

TEST_CASE("FileSequenceStore::Load refuses what is not a small regular file, without blocking") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/state.json";
  FileSequenceStore store(path);
  std::string error;
  CHECK(!store.Load(&error));
  CHECK(error.empty());  // no file is no error

  SUBCASE("a FIFO") {
    REQUIRE(mkfifo(path.c_str(), 0600) == 0);
    CHECK(!store.Load(&error));
    CHECK(error == "is a FIFO, not a regular file");
  }
  SUBCASE("a symlink to /dev/zero") {
    REQUIRE(symlink("/dev/zero", path.c_str()) == 0);
    CHECK(!store.Load(&error));
    CHECK(error == "is a symbolic link; refusing to follow it");
  }
  SUBCASE("too large") {
    std::ofstream(path) << std::string(kMaxStateFileBytes + 1, ' ');
    CHECK(!store.Load(&error));
    CHECK(error == "larger than 64 KiB; is it the right file?");
  }
}

}  // namespace
}  // namespace lastcall
