// Packets rewritten by examples/nat.ncpu, handed to a real TCP/IP stack: the
// Linux kernel's. Our own tests (and tcpdump) check the checksums that
// `rewrite` updates incrementally; here the kernel decides, the way a host
// behind the NAT would. A frame with a wrong IPv4 or UDP/TCP checksum is
// dropped silently by the kernel, so "the socket got the datagram" and "the
// listener answered the SYN" are proof that every checksum is right.
//
// The kernel side runs in a forked child inside a private user + network
// namespace (no root needed, nothing on the host changes): a tap device
// stands for the inside link, 10.0.0.5 lives on it, and the test writes the
// NAT's output frames into the tap as if they came off the wire.
//
// A negative control shows the check can fail: a NAT'ed UDP datagram whose
// checksum is then corrupted must not reach its socket, and the namespace's
// Udp InCsumErrors counter must count it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "packet_builder.h"

namespace netcpu::packets {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The scenario: outside host 203.0.113.10 talks to 198.51.100.5, which the
// NAT maps to the inside host 10.0.0.5 (the kernel under test).
constexpr const char* kOutsideIp = "203.0.113.10";
constexpr const char* kOutsideMac = "02:00:cb:00:71:0a";
constexpr const char* kPublicIp = "198.51.100.5";
constexpr const char* kInsideIp = "10.0.0.5";
constexpr const char* kInsideMac = "02:00:0a:00:00:05";

constexpr uint16_t kUdpPort = 5000;
constexpr uint16_t kTcpPort = 8080;
constexpr uint16_t kControlPort = 5001;  // negative control: corrupted checksum
constexpr uint16_t kClientUdpPort = 40000;
constexpr uint16_t kClientTcpPort = 40001;
constexpr uint32_t kClientIsn = 0x4e435055;  // "NCPU"
constexpr const char* kPayload = "netcpu nat.ncpu -> linux udp/5000";

// Offsets in an untagged Ethernet frame carrying IPv4 without options.
constexpr size_t kEtherType = 12;
constexpr size_t kIp = 14;
constexpr size_t kIpProto = kIp + 9;
constexpr size_t kIpSrc = kIp + 12;
constexpr size_t kIpDst = kIp + 16;
constexpr size_t kL4 = kIp + 20;
constexpr size_t kUdpChecksum = kL4 + 6;

// The frames, in pcap order.
enum FrameIndex : size_t { kUdpFrame, kSynFrame, kControlFrame, kFrameCount };

// Time limits: nothing here may hang.
constexpr milliseconds kDeliveryTimeout{3000};  // for things that must happen
constexpr milliseconds kSilenceTimeout{1000};   // for things that must not
constexpr milliseconds kChildTimeout{20000};

uint16_t rd16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}
uint32_t rd32(const Bytes& b, size_t off) {
  return uint32_t{rd16(b, off)} << 16 | rd16(b, off + 2);
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

std::vector<Bytes> input_frames() {
  const Mac outside_mac = mac_addr(kOutsideMac), inside_mac = mac_addr(kInsideMac);
  const Ipv4 ip{.src = ip4_addr(kOutsideIp), .dst = ip4_addr(kPublicIp)};
  std::vector<Bytes> frames(kFrameCount);
  frames[kUdpFrame] =
      PacketBuilder()
          .eth(inside_mac, outside_mac)
          .ipv4(ip)
          .udp({.sport = kClientUdpPort, .dport = kUdpPort, .payload = bytes(kPayload)})
          .build();
  frames[kSynFrame] = PacketBuilder()
                          .eth(inside_mac, outside_mac)
                          .ipv4(ip)
                          .tcp({.sport = kClientTcpPort,
                                .dport = kTcpPort,
                                .seq = kClientIsn,
                                .flags = tcp_flags::kSyn})
                          .build();
  frames[kControlFrame] =
      PacketBuilder()
          .eth(inside_mac, outside_mac)
          .ipv4(ip)
          .udp({.sport = kClientUdpPort, .dport = kControlPort, .payload = bytes("control")})
          .build();
  return frames;
}

// ---------------------------------------------------------------------------
// pcap files and the netcpu command line (parent side).

void write_pcap(const fs::path& file, const std::vector<Bytes>& frames) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
  ASSERT_NE(dead, nullptr);
  pcap_dumper_t* dumper = pcap_dump_open(dead, file.c_str());
  ASSERT_NE(dumper, nullptr) << pcap_geterr(dead);
  for (const Bytes& f : frames) {
    pcap_pkthdr h{};
    h.caplen = h.len = static_cast<bpf_u_int32>(f.size());
    pcap_dump(reinterpret_cast<u_char*>(dumper), &h, f.data());
  }
  pcap_dump_close(dumper);
  pcap_close(dead);
}

std::vector<Bytes> read_pcap(const fs::path& file) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(file.c_str(), err);
  EXPECT_NE(p, nullptr) << err;
  std::vector<Bytes> frames;
  if (p == nullptr) return frames;
  pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) frames.emplace_back(d, d + h->caplen);
  pcap_close(p);
  return frames;
}

std::string slurp(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A scratch directory removed when the test ends.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("netcpu-linux-stack-" + std::to_string(getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// ---------------------------------------------------------------------------
// Child side: everything below until run_in_namespace() runs in the forked
// child, which must never touch gtest; it reports through a pipe instead.

// One line per finding: "skip <why>", "pass <check>", "fail <check>: <why>".
class Reporter {
 public:
  explicit Reporter(int fd) : fd_(fd) {}
  void skip(const std::string& why) { send("skip " + why); }
  void pass(const std::string& check) { send("pass " + check); }
  void fail(const std::string& check, const std::string& why) {
    failed_ = true;
    send("fail " + check + ": " + why);
  }
  bool failed() const { return failed_; }

 private:
  void send(std::string line) {
    line += '\n';
    for (size_t done = 0; done < line.size();) {
      ssize_t n = write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }
  int fd_;
  bool failed_ = false;
};

constexpr int kExitPass = 0;
constexpr int kExitFail = 1;
constexpr int kExitSkip = 77;

bool write_file(const char* path, const std::string& text, std::string& why) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    why = errno_text(std::string("open ") + path);
    return false;
  }
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (!ok) why = errno_text(std::string("write ") + path);
  close(fd);
  return ok;
}

// A private network namespace. Unprivileged, that needs a user namespace too,
// in which we map ourselves to root so that we hold CAP_NET_ADMIN over the
// new network namespace (tap devices, addresses, routes). When user
// namespaces are refused but we are root anyway (CI in a container), a plain
// network namespace does the same job.
bool enter_namespaces(std::string& why) {
  const uid_t uid = getuid();
  const gid_t gid = getgid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
    // setgroups must be denied before an unprivileged process may write gid_map.
    return write_file("/proc/self/setgroups", "deny", why) &&
           write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1", why) &&
           write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1", why);
  }
  why = errno_text("unshare(CLONE_NEWUSER | CLONE_NEWNET)");
  if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0) return true;
  return false;
}

// A tap device: frames written to the fd arrive on the interface as if
// received from the wire; frames the kernel sends out can be read back.
// IFF_NO_PI: bare Ethernet frames, no packet-information prefix.
int open_tap(std::string& name, std::string& why) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    why = errno_text("open /dev/net/tun");
    return -1;
  }
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, "nat0", IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    why = errno_text("ioctl(TUNSETIFF, IFF_TAP | IFF_NO_PI)");
    close(fd);
    return -1;
  }
  name = ifr.ifr_name;
  return fd;
}

// iproute2's ip, looked up where distributions put it: /usr/sbin is not on
// every unprivileged user's PATH.
std::string ip_tool() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (access(p, X_OK) == 0) return p;
  return "ip";
}

bool ip(const std::string& args, std::string& why) {
  const std::string cmd = ip_tool() + " " + args;
  FILE* out = popen((cmd + " 2>&1").c_str(), "r");
  if (out == nullptr) {
    why = errno_text("popen " + cmd);
    return false;
  }
  std::string text;
  char buf[256];
  while (size_t n = fread(buf, 1, sizeof buf, out)) text.append(buf, n);
  int status = pclose(out);
  if (status == 0) return true;
  why = "`" + cmd + "` failed (status " + std::to_string(status) + "): " + text;
  return false;
}

// The inside host: the tap carries the inside MAC (so the kernel takes the
// frames as addressed to it) and 10.0.0.5/24. The outside host is reachable
// through the tap with a permanent neighbour entry, so replies go out at
// once without ARP, and reverse-path filtering finds a route back.
bool configure(const std::string& tap, std::string& why) {
  return ip("link set dev " + tap + " address " + kInsideMac, why) &&
         ip("link set dev lo up", why) && ip("link set dev " + tap + " up", why) &&
         ip("addr add " + std::string(kInsideIp) + "/24 dev " + tap, why) &&
         ip("route add 203.0.113.0/24 dev " + tap, why) &&
         ip("neigh replace " + std::string(kOutsideIp) + " lladdr " + kOutsideMac + " dev " + tap +
                " nud permanent",
            why);
}

sockaddr_in inside_addr(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(ip4_addr(kInsideIp));
  return a;
}

int bound_socket(int type, uint16_t port, std::string& why) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in a = inside_addr(port);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 ||
      (type == SOCK_STREAM && listen(fd, 4) < 0)) {
    why =
        errno_text("socket/bind/listen on " + std::string(kInsideIp) + ":" + std::to_string(port));
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

bool inject(int tap, const Bytes& frame, std::string& why) {
  ssize_t n = write(tap, frame.data(), frame.size());
  if (n == static_cast<ssize_t>(frame.size())) return true;
  why = n < 0 ? errno_text("write to tap") : "short write to tap";
  return false;
}

struct Datagram {
  Bytes payload;
  sockaddr_in from{};
};

// The next datagram on a UDP socket, or nothing within the timeout. The
// socket is blocking, so poll() itself discards datagrams whose checksum
// fails (udp_poll checks the first queued one); recv with MSG_DONTWAIT
// covers the rest (udp_recvmsg verifies and drops too).
std::optional<Datagram> wait_for_udp(int sock, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pollfd p{.fd = sock, .events = POLLIN, .revents = 0};
    int r = poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    Datagram d;
    d.payload.resize(2048);
    socklen_t len = sizeof d.from;
    ssize_t n = recvfrom(sock, d.payload.data(), d.payload.size(), MSG_DONTWAIT,
                         reinterpret_cast<sockaddr*>(&d.from), &len);
    if (n >= 0) {
      d.payload.resize(static_cast<size_t>(n));
      return d;
    }
    if (remaining_ms(deadline) == 0) return std::nullopt;
  }
}

// Frames the kernel sent out of the tap, until one is the SYN-ACK answering
// our SYN: IPv4 TCP from 10.0.0.5:8080 to the client, SYN|ACK, acknowledging
// the client's ISN. IPv6 router solicitations, MLD reports and the like are
// noise and skipped. Returns an empty string on success, else what was seen.
std::string wait_for_synack(int tap, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string seen;
  Bytes f(2048);
  for (;;) {
    pollfd p{.fd = tap, .events = POLLIN, .revents = 0};
    int r = poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return "no SYN-ACK within " + std::to_string(timeout.count()) + " ms" + seen;
    ssize_t n = read(tap, f.data(), f.size());
    if (n < 0) continue;  // EAGAIN: nothing after all
    Bytes frame(f.begin(), f.begin() + n);
    if (frame.size() < kL4 || rd16(frame, kEtherType) != 0x0800 || frame[kIpProto] != IPPROTO_TCP)
      continue;
    const size_t tcp = kIp + (frame[kIp] & 0x0f) * 4u;
    if (frame.size() < tcp + 20) continue;
    const uint8_t flags = frame[tcp + 13];
    const bool ok = rd32(frame, kIpSrc) == ip4_addr(kInsideIp) &&
                    rd32(frame, kIpDst) == ip4_addr(kOutsideIp) && rd16(frame, tcp) == kTcpPort &&
                    rd16(frame, tcp + 2) == kClientTcpPort &&
                    (flags & (tcp_flags::kSyn | tcp_flags::kAck | tcp_flags::kRst)) ==
                        (tcp_flags::kSyn | tcp_flags::kAck) &&
                    rd32(frame, tcp + 8) == kClientIsn + 1;
    if (ok) return "";
    char text[160];
    std::snprintf(text, sizeof text, "; saw TCP %08x:%u -> %08x:%u flags 0x%02x ack %08x",
                  rd32(frame, kIpSrc), rd16(frame, tcp), rd32(frame, kIpDst), rd16(frame, tcp + 2),
                  flags, rd32(frame, tcp + 8));
    seen += text;
  }
}

// A counter of this network namespace's /proc/net/snmp (which follows the
// reader's namespace): the "Udp:" header line names the fields, the next
// "Udp:" line holds the values.
std::optional<long> snmp_counter(const std::string& proto, const std::string& field) {
  std::ifstream f("/proc/net/snmp");
  std::string header, values;
  while (std::getline(f, header)) {
    if (header.rfind(proto + ":", 0) != 0 || !std::getline(f, values)) continue;
    std::istringstream names(header), nums(values);
    std::string name, num;
    while (names >> name && nums >> num)
      if (name == field) return std::stol(num);
  }
  return std::nullopt;
}

// Where the kernel counts what it dropped, for failure messages: a bad IPv4
// header checksum shows in Ip InHdrErrors, bad transport checksums in the
// InCsumErrors of Udp and Tcp.
std::string drop_counters() {
  std::string text = " (kernel counters:";
  const std::pair<std::string, std::string> counters[] = {
      {"Ip", "InHdrErrors"}, {"Udp", "InCsumErrors"}, {"Tcp", "InCsumErrors"}};
  for (const auto& [proto, field] : counters) {
    auto v = snmp_counter(proto, field);
    text += " " + proto + " " + field + " " + (v ? std::to_string(*v) : "?");
  }
  return text + ")";
}

// The NAT'ed control frame with one bit of its UDP checksum flipped: a
// checksum that is wrong by exactly what a broken incremental update would
// leave. Never 0x0000, which in IPv4 UDP means "no checksum" and would be
// accepted.
Bytes corrupt_udp_checksum(Bytes frame) {
  frame[kUdpChecksum + 1] ^= 0x01;
  if (rd16(frame, kUdpChecksum) == 0) frame[kUdpChecksum + 1] ^= 0x03;
  return frame;
}

void check_udp(Reporter& r, int tap, int sock, const Bytes& frame) {
  std::string why;
  if (!inject(tap, frame, why)) return r.fail("udp", why);
  auto d = wait_for_udp(sock, kDeliveryTimeout);
  if (!d)
    return r.fail("udp", "nothing received on 10.0.0.5:5000, the kernel dropped the datagram" +
                             drop_counters());
  if (d->payload != bytes(kPayload))
    return r.fail("udp",
                  "payload differs: \"" + std::string(d->payload.begin(), d->payload.end()) + "\"");
  if (ntohl(d->from.sin_addr.s_addr) != ip4_addr(kOutsideIp) ||
      ntohs(d->from.sin_port) != kClientUdpPort)
    return r.fail("udp", "came from the wrong source address or port");
  r.pass("udp");
}

void check_syn(Reporter& r, int tap, const Bytes& frame) {
  std::string why;
  if (!inject(tap, frame, why)) return r.fail("tcp", why);
  std::string problem = wait_for_synack(tap, kDeliveryTimeout);
  if (!problem.empty()) return r.fail("tcp", problem + drop_counters());
  r.pass("tcp");
}

void check_control(Reporter& r, int tap, int sock, const Bytes& frame) {
  std::string why;
  auto before = snmp_counter("Udp", "InCsumErrors");
  if (!before) return r.fail("control", "no Udp InCsumErrors in /proc/net/snmp");
  if (!inject(tap, corrupt_udp_checksum(frame), why)) return r.fail("control", why);
  if (wait_for_udp(sock, kSilenceTimeout))
    return r.fail("control", "a datagram with a corrupted UDP checksum reached its socket");
  auto after = snmp_counter("Udp", "InCsumErrors");
  if (!after || *after != *before + 1)
    return r.fail("control", "Udp InCsumErrors went from " + std::to_string(*before) + " to " +
                                 (after ? std::to_string(*after) : "?") + ", expected +1" +
                                 drop_counters());
  r.pass("control");
}

[[noreturn]] void child_main(int report_fd, const std::vector<Bytes>& frames) {
  Reporter r(report_fd);
  std::string why, tap_name;
  if (!enter_namespaces(why)) {
    r.skip("user namespaces unavailable: " + why);
    _exit(kExitSkip);
  }
  const int tap = open_tap(tap_name, why);
  if (tap < 0) {
    r.skip("TUN/TAP unavailable in the namespace: " + why);
    _exit(kExitSkip);
  }
  if (!configure(tap_name, why)) {
    r.fail("setup", why);
    _exit(kExitFail);
  }
  const int udp = bound_socket(SOCK_DGRAM, kUdpPort, why);
  const int control = udp < 0 ? -1 : bound_socket(SOCK_DGRAM, kControlPort, why);
  const int listener = control < 0 ? -1 : bound_socket(SOCK_STREAM, kTcpPort, why);
  if (listener < 0) {
    r.fail("setup", why);
    _exit(kExitFail);
  }
  check_udp(r, tap, udp, frames[kUdpFrame]);
  check_syn(r, tap, frames[kSynFrame]);
  check_control(r, tap, control, frames[kControlFrame]);
  _exit(r.failed() ? kExitFail : kExitPass);
}

// ---------------------------------------------------------------------------
// Parent side.

struct ChildOutcome {
  std::string report;  // the child's lines
  int status = 0;      // waitpid status
  bool timed_out = false;
};

// Runs child_main in a fork and collects its report, killing it if it
// outlives kChildTimeout. (The child must be a fresh process anyway:
// unshare(CLONE_NEWUSER) refuses multithreaded callers.)
ChildOutcome run_in_namespace(const std::vector<Bytes>& frames) {
  ChildOutcome out;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) {
    ADD_FAILURE() << errno_text("pipe2");
    return out;
  }
  std::fflush(nullptr);  // or buffered output would be written twice
  const pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << errno_text("fork");
    close(fds[0]);
    close(fds[1]);
    return out;
  }
  if (pid == 0) {
    close(fds[0]);
    try {
      child_main(fds[1], frames);
    } catch (...) {
      _exit(kExitFail);
    }
  }
  close(fds[1]);
  const auto deadline = Clock::now() + kChildTimeout;
  char buf[512];
  for (;;) {  // until EOF: the child exited (or closed the pipe)
    pollfd p{.fd = fds[0], .events = POLLIN, .revents = 0};
    int r = poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.report.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  while (waitpid(pid, &out.status, WNOHANG) == 0) {
    if (remaining_ms(deadline) == 0) {
      out.timed_out = true;
      kill(pid, SIGKILL);
      waitpid(pid, &out.status, 0);
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  return out;
}

TEST(LinuxStack, KernelAcceptsNatRewrittenFrames) {
  // 1. The NAT, run by the real command line on a pcap of outside traffic.
  TempDir tmp;
  const fs::path in = tmp.path / "in.pcap", out = tmp.path / "out.pcap", err = tmp.path / "stderr";
  ASSERT_NO_FATAL_FAILURE(write_pcap(in, input_frames()));
  const std::string program = std::string(NETCPU_SOURCE_DIR) + "/examples/nat.ncpu";
  const std::string cmd = std::string(NETCPU_CLI) + " run '" + program + "' --pcap '" +
                          in.string() + "' --out '" + out.string() + "' >/dev/null 2>'" +
                          err.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << slurp(err);
  const std::vector<Bytes> frames = read_pcap(out);
  ASSERT_EQ(frames.size(), size_t{kFrameCount}) << "the NAT should pass every frame";
  for (const Bytes& f : frames) {
    ASSERT_GE(f.size(), kL4);
    ASSERT_EQ(rd32(f, kIpDst), ip4_addr(kInsideIp))
        << "the NAT did not map 198.51.100.5 to 10.0.0.5";
  }

  // 2. The rewritten frames, given to the kernel.
  ChildOutcome child = run_in_namespace(frames);
  if (child.report.rfind("skip ", 0) == 0)
    GTEST_SKIP() << child.report.substr(5, child.report.find('\n') - 5);
  ASSERT_FALSE(child.timed_out) << "the namespace child hung and was killed after "
                                << kChildTimeout.count() << " ms; it had reported:\n"
                                << child.report;

  std::istringstream lines(child.report);
  std::vector<std::string> passed;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("pass ", 0) == 0)
      passed.push_back(line.substr(5));
    else
      ADD_FAILURE() << "in the network namespace: " << line;
  }
  EXPECT_EQ(passed, (std::vector<std::string>{"udp", "tcp", "control"}))
      << "checks that passed, of udp (datagram delivered to 10.0.0.5:5000), tcp (SYN answered "
         "by a SYN-ACK) and control (corrupted UDP checksum dropped and counted)";
  EXPECT_TRUE(WIFEXITED(child.status) && WEXITSTATUS(child.status) == kExitPass)
      << "child status " << child.status
      << (WIFSIGNALED(child.status)
              ? " (killed by signal " + std::to_string(WTERMSIG(child.status)) + ")"
              : "");
}

}  // namespace
}  // namespace netcpu::packets
