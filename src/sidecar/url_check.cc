#include "sidecar/url_check.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "base/logging.h"
#include "base/net_util.h"

namespace lastcall {
namespace {

bool IsLoopbackLiteral(const Url& url) { return OtherLoopback(url).has_value(); }

}  // namespace

ConnectResult ProbeConnect(const std::string& ip, uint16_t port, Deadline deadline) {
  const std::optional<SocketAddress> address = IpSocketAddress(ip, port);
  if (!address) return ConnectResult::kOther;
  const int fd = ::socket(address->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ConnectResult::kOther;
  ConnectResult result = ConnectResult::kOther;
  int error = 0;
  if (::connect(fd, address->get(), address->length) == 0) {
    result = ConnectResult::kAccepted;
  } else if (errno == ECONNREFUSED) {
    result = ConnectResult::kRefused;
  } else if (errno == EINPROGRESS) {
    while (true) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
              .count();
      if (left <= 0) break;
      pollfd entry{fd, POLLOUT, 0};
      const int ready = ::poll(&entry, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) break;
      socklen_t length = sizeof(error);
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0) {
        result = error == 0              ? ConnectResult::kAccepted
                 : error == ECONNREFUSED ? ConnectResult::kRefused
                                         : ConnectResult::kOther;
      }
      break;
    }
  }
  ::close(fd);
  return result;
}

std::vector<UrlToCheck> LoopbackUrlsToCheck(const Config& config) {
  std::vector<UrlToCheck> out;
  auto add = [&out](const std::optional<Parsed<Url>>& url, std::string_view key) {
    if (!url || url->value.scheme != Url::Scheme::kHttp || !IsLoopbackLiteral(url->value)) return;
    for (UrlToCheck& known : out) {
      if (known.url.host == url->value.host && known.url.port == url->value.port) {
        known.keys += " and " + std::string(key);
        return;
      }
    }
    out.push_back(UrlToCheck{std::string(key), url->value});
  };
  add(config.shutdown.drain.trigger.url, "shutdown.drain.trigger.url");
  const MonitorKind kind = config.shutdown.drain.monitor.kind;
  if (kind == MonitorKind::kStatus || kind == MonitorKind::kJson ||
      kind == MonitorKind::kPrometheus) {
    add(config.EffectiveMonitorUrl(), config.shutdown.drain.monitor.url
                                          ? "shutdown.drain.monitor.url"
                                          : "shutdown.drain.monitor.url (the trigger URL)");
  }
  return out;
}

StartupUrlCheck::StartupUrlCheck(const Config& config, ListeningTable& table,
                                 const std::atomic<Phase>& phase)
    : pending_(LoopbackUrlsToCheck(config)), table_(table), phase_(phase) {}

StartupUrlCheck::~StartupUrlCheck() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StartupUrlCheck::Start() {
  if (pending_.empty()) return;
  thread_ = std::thread([this] { Run(); });
}

bool StartupUrlCheck::CheckPending() {
  auto decided = [this](const UrlToCheck& check) {
    const Url& url = check.url;
    const auto due = [] { return std::chrono::steady_clock::now() + kProbeTimeout; };
    const ConnectResult direct = ProbeConnect(url.host, url.port, due());
    if (direct != ConnectResult::kRefused) return true;  // reachable (or busy): nothing to say
    std::string error;
    const std::optional<PortListeners> seen = table_.Read(url.port, due(), &error);
    if (!seen) {
      LogDebug("cannot read the kernel's listening table", {{"error", error}});
      return true;  // nothing to say for sure; a refused poll will say what it can
    }
    if (seen->Nobody()) return false;  // the app is not up yet: look again later
    const std::optional<Url> other = OtherLoopback(url);
    const bool other_accepts =
        other && ProbeConnect(other->host, other->port, due()) == ConnectResult::kAccepted;
    if (const std::optional<std::string> warning =
            RefusedUrlWarning(check.keys, url, *seen, other_accepts)) {
      LogWarn(*warning, {{"url", FormatUrl(url)}});
      warnings_.fetch_add(1);
    }
    return true;
  };
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(), decided), pending_.end());
  return pending_.empty();
}

void StartupUrlCheck::Run() {
  const auto give_up = std::chrono::steady_clock::now() + kRecheckFor;
  if (CheckPending()) return;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, kRecheckEvery, [this] { return stopping_; });
      if (stopping_) return;
    }
    const bool started = phase_.load(std::memory_order_acquire) != Phase::kServing;
    if (CheckPending() || started) return;
    if (std::chrono::steady_clock::now() >= give_up) {
      // The polls of a shutdown will say what listens where if it still matters then.
      return;
    }
  }
}

}  // namespace lastcall
