#pragma once

// A pod whose API server is a KubeApiStandIn, as the kubeapi unit tests see it: the stand-in, its
// certificates in a directory of the test's own, a token file path, and the InClusterSettings
// that reach it. Each test writes the token it means to send. Test-only, header-only.
#include <doctest/doctest.h>

#include <string>

#include "http_testing.h"
#include "kube_api_stand_in.h"
#include "kubeapi/in_cluster.h"

namespace lastcall::test {

struct StandInPod {
  // `dns_name` and `expired` as MakeKubeApiCerts takes them: the settings still name
  // kubernetes.default.svc, so another host's or an expired certificate fails verification.
  explicit StandInPod(const std::string& dns_name = "kubernetes.default.svc", bool expired = false)
      : certs(MakeKubeApiCerts(dir, dns_name, expired)) {}

  testing::TempDir temp;  // removed, with the certificates and the token, after the test
  std::string dir = [this] {
    REQUIRE_MESSAGE(!temp.path().empty(), "no temporary directory");
    return temp.path();
  }();
  KubeApiCerts certs;
  KubeApiStandIn server{certs};
  std::string token_file = dir + "/token";

  // Pod shop/shop-1 with `pod_uid`, reaching `server` by the name a cluster's API server has.
  kubeapi::InClusterSettings Settings(const std::string& pod_uid = kStandInPodUid) const {
    kubeapi::InClusterSettings settings;
    settings.host = "127.0.0.1";
    settings.port = server.port();
    settings.server_name = "kubernetes.default.svc";
    settings.ca_file = certs.ca_file;
    settings.token_file = token_file;
    settings.pod_name = "shop-1";
    settings.pod_namespace = "shop";
    settings.pod_uid = pod_uid;
    return settings;
  }
};

}  // namespace lastcall::test
