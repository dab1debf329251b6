#include "install_command.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "base/exit_status.h"

namespace lastcall {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "lastcall-install-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

mode_t ModeOf(const fs::path& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

size_t EntriesIn(const fs::path& directory) {
  return static_cast<size_t>(
      std::distance(fs::directory_iterator(directory), fs::directory_iterator()));
}

TEST_CASE("install copies the binary into a new directory with mode 0755") {
  TempDir temp;
  WriteFile(temp.path() / "source",
            "\x7f"
            "ELF pretend binary");
  InstallOptions options;
  options.source = (temp.path() / "source").string();
  options.to = (temp.path() / "shared" / "bin").string();
  std::ostringstream out, err;

  // A restrictive umask must not leak into the modes: the app container runs as another user.
  const mode_t old_umask = ::umask(077);
  const int status = RunInstall(options, out, err);
  ::umask(old_umask);

  REQUIRE(status == kExitDrained);
  CHECK(err.str().empty());
  const fs::path installed = temp.path() / "shared" / "bin" / "lastcall";
  CHECK(ReadFile(installed) ==
        "\x7f"
        "ELF pretend binary");
  CHECK(ModeOf(installed) == 0755);
  CHECK(ModeOf(temp.path() / "shared") == 0755);
  CHECK(ModeOf(temp.path() / "shared" / "bin") == 0755);
  CHECK(out.str() == "lastcall install: installed " + installed.string() + " (19 bytes)\n");
  CHECK(EntriesIn(temp.path() / "shared" / "bin") == 1);  // no temporary file left
}

TEST_CASE("install replaces a previous copy and accepts a trailing slash") {
  TempDir temp;
  WriteFile(temp.path() / "source", "new");
  fs::create_directory(temp.path() / "bin");
  WriteFile(temp.path() / "bin" / "lastcall", "old and longer");
  InstallOptions options;
  options.source = (temp.path() / "source").string();
  options.to = (temp.path() / "bin").string() + "/";
  std::ostringstream out, err;

  REQUIRE(RunInstall(options, out, err) == kExitDrained);
  REQUIRE(RunInstall(options, out, err) == kExitDrained);  // idempotent
  CHECK(ReadFile(temp.path() / "bin" / "lastcall") == "new");
  CHECK(ModeOf(temp.path() / "bin" / "lastcall") == 0755);
  CHECK(EntriesIn(temp.path() / "bin") == 1);
}

TEST_CASE("install copies the running executable by default") {
  TempDir temp;
  InstallOptions options;
  options.to = temp.path().string();
  std::ostringstream out, err;
  REQUIRE(RunInstall(options, out, err) == kExitDrained);
  CHECK(ReadFile(temp.path() / "lastcall") == ReadFile("/proc/self/exe"));
}

TEST_CASE("install failures name the cause and leave nothing behind") {
  TempDir temp;
  std::ostringstream out, err;

  SUBCASE("no destination") {
    InstallOptions options;
    CHECK(RunInstall(options, out, err) == kExitUsage);
    CHECK(err.str() == "lastcall install: --to DIR is required\n");
  }
  SUBCASE("missing source") {
    InstallOptions options;
    options.source = (temp.path() / "absent").string();
    options.to = (temp.path() / "bin").string();
    CHECK(RunInstall(options, out, err) == kExitRuntimeError);
    CHECK(err.str() ==
          "lastcall install: cannot open " + options.source + ": No such file or directory\n");
    CHECK(EntriesIn(temp.path() / "bin") == 0);
  }
  SUBCASE("destination is a file") {
    WriteFile(temp.path() / "file", "x");
    InstallOptions options;
    options.to = (temp.path() / "file" / "bin").string();
    CHECK(RunInstall(options, out, err) == kExitRuntimeError);
    CHECK(err.str() == "lastcall install: " + (temp.path() / "file").string() +
                           " exists and is not a directory\n");
  }
  SUBCASE("the target name is taken by a directory") {
    WriteFile(temp.path() / "source", "x");
    fs::create_directories(temp.path() / "bin" / "lastcall" / "inside");
    InstallOptions options;
    options.source = (temp.path() / "source").string();
    options.to = (temp.path() / "bin").string();
    CHECK(RunInstall(options, out, err) == kExitRuntimeError);
    CHECK(err.str().find("cannot rename") != std::string::npos);
    CHECK(EntriesIn(temp.path() / "bin") == 1);  // the temporary file was removed
  }
  CHECK(out.str().empty());
}

TEST_CASE("the install subcommand binds --to and requires it") {
  CLI::App app("lastcall");
  InstallOptions options;
  CLI::App* install = AddInstallSubcommand(app, options);
  REQUIRE(install != nullptr);
  CHECK(install->get_name() == "install");

  app.parse("install --to /lastcall/bin", false);
  CHECK(install->parsed());
  CHECK(options.to == "/lastcall/bin");

  CLI::App app2("lastcall");
  InstallOptions options2;
  AddInstallSubcommand(app2, options2);
  CHECK_THROWS_AS(app2.parse("install", false), CLI::RequiredError);
}

}  // namespace
}  // namespace lastcall
