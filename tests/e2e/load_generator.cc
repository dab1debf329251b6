#include "load_generator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>

namespace lastcall::e2e {
namespace {

constexpr size_t kMaxFailuresKept = 1000;

int PollMs(Steady::time_point deadline) {
  const auto left = std::chrono::ceil<Millis>(deadline - Steady::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1000));
}

bool WaitFor(int fd, short events, Steady::time_point deadline) {
  while (Steady::now() < deadline) {
    pollfd entry{fd, events, 0};
    const int ready = poll(&entry, 1, PollMs(deadline));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
  return false;
}

// A connected non-blocking socket to 127.0.0.1:port, or -1 with *error set.
int Connect(uint16_t port, Steady::time_point deadline, std::string* error) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
      errno != EINPROGRESS) {
    *error = std::strerror(errno);
    close(fd);
    return -1;
  }
  if (!WaitFor(fd, POLLOUT, deadline)) {
    *error = "timeout";
    close(fd);
    return -1;
  }
  int so_error = 0;
  socklen_t length = sizeof so_error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
  if (so_error != 0) {
    *error = std::strerror(so_error);
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view data, Steady::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitFor(fd, POLLOUT, deadline)) return false;
    } else {
      return false;
    }
  }
  return true;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct Parsed {
  enum class State { kIncomplete, kComplete, kBad } state = State::kIncomplete;
  int status = 0;
  bool close = false;  // the server closes after this answer
  size_t consumed = 0;
};

// Parses one response at the start of `buffer`. `at_eof`: no more bytes will come, so a body
// framed by the connection's end is complete.
Parsed ParseResponse(std::string_view buffer, bool at_eof) {
  Parsed parsed;
  const size_t header_end = buffer.find("\r\n\r\n");
  if (header_end == std::string_view::npos) return parsed;
  const std::string_view head = buffer.substr(0, header_end);
  if (head.size() < 12 || head.substr(0, 7) != "HTTP/1.") {
    parsed.state = Parsed::State::kBad;
    return parsed;
  }
  std::from_chars(head.data() + 9, head.data() + 12, parsed.status);
  std::optional<size_t> content_length;
  bool chunked = false;
  size_t line_start = head.find("\r\n");
  while (line_start != std::string_view::npos && line_start < head.size()) {
    line_start += 2;
    size_t line_end = head.find("\r\n", line_start);
    if (line_end == std::string_view::npos) line_end = head.size();
    const std::string_view line = head.substr(line_start, line_end - line_start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string name = Lower(line.substr(0, colon));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      const std::string lower_value = Lower(value);
      if (name == "content-length") {
        size_t length = 0;
        std::from_chars(value.data(), value.data() + value.size(), length);
        content_length = length;
      } else if (name == "transfer-encoding") {
        chunked = lower_value.find("chunked") != std::string::npos;
      } else if (name == "connection") {
        parsed.close = lower_value.find("close") != std::string::npos;
      }
    }
    line_start = line_end;
  }
  size_t at = header_end + 4;
  if (chunked) {
    while (true) {
      const size_t size_end = buffer.find("\r\n", at);
      if (size_end == std::string_view::npos) return parsed;
      size_t size = 0;
      const auto result = std::from_chars(buffer.data() + at, buffer.data() + size_end, size, 16);
      if (result.ec != std::errc()) {
        parsed.state = Parsed::State::kBad;
        return parsed;
      }
      at = size_end + 2;
      if (size == 0) {
        const size_t trailer_end = buffer.find("\r\n", at);  // no trailers expected
        if (trailer_end == std::string_view::npos) return parsed;
        at = trailer_end + 2;
        break;
      }
      if (buffer.size() < at + size + 2) return parsed;
      at += size + 2;
    }
  } else if (content_length) {
    if (buffer.size() < at + *content_length) return parsed;
    at += *content_length;
  } else if (parsed.status == 204 || parsed.status == 304) {
    // no body
  } else {
    if (!at_eof) return parsed;
    at = buffer.size();
    parsed.close = true;
  }
  parsed.state = Parsed::State::kComplete;
  parsed.consumed = at;
  return parsed;
}

}  // namespace

LoadGenerator::LoadGenerator(uint16_t port, std::vector<PathLoad> paths, Millis request_timeout)
    : port_(port), paths_(std::move(paths)), request_timeout_(request_timeout) {}

LoadGenerator::~LoadGenerator() { Stop(); }

void LoadGenerator::Start() {
  start_ = Steady::now();
  running_ = true;
  for (const auto& path : paths_) {
    for (int i = 0; i < path.connections; ++i) {
      const Millis start_after = path.stagger * i / path.connections;
      threads_.emplace_back(
          [this, target = path.target, start_after] { RunConnection(target, start_after); });
    }
  }
}

LoadReport LoadGenerator::Stop() {
  running_ = false;
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  std::lock_guard lock(mu_);
  if (report_.elapsed.count() == 0 && start_ != Steady::time_point{}) {
    report_.elapsed = std::chrono::duration_cast<Millis>(Steady::now() - start_);
  }
  std::sort(report_.failures.begin(), report_.failures.end(),
            [](const Failure& a, const Failure& b) { return a.at < b.at; });
  return report_;
}

void LoadGenerator::Record(const std::string& target, int status, const std::string& error) {
  const Millis at = std::chrono::duration_cast<Millis>(Steady::now() - start_);
  std::lock_guard lock(mu_);
  ++report_.sent;
  if (error.empty() && status >= 200 && status < 300) {
    ++report_.ok;
    ++report_.ok_by_target[target];
    return;
  }
  if (error.empty()) {
    ++report_.non_2xx;
  } else {
    ++report_.failed;
  }
  if (report_.failures.size() < kMaxFailuresKept) {
    report_.failures.push_back(
        {at, error.empty() ? "status " + std::to_string(status) : error, target});
  }
}

void LoadGenerator::RunConnection(const std::string& target, Millis start_after) {
  while (running_ && Steady::now() < start_ + start_after) std::this_thread::sleep_for(Millis(5));
  const std::string request =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: lastcall-e2e\r\n\r\n";
  int fd = -1;
  std::string buffer;
  auto drop = [&] {
    if (fd >= 0) close(fd);
    fd = -1;
    buffer.clear();
  };
  while (running_) {
    const auto deadline = Steady::now() + request_timeout_;
    if (fd < 0) {
      std::string error;
      fd = Connect(port_, deadline, &error);
      if (fd < 0) {
        Record(target, 0, "connect: " + error);
        std::this_thread::sleep_for(Millis(10));
        continue;
      }
    }
    if (!SendAll(fd, request, deadline)) {
      Record(target, 0, "send failed");
      drop();
      continue;
    }
    std::string error;
    Parsed parsed;
    bool eof = false;
    while (true) {
      parsed = ParseResponse(buffer, eof);
      if (parsed.state != Parsed::State::kIncomplete) break;
      if (eof) {
        error = buffer.empty() ? "closed before a response" : "closed mid-response";
        break;
      }
      if (!WaitFor(fd, POLLIN, deadline)) {
        error = "timeout";
        break;
      }
      char chunk[8192];
      const ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer.append(chunk, static_cast<size_t>(n));
      } else if (n == 0) {
        eof = true;
      } else if (errno != EAGAIN && errno != EINTR) {
        error = std::string(errno == ECONNRESET ? "reset" : std::strerror(errno)) +
                (buffer.empty() ? " before a response" : " mid-response");
        break;
      }
    }
    if (!error.empty() || parsed.state == Parsed::State::kBad) {
      Record(target, 0, error.empty() ? "malformed response" : error);
      drop();
      continue;
    }
    Record(target, parsed.status, "");
    buffer.erase(0, parsed.consumed);
    if (parsed.close) drop();
  }
  drop();
}

}  // namespace lastcall::e2e
