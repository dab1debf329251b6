#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

// What `lastcall inject --cluster-access` (or the pod annotation lastcall.dev/cluster-access:
// "true") writes beside a workload: a Role that lets lastcall's Kubernetes API client create
// Events and list and watch EndpointSlices in the pod's namespace, and a RoleBinding that grants
// it to the pod's service account. Both carry the annotation lastcall.dev/generated-by, so that
// a re-inject finds them (and writes them once) and `lastcall uninject` removes them; nothing
// without it is ever touched. deploy/kubernetes/rbac holds the same objects to apply by hand.
namespace lastcall {

inline constexpr const char* kClusterAccessRole = "lastcall";
inline constexpr const char* kAnnotationGeneratedBy = "lastcall.dev/generated-by";
inline constexpr const char* kGeneratedByInject = "lastcall inject --cluster-access";

// The service account a pod runs as: serviceAccountName, else the deprecated serviceAccount,
// else "default" (what the API server fills in).
std::string ServiceAccountOf(const YAML::Node& pod_spec);
// "lastcall-<service account>": one binding per service account, so that two workloads of a
// namespace share the Role and each brings its own binding.
std::string ClusterAccessBindingName(const std::string& service_account);

// The Role and the RoleBinding, in that order, in `namespace_name`; "" names none (nor does the
// subject: kustomize's namespace transformer fills both in, the API server refuses the binding
// without). REQUIRES: service_account not empty.
std::vector<YAML::Node> ClusterAccessObjects(const std::string& namespace_name,
                                             const std::string& service_account);

// True for an object inject wrote for cluster access (its lastcall.dev/generated-by).
bool IsClusterAccessObject(const YAML::Node& object);
// "Role shop/lastcall": the identity by which an object already in the input stands for one
// inject would write.
std::string ObjectKey(const YAML::Node& object);

}  // namespace lastcall
