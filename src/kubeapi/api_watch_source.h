#pragma once

#include <functional>
#include <stop_token>
#include <string_view>

#include "base/status.h"
#include "kubeapi/kube_client.h"
#include "kubeapi/watch_source.h"

// The WatchSource over the in-cluster client (kube_client.h): the EndpointSlice watch's lists
// and watches, with the client's connection, token and CA handling. One request per connection,
// as every request of KubeClient: a watch holds its connection for timeoutSeconds and closes it.
//
// A watch's answer is chunked JSON, one event per line, that never ends on its own before
// timeoutSeconds: its body goes through http's ResponseReader (the chunked framing, its bounds)
// and is handed to a WatchLineSplitter as it arrives, never buffered past one line. Every wait
// is bounded by the request's absolute deadline and ends at once on `stop` (tls_client.h), so a
// silent or trickling server costs the deadline at most, and a stop request nothing.
namespace lastcall::kubeapi {

class ApiWatchSource final : public WatchSource {
 public:
  // `client` must outlive the source.
  explicit ApiWatchSource(KubeClient& client) : client_(client) {}

  Expected<ListAnswer> List(std::string_view path, Deadline deadline,
                            std::stop_token stop) override;
  WatchResult Watch(std::string_view path, Deadline deadline, std::stop_token stop,
                    const std::function<bool(std::string_view line)>& on_line) override;

 private:
  KubeClient& client_;
};

}  // namespace lastcall::kubeapi
