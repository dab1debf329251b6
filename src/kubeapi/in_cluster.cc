#include "kubeapi/in_cluster.h"

#include <cstdlib>

#include "base/net_util.h"
#include "base/small_file.h"
#include "base/text.h"

namespace lastcall::kubeapi {
namespace {

std::string Trimmed(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return std::string(text);
}

std::string Get(const EnvLookup& env, std::string_view name) {
  std::optional<std::string> value = env(name);
  return value ? Trimmed(*value) : std::string();
}

}  // namespace

std::string InClusterSettings::Address() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Expected<InClusterSettings> ReadInClusterSettings(
    const EnvLookup& env, const std::function<std::optional<std::string>()>& read_namespace) {
  InClusterSettings settings;
  std::string host = Get(env, "KUBERNETES_SERVICE_HOST");
  if (host.empty()) {
    return Status::NotFound("KUBERNETES_SERVICE_HOST is not set (not running in a cluster)");
  }
  // An IPv6 host comes bare from the kubelet; accept it in brackets too.
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (!IpSocketAddress(host, 443)) {
    return Status::Invalid("KUBERNETES_SERVICE_HOST \"" + host +
                           "\" is not an IP address (names are not resolved)");
  }
  settings.host = host;
  if (const std::string port = Get(env, "KUBERNETES_SERVICE_PORT"); !port.empty()) {
    unsigned long value = 0;
    bool digits = port.size() <= 5;
    for (char c : port) {
      if (c < '0' || c > '9') digits = false;
    }
    if (digits) value = std::strtoul(port.c_str(), nullptr, 10);
    if (!digits || value == 0 || value > 65535) {
      return Status::Invalid("KUBERNETES_SERVICE_PORT \"" + port + "\" is not a port number");
    }
    settings.port = static_cast<uint16_t>(value);
  }
  settings.server_name = std::string(kApiServerName);
  const std::string dir(kServiceAccountDir);
  settings.ca_file = Get(env, "LASTCALL_KUBE_CA_FILE");
  if (settings.ca_file.empty()) settings.ca_file = dir + "/ca.crt";
  settings.token_file = Get(env, "LASTCALL_KUBE_TOKEN_FILE");
  if (settings.token_file.empty()) settings.token_file = dir + "/token";

  settings.pod_name = Get(env, "POD_NAME");
  settings.pod_uid = Get(env, "POD_UID");
  settings.pod_namespace = Get(env, "POD_NAMESPACE");
  if (settings.pod_namespace.empty()) {
    if (std::optional<std::string> ns = read_namespace()) settings.pod_namespace = Trimmed(*ns);
  }
  std::string missing;
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string*>{"POD_NAME", &settings.pod_name},
        {"POD_NAMESPACE", &settings.pod_namespace},
        {"POD_UID", &settings.pod_uid}}) {
    if (value->empty()) missing += std::string(missing.empty() ? "" : ", ") + name;
  }
  if (!missing.empty()) {
    return Status::Invalid(
        missing +
        " not set: an Event must name its pod. Add the downward API's env "
        "(fieldRef metadata.name, metadata.namespace, metadata.uid; `lastcall inject` does)");
  }
  for (const std::string* value : {&settings.pod_name, &settings.pod_namespace}) {
    for (char c : *value) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
      if (!ok) return Status::Invalid("\"" + *value + "\" is not a Kubernetes object name");
    }
  }
  for (char c : settings.pod_uid) {
    const bool ok = (c >= 'a' && c <= 'f') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return Status::Invalid("POD_UID \"" + settings.pod_uid + "\" is not a UID");
  }
  return settings;
}

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::optional<std::string> ReadServiceAccountNamespace() {
  SmallFile file = ReadSmallFile(std::string(kServiceAccountDir) + "/namespace", 256);
  if (!file.ok()) return std::nullopt;
  return file.text;
}

}  // namespace lastcall::kubeapi
