// The proof behind `count: in_flight`: the real kernel observer (sock_diag) and InFlightHistory,
// against real loopback connections whose clients send each next request with zero think time,
// short and long requests mixed. Whenever a connection is classified idle, no request on it may
// have been owed an answer for the whole observation: a request whose client write had
// completed before the observation started and whose answer's first byte was written after it
// ended. The same observations are also classified by the rule lastcall had before (timestamps
// plus byte counters between two snapshots), to show what the proof catches.
//
// CI form: a few seconds. Long form (bench/in_flight_proof.sh): LASTCALL_PROOF_SECONDS=N.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "monitors/traffic_observer.h"

namespace lastcall {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kRequestSize = 64;
constexpr size_t kAnswerSize = 128;

bool SendFull(int fd, const char* data, size_t n) {
  size_t sent = 0;
  while (sent < n) {
    const ssize_t r = ::send(fd, data + sent, n - sent, MSG_NOSIGNAL);
    if (r <= 0) return false;
    sent += static_cast<size_t>(r);
  }
  return true;
}
bool ReceiveFull(int fd, char* data, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd, data + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

// The rule lastcall had before issue 23, kept here only to count what it would have missed.
void ClassifyTheOldWay(const TrafficSnapshot* previous, TrafficSnapshot& now) {
  std::unordered_map<uint64_t, const TrafficConnection*> before;
  if (previous != nullptr) {
    for (const TrafficConnection& c : previous->connections) before.emplace(c.id, &c);
  }
  for (TrafficConnection& c : now.connections) {
    if (c.state == TcpState::kTimeWait || !c.has_info) {
      c.in_flight = c.state != TcpState::kTimeWait;
      continue;
    }
    bool in_flight = c.recv_queue > 0 || c.send_queue > 0 ||
                     c.last_data_recv_ms < c.last_data_sent_ms || c.bytes_answered == 0;
    if (!in_flight) {
      const auto it = before.find(c.id);
      const TrafficConnection* then = it == before.end() ? nullptr : it->second;
      if (then != nullptr && then->has_info && c.bytes_answered == then->bytes_answered) {
        in_flight = c.bytes_received > then->bytes_received ||
                    (then->in_flight && then->send_queue == 0 && c.bytes_received > 0);
      }
    }
    c.in_flight = in_flight;
  }
}

struct ProofCounts {
  size_t observations = 0;
  size_t connection_looks = 0;  // connections classified, over all observations
  size_t owed = 0;              // of those, owed an answer for the whole observation
  size_t idle_new = 0;          // classified idle by InFlightHistory
  size_t wrong_new = 0;         // idle while owed: must stay 0
  size_t idle_old = 0;
  size_t wrong_old = 0;
  size_t observations_wrong_old = 0;  // observations in which the old rule missed one
  size_t requests = 0;
  size_t idle_long = 0;       // looks at a connection idle for 700 ms or more, and through the look
  size_t idle_long_told = 0;  // of those, classified idle by InFlightHistory
};

struct Look {
  Clock::time_point start;
  Clock::time_point end;
  std::vector<uint8_t> idle_new;  // per connection index
  std::vector<uint8_t> idle_old;
};

ProofCounts RunProof(int connections, milliseconds load_for, uint32_t seed) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), length) == 0);
  REQUIRE(::listen(listener, 128) == 0);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const int port = ntohs(address.sin_port);

  std::vector<int> clients;
  std::vector<int> servers;
  std::unordered_map<uint64_t, int> index_of;  // socket cookie -> connection index
  for (int i = 0; i < connections; ++i) {
    const int client = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&address), length) == 0);
    const int server = ::accept(listener, nullptr, nullptr);
    REQUIRE(server >= 0);
    uint64_t cookie = 0;
    socklen_t cookie_length = sizeof(cookie);
    REQUIRE(::getsockopt(server, SOL_SOCKET, SO_COOKIE, &cookie, &cookie_length) == 0);
    index_of[cookie] = i;
    clients.push_back(client);
    servers.push_back(server);
  }

  // Per connection, in order: when the client's write of request k had completed, and when the
  // server was about to write answer k. Each vector has one writer; read after the joins.
  std::vector<std::vector<Clock::time_point>> sent(static_cast<size_t>(connections));
  std::vector<std::vector<Clock::time_point>> answering(static_cast<size_t>(connections));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < connections; ++i) {
    threads.emplace_back([&, i] {
      char request[kRequestSize];
      const char answer[kAnswerSize] = {};
      while (ReceiveFull(servers[static_cast<size_t>(i)], request, kRequestSize)) {
        uint32_t ms = 0;
        std::memcpy(&ms, request, sizeof(ms));
        if (ms > 0) std::this_thread::sleep_for(milliseconds(ms));
        answering[static_cast<size_t>(i)].push_back(Clock::now());
        if (!SendFull(servers[static_cast<size_t>(i)], answer, kAnswerSize)) break;
      }
    });
    threads.emplace_back([&, i] {
      std::mt19937 random(seed + static_cast<uint32_t>(i));
      std::uniform_int_distribution<int> percent(0, 99);
      char request[kRequestSize] = {};
      char answer[kAnswerSize];
      while (!stop.load()) {
        const int kind = percent(random);
        // 70% short (0-2 ms), 26% long (50-300 ms), 4% longer than the ACK bound (0.7-1.2 s).
        uint32_t ms = static_cast<uint32_t>(kind < 70   ? kind % 3
                                            : kind < 96 ? 50 + percent(random) * 250 / 99
                                                        : 700 + percent(random) * 5);
        std::memcpy(request, &ms, sizeof(ms));
        if (!SendFull(clients[static_cast<size_t>(i)], request, kRequestSize)) break;
        sent[static_cast<size_t>(i)].push_back(Clock::now());
        if (!ReceiveFull(clients[static_cast<size_t>(i)], answer, kAnswerSize)) break;
        // Zero think time, except now and then a pause longer than the ACK bound, so that
        // idle connections are seen (and must be told idle) too.
        if (percent(random) < 2) std::this_thread::sleep_for(milliseconds(700 + kind * 5));
      }
    });
  }

  std::vector<Look> looks;
  InFlightHistory history;
  std::optional<TrafficSnapshot> previous_old;
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> pause_ms(0, 30);
  const auto end = Clock::now() + load_for;
  std::string error;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(milliseconds(pause_ms(random)));
    Look look;
    look.start = Clock::now();
    std::optional<TrafficSnapshot> now = ObserveWithNetlink(
        {port}, std::chrono::steady_clock::now() + std::chrono::seconds(1), &error, nullptr, false);
    look.end = Clock::now();
    REQUIRE_MESSAGE(now.has_value(), error);
    TrafficSnapshot old_view = *now;
    history.Classify(*now);
    ClassifyTheOldWay(previous_old ? &*previous_old : nullptr, old_view);
    look.idle_new.assign(static_cast<size_t>(connections), 0);
    look.idle_old.assign(static_cast<size_t>(connections), 0);
    for (size_t k = 0; k < now->connections.size(); ++k) {
      const auto it = index_of.find(now->connections[k].id);
      if (it == index_of.end()) continue;
      const auto i = static_cast<size_t>(it->second);
      look.idle_new[i] = now->connections[k].in_flight ? 0 : 1;
      look.idle_old[i] = old_view.connections[k].in_flight ? 0 : 1;
    }
    looks.push_back(std::move(look));
    previous_old = std::move(old_view);
  }
  stop.store(true);
  // Long requests end within 1.2 s; the clients then see stop and close their side.
  for (int client : clients) ::shutdown(client, SHUT_WR);
  for (std::thread& t : threads) t.join();
  for (int fd : clients) ::close(fd);
  for (int fd : servers) ::close(fd);
  ::close(listener);

  ProofCounts counts;
  counts.observations = looks.size();
  for (const auto& s : sent) counts.requests += s.size();
  for (const Look& look : looks) {
    bool old_missed = false;
    for (size_t i = 0; i < static_cast<size_t>(connections); ++i) {
      ++counts.connection_looks;
      // The last request whose write completed before the look started; an earlier one was
      // answered before this one was sent.
      const auto& s = sent[i];
      const auto after = std::lower_bound(s.begin(), s.end(), look.start);
      bool owed = false;
      if (after != s.begin()) {
        const size_t k = static_cast<size_t>(after - s.begin()) - 1;
        owed = k >= answering[i].size() || answering[i][k] > look.end;
        const bool next_after_look = after == s.end() || *after > look.end;
        if (!owed && next_after_look && answering[i][k] + milliseconds(700) <= look.start) {
          ++counts.idle_long;
          counts.idle_long_told += look.idle_new[i];
        }
      }
      counts.owed += owed ? 1 : 0;
      counts.idle_new += look.idle_new[i];
      counts.idle_old += look.idle_old[i];
      if (owed && look.idle_new[i] != 0) ++counts.wrong_new;
      if (owed && look.idle_old[i] != 0) {
        ++counts.wrong_old;
        old_missed = true;
      }
    }
    counts.observations_wrong_old += old_missed ? 1 : 0;
  }
  return counts;
}

TEST_CASE("in_flight proof: never idle while a request is owed (real sockets, zero think time)") {
  long seconds = 6;
  if (const char* env = std::getenv("LASTCALL_PROOF_SECONDS")) seconds = std::atol(env);
  const ProofCounts c = RunProof(32, milliseconds(seconds * 1000), 23);
  MESSAGE("observations " << c.observations << ", requests " << c.requests << ", connection looks "
                          << c.connection_looks << ", owed " << c.owed << "; InFlightHistory: idle "
                          << c.idle_new << ", idle while owed " << c.wrong_new << "; idle 700 ms+ "
                          << c.idle_long << ", of which told idle " << c.idle_long_told
                          << "; old rule: idle " << c.idle_old << ", idle while owed "
                          << c.wrong_old << " (in " << c.observations_wrong_old
                          << " observations)");
  CHECK(c.observations >= 50);
  CHECK(c.owed >= 500);
  CHECK(c.wrong_new == 0);
  // Not trivially safe: connections that paused longer than the ACK bound were told idle.
  CHECK(c.idle_new > 0);
}

}  // namespace
}  // namespace lastcall
