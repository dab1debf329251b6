#include "install_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>
#include <system_error>
#include <vector>

#include "base/exit_status.h"

namespace lastcall {
namespace {

constexpr mode_t kDirectoryMode = 0755;
constexpr mode_t kBinaryMode = 0755;

std::string ErrnoText(int error) { return std::generic_category().message(error); }

// Closes the descriptor when it goes out of scope, whatever path the copy took.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports the error close() found (delayed write errors surface here).
  int Close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

// mkdir -p with mode 0755 for every directory it creates (set explicitly: the umask may be
// stricter, and the app container runs as another user that must traverse the directory).
// Returns "" or the error.
std::string MakeDirectories(const std::string& path) {
  std::vector<std::string> missing;
  std::string current = path;
  while (!current.empty() && current != "/") {
    struct stat info {};
    if (::stat(current.c_str(), &info) == 0) {
      if (!S_ISDIR(info.st_mode)) return current + " exists and is not a directory";
      break;
    }
    // ENOTDIR: a parent is a file; the walk up finds it and says so.
    if (errno != ENOENT && errno != ENOTDIR)
      return "cannot inspect " + current + ": " + ErrnoText(errno);
    missing.push_back(current);
    const auto slash = current.find_last_of('/');
    current = slash == std::string::npos ? "" : current.substr(0, slash);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), kDirectoryMode) != 0 && errno != EEXIST) {
      return "cannot create directory " + *it + ": " + ErrnoText(errno);
    }
    if (::chmod(it->c_str(), kDirectoryMode) != 0) {
      return "cannot set the mode of " + *it + ": " + ErrnoText(errno);
    }
  }
  return "";
}

// Writes all of `size` bytes, retrying short writes and interruptions. Returns 0 or errno.
int WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += written;
    size -= static_cast<size_t>(written);
  }
  return 0;
}

// Copies `source` into the open descriptor `to`. Returns "" or the error; *bytes gets the size.
std::string CopyContents(const std::string& source, int to, long long* bytes) {
  FileDescriptor from(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (from.get() < 0) return "cannot open " + source + ": " + ErrnoText(errno);
  std::vector<char> buffer(1 << 16);
  *bytes = 0;
  while (true) {
    const ssize_t got = ::read(from.get(), buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      return "cannot read " + source + ": " + ErrnoText(errno);
    }
    if (got == 0) return "";
    if (const int error = WriteAll(to, buffer.data(), static_cast<size_t>(got)); error != 0) {
      return "cannot write: " + ErrnoText(error);
    }
    *bytes += got;
  }
}

}  // namespace

int RunInstall(const InstallOptions& options, std::ostream& out, std::ostream& err) {
  if (options.to.empty()) {
    err << "lastcall install: --to DIR is required\n";
    return kExitUsage;
  }
  std::string directory = options.to;
  while (directory.size() > 1 && directory.back() == '/') directory.pop_back();
  if (const std::string error = MakeDirectories(directory); !error.empty()) {
    err << "lastcall install: " << error << "\n";
    return kExitRuntimeError;
  }

  const std::string target = directory + "/" + kInstalledName;
  std::string temp = directory + "/." + kInstalledName + ".XXXXXX";
  FileDescriptor fd(::mkstemp(temp.data()));
  if (fd.get() < 0) {
    err << "lastcall install: cannot create a file in " << directory << ": " << ErrnoText(errno)
        << "\n";
    return kExitRuntimeError;
  }
  long long bytes = 0;
  std::string error = CopyContents(options.source, fd.get(), &bytes);
  if (error.empty() && ::fchmod(fd.get(), kBinaryMode) != 0) {
    error = "cannot set the mode of " + temp + ": " + ErrnoText(errno);
  }
  if (error.empty() && ::fsync(fd.get()) != 0) {
    error = "cannot flush " + temp + ": " + ErrnoText(errno);
  }
  if (error.empty()) {
    if (const int close_error = fd.Close(); close_error != 0) {
      error = "cannot close " + temp + ": " + ErrnoText(close_error);
    }
  }
  if (error.empty() && ::rename(temp.c_str(), target.c_str()) != 0) {
    error = "cannot rename " + temp + " to " + target + ": " + ErrnoText(errno);
  }
  if (!error.empty()) {
    ::unlink(temp.c_str());
    err << "lastcall install: " << error << "\n";
    return kExitRuntimeError;
  }
  out << "lastcall install: installed " << target << " (" << bytes << " bytes)\n";
  return kExitDrained;
}

namespace {

// The long description: `lastcall install --help` shows it as the footer.
constexpr const char* kInstallDescription =
    "Copy this binary into DIR as DIR/lastcall (mode 0755, atomically): the init container "
    "step that lets the app's preStop hook exec lastcall from a shared emptyDir";

// Adds the flags of `install` to `install`, bound to `options`.
void DefineInstallFlags(CLI::App* install, InstallOptions& options) {
  install->add_option("--to", options.to, "Destination directory (created 0755 if missing)")
      ->required()
      ->envname("LASTCALL_INSTALL_TO");
}

}  // namespace

CLI::App* AddInstallSubcommand(CLI::App& app, InstallOptions& options) {
  CLI::App* install = app.add_subcommand("install", kInstallDescription);
  DefineInstallFlags(install, options);
  return install;
}

Subcommand InstallSubcommand(InstallOptions* options) {
  return {"install", "Copy this binary into a shared volume (the init container's step)",
          [options](CLI::App* app, const Env& /*env*/) {
            app->footer(std::string(kInstallDescription) + "\n\n" + app->get_footer());
            DefineInstallFlags(app, *options);
            return ThenRun(nullptr, [options](const CommandIo& io) {
              return RunInstall(*options, io.out, io.err);
            });
          }};
}

}  // namespace lastcall
