#include "processor/kafka/detail/tcp_forwarder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <vector>

namespace meterflow::kafka::detail {

namespace {

constexpr size_t max_buffered = 1 << 20;  // per direction; then reading that side pauses

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

void set_nodelay(int fd) {
  int one = 1;
  // Kafka requests are small and latency-bound; Nagle would add delay the real broker has not.
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// One accepted connection and its upstream: bytes read from `from` wait in `pending` until
// written to the other socket.
struct direction {
  std::string pending;
  size_t written = 0;  // bytes of pending already sent
};

struct connection {
  int client = -1;
  int upstream = -1;
  direction up;    // client -> upstream
  direction down;  // upstream -> client
  bool closed = false;

  void close_all() {
    if (client >= 0) ::close(client);
    if (upstream >= 0) ::close(upstream);
    client = upstream = -1;
    closed = true;
  }
};

// Reads what is available from `from` into d. Returns false when the connection must end.
bool pump_in(int from, direction& d) {
  char buf[64 * 1024];
  for (;;) {
    if (d.pending.size() - d.written >= max_buffered) return true;
    ssize_t n = ::recv(from, buf, sizeof buf, 0);
    if (n > 0) {
      d.pending.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;  // peer closed
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

// Writes what d holds to `to`. Returns false when the connection must end.
bool pump_out(int to, direction& d) {
  while (d.written < d.pending.size()) {
    ssize_t n =
        ::send(to, d.pending.data() + d.written, d.pending.size() - d.written, MSG_NOSIGNAL);
    if (n > 0) {
      d.written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return false;
  }
  if (d.written == d.pending.size()) {
    d.pending.clear();
    d.written = 0;
  }
  return true;
}

}  // namespace

result<std::unique_ptr<tcp_forwarder>> tcp_forwarder::start(uint16_t port,
                                                            std::vector<target> targets) {
  if (targets.empty()) return fail("forwarder: nothing to forward to");
  std::unique_ptr<tcp_forwarder> f(new tcp_forwarder());
  for (const auto& t : targets) {
    in_addr address{};
    if (::inet_pton(AF_INET, t.host.c_str(), &address) != 1)
      return fail("forwarder: target ", t.host, " is not an IPv4 address");
  }
  f->targets_ = std::move(targets);

  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("forwarder: socket: ", std::strerror(errno));
  f->listen_fd_ = fd;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return fail("cannot listen on 127.0.0.1:", std::to_string(port), ": ", std::strerror(errno));
  if (::listen(fd, 128) != 0)
    return fail("cannot listen on 127.0.0.1:", std::to_string(port), ": ", std::strerror(errno));
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  f->port_ = ntohs(addr.sin_port);
  set_nonblocking(fd);

  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0)
    return fail("forwarder: pipe: ", std::strerror(errno));
  f->wake_read_ = wake[0];
  f->wake_write_ = wake[1];
  f->thread_ = std::thread([raw = f.get()] { raw->run(); });
  return f;
}

tcp_forwarder::~tcp_forwarder() {
  if (thread_.joinable()) {
    char c = 'q';
    while (::write(wake_write_, &c, 1) < 0 && errno == EINTR) {
    }
    thread_.join();
  }
  for (int fd : {listen_fd_, wake_read_, wake_write_})
    if (fd >= 0) ::close(fd);
}

void tcp_forwarder::run() {
  std::vector<sockaddr_in> addresses;
  for (const auto& t : targets_) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(t.port);
    ::inet_pton(AF_INET, t.host.c_str(), &a.sin_addr);
    addresses.push_back(a);
  }
  // Loopback connects complete (or are refused, e.g. that broker is down) at once, so blocking
  // connects are fine. -1 when no target accepts: the client then sees its connection closed.
  auto connect_upstream = [&addresses]() {
    for (const auto& a : addresses) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return -1;
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) return fd;
      ::close(fd);
    }
    return -1;
  };

  std::list<connection> connections;
  std::vector<pollfd> fds;
  std::vector<connection*> owners;  // owners[i]: the connection of fds[i] (nullptr: control fd)
  for (;;) {
    fds.clear();
    owners.clear();
    fds.push_back({wake_read_, POLLIN, 0});
    owners.push_back(nullptr);
    fds.push_back({listen_fd_, POLLIN, 0});
    owners.push_back(nullptr);
    for (auto& c : connections) {
      // Read a side only while its outgoing buffer has room; wait for writability while bytes
      // for that side are pending.
      short client_events = 0, upstream_events = 0;
      if (c.up.pending.size() - c.up.written < max_buffered) client_events |= POLLIN;
      if (c.down.pending.size() - c.down.written < max_buffered) upstream_events |= POLLIN;
      if (c.down.written < c.down.pending.size()) client_events |= POLLOUT;
      if (c.up.written < c.up.pending.size()) upstream_events |= POLLOUT;
      fds.push_back({c.client, client_events, 0});
      owners.push_back(&c);
      fds.push_back({c.upstream, upstream_events, 0});
      owners.push_back(&c);
    }
    int ready = ::poll(fds.data(), fds.size(), -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) break;  // asked to stop

    if (fds[1].revents & POLLIN) {
      for (;;) {
        int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) break;
        int upstream = connect_upstream();
        if (upstream < 0) {
          ::close(client);
          continue;
        }
        set_nonblocking(client);
        set_nonblocking(upstream);
        set_nodelay(client);
        set_nodelay(upstream);
        connections.push_back(connection{client, upstream, {}, {}, false});
      }
    }

    for (size_t i = 2; i < fds.size(); ++i) {
      connection* c = owners[i];
      if (c->closed || fds[i].revents == 0) continue;
      bool is_client = fds[i].fd == c->client;
      direction& incoming = is_client ? c->up : c->down;  // what this socket sends us
      direction& outgoing = is_client ? c->down : c->up;  // what we owe this socket
      int other = is_client ? c->upstream : c->client;
      bool alive = true;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        alive = pump_in(fds[i].fd, incoming);
        // Forward what arrived before a close, then end the connection.
        if (!pump_out(other, incoming)) alive = false;
      }
      if (alive && (fds[i].revents & POLLOUT)) alive = pump_out(fds[i].fd, outgoing);
      if (!alive) c->close_all();
    }
    connections.remove_if([](const connection& c) { return c.closed; });
  }
  for (auto& c : connections) c.close_all();
}

}  // namespace meterflow::kafka::detail
