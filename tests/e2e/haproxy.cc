#include "haproxy.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lastcall::e2e {
namespace {

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  for (std::string field; std::getline(stream, field, ',');) fields.push_back(field);
  return fields;
}

}  // namespace

Haproxy::Haproxy(const std::vector<Backend>& backends, const HaproxyOptions& options) {
  const std::string dir = test::TempDir();
  port_ = test::FreePort();
  socket_ = dir + "/haproxy.sock";
  std::ostringstream config;
  config << "global\n"
         << "  maxconn 4096\n"
         << "  stats socket " << socket_ << " mode 600 level admin\n"
         << "  log stdout format raw local0 info\n"
         << "defaults\n"
         << "  mode http\n"
         << "  log global\n"
         << "  option httplog\n"
         << "  option dontlog-normal\n"
         << "  timeout connect 1s\n"
         << "  timeout client 30s\n"
         << "  timeout server 30s\n"
         << "  timeout http-keep-alive 30s\n"
         << "  timeout check 1s\n"
         // kube-proxy and cloud load balancers do not retry for you.
         << "  retries 0\n"
         << "frontend fe\n"
         << "  bind 127.0.0.1:" << port_ << "\n"
         << "  default_backend be\n"
         << "backend be\n"
         << "  balance roundrobin\n"
         << "  option httpchk GET " << options.check_path << "\n"
         << (options.server_close ? "  option http-server-close\n" : "")
         << (options.reuse_always ? "  http-reuse always\n" : "") << "  default-server inter "
         << options.check_interval_ms
         << "ms fall 1 rise 1"
         // ingress-nginx keeps idle upstream connections 60 s (keepalive_timeout); HAProxy's
         // own default starts closing them after 5 s.
         << (options.reuse_always ? " pool-purge-delay 60s" : "") << "\n";
  for (const auto& backend : backends) {
    config << "  server " << backend.name << " 127.0.0.1:" << backend.port << " check port "
           << backend.check_port << "\n";
  }
  config_ = config.str();
  const std::string path = dir + "/haproxy.cfg";
  std::ofstream(path) << config_;
  process_ = test::Process::Spawn({"/usr/sbin/haproxy", "-db", "-f", path});
  const bool up = test::WaitUntil(
      [&] {
        for (const auto& backend : backends) {
          if (ServerStatus(backend.name) != "UP") return false;
        }
        return true;
      },
      test::milliseconds(5000), test::milliseconds(20));
  if (!up) {
    throw std::runtime_error("haproxy: backends not UP within 5 s\n" + Command("show stat") + "\n" +
                             process_.Output());
  }
}

std::string Haproxy::Command(const std::string& command) const {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_.c_str(), sizeof(address.sun_path) - 1);
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string line = command + "\n";
    if (send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size())) {
      char buffer[4096];
      ssize_t n = 0;
      while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0) {
        answer.append(buffer, static_cast<size_t>(n));
      }
    }
  }
  close(fd);
  return answer;
}

std::string Haproxy::ServerStatus(const std::string& name) const {
  std::istringstream lines(Command("show stat"));
  std::string line;
  if (!std::getline(lines, line) || line.rfind("# ", 0) != 0) return "";
  const std::vector<std::string> header = SplitCsv(line.substr(2));
  size_t status_column = header.size();
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "status") status_column = i;
  }
  while (std::getline(lines, line)) {
    const std::vector<std::string> fields = SplitCsv(line);
    if (fields.size() > status_column && fields[0] == "be" && fields[1] == name) {
      return fields[status_column];
    }
  }
  return "";
}

}  // namespace lastcall::e2e
