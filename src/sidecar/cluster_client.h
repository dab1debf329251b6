#pragma once

#include <memory>

#include "config/config.h"
#include "kubeapi/kube_client.h"

// The one Kubernetes API client of `lastcall run`: the Event per termination
// (sidecar/kube_events.h) and the EndpointSlice view (sidecar/cluster_endpoint_view.h) both go
// through it, so whether lastcall talks to the API server is decided, and said, once at start.
namespace lastcall {

// The client, or null when there is none: turned off (kube_api.enabled false; kube_api.token_file
// and ca_file replace the mounted files' paths), not in a cluster (said at info level), or the
// in-cluster configuration is partial or has no readable token (one warning: lastcall works as
// without it).
std::unique_ptr<kubeapi::KubeClient> MakeKubeClient(const Config::KubeApi& config);

}  // namespace lastcall
