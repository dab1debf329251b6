#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

// The standard in-cluster configuration of a Kubernetes API client, as client-go's
// rest.InClusterConfig reads it: the API server's address from KUBERNETES_SERVICE_HOST/_PORT, the
// service account's CA bundle and token from their mounted files, and the pod itself from the
// downward API's environment (POD_NAME, POD_NAMESPACE, POD_UID: `lastcall inject` and the webhook
// add them). Pure: the environment comes through a lookup function, so tests pass a map.
namespace lastcall::kubeapi {

inline constexpr std::string_view kServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

// The name the API server's certificate is checked against when KUBERNETES_SERVICE_HOST is an IP
// address (it always is in a cluster): BearSSL checks DNS names only, and every API server's
// certificate carries the in-cluster Service's names (kubeadm, EKS, GKE, AKS, k3s, kind).
inline constexpr std::string_view kApiServerName = "kubernetes.default.svc";

struct InClusterSettings {
  std::string host;  // an IP literal, without brackets
  uint16_t port = 443;
  std::string server_name;  // SNI and the certificate's host name
  std::string ca_file;
  std::string token_file;
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;
  // "10.96.0.1:443", "[fd00::1]:443": for messages.
  std::string Address() const;
};

using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The settings from the environment. kNotFound when lastcall does not run in a cluster (no
// KUBERNETES_SERVICE_HOST): no client, and nothing to warn about beyond one line. kInvalid, naming
// the variable and what to do, when the configuration is partial or malformed: a host that is
// not an IP address, a bad port, a pod name or UID missing (an Event must name its pod).
// LASTCALL_KUBE_CA_FILE and LASTCALL_KUBE_TOKEN_FILE replace the two mounted files' paths;
// POD_NAMESPACE falls back to the service account's `namespace` file, read through
// `read_namespace` (nullopt when it cannot be read).
Expected<InClusterSettings> ReadInClusterSettings(
    const EnvLookup& env, const std::function<std::optional<std::string>()>& read_namespace);

// The process environment (getenv), and the service account's namespace file, for the above.
EnvLookup ProcessEnv();
std::optional<std::string> ReadServiceAccountNamespace();

}  // namespace lastcall::kubeapi
