#include "kubeapi/in_cluster.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

namespace lastcall::kubeapi {
namespace {

using Vars = std::map<std::string, std::string, std::less<>>;

Expected<InClusterSettings> Read(const Vars& vars, std::optional<std::string> ns = std::nullopt) {
  return ReadInClusterSettings(
      [&vars](std::string_view name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
      },
      [ns] { return ns; });
}

Vars Pod() {
  return {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
          {"KUBERNETES_SERVICE_PORT", "443"},
          {"POD_NAME", "shop-1"},
          {"POD_NAMESPACE", "shop"},
          {"POD_UID", "6f1c2a4e-93b1-4c2e-a0f7-1d2e3f4a5b6c"}};
}

TEST_CASE("ReadInClusterSettings reads the standard in-cluster configuration") {
  Expected<InClusterSettings> settings = Read(Pod());
  REQUIRE_MESSAGE(settings.ok(), settings.status().message());
  CHECK(settings->host == "10.96.0.1");
  CHECK(settings->port == 443);
  CHECK(settings->server_name == "kubernetes.default.svc");
  CHECK(settings->ca_file == "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  CHECK(settings->token_file == "/var/run/secrets/kubernetes.io/serviceaccount/token");
  CHECK(settings->pod_name == "shop-1");
  CHECK(settings->pod_namespace == "shop");
  CHECK(settings->Address() == "10.96.0.1:443");
}

TEST_CASE("ReadInClusterSettings takes IPv6 hosts bare or in brackets, and the path overrides") {
  Vars vars = Pod();
  vars["KUBERNETES_SERVICE_HOST"] = "[fd00:10:96::1]";
  vars["KUBERNETES_SERVICE_PORT"] = "6443";
  vars["LASTCALL_KUBE_CA_FILE"] = "/etc/ca.pem";
  vars["LASTCALL_KUBE_TOKEN_FILE"] = "/etc/token";
  Expected<InClusterSettings> settings = Read(vars);
  REQUIRE(settings.ok());
  CHECK(settings->host == "fd00:10:96::1");
  CHECK(settings->Address() == "[fd00:10:96::1]:6443");
  CHECK(settings->ca_file == "/etc/ca.pem");
  CHECK(settings->token_file == "/etc/token");
  vars["KUBERNETES_SERVICE_HOST"] = "fd00:10:96::1";
  CHECK(Read(vars)->host == "fd00:10:96::1");
}

TEST_CASE("ReadInClusterSettings: outside a cluster, and partial or malformed configuration") {
  CHECK(Read({}).status().code() == StatusCode::kNotFound);
  Vars vars = Pod();
  vars["KUBERNETES_SERVICE_HOST"] = "kubernetes.default.svc";
  CHECK(Read(vars).status().message().find("not an IP address") != std::string::npos);
  vars = Pod();
  vars["KUBERNETES_SERVICE_PORT"] = "70000";
  CHECK(Read(vars).status().message() == "KUBERNETES_SERVICE_PORT \"70000\" is not a port number");
  vars = Pod();
  vars.erase("POD_UID");
  vars.erase("POD_NAME");
  const Status missing = Read(vars).status();
  CHECK(missing.code() == StatusCode::kInvalid);
  CHECK(missing.message().rfind("POD_NAME, POD_UID not set", 0) == 0);
  vars = Pod();
  vars["POD_NAME"] = "Shop\r\nX: y";
  CHECK_FALSE(Read(vars).ok());
}

TEST_CASE("ReadInClusterSettings falls back to the service account's namespace file") {
  Vars vars = Pod();
  vars.erase("POD_NAMESPACE");
  CHECK(Read(vars, std::string("payments\n"))->pod_namespace == "payments");
  CHECK_FALSE(Read(vars).ok());
}

}  // namespace
}  // namespace lastcall::kubeapi
