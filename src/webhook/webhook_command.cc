#include "webhook_command.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <vector>

#include "base/duration.h"
#include "base/exit_status.h"
#include "base/logging.h"
#include "base/net_util.h"
#include "base/signals.h"
#include "base/small_file.h"
#include "base/url.h"
#include "tls/certs.h"
#include "webhook/admission.h"
#include "webhook/json_patch.h"

namespace lastcall {
namespace {

constexpr const char* kWho = "lastcall webhook";

// Writes `text` to dir/name through a temporary file and a rename, so a reader (the webhook's
// reload) sees the old file or the new one, never half of one.
std::string WriteFileAtomically(const std::string& dir, const std::string& name,
                                const std::string& text, mode_t mode) {
  const std::string path = dir + "/" + name;
  const std::string temporary = dir + "/." + name + ".tmp";
  unlink(temporary.c_str());
  const int fd =
      open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return fmt::format("{}: cannot create: {}", temporary, ErrnoText(errno));
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      close(fd);
      unlink(temporary.c_str());
      return fmt::format("{}: cannot write: {}", temporary, ErrnoText(error));
    }
    written += static_cast<size_t>(n);
  }
  // The umask may have narrowed `mode`; the key's 0600 is exact either way.
  if (fchmod(fd, mode) != 0 || fsync(fd) != 0 || close(fd) != 0) {
    unlink(temporary.c_str());
    return fmt::format("{}: cannot finish writing: {}", temporary, ErrnoText(errno));
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    unlink(temporary.c_str());
    return fmt::format("{}: cannot rename into place: {}", path, ErrnoText(error));
  }
  return "";
}

}  // namespace

int RunWebhookCerts(const WebhookOptions& options, std::ostream& out, std::ostream& err) {
  const std::string who = "lastcall webhook certs";
  for (const auto& [flag, value] :
       {std::pair<const char*, const std::string&>{"--service", options.service},
        {"--namespace", options.ns}}) {
    if (const std::string problem = tls::DnsLabelProblem(value); !problem.empty()) {
      err << who << ": " << flag << " " << Quote(value) << ": " << problem << "\n";
      return kExitUsage;
    }
  }
  if (options.out_dir.empty()) {
    err << who << ": --out DIR is required\n";
    return kExitUsage;
  }
  const std::string& dir = options.out_dir;
  struct stat info {};
  if (stat(dir.c_str(), &info) != 0) {
    if (errno != ENOENT || mkdir(dir.c_str(), 0700) != 0) {
      err << who << ": --out " << dir << ": cannot create the directory: " << ErrnoText(errno)
          << "\n";
      return kExitRuntimeError;
    }
  } else if (!S_ISDIR(info.st_mode)) {
    err << who << ": --out " << dir << ": not a directory\n";
    return kExitUsage;
  }
  static const std::vector<std::string> kFiles = {"ca.crt", "ca.key", "tls.crt", "tls.key"};
  if (!options.force) {
    std::vector<std::string> existing;
    for (const std::string& name : kFiles) {
      struct stat file {};
      if (lstat((dir + "/" + name).c_str(), &file) == 0) existing.push_back(name);
    }
    if (!existing.empty()) {
      err << who << ": " << dir << " already holds " << Join(existing, ", ")
          << "; refusing to replace it (--force replaces)\n";
      return kExitUsage;
    }
  }
  // A renewal (--force) keeps the CA that is there, when its key is beside it: the caBundle the
  // API server holds stays valid, and the new serving certificate can be swapped in at once.
  std::optional<tls::ExistingCa> existing;
  if (options.force && !options.new_ca) {
    const SmallFile ca_cert = ReadSmallFile(dir + "/ca.crt", 1024 * 1024);
    const SmallFile ca_key = ReadSmallFile(dir + "/ca.key", 1024 * 1024);
    if (ca_cert.ok() && ca_key.ok()) {
      existing = tls::ExistingCa{ca_cert.text, dir + "/ca.crt", ca_key.text, dir + "/ca.key"};
    }
  }
  auto made =
      tls::MakeWebhookCertificates(options.service, options.ns, std::chrono::system_clock::now(),
                                   existing ? &*existing : nullptr);
  if (!made.ok()) {
    err << who << ": " << made.status().message()
        << (existing ? " (--new-ca makes a new CA instead)" : "") << "\n";
    return existing ? kExitUsage : kExitRuntimeError;
  }
  // The key first: a reader that sees the new tls.crt already finds its key beside it (a reader
  // between the two renames sees a pair that does not match, and waits for the next change).
  for (const auto& [name, text, mode] :
       {std::tuple<std::string, const std::string&, mode_t>{"ca.key", made->ca_key_pem, 0600},
        {"ca.crt", made->ca_pem, 0644},
        {"tls.key", made->key_pem, 0600},
        {"tls.crt", made->cert_pem, 0644}}) {
    if (const std::string problem = WriteFileAtomically(dir, name, text, mode); !problem.empty()) {
      err << who << ": " << problem << "\n";
      return kExitRuntimeError;
    }
  }
  err << who << ": wrote " << dir << "/tls.crt and tls.key (for " << Join(made->dns_names, ", ")
      << ")"
      << (made->reused_ca ? ", signed by the CA already there (the caBundle is unchanged)"
                          : ", and a new CA, ca.crt and ca.key (keep ca.key off the cluster)")
      << "; the caBundle is on stdout\n";
  out << Base64Encode(made->ca_pem) << "\n";
  out.flush();
  return kExitDrained;
}

namespace {

MutateHandler MakeMutateHandler(const WebhookOptions& options, std::shared_ptr<void>* keep,
                                MetricsSource* metrics) {
  auto counters = std::make_shared<AdmissionCounters>();
  AdmitOptions admit;
  admit.inject = options.inject;
  *keep = counters;
  *metrics = [counters] { return counters->PrometheusText(); };
  return [counters, admit](const ServerRequest& request) {
    const AdmissionResult result = Admit(request.body, admit);
    counters->Record(result);
    LogInfo("webhook: " + result.summary,
            {{"uid", result.uid}, {"outcome", std::string(AdmitOutcomeName(result.outcome))}});
    ServerResponse response;
    response.status = result.status;
    response.content_type = result.content_type;
    response.body = result.body;
    return response;
  };
}

}  // namespace

int RunWebhook(const WebhookOptions& options, std::ostream& err) {
  InitLogging(options.log_format == "json" ? LogFormat::kJson : LogFormat::kText, LogLevel::kInfo);
  std::string problem;
  const std::optional<ListenAddress> address = ParseListenAddress(options.listen, &problem);
  if (!address) {
    err << kWho << ": --listen: " << problem << "\n";
    return kExitUsage;
  }
  if (options.server.cert_file.empty() || options.server.key_file.empty()) {
    err << kWho << ": --tls-cert FILE and --tls-key FILE are required\n";
    return kExitUsage;
  }
  // Blocked before any thread starts, so every later thread inherits the mask.
  SignalWatcher signals({SIGTERM, SIGINT});
  std::shared_ptr<void> keep;
  MetricsSource metrics;
  MutateHandler mutate = MakeMutateHandler(options, &keep, &metrics);
  WebhookServer server(options.server, std::move(mutate), std::move(metrics));
  if (Status loaded = server.LoadIdentity(); !loaded.ok()) {
    err << kWho << ": " << loaded.message() << "\n";
    return kExitUsage;
  }
  if (problem = server.Listen(*address); !problem.empty()) {
    err << kWho << ": cannot listen on " << problem << "\n";
    return kExitRuntimeError;
  }
  std::mutex mutex;
  std::condition_variable woken;
  std::optional<int> stop_signal;
  signals.Start([&](int signo) {
    std::lock_guard lock(mutex);
    stop_signal = signo;
    woken.notify_all();
  });
  server.Start();
  LogInfo("webhook: serving HTTPS", {{"listen", options.listen},
                                     {"port", static_cast<int>(server.port())},
                                     {"cert", options.server.cert_file}});
  {
    std::unique_lock lock(mutex);
    woken.wait(lock, [&] { return stop_signal.has_value(); });
  }
  // Endpoints drop this replica a moment after the signal (the kubelet and the EndpointSlice
  // controller race): until then the API server may still send here, and a webhook that is gone
  // admits pods without lastcall (failurePolicy: Ignore). So: unready, go on answering for
  // shutdown_delay, then stop. A second signal stops at once.
  LogInfo("webhook: shutting down; answering for the shutdown delay",
          {{"signal", SignalName(*stop_signal)},
           {"shutdown_delay", FormatDuration(options.shutdown_delay)}});
  server.BeginShutdown();
  {
    std::unique_lock lock(mutex);
    stop_signal.reset();
    woken.wait_for(lock, options.shutdown_delay, [&] { return stop_signal.has_value(); });
  }
  LogInfo("webhook: stopped");
  server.Stop();
  signals.Stop();
  return kExitDrained;
}

namespace {

constexpr const char* kWebhookDescription =
    "Serve the mutating admission webhook over HTTPS (TLS 1.2, ECDHE with AES-GCM or\n"
    "ChaCha20-Poly1305): POST /mutate, GET /healthz, /readyz, /metrics.\n"
    "  lastcall webhook --listen :8443 --tls-cert /tls/tls.crt --tls-key /tls/tls.key\n"
    "The certificate files are reloaded when they change (a Secret rotated by cert-manager).\n"
    "  lastcall webhook certs --service lastcall-webhook --namespace lastcall --out DIR\n"
    "writes a CA and a serving certificate for clusters without cert-manager.\n"
    "See docs/webhook-server.md.";

void AddDuration(CLI::App* app, const std::string& flag, std::chrono::milliseconds* target,
                 const std::string& description, bool allow_zero = false) {
  app->add_option_function<std::string>(
         flag,
         [target, flag, allow_zero](const std::string& text) {
           std::string error;
           const auto value = ParseDuration(text, &error);
           if (!value || value->count() < 0 || (value->count() == 0 && !allow_zero)) {
             throw CLI::ValidationError(flag, error.empty() ? "must be positive" : error);
           }
           *target = *value;
         },
         description + " (default " + FormatDuration(*target) + ")")
      ->type_name("DURATION");
}

}  // namespace

Subcommand WebhookSubcommand(WebhookOptions* options) {
  return {
      "webhook", "Serve the mutating admission webhook (HTTPS); `webhook certs`",
      [options](CLI::App* app, const Env& /*env*/) -> Finish {
        app->footer(std::string(kWebhookDescription) + "\n\n" + app->get_footer());
        app->add_option("--listen", options->listen, "HOST:PORT or :PORT to serve HTTPS on")
            ->capture_default_str();
        app->add_option("--tls-cert", options->server.cert_file,
                        "PEM certificate chain, leaf first (tls.crt)");
        app->add_option("--tls-key", options->server.key_file,
                        "PEM private key, EC or RSA (tls.key)");
        app->add_option("--max-connections", options->server.max_connections,
                        "Connections open at once; beyond, the oldest idle one is closed")
            ->capture_default_str()
            ->check(CLI::Range(1, 1 << 20));
        app->add_option("--workers", options->server.workers,
                        "Threads that run the admission logic (0: the serving thread)")
            ->capture_default_str()
            ->check(CLI::Range(0, 64));
        AddDuration(app, "--handshake-timeout", &options->server.handshake_timeout,
                    "A TLS handshake must finish within this of the accept");
        AddDuration(app, "--request-timeout", &options->server.request_timeout,
                    "A request must arrive whole within this of its first byte");
        AddDuration(app, "--idle-timeout", &options->server.idle_timeout,
                    "An idle keep-alive connection is closed after this");
        AddDuration(app, "--shutdown-delay", &options->shutdown_delay,
                    "After SIGTERM: unready, yet answering, this long before exiting",
                    /*allow_zero=*/true);
        app->add_option("--log-format", options->log_format, "text or json")
            ->capture_default_str()
            ->check(CLI::IsMember({"text", "json"}));
        app->add_option("--image", options->inject.image,
                        "The lastcall image injected pods get (as inject --image)")
            ->capture_default_str();
        app->add_flag("--native", options->inject.native,
                      "lastcall as a native sidecar (as inject --native)");

        CLI::App* certs = app->add_subcommand(
            "certs", "Write a CA and a serving certificate (ca.crt, tls.crt, tls.key)");
        certs->add_option("--service", options->service, "The webhook's Service name")->required();
        certs->add_option("--namespace", options->ns, "The Service's namespace")->required();
        certs
            ->add_option("--out", options->out_dir,
                         "Directory to write into (created 0700 when missing)")
            ->required();
        certs->add_flag("--force", options->force,
                        "Replace files already there (a renewal: the CA there signs, if its key "
                        "is beside it)");
        certs->add_flag("--new-ca", options->new_ca,
                        "With --force: make a new CA too (the caBundle changes)");

        return [options, certs](ParsedCommand* out) {
          out->command = Command::kSubcommand;
          if (certs->parsed()) {
            out->action = [options](const CommandIo& io) {
              return RunWebhookCerts(*options, io.out, io.err);
            };
            return;
          }
          if (options->server.cert_file.empty() || options->server.key_file.empty()) {
            SetUsageError(out, "webhook", "--tls-cert FILE and --tls-key FILE are required");
            return;
          }
          out->action = [options](const CommandIo& io) { return RunWebhook(*options, io.err); };
        };
      }};
}

}  // namespace lastcall
