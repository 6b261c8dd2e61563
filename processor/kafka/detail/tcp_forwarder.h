// A loopback TCP forwarder: accepts connections on 127.0.0.1:PORT and pipes each one, byte for
// byte in both directions, to the first of its targets that accepts a connection. The
// development cluster uses it to give the mock cluster (whose brokers listen on random ports in
// librdkafka 2.0.2) a fixed bootstrap address that works while any broker is up.
//
// One thread, poll(2) over every socket, bounded buffers (a slow side stops reads from the
// other). A connection ends when either side closes or fails; the other side is then closed too.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"

namespace meterflow::kafka::detail {

class tcp_forwarder {
 public:
  // An IPv4 address and port to forward to.
  struct target {
    std::string host;
    uint16_t port = 0;
  };

  // Listens on 127.0.0.1:`port` (0: a free port); each connection goes to the first of
  // `targets` that accepts. Errors: no targets, a target is not an IPv4 address, the port
  // cannot be bound (in use, no permission).
  static result<std::unique_ptr<tcp_forwarder>> start(uint16_t port, std::vector<target> targets);
  // Stops accepting, closes every connection and joins the thread.
  ~tcp_forwarder();
  tcp_forwarder(const tcp_forwarder&) = delete;
  tcp_forwarder& operator=(const tcp_forwarder&) = delete;

  uint16_t port() const { return port_; }

 private:
  tcp_forwarder() = default;
  void run();

  int listen_fd_ = -1;
  int wake_read_ = -1;  // the destructor writes to wake_write_ to stop run()
  int wake_write_ = -1;
  uint16_t port_ = 0;
  std::vector<target> targets_;
  std::thread thread_;
};

}  // namespace meterflow::kafka::detail
