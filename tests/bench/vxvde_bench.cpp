// netcpu-vxvde-bench: what a netcpu:// cable costs on vxvde://, against a
// plain vxvde cable. A benchmark, not a test: ctest does not run it;
// tools/bench-vxvde.sh builds it in Release and runs it in a fresh user +
// network namespace whose loopback carries multicast (vxvde needs a route
// for its group; none leaves the namespace).
//
// One process, two libvdeplug connections on one vxvde network: a sender
// thread sends numbered frames (IPv4/TCP 10.0.0.1:40000 -> 10.0.0.2:80) on a
// plain vxvde:// cable; the main thread receives them on
//
//   (a) vxvde://GROUP/port=P                                     plain
//   (b) netcpu://[in="examples/tcp_firewall.ncpu"]{vxvde://GROUP/port=P}
//       the program on every frame received (it looks port 80 up and passes it)
//
// The receiver never sends, so the sender never learns its MAC: every frame
// goes to the group, in both configurations alike. The sender keeps at most
// --window frames in flight (sent and not yet received), so the receiver's
// socket never overflows; a frame that does not arrive within 200 ms counts
// as lost.
//
// Rounds: each round measures (a) and (b) once, in an order alternating with
// the round, so a drift of the machine hits both alike; each measurement
// opens the receiving cable anew (loading the program, outside the timing),
// warms up with uncounted frames, then times --frames frames. Reported: the
// medians over the rounds of frames/s, ns/frame (wall time from the first
// send to the last arrival, per frame) and CPU ns/frame (the process's
// CLOCK_PROCESS_CPUTIME_ID: both threads, with the kernel's work on their
// behalf, loopback delivery included), and the ratio (b)/(a) round by round
// (each (b) against the (a) of its round) with a 95% interval of its median;
// beside them the program's own time per frame as the cable's console
// (mgmt=) times it (netcpu/list's NS/PKT).
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_stats.h"
#include "packet_builder.h"
#include "switch_harness.h"

extern "C" {
#include <libvdeplug.h>
}

namespace netcpu::test {
namespace {

using Clock = std::chrono::steady_clock;
using bench::median;
using bench::median_interval;

constexpr size_t kTagOffset = 14 + 20 + 20;  // the payload: generation, then sequence number
constexpr size_t kMinSize = kTagOffset + 8;
constexpr uint16_t kSport = 40000, kDport = 80;
constexpr std::chrono::milliseconds kLostAfter{200};
constexpr std::chrono::milliseconds kFirstFrameTimeout{2000};
constexpr uint32_t kWarmupFrames = 2000;
constexpr int kNsPerFrameColumn = 9;  // netcpu/list's NS/PKT, after the point

struct Options {
  int rounds = 10;
  uint32_t frames = 50000;
  size_t window = 64;
  size_t size = 64;
  std::string program = NETCPU_SOURCE_DIR "/examples/tcp_firewall.ncpu";
  std::string group;  // default: from the process id
  int port = 0;
  bool json = false;
};

struct Measurement {
  double fps = NAN, ns = NAN, cpu_ns = NAN, program_ns = NAN;
  uint64_t lost = 0;
};

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

void put_be32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}
uint32_t get_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

class Cable {
 public:
  explicit Cable(const std::string& url) {
    std::string u = url, descr = "netcpu-vxvde-bench";  // vde_open may modify them
    conn_ = vde_open(u.data(), descr.data(), nullptr);
    if (conn_ == nullptr) {
      const char* path = std::getenv("VDEPLUGIN_PATH");
      throw std::runtime_error("vde_open " + url + ": " + std::strerror(errno) +
                               " (VDEPLUGIN_PATH=" + (path ? path : "") + ")");
    }
  }
  ~Cable() { vde_close(conn_); }
  Cable(const Cable&) = delete;
  Cable& operator=(const Cable&) = delete;
  VDECONN* conn() { return conn_; }

 private:
  VDECONN* conn_ = nullptr;
};

class Bench {
 public:
  explicit Bench(const Options& o)
      : o_(o),
        vxvde_(vxvde_url(o)),
        sender_(vxvde_),
        frame_(make_frame(o.size)),
        dir_(make_dir()) {}
  ~Bench() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  const std::string& vxvde() const { return vxvde_; }
  std::string netcpu_url() const {
    return "netcpu://[in=\"" + o_.program + "\"/mgmt=\"" + console_path() + "\"]{" + vxvde_ + "}";
  }

  // One measurement on a receiving cable opened on `url`.
  Measurement measure(const std::string& url) {
    Cable receiver(url);
    const bool netcpu = url.starts_with("netcpu://");
    if (stream(receiver, kWarmupFrames).received == 0)
      throw std::runtime_error("no frame arrived on " + url + " within " +
                               std::to_string(kFirstFrameTimeout.count()) +
                               " ms: vxvde needs a route for its multicast group (tools/"
                               "bench-vxvde.sh runs this in a namespace that has one)");
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    Stream s = stream(receiver, o_.frames);
    const double cpu = cpu_seconds() - cpu0;
    const double wall = std::chrono::duration<double>(s.last - t0).count();
    Measurement m;
    m.lost = o_.frames - s.received;
    if (s.received > 0) {
      m.fps = static_cast<double>(s.received) / wall;
      m.ns = wall * 1e9 / static_cast<double>(s.received);
      m.cpu_ns = cpu * 1e9 / static_cast<double>(s.received);
    }
    if (netcpu) {
      Console console(console_path());
      m.program_ns = list_number(console, "in", kNsPerFrameColumn);
    }
    return m;
  }

 private:
  struct Stream {
    uint32_t received = 0;
    Clock::time_point last;
  };

  std::string console_path() const { return dir_ + "/cable.mgmt"; }

  static std::string make_dir() {
    std::string dir = "/tmp/netcpu-vxvde-bench-XXXXXX";
    if (mkdtemp(dir.data()) == nullptr)
      throw std::runtime_error("mkdtemp " + dir + ": " + std::strerror(errno));
    return dir;
  }

  static std::string vxvde_url(const Options& o) {
    const unsigned pid = static_cast<unsigned>(getpid());
    std::string group = o.group.empty() ? "239." + std::to_string((pid >> 16) & 0xff) + "." +
                                              std::to_string((pid >> 8) & 0xff) + "." +
                                              std::to_string(pid & 0xff)
                                        : o.group;
    return "vxvde://" + group + "/port=" + std::to_string(o.port ? o.port : 20000 + pid % 40000);
  }

  static Bytes make_frame(size_t size) {
    Bytes payload(size - kTagOffset, 0);
    return packets::PacketBuilder()
        .eth(packets::mac_addr("02:00:00:00:00:0b"), packets::mac_addr("02:00:00:00:00:0a"))
        .ipv4({.src = packets::ip4_addr("10.0.0.1"), .dst = packets::ip4_addr("10.0.0.2")})
        .tcp({.sport = kSport, .dport = kDport, .payload = payload})
        .build();
  }

  // Sends n frames of a new generation from the sender thread and receives
  // them here, at most window in flight; returns when all have arrived or
  // none came for kLostAfter (kFirstFrameTimeout before the first).
  Stream stream(Cable& receiver, uint32_t n) {
    const uint32_t gen = ++generation_;
    std::atomic<uint32_t> received{0};
    std::atomic<bool> stop{false};
    std::thread sender([&] {
      Bytes f = frame_;
      int64_t forgiven = 0;  // frames in flight given up as lost
      auto stalled_since = Clock::now();
      for (uint32_t seq = 0; seq < n && !stop;) {
        const int64_t in_flight = int64_t{seq} - received.load(std::memory_order_acquire);
        if (in_flight - forgiven >= static_cast<int64_t>(o_.window)) {
          if (Clock::now() - stalled_since > kLostAfter) forgiven = in_flight;
          std::this_thread::yield();
          continue;
        }
        put_be32(&f[kTagOffset], gen);
        put_be32(&f[kTagOffset + 4], seq);
        if (vde_send(sender_.conn(), f.data(), f.size(), 0) < 0) {
          std::this_thread::yield();
          continue;
        }
        ++seq;
        stalled_since = Clock::now();
      }
    });
    Stream s;
    const int fd = vde_datafd(receiver.conn());
    uint8_t buf[2048];
    while (s.received < n) {
      pollfd p{fd, POLLIN, 0};
      const auto wait = s.received == 0 ? kFirstFrameTimeout : kLostAfter;
      if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) break;
      ssize_t len = vde_recv(receiver.conn(), buf, sizeof buf, 0);
      if (len < static_cast<ssize_t>(kMinSize) || get_be32(&buf[kTagOffset]) != gen) continue;
      ++s.received;
      received.store(s.received, std::memory_order_release);
      s.last = Clock::now();
    }
    stop = true;
    sender.join();
    return s;
  }

  const Options& o_;
  std::string vxvde_;
  Cable sender_;
  Bytes frame_;
  std::string dir_;  // the cable's console
  uint32_t generation_ = 0;
};

[[noreturn]] void usage(int status) {
  std::fprintf(status ? stderr : stdout,
               "Usage: netcpu-vxvde-bench [options]   (tools/bench-vxvde.sh runs it)\n"
               "What a netcpu:// cable costs on vxvde://: frames received on (a) a plain\n"
               "vxvde:// cable and (b) netcpu://[in=PROGRAM]{vxvde://...}, in interleaved "
               "rounds.\n"
               "  --rounds N      rounds, each measuring (a) and (b) once (default 10)\n"
               "  --frames N      frames per measurement (default 50000)\n"
               "  --size BYTES    frame size, %zu..1514 (default 64)\n"
               "  --window N      frames in flight at most (default 64)\n"
               "  --program FILE  the cable's in= program (default examples/tcp_firewall.ncpu)\n"
               "  --group A.B.C.D --port P   the vxvde network (default: from the process id)\n"
               "  --json          print the figures as one JSON object\n",
               kMinSize);
  std::exit(status);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    try {
      if (a == "--rounds") {
        o.rounds = std::stoi(value());
      } else if (a == "--frames") {
        o.frames = static_cast<uint32_t>(std::stoul(value()));
      } else if (a == "--size") {
        o.size = std::stoul(value());
      } else if (a == "--window") {
        o.window = std::stoul(value());
      } else if (a == "--program") {
        o.program = std::filesystem::absolute(value()).string();
      } else if (a == "--group") {
        o.group = value();
      } else if (a == "--port") {
        o.port = std::stoi(value());
      } else if (a == "--json") {
        o.json = true;
      } else if (a == "--help" || a == "-h") {
        usage(0);
      } else {
        std::fprintf(stderr, "netcpu-vxvde-bench: unknown option %s\n", a.c_str());
        usage(2);
      }
    } catch (const std::logic_error&) {  // stoi and friends
      std::fprintf(stderr, "netcpu-vxvde-bench: bad value for %s\n", a.c_str());
      usage(2);
    }
  }
  if (o.rounds < 1 || o.frames < 1 || o.window < 1 || o.size < kMinSize || o.size > 1514 ||
      o.port < 0 || o.port > 65535) {
    std::fprintf(stderr, "netcpu-vxvde-bench: values out of range\n");
    usage(2);
  }
  return o;
}

struct Figures {
  double fps, ns, cpu_ns, program_ns;
  uint64_t lost;
};

Figures summarize(const std::vector<Measurement>& ms) {
  std::vector<double> fps, ns, cpu, program;
  Figures f{NAN, NAN, NAN, NAN, 0};
  for (const auto& m : ms) {
    fps.push_back(m.fps), ns.push_back(m.ns), cpu.push_back(m.cpu_ns);
    program.push_back(m.program_ns);
    f.lost += m.lost;
  }
  f.fps = median(fps), f.ns = median(ns), f.cpu_ns = median(cpu), f.program_ns = median(program);
  return f;
}

// (b)/(a) of each round, for one figure.
std::vector<double> ratios(const std::vector<Measurement>& a, const std::vector<Measurement>& b,
                           double Measurement::*figure) {
  std::vector<double> r;
  for (size_t i = 0; i < a.size(); ++i) r.push_back(b[i].*figure / a[i].*figure);
  return r;
}

int run(const Options& o) {
  if (!std::filesystem::exists(o.program)) throw std::runtime_error(o.program + ": no such file");
#ifdef NETCPU_VDEPLUG_MODULE_DIR
  setenv("VDEPLUGIN_PATH", netcpu_module_search_path().c_str(), 1);
#endif
  Bench bench(o);
  std::vector<Measurement> plain, cable;
  for (int r = 0; r < o.rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      const bool netcpu = (k + r) % 2 == 1;
      (netcpu ? cable : plain)
          .push_back(bench.measure(netcpu ? bench.netcpu_url() : bench.vxvde()));
    }
    if (!o.json)
      std::fprintf(stderr, "round %d/%d: %.0f ns/frame plain, %.0f with the program\n", r + 1,
                   o.rounds, plain.back().ns, cable.back().ns);
  }
  const Figures a = summarize(plain), b = summarize(cable);
  const auto wall = ratios(plain, cable, &Measurement::ns);
  const auto cpu = ratios(plain, cable, &Measurement::cpu_ns);
  const auto [wall_lo, wall_hi] = median_interval(wall);
  const auto [cpu_lo, cpu_hi] = median_interval(cpu);
  const std::string program = std::filesystem::path(o.program).stem();
  if (o.json) {
    // nlohmann's dump writes a NaN (too few rounds for an interval) as null.
    auto cable_json = [](const Figures& f) {
      return nlohmann::json{
          {"fps", f.fps}, {"ns_per_frame", f.ns}, {"cpu_ns_per_frame", f.cpu_ns}, {"lost", f.lost}};
    };
    const nlohmann::json j = {{"vxvde", bench.vxvde()},
                              {"program", program},
                              {"rounds", o.rounds},
                              {"frames", o.frames},
                              {"size", o.size},
                              {"plain", cable_json(a)},
                              {"netcpu", cable_json(b)},
                              {"program_ns_per_frame", b.program_ns},
                              {"ratio_ns", median(wall)},
                              {"ratio_ns_interval", {wall_lo, wall_hi}},
                              {"ratio_cpu_ns", median(cpu)},
                              {"ratio_cpu_ns_interval", {cpu_lo, cpu_hi}}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("%d rounds of %u %zu-byte frames on %s (medians of the rounds)\n", o.rounds, o.frames,
              o.size, bench.vxvde().c_str());
  std::printf("%-44s %10s %9s %13s %6s\n", "receiving cable", "frames/s", "ns/frame",
              "CPU ns/frame", "lost");
  const std::string cable_name = "netcpu://[in=" + program + "]{vxvde://...}";
  for (const auto& [name, f] : {std::pair{std::string("vxvde://..."), a}, {cable_name, b}})
    std::printf("%-44s %10.0f %9.0f %13.0f %6llu\n", name.c_str(), f.fps, f.ns, f.cpu_ns,
                static_cast<unsigned long long>(f.lost));
  std::printf(
      "netcpu:// over vxvde://, round by round: ns/frame x%.3f [%.3f, %.3f], CPU ns/frame x%.3f "
      "[%.3f, %.3f]\n"
      "  (median of the rounds' ratios [95%% interval of that median])\n"
      "the program's own time, as the cable's console times it: %.0f ns/frame, %.2f%% of a "
      "plain frame's CPU\n",
      median(wall), wall_lo, wall_hi, median(cpu), cpu_lo, cpu_hi, b.program_ns,
      100 * b.program_ns / a.cpu_ns);
  return 0;
}

}  // namespace
}  // namespace netcpu::test

int main(int argc, char** argv) {
  try {
    return netcpu::test::run(netcpu::test::parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netcpu-vxvde-bench: %s\n", e.what());
    return 1;
  }
}
