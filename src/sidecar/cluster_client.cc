#include "sidecar/cluster_client.h"

#include <string>
#include <utility>

#include "base/logging.h"
#include "base/token_file.h"
#include "kubeapi/in_cluster.h"

namespace lastcall {

std::unique_ptr<kubeapi::KubeClient> MakeKubeClient(const Config::KubeApi& config) {
  if (!config.enabled) return nullptr;
  Expected<kubeapi::InClusterSettings> settings =
      kubeapi::ReadInClusterSettings(kubeapi::ProcessEnv(), kubeapi::ReadServiceAccountNamespace);
  if (settings.ok() && !config.token_file.empty()) settings->token_file = config.token_file;
  if (settings.ok() && !config.ca_file.empty()) settings->ca_file = config.ca_file;
  if (!settings.ok()) {
    if (settings.status().code() == StatusCode::kNotFound) {
      LogInfo(
          "no Kubernetes Events or EndpointSlice view: not running in a cluster "
          "(KUBERNETES_SERVICE_HOST unset)");
    } else {
      LogWarn(
          "no Kubernetes Events or EndpointSlice view: the in-cluster configuration is "
          "incomplete; lastcall works as without it",
          {{"detail", settings.status().message()}});
    }
    return nullptr;
  }
  std::string error;
  if (!ReadToken(settings->token_file, &error)) {
    LogWarn(
        "no Kubernetes Events or EndpointSlice view: no service account token "
        "(automountServiceAccountToken: false?); lastcall works as without it",
        {{"path", settings->token_file}, {"detail", error}});
    return nullptr;
  }
  LogInfo("Kubernetes API on: an Event per termination, the EndpointSlice view",
          {{"api_server", settings->Address()},
           {"pod", settings->pod_namespace + "/" + settings->pod_name}});
  return std::make_unique<kubeapi::KubeClient>(std::move(settings).value());
}

}  // namespace lastcall
