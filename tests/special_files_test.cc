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

TEST_CASE("a FIFO, /dev/zero link or oversized file at the state file: exit 2, left in place") {
  const std::string dir = TempDir();
  const std::string own = dir + "/lastcall-state";
  REQUIRE(mkdir(own.c_str(), 0700) == 0);
  const std::string path = own + "/state.json";
  std::string reason;
  SUBCASE("FIFO") {
    Fifo(own, "state.json");
    reason = "is a FIFO, not a regular file";
  }
  SUBCASE("symlink to /dev/zero") {
    LinkToZero(own, "state.json");
    reason = "is a symbolic link, not a regular file";
  }
  SUBCASE("too large") {
    std::ofstream(path) << std::string(100'000, ' ');
    REQUIRE(chmod(path.c_str(), 0600) == 0);
    reason = "larger than 64 KiB";
  }
  Process p =
      Process::Spawn({LASTCALL_BINARY, "run", "--listen", "127.0.0.1:" + std::to_string(FreePort()),
                      "--control", "unix://" + dir + "/control.sock"});
  const std::optional<int> code = p.WaitExit(milliseconds(3000));
  REQUIRE(code.has_value());  // never a hang on the FIFO
  CHECK(*code == 2);
  CHECK(p.Output().find(path + ": " + reason) != std::string::npos);
  CHECK(std::filesystem::symlink_status(path).type() != std::filesystem::file_type::not_found);
}

TEST_CASE("in a volume every user can write, the state goes to lastcall's own 0700 directory") {
  const uint16_t port = FreePort();
  const std::string dir = TempDir();
  REQUIRE(chmod(dir.c_str(), 0777) == 0);  // an emptyDir
  const std::string victim = TempDir() + "/victim";
  std::ofstream(victim) << "precious";
  // The names lastcall used to write at.
  REQUIRE(symlink(victim.c_str(), (dir + "/state.json").c_str()) == 0);
  REQUIRE(symlink(victim.c_str(), (dir + "/state.json.tmp").c_str()) == 0);
  Process p =
      Process::Spawn({LASTCALL_BINARY, "run", "--listen", "127.0.0.1:" + std::to_string(port),
                      "--control", "unix://" + dir + "/control.sock", "--lb-delay", "0s"});
  REQUIRE(WaitUntil([&] { return Status(port, "/readyz") == 200; }, milliseconds(3000)));
  Process hook =
      Process::Spawn({LASTCALL_BINARY, "prestop", "--control", "unix://" + dir + "/control.sock"});
  REQUIRE(hook.WaitExit(milliseconds(5000)) == 0);  // no app: refused counts as drained
  CHECK(ReadAll(victim) == "precious");
  CHECK(ReadAll(dir + "/lastcall-state/state.json").find("\"result\":\"drained\"") !=
        std::string::npos);
  struct stat info {};
  REQUIRE(lstat((dir + "/lastcall-state").c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0700);
  REQUIRE(lstat((dir + "/lastcall-state/state.json").c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0600);
}

}  // namespace
}  // namespace lastcall::test
