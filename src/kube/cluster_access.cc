#include "cluster_access.h"

#include "manifest_yaml.h"
#include "yaml_writer.h"

namespace lastcall {

using manifest::Child;
using manifest::Map;
using manifest::ScalarOr;
using manifest::Seq;

namespace {

constexpr const char* kRbacGroup = "rbac.authorization.k8s.io";

YAML::Node Metadata(const std::string& name, const std::string& namespace_name) {
  YAML::Node metadata = Map();
  metadata["name"] = StringNode(name);
  if (!namespace_name.empty()) metadata["namespace"] = StringNode(namespace_name);
  metadata["labels"]["app.kubernetes.io/name"] = StringNode("lastcall");
  metadata["labels"]["app.kubernetes.io/component"] = StringNode("cluster-access");
  metadata["annotations"][kAnnotationGeneratedBy] = StringNode(kGeneratedByInject);
  return metadata;
}

YAML::Node Rule(const char* group, const char* resource, const std::vector<const char*>& verbs) {
  YAML::Node rule = Map();
  rule["apiGroups"] = Seq();
  rule["apiGroups"].push_back(StringNode(group));
  rule["resources"] = Seq();
  rule["resources"].push_back(StringNode(resource));
  rule["verbs"] = Seq();
  for (const char* verb : verbs) rule["verbs"].push_back(StringNode(verb));
  return rule;
}

}  // namespace

std::string ServiceAccountOf(const YAML::Node& pod_spec) {
  for (const char* key : {"serviceAccountName", "serviceAccount"}) {
    const std::string name = ScalarOr(Child(pod_spec, key), "");
    if (!name.empty()) return name;
  }
  return "default";
}

std::string ClusterAccessBindingName(const std::string& service_account) {
  return std::string(kClusterAccessRole) + "-" + service_account;
}

std::vector<YAML::Node> ClusterAccessObjects(const std::string& namespace_name,
                                             const std::string& service_account) {
  // Only what the API client does: an Event per termination (created through events.k8s.io/v1:
  // RBAC judges the group a request names, so the core group's twin would grant what lastcall
  // never uses), and the watch of the slices that hold the pod. No get, no update, nothing
  // cluster-wide.
  YAML::Node role = Map();
  role["apiVersion"] = StringNode(std::string(kRbacGroup) + "/v1");
  role["kind"] = StringNode("Role");
  role["metadata"] = Metadata(kClusterAccessRole, namespace_name);
  role["rules"] = Seq();
  role["rules"].push_back(Rule("events.k8s.io", "events", {"create"}));
  role["rules"].push_back(Rule("discovery.k8s.io", "endpointslices", {"list", "watch"}));

  YAML::Node binding = Map();
  binding["apiVersion"] = StringNode(std::string(kRbacGroup) + "/v1");
  binding["kind"] = StringNode("RoleBinding");
  binding["metadata"] = Metadata(ClusterAccessBindingName(service_account), namespace_name);
  binding["roleRef"]["apiGroup"] = StringNode(kRbacGroup);
  binding["roleRef"]["kind"] = StringNode("Role");
  binding["roleRef"]["name"] = StringNode(kClusterAccessRole);
  YAML::Node subject = Map();
  subject["kind"] = StringNode("ServiceAccount");
  subject["name"] = StringNode(service_account);
  if (!namespace_name.empty()) subject["namespace"] = StringNode(namespace_name);
  binding["subjects"] = Seq();
  binding["subjects"].push_back(subject);
  return {role, binding};
}

bool IsClusterAccessObject(const YAML::Node& object) {
  if (!object.IsMap()) return false;
  const auto generated = manifest::Annotation(object, kAnnotationGeneratedBy);
  return generated && *generated == kGeneratedByInject;
}

std::string ObjectKey(const YAML::Node& object) {
  const YAML::Node metadata = Child(object, "metadata");
  return ScalarOr(Child(object, "kind"), "") + " " + ScalarOr(Child(metadata, "namespace"), "") +
         "/" + ScalarOr(Child(metadata, "name"), "");
}

}  // namespace lastcall
