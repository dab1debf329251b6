#include "sidecar/proxy_quit.h"

#include <doctest/doctest.h>

#include <new>
#include <string>

#include "config/config_loader.h"
#include "test_fakes.h"

namespace lastcall {
namespace {

using testing::FakeClock;
using testing::FakeHttpClient;
using testing::RecordedRequest;

ProxyQuitConfig QuitAt(const std::string& url) {
  ProxyQuitConfig config;
  std::string error;
  config.url = Parsed<Url>{*ParseUrl(url, &error), url};
  return config;
}

HttpResponse Status(int status, std::string body = "") {
  HttpResponse answer;
  answer.status = status;
  answer.body = std::move(body);
  return answer;
}

HttpResponse Failed(HttpError error) {
  HttpResponse answer;
  answer.error = error;
  answer.error_detail = "detail";
  return answer;
}

// The ConfigError LoadConfig throws for these flags, or "".
std::string FlagError(std::vector<FlagValue> flags) {
  ConfigSources sources;
  sources.flags = std::move(flags);
  try {
    LoadConfig(sources);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST_CASE("without a URL the proxy is not asked") {
  FakeClock clock;
  FakeHttpClient http(clock);
  const ProxyQuitOutcome outcome = AskProxyToQuit(ProxyQuitConfig{}, http);
  CHECK_FALSE(outcome.asked);
  CHECK(http.requests.empty());
}

TEST_CASE("one request, with the configured method and URL, under one deadline") {
  FakeClock clock;
  FakeHttpClient http(clock);
  http.answer = [](const HttpRequest&, Deadline) { return Status(200, "OK"); };
  ProxyQuitConfig config = QuitAt("http://127.0.0.1:15020/quitquitquit");
  config.timeout = Millis{300};
  const auto before = std::chrono::steady_clock::now();
  const ProxyQuitOutcome outcome = AskProxyToQuit(config, http);
  const auto after = std::chrono::steady_clock::now();
  CHECK(outcome.asked);
  CHECK(outcome.answer.status == 200);
  REQUIRE(http.requests.size() == 1);
  const RecordedRequest& sent = http.requests[0];
  CHECK(sent.request.method == "POST");
  CHECK(sent.request.url.port == 15020);
  CHECK(sent.request.url.target == "/quitquitquit");
  CHECK(sent.deadline >= before + Millis{300});
  CHECK(sent.deadline <= after + Millis{300});
}

TEST_CASE("a failed request is not retried and never throws") {
  FakeClock clock;
  FakeHttpClient http(clock);
  SUBCASE("refused") {
    http.answer = [](const HttpRequest&, Deadline) { return Failed(HttpError::kRefused); };
    const ProxyQuitOutcome outcome = AskProxyToQuit(QuitAt("http://127.0.0.1:4191/shutdown"), http);
    CHECK(outcome.answer.error == HttpError::kRefused);
  }
  SUBCASE("an exception from the client") {
    http.answer = [](const HttpRequest&, Deadline) -> HttpResponse { throw std::bad_alloc(); };
    ProxyQuitOutcome outcome;
    CHECK_NOTHROW(outcome = AskProxyToQuit(QuitAt("http://127.0.0.1:4191/shutdown"), http));
    CHECK(outcome.answer.error == HttpError::kOther);
  }
  CHECK(http.requests.size() == 1);
}

TEST_CASE("the deadline is never beyond the bound, whatever the config holds") {
  FakeClock clock;
  FakeHttpClient http(clock);
  ProxyQuitConfig config = QuitAt("http://127.0.0.1:15020/quitquitquit");
  config.timeout = Millis{60000};  // only a caller that skipped the loader can get here
  const auto before = std::chrono::steady_clock::now();
  AskProxyToQuit(config, http);
  REQUIRE(http.requests.size() == 1);
  CHECK(http.requests[0].deadline <= before + ProxyQuitConfig::kMaxTimeout + Millis{100});
}

TEST_CASE("each answer is explained in words the operator can act on") {
  CHECK(ExplainProxyQuitAnswer(Status(200, "OK")) == "");
  CHECK(ExplainProxyQuitAnswer(Status(204)) == "");
  CHECK(ExplainProxyQuitAnswer(Status(404, "shutdown endpoint is not enabled\n"))
            .find("config.linkerd.io/proxy-admin-shutdown: enabled") != std::string::npos);
  CHECK(ExplainProxyQuitAnswer(Status(405)).find("POST") != std::string::npos);
  CHECK(ExplainProxyQuitAnswer(Status(403)).find("loopback") != std::string::npos);
  CHECK(ExplainProxyQuitAnswer(Status(500)) == "the proxy refused the request");
  CHECK(ExplainProxyQuitAnswer(Failed(HttpError::kRefused)).find("nothing listens") !=
        std::string::npos);
  CHECK(ExplainProxyQuitAnswer(Failed(HttpError::kTimeout)).find("deadline") != std::string::npos);
  CHECK(ExplainProxyQuitAnswer(Failed(HttpError::kOther)) == "detail");
}

TEST_CASE("proxy_quit keys: loopback only, a bounded timeout, a valid method") {
  CHECK(FlagError({{"proxy-quit-url", "http://127.0.0.1:15020/quitquitquit"}}) == "");
  CHECK(FlagError({{"proxy-quit-url", "http://[::1]:4191/shutdown"}}) == "");
  CHECK(FlagError({{"proxy-quit-url", "http://localhost:4191/shutdown"}}) == "");
  CHECK(FlagError({{"proxy-quit-url", "unix:///var/run/proxy.sock"}}) == "");
  CHECK(FlagError({{"proxy-quit-url", ""}}) == "");
  CHECK(FlagError({{"proxy-quit-url", "http://10.0.0.7:15020/quitquitquit"}})
            .find("must be on loopback") != std::string::npos);
  CHECK(FlagError({{"proxy-quit-timeout", "500ms"}}) == "");
  CHECK(FlagError({{"proxy-quit-timeout", "1s"}}) == "");
  CHECK(FlagError({{"proxy-quit-timeout", "1500ms"}}).find("must be at most 1s") !=
        std::string::npos);
  CHECK(FlagError({{"proxy-quit-timeout", "0s"}}).find("greater than 0") != std::string::npos);
  CHECK(FlagError({{"proxy-quit-method", "post"}}).find("write POST") != std::string::npos);

  ConfigSources env;
  env.env = {{"LASTCALL_PROXY_QUIT_URL", "http://127.0.0.1:4191/shutdown"}};
  const Config config = LoadConfig(env).config;
  REQUIRE(config.shutdown.proxy_quit.url);
  CHECK(config.shutdown.proxy_quit.url->value.target == "/shutdown");
  CHECK(config.shutdown.proxy_quit.method == "POST");
  CHECK(config.shutdown.proxy_quit.timeout == Millis{1000});

  ConfigSources yaml;
  yaml.yaml_text = "shutdown:\n  proxy_quit:\n    url: http://127.0.0.1:15020/quitquitquit\n";
  yaml.yaml_path = "lastcall.yaml";
  CHECK(LoadConfig(yaml).config.shutdown.proxy_quit.url->value.port == 15020);
}

}  // namespace
}  // namespace lastcall
