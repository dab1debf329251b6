// The state file decides how a restarted lastcall behaves (503 at once, exit at once), so only a
// file lastcall wrote itself is read, and nothing else at its path is ever deleted: another user's
// file, a shared directory, a file that is not a state file or a special file make `lastcall run`
// refuse to start (exit 2) naming the path and the reason, and leave everything as it was.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "harness.h"

namespace lastcall::test {
namespace {

constexpr uid_t kNobody = 65534;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

// A valid state that, trusted, makes a fresh lastcall exit 1 at once: a sequence that timed out
// after a termination signal.
std::string TimedOutState() {
  return nlohmann::json{{"version", 1},
                        {"phase", "timed_out"},
                        {"trigger", "signal"},
                        {"triggered_at_ms", UnixMs() - 1000},
                        {"draining_since_ms", UnixMs() - 900},
                        {"trigger_accepted", true},
                        {"signal_received", true},
                        {"result", "timed_out"},
                        {"ended_at_ms", UnixMs() - 500}}
      .dump();
}

// A fresh directory that only the test's user can write (whatever the umask).
std::string PrivateDir() {
  const std::string dir = TempDir();
  REQUIRE(chmod(dir.c_str(), 0700) == 0);
  return dir;
}

void Write(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  REQUIRE(chmod(path.c_str(), mode) == 0);
}

void GiveToNobody(const std::string& path) { REQUIRE(lchown(path.c_str(), kNobody, kNobody) == 0); }

struct Seen {
  mode_t type = 0;
  uid_t owner = 0;
  std::string text;  // regular files only
  bool operator==(const Seen&) const = default;
};
Seen Look(const std::string& path) {
  struct stat info {};
  REQUIRE(lstat(path.c_str(), &info) == 0);
  Seen seen{info.st_mode & S_IFMT, info.st_uid, ""};
  if (S_ISREG(info.st_mode)) seen.text = ReadAll(path);
  return seen;
}

// `lastcall run` with a control socket in `socket_dir` and `extra` flags: returns its exit code,
// or nullopt when it did not exit within 3 s.
std::optional<int> RunExpectingExit(const std::string& socket_dir,
                                    const std::vector<std::string>& extra, std::string* output) {
  std::vector<std::string> argv{LASTCALL_BINARY, "run",
                                "--listen",      "127.0.0.1:" + std::to_string(FreePort()),
                                "--control",     "unix://" + socket_dir + "/control.sock",
                                "--lb-delay",    "0s"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Process p = Process::Spawn(argv);
  const std::optional<int> code = p.WaitExit(milliseconds(3000));
  *output = p.Output();
  return code;
}

bool SkipUnlessRoot(const char* why = "to create files owned by uid 65534") {
  if (geteuid() == 0) return false;
  MESSAGE("skipped: needs root " << why << " (CI runs as root)");
  return true;
}

TEST_CASE("a state file or directory planted by another user: exit 2 naming it, left in place") {
  if (SkipUnlessRoot()) return;
  std::string socket_dir = PrivateDir();
  std::vector<std::string> flags;
  std::string planted;  // what the message names
  std::string reason;
  std::vector<std::string> kept;
  SUBCASE("--state-file in a sticky directory every user can write (as /tmp)") {
    const std::string shared = TempDir();
    REQUIRE(chmod(shared.c_str(), 01777) == 0);
    planted = shared + "/state.json";
    Write(planted, TimedOutState());
    GiveToNobody(planted);
    flags = {"--state-file", planted};
    reason = "is owned by uid 65534, not by lastcall's uid 0: lastcall did not write it";
    kept = {planted};
  }
  SUBCASE("a file in lastcall's own state directory") {
    const std::string own = socket_dir + "/lastcall-state";
    REQUIRE(mkdir(own.c_str(), 0700) == 0);
    planted = own + "/state.json";
    Write(planted, TimedOutState());
    GiveToNobody(planted);
    reason = "is owned by uid 65534, not by lastcall's uid 0: lastcall did not write it";
    kept = {planted};
  }
  SUBCASE("the state directory itself, made by another user before lastcall") {
    socket_dir = TempDir();
    REQUIRE(chmod(socket_dir.c_str(), 01777) == 0);
    planted = socket_dir + "/lastcall-state";
    REQUIRE(mkdir(planted.c_str(), 0755) == 0);
    Write(planted + "/state.json", TimedOutState());
    GiveToNobody(planted + "/state.json");
    GiveToNobody(planted);
    reason = "is owned by uid 65534, not by lastcall's uid 0";
    kept = {planted, planted + "/state.json"};
  }
  CAPTURE(planted);
  std::vector<Seen> before;
  for (const std::string& path : kept) before.push_back(Look(path));
  std::string output;
  const auto start = std::chrono::steady_clock::now();
  const std::optional<int> code = RunExpectingExit(socket_dir, flags, &output);
  CAPTURE(output);
  REQUIRE(code.has_value());
  CHECK(*code == 2);  // a configuration problem, not a drained (0) or timed-out (1) sequence
  CHECK(ElapsedMs(start) < 2000);
  CHECK(output.find(planted + ": " + reason) != std::string::npos);
  for (size_t i = 0; i < kept.size(); ++i) {
    CAPTURE(kept[i]);
    CHECK(Look(kept[i]) == before[i]);
  }
}

TEST_CASE("the quick start's /tmp: another user's state.json beside the socket changes nothing") {
  if (SkipUnlessRoot()) return;
  const std::string shared = TempDir();
  REQUIRE(chmod(shared.c_str(), 01777) == 0);
  // Where the state file used to be, with a state that made lastcall exit 1 in 7 ms.
  const std::string planted = shared + "/state.json";
  Write(planted, TimedOutState());
  GiveToNobody(planted);
  const Seen before = Look(planted);
  const uint16_t port = FreePort();
  Process p =
      Process::Spawn({LASTCALL_BINARY, "run", "--listen", "127.0.0.1:" + std::to_string(port),
                      "--control", "unix://" + shared + "/control.sock", "--lb-delay", "0s"});
  REQUIRE(
      WaitUntil([&] { return Status(port, "/readyz") != 0 || !p.Running(); }, milliseconds(3000)));
  CAPTURE(p.Output());
  CHECK(Status(port, "/readyz") == 200);
  std::this_thread::sleep_for(milliseconds(200));
  CHECK(p.Running());
  CHECK(Look(planted) == before);
  // Its own directory beside the socket: lastcall's alone.
  struct stat own {};
  REQUIRE(lstat((shared + "/lastcall-state").c_str(), &own) == 0);
  CHECK(S_ISDIR(own.st_mode));
  CHECK((own.st_mode & 07777) == 0700);
  CHECK(own.st_uid == geteuid());
}

TEST_CASE("--state-file never deletes or changes what it names: exit 2 naming it") {
  const std::string dir = PrivateDir();
  const std::string victim = dir + "/victim";
  Write(victim, "precious");
  std::string path;
  std::string reason;
  SUBCASE("a notes file") {
    path = dir + "/notes.txt";
    Write(path, "remember the milk\n", 0644);
    reason = "not a state file of this lastcall: not a JSON object";
  }
  SUBCASE("a YAML configuration") {
    path = dir + "/lastcall.yaml";
    Write(path, "listen: \":9901\"\nshutdown:\n  lb_delay: 5s\n", 0644);
    reason = "not a state file of this lastcall: not a JSON object";
  }
  SUBCASE("a newer version's state file") {
    path = dir + "/state.json";
    Write(path, R"({"version":2,"phase":"draining","trigger":"signal","triggered_at_ms":1})");
    reason =
        "not a state file of this lastcall: written by a newer lastcall (state file version 2; "
        "this one reads 1)";
  }
  SUBCASE("a JSON file of something else") {
    path = dir + "/package.json";
    Write(path, R"({"name":"app","version":"1.0.0"})", 0644);
    reason = "not a state file of this lastcall: unknown state file version";
  }
  SUBCASE("a symlink") {
    path = dir + "/state.json";
    REQUIRE(symlink(victim.c_str(), path.c_str()) == 0);
    reason = "is a symbolic link, not a regular file";
  }
  SUBCASE("a FIFO") {
    path = dir + "/state.json";
    REQUIRE(mkfifo(path.c_str(), 0600) == 0);
    reason = "is a FIFO, not a regular file";
  }
  SUBCASE("a character device (a private null device, never /dev/null itself)") {
    if (SkipUnlessRoot("to make a device node")) return;
    path = dir + "/null";
    REQUIRE(mknod(path.c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    reason = "is a character device, not a regular file";
  }
  CAPTURE(path);
  const Seen before = Look(path);
  std::string output;
  const std::optional<int> code = RunExpectingExit(dir, {"--state-file", path}, &output);
  CAPTURE(output);
  REQUIRE(code.has_value());
  CHECK(*code == 2);
  CHECK(output.find(path + ": " + reason) != std::string::npos);
  CHECK(Look(path) == before);
  CHECK(ReadAll(victim) == "precious");
}

TEST_CASE("a state file its group or others can write, or in such a directory: exit 2") {
  const std::string dir = PrivateDir();
  std::string path = dir + "/state.json";
  std::string named = path;
  std::string reason;
  // A valid, recent sequence: trusted, it would start lastcall at 503 and ask the app to drain.
  const std::string state = nlohmann::json{
      {"version", 1},
      {"phase", "unready"},
      {"trigger", "signal"},
      {"triggered_at_ms",
       UnixMs() - 100}}.dump();
  SUBCASE("a file every user can write") {
    Write(path, state, 0666);
    reason = "is writable by every user (mode 0666); lastcall writes it 0600";
  }
  SUBCASE("a file its group can write") {
    Write(path, state, 0660);
    reason = "is writable by its group (mode 0660); lastcall writes it 0600";
  }
  SUBCASE("a directory every user can write, without the sticky bit") {
    Write(path, state, 0600);
    REQUIRE(chmod(dir.c_str(), 0777) == 0);
    named = dir;
    reason =
        "is writable by every user (mode 0777) without the sticky bit: another user could put a "
        "state file there";
  }
  const Seen before = Look(path);
  std::string output;
  const std::optional<int> code = RunExpectingExit(dir, {"--state-file", path}, &output);
  CAPTURE(output);
  REQUIRE(code.has_value());
  CHECK(*code == 2);
  CHECK(output.find(named + ": " + reason) != std::string::npos);
  CHECK(Look(path) == before);
}

}  // namespace
}  // namespace lastcall::test
