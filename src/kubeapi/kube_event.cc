#include "kubeapi/kube_event.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/logging.h"
#include "base/text.h"

namespace lastcall::kubeapi {
namespace {

// A Kubernetes name is a DNS subdomain of at most 253 characters; the suffix takes 17.
constexpr size_t kMaxNamePrefix = 253 - 17;

std::string OneLine(std::string_view text) {
  std::string line;
  line.reserve(std::min(text.size(), kMaxNoteBytes));
  for (char c : text) {
    line += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  if (line.size() > kMaxNoteBytes) {
    size_t cut = kMaxNoteBytes - 3;
    // Never cut inside a UTF-8 sequence: the API refuses invalid UTF-8.
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line = line.substr(0, cut) + "...";
  }
  return line;
}

}  // namespace

std::string FormatMicroTime(std::chrono::system_clock::time_point time) {
  const UtcFields utc = SplitUtc(time);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.year, utc.month, utc.day,
                     utc.hour, utc.minute, utc.second, utc.microsecond);
}

std::string EventsPath(const InClusterSettings& settings) {
  return "/apis/events.k8s.io/v1/namespaces/" + settings.pod_namespace + "/events";
}

std::string EventJson(const InClusterSettings& settings, const EventSpec& spec) {
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(spec.time.time_since_epoch()).count();
  const std::string name = settings.pod_name.substr(0, kMaxNamePrefix) + "." +
                           fmt::format("{:x}", static_cast<unsigned long long>(nanos));
  nlohmann::json event = {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name}, {"namespace", settings.pod_namespace}}},
      {"eventTime", FormatMicroTime(spec.time)},
      {"reportingController", kReportingController},
      {"reportingInstance", settings.pod_name},
      {"action", spec.action},
      {"reason", spec.reason},
      {"type", spec.warning ? "Warning" : "Normal"},
      {"note", OneLine(spec.note)},
      {"regarding",
       {{"apiVersion", "v1"},
        {"kind", "Pod"},
        {"name", settings.pod_name},
        {"namespace", settings.pod_namespace},
        {"uid", settings.pod_uid}}},
  };
  return event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void EventSender::LogOnce(const std::string& kind, std::string_view message,
                          const std::string& detail) {
  {
    std::lock_guard lock(mu_);
    if (!logged_.insert(kind).second) return;
  }
  LogWarn(message, {{"detail", detail}});
}

Status EventSender::Send(const EventSpec& spec, Deadline deadline) {
  const std::string body = EventJson(client_.settings(), spec);
  const std::string path = EventsPath(client_.settings());
  auto backoff = std::chrono::milliseconds(50);
  Status last;
  while (true) {
    Expected<ApiAnswer> answer = client_.Send("POST", path, body, deadline);
    bool retry = false;
    if (!answer.ok()) {
      // A missing token file or a bad CA bundle will not heal within a deadline; a connection
      // may (an API server restarting). Every try is bounded by the same deadline.
      retry = answer.status().code() == StatusCode::kUnavailable;
      if (!retry || std::chrono::steady_clock::now() + backoff >= deadline) {
        // A retry the deadline cut short says less than the refusal that made us retry.
        if (!last.ok()) {
          LogOnce("refused",
                  "the API server refused the Kubernetes Event (the outcome is in the "
                  "log only)",
                  last.message());
          return last;
        }
        LogOnce("transport", "cannot send the Kubernetes Event (the outcome is in the log only)",
                answer.status().message());
        return answer.status();
      }
    } else {
      const int status = answer->status;
      if (status == 200 || status == 201 || status == 202) return {};
      const std::string described =
          DescribeApiFailure(status, answer->body, "create events.k8s.io Events");
      last = Status::Unavailable(client_.settings().Address() + ": " + described);
      retry = status == 429 || status >= 500;
      if (!retry || std::chrono::steady_clock::now() + backoff >= deadline) {
        LogOnce(std::to_string(status),
                "the API server refused the Kubernetes Event (the outcome is in the log only)",
                described);
        return last;
      }
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(400));
  }
}

}  // namespace lastcall::kubeapi
