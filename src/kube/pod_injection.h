#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "inject_plan.h"
#include "manifest_yaml.h"

// The edit `lastcall inject` makes to one workload, and its inverse for `lastcall uninject`.
// Both work on a parsed object through yaml-cpp handles: the changes land in its document.
namespace lastcall {

// The pod spec of `object` (a workload of kind `kind`), or Undefined when a step is missing or
// not a mapping; `missing` (if not null) gets the dotted path that is missing.
YAML::Node PodSpecOf(const YAML::Node& object, const manifest::WorkloadKind& kind,
                     std::string* missing = nullptr);
// The pod's metadata (the template's; a Pod's own), or Undefined.
YAML::Node PodMetadataOf(const YAML::Node& object, const manifest::WorkloadKind& kind);

// True when the pod already has a container (or init container) named lastcall.
bool HasLastcall(const YAML::Node& pod);

// Adds lastcall to `object` as `plan` says (PlanPod on the same object), the mesh annotations,
// and the status annotation {"version": ..., "settings": settings_hash} on the pod's metadata.
// Returns notes (e.g. a mesh annotation left as the user set it).
std::vector<std::string> AddLastcall(YAML::Node object, const manifest::WorkloadKind& kind,
                                     const InjectPlan& plan, const InjectOptions& options,
                                     const std::string& settings_hash);

// Removes what AddLastcall added, the lastcall.dev/original annotation included. `original` is
// the object as it was before inject (parsed from that annotation; Undefined when it is
// missing): what inject replaced (the hook, the grace period, the security context, mesh
// annotations) comes back from it. Without it, a chained hook comes back from its `--then`
// arguments and the grace period stays (a note says so). Returns notes.
std::vector<std::string> RemoveLastcall(YAML::Node object, const manifest::WorkloadKind& kind,
                                        const YAML::Node& original);

// The status annotation's fields; empty strings when absent or unreadable.
struct InjectStatus {
  std::string version;
  std::string settings;
};
InjectStatus ReadStatus(const YAML::Node& pod_metadata);

}  // namespace lastcall
