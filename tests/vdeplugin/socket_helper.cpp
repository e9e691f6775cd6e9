#include "socket_helper.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "vdens_host.h"

// Inside a namespace: no gtest here (it runs before main).
namespace netcpu::test {
namespace {

using Clock = VdensClock;

constexpr const char* kHelperEnv = "NETCPU_SOCKET_HELPER";
constexpr const char* kInterface = "vde0";  // vdens names its interfaces vde0, vde1, ...
constexpr unsigned char kIcmp6EchoRequest = 128;
constexpr unsigned char kIcmp6EchoReply = 129;

std::string printable(const char* data, size_t n) {
  std::string text(data, n);
  for (char& c : text)
    if (c < 0x20 || c > 0x7e) c = '?';
  return text;
}

// An IPv4 or IPv6 socket address.
struct Address {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family() const { return storage.ss_family; }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* sa() { return reinterpret_cast<sockaddr*>(&storage); }
};

// The address ip:port; nothing, with `why` set, when ip is not an IPv4 or
// IPv6 address.
std::optional<Address> address(const std::string& ip, int port, std::string& why) {
  Address a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof *v4;
    return a;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    a.len = sizeof *v6;
    return a;
  }
  why = "bad address `" + ip + "`";
  return std::nullopt;
}

// "10.0.0.2:5353", "[fd00::2]:5353".
std::string peer_text(const Address& a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (a.family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a.storage);
  inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(v4->sin_port));
}

class SocketHelper {
 public:
  // config: "IP MAC PEER_IP PEER_MAC [IP6]".
  int run(const std::string& config) {
    helper_unblock_sigchld();  // blocked for vdens's sake (vdens_host.h); ip is our child
    std::istringstream words(config);
    words >> ip_ >> mac_ >> peer_ip_ >> peer_mac_ >> ip6_;
    std::string why;
    if (!configure(why)) {
      helper_say("fail setup: " + why);
      return 1;
    }
    helper_say("ready");
    const auto deadline = Clock::now() + std::chrono::seconds(kSocketHelperLifetimeSeconds);
    std::string input;
    for (;;) {
      std::vector<pollfd> fds{{STDIN_FILENO, POLLIN, 0}};
      for (const auto& s : sockets_)
        fds.push_back({s.fd, static_cast<short>(s.kind == Kind::Connecting ? POLLOUT : POLLIN), 0});
      int r = poll(fds.data(), fds.size(), remaining_ms(deadline));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        helper_say(errno_text("fail poll"));
        return 1;
      }
      if (r == 0) {
        helper_say("fail helper: stdin not closed within " +
                   std::to_string(kSocketHelperLifetimeSeconds) + " s");
        return 1;
      }
      // Sockets first (a command may add some: indexes stay valid until then).
      const size_t known = sockets_.size();
      for (size_t i = 0; i < known; ++i)
        if (fds[i + 1].revents != 0) on_ready(i);
      if (fds[0].revents != 0) {
        char buf[512];
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;  // EOF: the test is done (or gone)
        input.append(buf, static_cast<size_t>(n));
        for (size_t nl; (nl = input.find('\n')) != std::string::npos;) {
          const std::string cmd = input.substr(0, nl);
          input.erase(0, nl + 1);
          command(cmd);
        }
      }
    }
  }

 private:
  enum class Kind { Listener, Server, Connecting, Client, Udp, Ping, Closed };
  struct Socket {
    int fd;
    Kind kind;
    std::string name;  // a port for listeners, servers and UDP; the test's name otherwise
    int family = AF_INET;
  };

  // See socket_helper.h. The permanent neighbour entry keeps ARP (which a
  // firewall passes anyway) out of the timing of tests that name a peer.
  bool configure(std::string& why) {
    const std::string dev = kInterface;
    std::string ignored;
    if (ip6_.empty())
      helper_write_sysctl("/proc/sys/net/ipv6/conf/" + dev + "/disable_ipv6", "1", ignored);
    // Only groups mapped into the namespace are accepted: ours.
    const std::string gid = std::to_string(getgid());
    return helper_write_sysctl("/proc/sys/net/ipv4/ping_group_range", gid + " " + gid, why) &&
           helper_run_ip("link set dev " + dev + " address " + mac_, why) &&
           helper_run_ip("link set dev lo up", why) &&
           helper_run_ip("link set dev " + dev + " up", why) &&
           helper_run_ip("addr add " + ip_ + "/24 dev " + dev, why) &&
           (peer_ip_ == "-" || helper_run_ip("neigh replace " + peer_ip_ + " lladdr " + peer_mac_ +
                                                 " dev " + dev + " nud permanent",
                                             why)) &&
           (ip6_.empty() || helper_run_ip("addr add " + ip6_ + "/64 dev " + dev + " nodad", why));
  }

  // Our address in the family of `ip`.
  const std::string& local_ip(const std::string& ip) const {
    return ip.find(':') == std::string::npos ? ip_ : ip6_;
  }

  void command(const std::string& line) {
    std::istringstream in(line);
    std::string verb;
    in >> verb;
    std::string why;
    bool ok = true;
    if (verb == "listen") {
      int port = 0;
      std::string family;
      in >> port >> family;
      ok = listen_on(family == "6" ? ip6_ : ip_, port, why);
      if (ok) helper_say("listening " + std::to_string(port));
    } else if (verb == "connect") {
      std::string name, ip;
      int port = 0;
      in >> name >> ip >> port;
      ok = connect_to(name, ip, port, why);
    } else if (verb == "send") {
      std::string name, text;
      in >> name >> std::ws;
      std::getline(in, text);
      ok = send_on(name, text, why);
      if (ok) helper_say("sent " + name);
    } else if (verb == "close" || verb == "reset") {
      std::string name;
      in >> name;
      ok = close_connection(name, verb == "reset", why);
      if (ok) helper_say(verb == "close" ? "closed " + name : "reset " + name);
    } else if (verb == "udp-connect") {
      int lport = 0, port = 0;
      std::string ip;
      in >> lport >> ip >> port;
      ok = udp_connect(lport, ip, port, why);
      if (ok) helper_say("udp-connected " + std::to_string(lport));
    } else if (verb == "udp-bind") {
      int lport = 0;
      std::string family;
      in >> lport >> family;
      ok = udp_socket(family == "6" ? ip6_ : ip_, lport, why) != nullptr;
      if (ok) helper_say("udp-bound " + std::to_string(lport));
    } else if (verb == "udp") {
      int lport = 0, port = 0;
      std::string ip, text;
      in >> lport >> ip >> port >> std::ws;
      std::getline(in, text);
      ok = udp_send(lport, ip, port, text, why);
      if (ok) helper_say("udp-sent " + std::to_string(lport));
    } else if (verb == "ping") {
      std::string name, ip;
      int seq = 0;
      in >> name >> ip >> seq;
      ok = ping(name, ip, seq, why);
      if (ok) helper_say("ping-sent " + name + " " + std::to_string(seq));
    } else if (verb == "route") {
      std::string prefix;
      in >> prefix;
      ok = helper_run_ip("route add " + prefix + " dev " + kInterface, why);
      if (ok) helper_say("routed " + prefix);
    } else if (verb == "pid") {
      helper_say("pid " + std::to_string(getpid()));
    } else if (verb == "snmp") {
      helper_say(helper_snmp_line());
    } else {
      ok = false;
      why = "unknown command";
    }
    if (!ok) helper_say("error " + line + ": " + why);
  }

  Socket* find(Kind kind, const std::string& name, int family) {
    for (auto& s : sockets_)
      if (s.kind == kind && s.name == name && s.family == family) return &s;
    return nullptr;
  }

  bool listen_on(const std::string& ip, int port, std::string& why) {
    auto a = address(ip, port, why);
    if (!a) return false;
    int fd = socket(a->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, a->sa(), a->len) != 0 || listen(fd, 8) != 0) {
      why = errno_text("listen on " + peer_text(*a));
      if (fd >= 0) close(fd);
      return false;
    }
    sockets_.push_back({fd, Kind::Listener, std::to_string(port), a->family()});
    return true;
  }

  bool connect_to(const std::string& name, const std::string& ip, int port, std::string& why) {
    auto a = address(ip, port, why);
    if (!a) return false;
    int fd = socket(a->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      why = errno_text("socket");
      return false;
    }
    if (connect(fd, a->sa(), a->len) != 0 && errno != EINPROGRESS) {
      why = errno_text("connect");
      close(fd);
      return false;
    }
    sockets_.push_back({fd, Kind::Connecting, name, a->family()});
    return true;
  }

  bool send_on(const std::string& name, const std::string& text, std::string& why) {
    Socket* s = nullptr;
    for (int family : {AF_INET, AF_INET6})
      if (s == nullptr) s = find(Kind::Client, name, family);
    if (s == nullptr) {
      why = "no connection " + name;
      return false;
    }
    if (::send(s->fd, text.data(), text.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(text.size())) {
      why = errno_text("send");
      return false;
    }
    return true;
  }

  // close(): a FIN; with reset, SO_LINGER 0 first: a RST.
  bool close_connection(const std::string& name, bool reset, std::string& why) {
    Socket* s = nullptr;
    for (int family : {AF_INET, AF_INET6})
      if (s == nullptr) s = find(Kind::Client, name, family);
    if (s == nullptr) {
      why = "no connection " + name;
      return false;
    }
    if (reset) {
      const linger abortive{1, 0};
      if (setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive) != 0) {
        why = errno_text("SO_LINGER");
        return false;
      }
    }
    retire(*s);
    return true;
  }

  // Connects the UDP socket on lport (bound on first use) to ip:port, so
  // that an ICMP error about what it sends is reported to it.
  bool udp_connect(int lport, const std::string& ip, int port, std::string& why) {
    auto to = address(ip, port, why);
    if (!to) return false;
    Socket* s = udp_socket(local_ip(ip), lport, why);
    if (s == nullptr) return false;
    if (connect(s->fd, to->sa(), to->len) != 0) {
      why = errno_text("connect");
      return false;
    }
    return true;
  }

  // The UDP socket bound to ip:lport, made on first use.
  Socket* udp_socket(const std::string& ip, int lport, std::string& why) {
    auto local = address(ip, lport, why);
    if (!local) return nullptr;
    if (Socket* s = find(Kind::Udp, std::to_string(lport), local->family())) return s;
    int fd = socket(local->family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, local->sa(), local->len) != 0) {
      why = errno_text("udp socket on " + peer_text(*local));
      if (fd >= 0) close(fd);
      return nullptr;
    }
    sockets_.push_back({fd, Kind::Udp, std::to_string(lport), local->family()});
    return &sockets_.back();
  }

  bool udp_send(int lport, const std::string& ip, int port, const std::string& text,
                std::string& why) {
    auto to = address(ip, port, why);
    if (!to) return false;
    Socket* s = udp_socket(local_ip(ip), lport, why);
    if (s == nullptr) return false;
    if (sendto(s->fd, text.data(), text.size(), 0, to->sa(), to->len) !=
        static_cast<ssize_t>(text.size())) {
      why = errno_text("sendto");
      return false;
    }
    return true;
  }

  // An ICMP (or ICMPv6) datagram socket: the kernel sets the identifier (the
  // socket's "port") and delivers the replies that carry it.
  bool ping(const std::string& name, const std::string& ip, int seq, std::string& why) {
    auto to = address(ip, 0, why);
    if (!to) return false;
    const bool v6 = to->family() == AF_INET6;
    Socket* s = find(Kind::Ping, name, to->family());
    if (s == nullptr) {
      int fd = socket(to->family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP});
      if (fd < 0) {
        why = errno_text(v6 ? "socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)"
                            : "socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)");
        return false;
      }
      sockets_.push_back({fd, Kind::Ping, name, to->family()});
      s = &sockets_.back();
    }
    // type, code, checksum and identifier (the kernel's), sequence, payload
    const unsigned char type = v6 ? kIcmp6EchoRequest : ICMP_ECHO;
    const unsigned char echo[16] = {type,
                                    0,
                                    0,
                                    0,
                                    0,
                                    0,
                                    static_cast<unsigned char>(seq >> 8),
                                    static_cast<unsigned char>(seq),
                                    'n',
                                    'e',
                                    't',
                                    'c',
                                    'p',
                                    'u'};
    if (sendto(s->fd, echo, sizeof echo, 0, to->sa(), to->len) !=
        static_cast<ssize_t>(sizeof echo)) {
      why = errno_text("sendto (echo request)");
      return false;
    }
    return true;
  }

  // Closed, but kept in place (sockets_ indexes match the poll set): poll
  // skips a negative fd.
  static void retire(Socket& s) {
    close(s.fd);
    s.fd = -1;
    s.kind = Kind::Closed;
  }

  void on_ready(size_t index) {
    Socket& s = sockets_[index];
    char buf[2048];
    switch (s.kind) {
      case Kind::Listener: {
        Address from;
        from.len = sizeof from.storage;
        int fd = accept4(s.fd, from.sa(), &from.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        const Socket server{fd, Kind::Server, s.name, s.family};  // s may move: push_back
        sockets_.push_back(server);
        helper_say("accept " + server.name + " " + peer_text(from));
        return;
      }
      case Kind::Connecting: {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          helper_say("connect-failed " + s.name + " " + std::strerror(err));
          retire(s);
          return;
        }
        s.kind = Kind::Client;
        helper_say("connected " + s.name);
        return;
      }
      case Kind::Server:
      case Kind::Client: {
        ssize_t n = recv(s.fd, buf, sizeof buf, 0);
        if (n <= 0) {
          // Closed (or reset): poll would report it forever.
          helper_say((s.kind == Kind::Server ? "server-closed " : "peer-closed ") + s.name);
          retire(s);
          return;
        }
        const std::string text = printable(buf, static_cast<size_t>(n));
        if (s.kind == Kind::Client) {
          helper_say("recv " + s.name + " " + text);
        } else {
          helper_say("server " + s.name + " " + text);
          const std::string echo = "echo " + text;
          ::send(s.fd, echo.data(), echo.size(), MSG_NOSIGNAL);
        }
        return;
      }
      case Kind::Udp: {
        Address from;
        from.len = sizeof from.storage;
        ssize_t n = recvfrom(s.fd, buf, sizeof buf, 0, from.sa(), &from.len);
        if (n >= 0)
          helper_say("udp-got " + s.name + " " + peer_text(from) + " " +
                     printable(buf, static_cast<size_t>(n)));
        else if (errno != EAGAIN && errno != EINTR)
          helper_say("udp-error " + s.name + " " + std::strerror(errno));  // an ICMP error
        return;
      }
      case Kind::Closed:
        return;
      case Kind::Ping: {
        ssize_t n = recv(s.fd, buf, sizeof buf, 0);
        const unsigned char reply = s.family == AF_INET6 ? kIcmp6EchoReply : ICMP_ECHOREPLY;
        if (n >= 8 && static_cast<unsigned char>(buf[0]) == reply)
          helper_say("pong " + s.name + " " +
                     std::to_string(static_cast<unsigned char>(buf[6]) << 8 |
                                    static_cast<unsigned char>(buf[7])));
        return;
      }
    }
  }

  std::string ip_, mac_, peer_ip_, peer_mac_, ip6_;
  std::vector<Socket> sockets_;
};

// Runs before main() in the re-executed test binary, and never returns there.
[[maybe_unused]] const bool kHelper = [] {
  const char* config = std::getenv(kHelperEnv);
  if (config == nullptr) return false;
  std::fflush(nullptr);
  _exit(SocketHelper().run(config));
}();

}  // namespace
}  // namespace netcpu::test
