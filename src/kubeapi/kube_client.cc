#include "kubeapi/kube_client.h"

#include <nlohmann/json.hpp>

#include "base/token_file.h"
#include "http/http_response_reader.h"
#include "version.h"

namespace lastcall::kubeapi {
namespace {

// A CA bundle with every public root is ~200 KiB; a cluster's is one or two certificates.
constexpr size_t kMaxCaBytes = size_t{1} << 20;

}  // namespace

std::string ApiAnswer::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "";
}

Expected<std::string> KubeClient::Token() {
  std::lock_guard lock(mu_);
  const std::optional<FileIdentity> now = StatIdentity(settings_.token_file);
  if (!now) {
    token_identity_.reset();
    token_.clear();
    return Status::NotFound("the service account token " + settings_.token_file +
                            " cannot be read: no such file");
  }
  if (token_identity_ != now) {
    std::string error;
    std::optional<FileIdentity> identity;
    std::optional<std::string> token = ReadToken(settings_.token_file, &error, &identity);
    if (!token) {
      token_identity_.reset();
      token_.clear();
      return Status::Unavailable("the service account token " + settings_.token_file + ": " +
                                 error);
    }
    token_ = std::move(*token);
    token_identity_ = identity;
  }
  return token_;
}

Expected<std::shared_ptr<const tls::TrustAnchors>> KubeClient::Anchors() {
  std::lock_guard lock(mu_);
  const std::optional<FileIdentity> now = StatIdentity(settings_.ca_file);
  if (anchors_ && now && ca_identity_ == now) return anchors_;
  SmallFile file = ReadSmallFile(settings_.ca_file, kMaxCaBytes);
  if (!file.ok()) {
    return Status::Unavailable("the API server's CA bundle " + settings_.ca_file + ": " +
                               file.reason);
  }
  Expected<tls::TrustAnchors> anchors = tls::TrustAnchors::FromPem(file.text, settings_.ca_file);
  if (!anchors.ok()) return anchors.status();
  anchors_ = std::make_shared<const tls::TrustAnchors>(std::move(anchors).value());
  ca_identity_ = file.identity;
  return anchors_;
}

Expected<std::unique_ptr<tls::TlsClient>> KubeClient::Open(std::string_view method,
                                                           std::string_view path,
                                                           std::string_view body, Deadline deadline,
                                                           std::stop_token stop) {
  Expected<std::string> token = Token();
  if (!token.ok()) return token.status();
  Expected<std::shared_ptr<const tls::TrustAnchors>> anchors = Anchors();
  if (!anchors.ok()) return anchors.status();

  Expected<std::unique_ptr<tls::TlsClient>> connected = tls::TlsClient::Connect(
      settings_.host, settings_.port, settings_.server_name, **anchors, deadline, stop);
  if (!connected.ok()) return connected.status();

  std::string request;
  request.reserve(512 + body.size() + token->size());
  request.append(method).append(" ").append(path).append(" HTTP/1.1\r\n");
  request.append("Host: ").append(settings_.Address()).append("\r\n");
  request.append("User-Agent: lastcall/").append(kVersion).append("\r\n");
  request.append("Authorization: Bearer ").append(*token).append("\r\n");
  request.append("Accept: application/json\r\n");
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    request.append("Content-Type: application/json\r\n");
    request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  request.append("Connection: close\r\n\r\n").append(body);
  if (Status sent = (*connected)->Write(request, deadline, stop); !sent.ok()) return sent;
  return connected;
}

Expected<ApiAnswer> ReadWholeAnswer(tls::TlsClient& tls, bool head_request, size_t max_body,
                                    Deadline deadline, std::stop_token stop) {
  ResponseReader reader(head_request, max_body);
  char buffer[4096];
  ResponseReader::State state = ResponseReader::State::kNeedMore;
  // Each pass reads at least one byte or fails at the deadline: bounded by it.
  while (state == ResponseReader::State::kNeedMore) {
    Expected<size_t> n = tls.Read(buffer, sizeof(buffer), deadline, stop);
    if (!n.ok()) return n.status();
    state = *n == 0 ? reader.FinishAtEof() : reader.Feed(std::string_view(buffer, *n));
  }
  HttpResponse& response = reader.response();
  if (state == ResponseReader::State::kError) {
    return Status::Invalid(tls.peer() + ": the answer: " + response.error_detail);
  }
  ApiAnswer answer;
  answer.status = response.status;
  answer.headers = std::move(response.headers);
  answer.body = std::move(response.body);
  return answer;
}

Expected<ApiAnswer> KubeClient::Send(std::string_view method, std::string_view path,
                                     std::string_view body, Deadline deadline) {
  Expected<std::unique_ptr<tls::TlsClient>> opened = Open(method, path, body, deadline);
  if (!opened.ok()) return opened.status();
  return ReadWholeAnswer(**opened, method == "HEAD", kMaxAnswerBytes, deadline);
}

std::string StatusMessage(std::string_view body) {
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return "";
  const auto kind = json.find("kind");
  const auto message = json.find("message");
  if (kind == json.end() || *kind != "Status" || message == json.end() || !message->is_string()) {
    return "";
  }
  std::string text = message->get<std::string>();
  if (text.size() > 300) text = text.substr(0, 300) + "...";
  return text;
}

std::string DescribeApiFailure(int status, std::string_view body, std::string_view what) {
  std::string line = std::to_string(status) + " ";
  switch (status) {
    case 401:
      line +=
          "Unauthorized: the API server does not accept the service account token (expired, "
          "or from another cluster); lastcall re-reads the token file on every request";
      break;
    case 403:
      line += "Forbidden: RBAC does not allow this pod's service account to " + std::string(what) +
              " (grant it the Role in deploy/kubernetes/, or `lastcall inject --cluster-access`)";
      break;
    case 404:
      line +=
          "Not Found: the namespace or the API (events.k8s.io/v1) does not exist on this "
          "API server";
      break;
    case 409:
      line += "Conflict: an object of the same name exists already";
      break;
    case 410:
      line += "Gone: the resource version is too old";
      break;
    case 429:
      line += "Too Many Requests: the API server is rate-limiting (API priority and fairness)";
      break;
    default:
      if (status >= 500) {
        line += "Server Error: the API server failed to " + std::string(what);
      } else {
        line += "unexpected answer to the request to " + std::string(what);
      }
  }
  if (std::string message = StatusMessage(body); !message.empty()) line += ": " + message;
  return line;
}

}  // namespace lastcall::kubeapi
