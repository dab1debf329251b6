// `lastcall rehearse` end to end: the real binary rehearses the real example app.
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "harness.h"

namespace lastcall::test {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Runs `lastcall rehearse ARGS` in `dir` (the default report lands there) and waits for it.
std::optional<int> Rehearse(const std::string& dir, const std::string& args, std::string* output,
                            milliseconds timeout = milliseconds(40000)) {
  Process process = Process::Spawn(
      {"/bin/sh", "-c", "cd '" + dir + "' && exec '" LASTCALL_BINARY "' rehearse " + args});
  std::optional<int> code = process.WaitExit(timeout);
  *output = process.Output();
  return code;
}

TEST_CASE("rehearse with no arguments: the example app, nothing lost, exit 0 and a report") {
  const std::string dir = TempDir();
  std::string output;
  const auto start = std::chrono::steady_clock::now();
  const std::optional<int> code = Rehearse(dir, "", &output);
  const long long elapsed = ElapsedMs(start);
  INFO(output);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  MESSAGE("rehearse with no arguments took " << elapsed << " ms");
  CHECK(elapsed < 15000);  // a 6 s load, and a few seconds to start and report
  CHECK(Contains(output, "PASSED: nothing lost"));
  CHECK(Contains(output, "lastcall draining"));
  CHECK(Contains(output, "endpoint removed"));
  CHECK(Contains(output, "report: lastcall-rehearse.html"));

  const std::string html = ReadFile(dir + "/lastcall-rehearse.html");
  CHECK(Contains(html, "<body data-verdict=\"passed\">"));
  for (const char* phase : {"deletion", "unready", "endpoint-removed", "draining", "drained",
                            "app-exited", "grace-deadline"}) {
    CAPTURE(phase);
    CHECK(Contains(html, std::string("data-phase=\"") + phase + "\""));
  }
}

TEST_CASE("rehearse --push with lb_delay auto: the report says why each wait ended") {
  const std::string dir = TempDir();
  std::string output;
  // monitor none: only the app's push can end the drain before the drain timeout.
  const std::optional<int> code =
      Rehearse(dir,
               "--push --monitor none --lb-delay auto --lb-auto-min 200ms --lb-auto-quiet 300ms "
               "--duration 3s --report r.json",
               &output);
  INFO(output);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(Contains(output, "the app pushes"));
  CHECK(Contains(output, "why each wait ended"));
  CHECK(Contains(output, "lb_delay auto: quiet for 300ms"));
  CHECK(Contains(output, "the app pushed that it is drained (POST /drained)"));
  const auto json = nlohmann::json::parse(ReadFile(dir + "/r.json"), nullptr, false);
  REQUIRE(json.is_object());
  CHECK(json["waits"]["lb"]["reason"] == "quiet");
  CHECK(json["waits"]["drain"]["reason"] == "pushed");
  CHECK(json["settings"]["app_pushes"] == true);
  CHECK(json["settings"]["lb_delay"] == "auto");
}

TEST_CASE("rehearse a naive app that implements no drain protocol: requests lost, exit 1") {
  // --naive alone would pass: the blocking preStop holds SIGTERM until lastcall saw the app
  // drained. Without a drain endpoint lastcall cannot see that; after drain.timeout the app gets
  // SIGTERM and drops what still arrives over connections kube-proxy keeps routing to it.
  const std::string dir = TempDir();
  std::string output;
  const std::optional<int> code = Rehearse(
      dir,
      "--app-cmd '" EXAMPLE_APP_BINARY
      " --naive --no-drain-endpoint --listen 127.0.0.1:{port}' --paths '/work?ms=5,/work?ms=800' "
      "--lb-delay 1s --drain-timeout 2s --grace-period 10s --propagation-delay 500ms "
      "--duration 6s --report naive.json --report naive.html",
      &output);
  INFO(output);
  REQUIRE(code.has_value());
  CHECK(*code == 1);
  CHECK(Contains(output, "FAILED: "));

  const auto report = nlohmann::json::parse(ReadFile(dir + "/naive.json"), nullptr, false);
  REQUIRE(report.is_object());
  CHECK(report["passed"] == false);
  CHECK(report["exit_code"] == 1);
  CHECK(report["requests"]["failed"].get<int>() > 0);
  CHECK(report["requests"]["failed_by_cause"]["reset"].get<int>() > 0);
  CHECK(report["requests"]["sent"].get<int>() >= 550);  // 100/s for 6 s, give or take a tick
  bool timed_out = false;
  for (const auto& phase : report["lastcall"]["phases"]) timed_out |= phase["phase"] == "timed_out";
  CHECK(timed_out);
  std::string advice;
  for (const auto& item : report["advice"]) advice += item["id"].get<std::string>() + " ";
  CHECK(Contains(advice, "cut-at-exit"));
  CHECK(Contains(advice, "drain-timed-out"));
  CHECK(Contains(ReadFile(dir + "/naive.html"), "<body data-verdict=\"failed\">"));
}

// Processes whose process group is `pgid` and that still run (not zombies).
std::vector<pid_t> GroupMembers(pid_t pgid) {
  std::vector<pid_t> members;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream file(entry.path() / "stat");
    std::string stat;
    if (!std::getline(file, stat) || stat.rfind(')') == std::string::npos) continue;
    std::istringstream fields(stat.substr(stat.rfind(')') + 1));
    char state = 0;
    long long ppid = 0, group = 0;
    if (fields >> state >> ppid >> group && group == pgid && state != 'Z') {
      members.push_back(static_cast<pid_t>(std::stoll(name)));
    }
  }
  return members;
}

bool Running(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(file, stat) || stat.rfind(')') == std::string::npos) return false;
  return stat.at(stat.rfind(')') + 2) != 'Z';
}

TEST_CASE("rehearse ends the app's whole process group: a launcher's worker does not outlive it") {
  // A launcher that starts the app as a worker and waits: at SIGTERM the launcher dies (sh's
  // default), the worker never hears of it and keeps serving. In a cluster it dies with its
  // container; rehearse used to leave it running and report only the launcher's exit.
  const std::string dir = TempDir();
  std::ofstream(dir + "/launcher.sh")
      << "echo $$ > '" << dir << "/launcher.pid'\n"
      << "'" EXAMPLE_APP_BINARY "' --listen 127.0.0.1:$1 --shutdown-timeout 1s &\n"
      << "echo $! > '" << dir << "/worker.pid'\nwait\n";
  std::string output;
  const std::optional<int> code =
      Rehearse(dir,
               "--app-cmd '/bin/sh " + dir +
                   "/launcher.sh {port}' --lb-delay 300ms --drain-timeout 1s --grace-period 4s "
                   "--propagation-delay 200ms --duration 3s --report group.json",
               &output);
  INFO(output);
  const auto read_pid = [&](const std::string& file) {
    std::ifstream in(dir + "/" + file);
    pid_t pid = -1;
    in >> pid;
    return pid;
  };
  const pid_t launcher = read_pid("launcher.pid");
  const pid_t worker = read_pid("worker.pid");
  REQUIRE(launcher > 0);
  REQUIRE(worker > 0);
  const bool worker_left = WaitUntil([&] { return !Running(worker); }, milliseconds(1000)) == false;
  if (worker_left) kill(worker, SIGKILL);  // a build without the fix: leave nothing behind
  REQUIRE(code.has_value());
  CHECK_FALSE(worker_left);
  CHECK(GroupMembers(launcher).empty());
  CHECK(Contains(output, "1 more process of its group was still running and was killed"));
  const auto report = nlohmann::json::parse(ReadFile(dir + "/group.json"), nullptr, false);
  REQUIRE(report.is_object());
  CHECK(report["app"]["group_killed"] == 1);
}

TEST_CASE("rehearse reports an app that cannot start, and usage errors, without hanging") {
  const std::string dir = TempDir();
  std::string output;
  std::optional<int> code =
      Rehearse(dir, "--app-cmd /nonexistent/app", &output, milliseconds(10000));
  REQUIRE(code.has_value());
  CHECK(*code == 3);
  CHECK(Contains(output, "cannot start the app: /nonexistent/app: No such file or directory"));

  code = Rehearse(dir, "--rps 0", &output, milliseconds(10000));
  REQUIRE(code.has_value());
  CHECK(*code == 2);
  CHECK(Contains(output, "flag --rps: expected a whole number from 1 to 1000"));
}

}  // namespace
}  // namespace lastcall::test
