#include "sidecar/state_file.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "base/small_file.h"
#include "http_testing.h"

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
      {R"({"version":2})", "written by a newer lastcall (state file version 2; this one reads 1)"},
      {R"({"version":4294967297})",
       "written by a newer lastcall (state file version 4294967297; this one reads 1)"},
      {R"({"version":0})", "unknown state file version"},
      {R"({"version":"1"})", "unknown state file version"},
      {R"({"version":-2})", "unknown state file version"},
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
  for (const auto& one_case : cases) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one.
    const auto& text = one_case.first;
    const auto& want = one_case.second;
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

TEST_CASE("WhyUntrustedDirectory: only a directory nobody else can plant a file in") {
  constexpr uid_t kSelf = 1000;
  struct Case {
    mode_t mode;
    uid_t owner;
    StateDirectory kind;
    std::string want;  // "" trusted
  };
  const std::vector<Case> cases = {
      {S_IFDIR | 0700, kSelf, StateDirectory::kOwn, ""},
      {S_IFDIR | 0755, kSelf, StateDirectory::kOwn, ""},
      {S_IFDIR | 0700, 0, StateDirectory::kOwn, "is owned by uid 0, not by lastcall's uid 1000"},
      {S_IFDIR | 0700, 65534, StateDirectory::kOwn,
       "is owned by uid 65534, not by lastcall's uid 1000"},
      {S_IFDIR | 0770, kSelf, StateDirectory::kOwn,
       "is writable by its group (mode 0770): another user could put a state file there"},
      {S_IFDIR | 0777, kSelf, StateDirectory::kOwn,
       "is writable by every user (mode 0777): another user could put a state file there"},
      // lastcall's own directory is never shared, sticky or not.
      {S_IFDIR | 01777, kSelf, StateDirectory::kOwn,
       "is writable by every user (mode 1777): another user could put a state file there"},
      {S_IFLNK | 0777, kSelf, StateDirectory::kOwn, "is a symbolic link, not a directory"},
      {S_IFREG | 0600, kSelf, StateDirectory::kOwn, "is a regular file, not a directory"},
      {S_IFDIR | 0700, kSelf, StateDirectory::kGiven, ""},
      {S_IFDIR | 0755, 0, StateDirectory::kGiven, ""},   // root's: root can forge anything anyway
      {S_IFDIR | 01777, 0, StateDirectory::kGiven, ""},  // /tmp
      {S_IFDIR | 01777, kSelf, StateDirectory::kGiven, ""},
      {S_IFDIR | 01770, kSelf, StateDirectory::kGiven, ""},
      {S_IFDIR | 0755, 65534, StateDirectory::kGiven,
       "is owned by uid 65534, not by lastcall's uid 1000 (or root)"},
      {S_IFDIR | 01777, 65534, StateDirectory::kGiven,
       "is owned by uid 65534, not by lastcall's uid 1000 (or root)"},
      {S_IFDIR | 0777, kSelf, StateDirectory::kGiven,
       "is writable by every user (mode 0777) without the sticky bit: another user could put a "
       "state file there"},
      {S_IFDIR | 0777, 0, StateDirectory::kGiven,
       "is writable by every user (mode 0777) without the sticky bit: another user could put a "
       "state file there"},
      {S_IFDIR | 0720, kSelf, StateDirectory::kGiven,
       "is writable by its group (mode 0720) without the sticky bit: another user could put a "
       "state file there"},
      {S_IFCHR | 0666, 0, StateDirectory::kGiven, "is a character device, not a directory"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.mode);
    CAPTURE(c.owner);
    CAPTURE(static_cast<int>(c.kind));
    CHECK(WhyUntrustedDirectory(FileFacts{.mode = c.mode, .owner = c.owner, .links = 2}, kSelf,
                                c.kind) == c.want);
  }
}

TEST_CASE("WhyUntrustedStateFile: only a file lastcall could have written") {
  constexpr uid_t kSelf = 1000;
  struct Case {
    mode_t mode;
    uid_t owner;
    nlink_t links;
    std::string want;  // "" trusted
  };
  const std::vector<Case> cases = {
      {S_IFREG | 0600, kSelf, 1, ""},
      {S_IFREG | 0644, kSelf, 1, ""},
      {S_IFREG | 0400, kSelf, 1, ""},
      {S_IFREG | 0600, 65534, 1,
       "is owned by uid 65534, not by lastcall's uid 1000: lastcall did not write it"},
      {S_IFREG | 0600, 0, 1,
       "is owned by uid 0, not by lastcall's uid 1000: lastcall did not write it"},
      {S_IFREG | 0620, kSelf, 1, "is writable by its group (mode 0620); lastcall writes it 0600"},
      {S_IFREG | 0666, kSelf, 1, "is writable by every user (mode 0666); lastcall writes it 0600"},
      {S_IFREG | 0602, kSelf, 1, "is writable by every user (mode 0602); lastcall writes it 0600"},
      {S_IFREG | 0600, kSelf, 2, "has 2 hard links; the one lastcall writes has one"},
      {S_IFLNK | 0777, kSelf, 1, "is a symbolic link, not a regular file"},
      {S_IFIFO | 0600, kSelf, 1, "is a FIFO, not a regular file"},
      {S_IFCHR | 0666, 0, 1, "is a character device, not a regular file"},
      {S_IFBLK | 0660, 0, 1, "is a block device, not a regular file"},
      {S_IFSOCK | 0600, kSelf, 1, "is a socket, not a regular file"},
      {S_IFDIR | 0700, kSelf, 2, "is a directory, not a regular file"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.mode);
    CAPTURE(c.owner);
    CHECK(WhyUntrustedStateFile(FileFacts{.mode = c.mode, .owner = c.owner, .links = c.links},
                                kSelf) == c.want);
  }
}

std::unique_ptr<FileSequenceStore> OpenStore(const std::string& path,
                                             StateDirectory kind = StateDirectory::kGiven) {
  std::string error;
  auto store = FileSequenceStore::Open(path, kind, &error);
  INFO(error);
  REQUIRE(store != nullptr);
  CHECK(error.empty());
  return store;
}

std::string Contents(const std::string& path) { return ReadSmallFile(path, 1 << 20).text; }

TEST_CASE("FileSequenceStore::Save writes 0600 atomically and never through a planted name") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/state.json";
  const std::string victim = dir.path() + "/victim";
  std::ofstream(victim) << "precious";
  // The old predictable temporary name.
  REQUIRE(symlink(victim.c_str(), (path + ".tmp").c_str()) == 0);
  auto store = OpenStore(path);

  SUBCASE("no file yet: written") {}
  SUBCASE("lastcall's own older file: replaced") {
    store->Save(Draining());
    PersistedSequence ended = Draining();
    ended.end = SequenceEnd::kDrained;
    ended.ended_at = SysClock::now();
    store->Save(ended);
  }
  store->Save(Draining());
  CHECK(Contents(victim) == "precious");
  struct stat info {};
  REQUIRE(lstat(path.c_str(), &info) == 0);
  CHECK(S_ISREG(info.st_mode));
  CHECK((info.st_mode & 0777) == 0600);
  std::string error;
  const auto loaded = store->Load(&error);
  REQUIRE(loaded);
  CHECK(ParseSequenceState(*loaded, &error)->phase == Phase::kDraining);
  int entries = 0;  // no temporary file is left behind
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++entries;
  }
  CHECK(entries == 3);  // victim, state.json, the planted state.json.tmp
}

TEST_CASE("FileSequenceStore::Save and Clear never replace or remove what lastcall did not write") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/state.json";
  const std::string victim = dir.path() + "/victim";
  std::ofstream(victim) << "precious";
  auto store = OpenStore(path);
  std::string kind;
  SUBCASE("a symlink") {
    REQUIRE(symlink(victim.c_str(), path.c_str()) == 0);
    kind = "link";
  }
  SUBCASE("a FIFO") {
    REQUIRE(mkfifo(path.c_str(), 0600) == 0);
    kind = "fifo";
  }
  SUBCASE("a file every user can write") {
    std::ofstream(path) << "notes";
    REQUIRE(chmod(path.c_str(), 0666) == 0);
    kind = "file";
  }
  store->Save(Draining());
  store->Clear();
  struct stat info {};
  REQUIRE(lstat(path.c_str(), &info) == 0);
  if (kind == "link") CHECK(S_ISLNK(info.st_mode));
  if (kind == "fifo") CHECK(S_ISFIFO(info.st_mode));
  if (kind == "file") CHECK(Contents(path) == "notes");
  CHECK(Contents(victim) == "precious");
  int entries = 0;  // the temporary file was cleaned up
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++entries;
  }
  CHECK(entries == 2);
}

TEST_CASE("FileSequenceStore::Load refuses what lastcall cannot have written, without blocking") {
  testing::TempDir dir;
  const std::string path = dir.path() + "/state.json";
  auto store = OpenStore(path);
  std::string error;
  CHECK(!store->Load(&error));
  CHECK(error.empty());  // no file is no error

  std::string want;
  SUBCASE("a FIFO") {
    REQUIRE(mkfifo(path.c_str(), 0600) == 0);
    want = "is a FIFO, not a regular file";
  }
  SUBCASE("a symlink to /dev/zero") {
    REQUIRE(symlink("/dev/zero", path.c_str()) == 0);
    want = "is a symbolic link, not a regular file";
  }
  SUBCASE("a directory") {
    REQUIRE(mkdir(path.c_str(), 0700) == 0);
    want = "is a directory, not a regular file";
  }
  SUBCASE("too large") {
    std::ofstream(path) << std::string(kMaxStateFileBytes + 1, ' ');
    REQUIRE(chmod(path.c_str(), 0600) == 0);
    want = "larger than 64 KiB; is it the right file?";
  }
  SUBCASE("writable by its group") {
    store->Save(Draining());
    REQUIRE(chmod(path.c_str(), 0660) == 0);
    want = "is writable by its group (mode 0660); lastcall writes it 0600";
  }
  SUBCASE("a second hard link") {
    store->Save(Draining());
    REQUIRE(link(path.c_str(), (dir.path() + "/copy").c_str()) == 0);
    want = "has 2 hard links; the one lastcall writes has one";
  }
  SUBCASE("owned by another user") {
    if (geteuid() != 0) {
      MESSAGE("skipped: needs root to give a file to uid 65534");
      return;
    }
    store->Save(Draining());
    REQUIRE(chown(path.c_str(), 65534, 65534) == 0);
    want = "is owned by uid 65534, not by lastcall's uid 0: lastcall did not write it";
  }
  CHECK(!store->Load(&error));
  CHECK(error == want);
  CHECK(std::filesystem::symlink_status(path).type() != std::filesystem::file_type::not_found);
}

TEST_CASE("FileSequenceStore::Open: lastcall's own directory is created 0700 and checked") {
  testing::TempDir dir;
  const std::string own = dir.path() + "/socket-dir/lastcall-state";
  std::string error;
  SUBCASE("created with its missing parents") {
    auto store = OpenStore(own + "/state.json", StateDirectory::kOwn);
    struct stat info {};
    REQUIRE(lstat(own.c_str(), &info) == 0);
    CHECK(S_ISDIR(info.st_mode));
    CHECK((info.st_mode & 07777) == 0700);
    CHECK(info.st_uid == geteuid());
    store->Save(Draining());
    CHECK(store->Load(&error).has_value());
  }
  SUBCASE("a symlink in its place is refused") {
    const std::string elsewhere = dir.path() + "/elsewhere";
    REQUIRE(mkdir(elsewhere.c_str(), 0700) == 0);
    REQUIRE(mkdir((dir.path() + "/socket-dir").c_str(), 0700) == 0);
    REQUIRE(symlink(elsewhere.c_str(), own.c_str()) == 0);
    CHECK(FileSequenceStore::Open(own + "/state.json", StateDirectory::kOwn, &error) == nullptr);
    CHECK(error == own + ": is a symbolic link, not a directory");
  }
  SUBCASE("a shared one is refused") {
    REQUIRE(mkdir((dir.path() + "/socket-dir").c_str(), 0700) == 0);
    REQUIRE(mkdir(own.c_str(), 0700) == 0);
    REQUIRE(chmod(own.c_str(), 0777) == 0);
    CHECK(FileSequenceStore::Open(own + "/state.json", StateDirectory::kOwn, &error) == nullptr);
    CHECK(error == own +
                       ": is writable by every user (mode 0777): another user could put a state "
                       "file there");
  }
  SUBCASE("another user's is refused") {
    if (geteuid() != 0) {
      MESSAGE("skipped: needs root to give a directory to uid 65534");
      return;
    }
    REQUIRE(mkdir((dir.path() + "/socket-dir").c_str(), 0700) == 0);
    REQUIRE(mkdir(own.c_str(), 0700) == 0);
    REQUIRE(chown(own.c_str(), 65534, 65534) == 0);
    CHECK(FileSequenceStore::Open(own + "/state.json", StateDirectory::kOwn, &error) == nullptr);
    CHECK(error == own + ": is owned by uid 65534, not by lastcall's uid 0");
  }
}

TEST_CASE("FileSequenceStore::Open: a given directory must not let others plant the file") {
  testing::TempDir dir;
  std::string error;
  SUBCASE("sticky and shared, as /tmp: accepted") {
    REQUIRE(chmod(dir.path().c_str(), 01777) == 0);
    OpenStore(dir.path() + "/state.json");
  }
  SUBCASE("shared without the sticky bit: refused") {
    REQUIRE(chmod(dir.path().c_str(), 0777) == 0);
    CHECK(FileSequenceStore::Open(dir.path() + "/state.json", StateDirectory::kGiven, &error) ==
          nullptr);
    CHECK(error == dir.path() +
                       ": is writable by every user (mode 0777) without the sticky bit: another "
                       "user could put a state file there");
  }
  SUBCASE("missing: refused with the reason") {
    CHECK(FileSequenceStore::Open(dir.path() + "/none/state.json", StateDirectory::kGiven,
                                  &error) == nullptr);
    CHECK(error ==
          dir.path() + "/none: cannot open the state file's directory: No such file or directory");
  }
}

}  // namespace
}  // namespace lastcall
