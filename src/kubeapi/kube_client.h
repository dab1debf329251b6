#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/small_file.h"
#include "base/status.h"
#include "kubeapi/in_cluster.h"
#include "tls/pem.h"
#include "tls/tls_client.h"

// lastcall's Kubernetes API client: one HTTPS request per connection (HTTP/1.1 over tls_client.h,
// answers read by http's ResponseReader), each under one absolute deadline for connect, handshake,
// send and the whole answer. Small on purpose: a sidecar sends one Event per termination, so
// connection reuse would buy nothing and cost memory held for the pod's whole life.
//
// The service account's token is re-read whenever its file changed (a projected token is
// rotated by the kubelet; it is never used past its file's change), and so is the CA bundle.
namespace lastcall::kubeapi {

using Deadline = std::chrono::steady_clock::time_point;

// The largest answer body read: an Event or a Status object is a few KiB; an answer past this is
// refused as soon as its framing announces it or the bytes pass it, never buffered.
inline constexpr size_t kMaxAnswerBytes = size_t{256} * 1024;

struct ApiAnswer {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // The value of header `name` (lower case), or "".
  std::string Header(std::string_view name) const;
};

class KubeClient {
 public:
  explicit KubeClient(InClusterSettings settings) : settings_(std::move(settings)) {}

  // Sends `method path` with `body` (JSON) and reads the whole answer, any status. A failure to
  // get an answer (no token or CA file, connect, TLS, a malformed or oversized answer, the
  // deadline) is a Status naming the API server's address and what failed. Thread-safe.
  Expected<ApiAnswer> Send(std::string_view method, std::string_view path, std::string_view body,
                           Deadline deadline);

  // Connects, authenticates and sends `method path` with `body`, and hands over the connection
  // with the answer still to read: what Send does before it reads, for a caller that reads the
  // answer its own way (api_watch_source.h streams a watch). Fails as Send does; `stop` ends any
  // wait at once (tls_client.h). Thread-safe.
  Expected<std::unique_ptr<tls::TlsClient>> Open(std::string_view method, std::string_view path,
                                                 std::string_view body, Deadline deadline,
                                                 std::stop_token stop = {});

  const InClusterSettings& settings() const { return settings_; }

 private:
  Expected<std::string> Token();
  Expected<std::shared_ptr<const tls::TrustAnchors>> Anchors();

  const InClusterSettings settings_;
  std::mutex mu_;
  std::optional<FileIdentity> token_identity_;        // GUARDED_BY(mu_)
  std::string token_;                                 // GUARDED_BY(mu_)
  std::optional<FileIdentity> ca_identity_;           // GUARDED_BY(mu_)
  std::shared_ptr<const tls::TrustAnchors> anchors_;  // GUARDED_BY(mu_)
};

// Reads one whole answer from `tls` (any status), its body at most `max_body` bytes: refused as
// soon as its framing announces more or the bytes pass it. Fails (naming the peer) on a
// malformed or cut answer, the deadline, or a stop request.
Expected<ApiAnswer> ReadWholeAnswer(tls::TlsClient& tls, bool head_request, size_t max_body,
                                    Deadline deadline, std::stop_token stop = {});

// What an API server's error answer means, in one line for the log: the status's meaning for
// lastcall and what to do, then the Status object's own message when the body is one
// ("403 Forbidden: RBAC does not allow this service account to create events.k8s.io events
// (grant it the Role in deploy/kubernetes): events.events.k8s.io is forbidden: ..."). `what`
// names the request ("create the Event"). Pure.
std::string DescribeApiFailure(int status, std::string_view body, std::string_view what);

// The Status object's message in an error answer's body, or "" when the body is not one. Pure.
std::string StatusMessage(std::string_view body);

}  // namespace lastcall::kubeapi
