// FIFOs, devices and planted symlinks at lastcall's paths (config, token, state file): refused at
// once with the path and the reason, never a hang, never unbounded reading, never a clobber.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.h"

namespace lastcall::test {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

std::string Fifo(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  REQUIRE(mkfifo(path.c_str(), 0600) == 0);
  return path;
}

std::string LinkToZero(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  REQUIRE(symlink("/dev/zero", path.c_str()) == 0);
  return path;
}

TEST_CASE("a FIFO or /dev/zero as config or token file: exit 2 at once, naming path and reason") {
  const std::string dir = TempDir();
  struct Case {
    std::vector<std::string> args;
    std::string path;
    std::string reason;
  };
  const std::string fifo = Fifo(dir, "config.yaml");
  const std::string zero = LinkToZero(dir, "zero.yaml");
  const std::string token_fifo = Fifo(dir, "token");
  const std::string token_zero = LinkToZero(dir, "token-zero");
  const std::vector<Case> cases = {
      {{"check", "-c", fifo}, fifo, "is a FIFO, not a regular file"},
      {{"run", "-c", fifo}, fifo, "is a FIFO, not a regular file"},
      {{"run", "-c", zero}, zero, "is a character device, not a regular file"},
      {{"run", "--listen", "127.0.0.1:0", "--token-file", token_fifo},
       token_fifo,
       "is a FIFO, not a regular file"},
      {{"run", "--listen", "127.0.0.1:0", "--token-file", token_zero},
       token_zero,
       "is a character device, not a regular file"},
      {{"prestop", "--token-file", token_fifo}, token_fifo, "is a FIFO, not a regular file"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv{LASTCALL_BINARY};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CAPTURE(argv);
    Process p = Process::Spawn(argv);
    const std::optional<int> code = p.WaitExit(milliseconds(3000));
    REQUIRE(code.has_value());  // it used to block forever in open()
    CHECK(*code == 2);
    CHECK(p.Output().find(c.path + ": " + c.reason) != std::string::npos);
  }
}

TEST_CASE("a FIFO, /dev/zero link or directory at the state file: ignored with a warning") {
  const uint16_t port = FreePort();
  const std::string dir = TempDir();
  std::string reason;
  SUBCASE("FIFO") {
    Fifo(dir, "state.json");
    reason = "is a FIFO, not a regular file";
  }
  SUBCASE("symlink to /dev/zero") {
    LinkToZero(dir, "state.json");
    reason = "is a symbolic link; refusing to follow it";
  }
  SUBCASE("too large") {
    std::ofstream(dir + "/state.json") << std::string(100'000, ' ');
    reason = "larger than 64 KiB";
  }
  Process p =
      Process::Spawn({LASTCALL_BINARY, "run", "--listen", "127.0.0.1:" + std::to_string(port),
                      "--control", "unix://" + dir + "/control.sock"});
  REQUIRE(WaitUntil([&] { return Status(port, "/readyz") == 200; }, milliseconds(3000)));
  CHECK(p.WaitForOutput("ignoring an unreadable state file", milliseconds(1000)));
  CHECK(p.Output().find(reason) != std::string::npos);
}

TEST_CASE("the state file is never written through a planted symlink") {
  const uint16_t port = FreePort();
  const std::string dir = TempDir();
  const std::string victim = TempDir() + "/victim";
  std::ofstream(victim) << "precious";
  // The temporary name lastcall used to write through.
  REQUIRE(symlink(victim.c_str(), (dir + "/state.json.tmp").c_str()) == 0);
  SUBCASE("a private directory: no warning") {}
  SUBCASE("a directory every user can write: a warning at start") {
    REQUIRE(chmod(dir.c_str(), 0777) == 0);
  }
  Process p =
      Process::Spawn({LASTCALL_BINARY, "run", "--listen", "127.0.0.1:" + std::to_string(port),
                      "--control", "unix://" + dir + "/control.sock", "--lb-delay", "0s"});
  REQUIRE(WaitUntil([&] { return Status(port, "/readyz") == 200; }, milliseconds(3000)));
  Process hook =
      Process::Spawn({LASTCALL_BINARY, "prestop", "--control", "unix://" + dir + "/control.sock"});
  REQUIRE(hook.WaitExit(milliseconds(5000)) == 0);  // no app: refused counts as drained
  CHECK(ReadAll(victim) == "precious");
  CHECK(ReadAll(dir + "/state.json").find("\"result\":\"drained\"") != std::string::npos);
  struct stat info {};
  REQUIRE(stat(dir.c_str(), &info) == 0);
  const bool shared = (info.st_mode & S_IWOTH) != 0;
  CHECK((p.Output().find("writable by every user") != std::string::npos) == shared);
}

}  // namespace
}  // namespace lastcall::test
