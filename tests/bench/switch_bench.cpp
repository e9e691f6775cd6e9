// netcpu-switch-bench: what netcpu.so costs vde_switch per forwarded frame.
// A benchmark, not a test: ctest does not run it; tools/bench-switch.sh builds it in
// Release and runs it.
//
// One real vde_switch and two libvdeplug endpoints: a sender thread pushes numbered
// frames (IPv4/UDP 10.0.0.1:40000 -> 10.0.0.2:9) from endpoint A to B's MAC address, a
// receiver thread counts them at B. Three configurations of the same switch process, and
// (d) with --floor, (e) with --compare:
//
//   (a) no plugin           plugin/del netcpu, and netcpu.so checked gone from its maps
//   (b) plugin, no program  plugin/add netcpu.so, no program on any attach point
//   (c) program             plugin/add netcpu.so, netcpu/load * in firewall10.ncpu
//   (d) null filter         netcpu-null-filter.so alone: a packet/in callback that returns
//                           at once, what the switch charges any filter plugin per frame
//   (e) other build         the program of (c) on another netcpu.so (--compare FILE, say
//                           a build of main), to measure a change to the plugin side by side
//
// One switch, reconfigured before each measurement (plugin/add, netcpu/load,
// netcpu/unload, plugin/del): every configuration runs in the same process, with the same
// endpoints, ports and learned MACs, so nothing but the plugin differs. (Separate
// switches would also differ in memory layout and in where the scheduler puts them.)
// Reconfiguring, relearning the receiver's MAC and a short warm-up come before the
// switch's CPU time is read, so none of it is counted.
//
// Rounds: each round measures every (frame size, configuration) pair once, the
// configurations in an order rotated by the round number, so a drift of the machine
// (clock frequency, other load) hits every configuration alike. Reported: medians over
// the rounds, and the cost of (b) and (c) relative to (a), also round by round (each
// against the (a) of its own round) with a 95% interval of that median, on which the
// goals are judged: one round swings by 10-30% on these shared machines, so a few
// percent of cost needs many rounds to be resolved.
//
// CPU per frame: the switch's utime+stime from /proc/PID/stat (clock ticks, usually
// 10 ms) before the first frame and after the last one arrived, divided by the frames
// received. The same delta from the switch's CPU clock (clock_getcpuclockid, ns) is shown
// beside it: it has no tick quantisation, so the round-by-round costs use it.
//
// CPUs: by default the switch runs on a CPU of its own and the sender and receiver on
// the others (sched_setaffinity; no privilege needed for one's own processes). Left to
// the scheduler, the switch shared a CPU with them at times, and its CPU time per frame
// with it: the spread of (b), which calls nothing of the plugin per frame, went from
// about +-2% to +-0.5% with pinning (60-120 rounds of 64-byte frames).
//
// The receiver: by default it polls its socket without sleeping (sched_yield between
// empty reads). A receiver that sleeps in poll() must be woken by the switch's send, a
// wake-up (an interprocessor interrupt, a VM exit here) that the switch pays in its own
// CPU time, for some frames and not others depending on who ran when. That share
// swings with the timing, and any change in the switch's speed, the plugin's included,
// moves it: in one 60-round run the plugin without a program came out at +1.9% and
// firewall10 at +5.2% with a sleeping receiver, against 29 ns of the program's own time
// (1%). --receiver sleep measures that way. The sender keeps at most --window frames in
// flight (sent and not yet received): the switch drops a frame it cannot hand to the
// receiver's socket at once, and a dropped frame costs switch CPU without being received.
// Seen here: 1514-byte frames were lost from about 90 in flight on, what the switch's
// socket send buffer (net.core.wmem_default, 212992 bytes) holds; hence the default
// window of 64. Losses are counted and reported anyway.
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "bench_stats.h"
#include "switch_harness.h"

namespace netcpu::test {
namespace {

using Clock = std::chrono::steady_clock;
using bench::median;
using bench::median_interval;

const Mac kMacA = packets::mac_addr("02:00:00:00:00:0a");  // the sender
const Mac kMacB = packets::mac_addr("02:00:00:00:00:0b");  // the receiver

// In a numbered frame: "NCSQ", the sequence number and its complement, right after the
// Ethernet, IPv4 and UDP headers.
constexpr size_t kMagicOffset = 14 + 20 + 8;
constexpr size_t kSeqOffset = kMagicOffset + 4;
constexpr size_t kMaxCommand = 120;  // console commands are read in 128-byte chunks

// kFloor only with --floor, kCompare only with --compare.
enum Config { kNoPlugin, kNoProgram, kProgram, kFloor, kCompare };

const char* config_key(int c) {
  static const char* const keys[] = {"no_plugin", "plugin_no_program", "program", "null_filter",
                                     "compare"};
  return keys[c];
}

bool runs_program(int c) { return c == kProgram || c == kCompare; }

struct Options {
  int rounds = 6;
  double seconds = 1.5;
  double warmup = 0.25;
  std::vector<size_t> sizes{64, 1514};
  size_t window = 64;
  double rate = 0;     // frames/s; 0: as fast as the window allows
  bool spin = true;    // the receiver polls without sleeping
  bool pin = true;     // the switch on a CPU of its own, sender and receiver on the others
  bool floor = false;  // also (d): a plugin whose packet/in filter returns at once
  std::string null_filter = NETCPU_NULL_FILTER;
  std::string plugin = NETCPU_PLUGIN;
  std::string compare;  // also (e): the program on this netcpu.so
  std::vector<int> configs() const {
    std::vector<int> c{kNoPlugin, kNoProgram, kProgram};
    if (floor) c.push_back(kFloor);
    if (!compare.empty()) c.push_back(kCompare);
    return c;
  }
  std::string program = NETCPU_BENCH_DIR "/firewall10.ncpu";
  std::string point = "* in";
  bool json = false;
  bool quiet = false;
};

// ---------------------------------------------------------------------------
// Traffic: one sender and one receiver thread.

struct Traffic {
  uint64_t sent = 0;
  uint64_t received = 0;   // numbered frames of this run
  uint64_t foreign = 0;    // anything else B received (late frames of an earlier run)
  uint64_t reordered = 0;  // frames older than one already received
  double seconds = 0;      // first frame sent to last frame received
};

void put_be32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

uint32_t get_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Sends frames from `from` for `seconds`, numbered from `seq` on, while a receiver thread
// counts them at `to`; waits until all have arrived (or none arrived for a while).
// Advances `seq` past the numbers used, so that stragglers are recognised later.
Traffic push(Endpoint& from, Endpoint& to, size_t frame_size, double seconds, size_t window,
             double rate, bool spin, uint32_t& seq) {
  const uint32_t base = seq;
  Bytes frame = numbered_frame(kMacB, kMacA, base, frame_size);
  if (frame.size() < kSeqOffset + 8 || sequence_of(frame) != base ||
      std::memcmp(&frame[kMagicOffset], "NCSQ", 4) != 0) {
    throw std::logic_error("numbered_frame no longer has its number at byte " +
                           std::to_string(kSeqOffset));
  }
  const int64_t low_water = static_cast<int64_t>(window / 2);

  std::atomic<uint64_t> sent{0}, received{0}, written_off{0};
  std::atomic<bool> sender_waiting{false}, stop_receiver{false};
  std::mutex mu;
  std::condition_variable cv;
  auto in_flight = [&] {
    return static_cast<int64_t>(sent.load()) - static_cast<int64_t>(received.load()) -
           static_cast<int64_t>(written_off.load());
  };
  Traffic result;
  Clock::time_point start = Clock::now(), last_arrival = start;
  std::exception_ptr sender_error, receiver_error;

  std::thread receiver([&] {
    try {
      const int fd = to.datafd();
      uint8_t buf[2048];
      uint32_t next = base;
      while (!stop_receiver.load(std::memory_order_relaxed)) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
          }
          if (spin) {
            sched_yield();  // runnable, so never on the socket's wait queue
          } else {
            pollfd p{fd, POLLIN, 0};
            poll(&p, 1, 10);
          }
          continue;
        }
        uint32_t s = n >= static_cast<ssize_t>(kSeqOffset + 8) ? get_be32(buf + kSeqOffset) : 0;
        if (n < static_cast<ssize_t>(kSeqOffset + 8) ||
            std::memcmp(buf + kMagicOffset, "NCSQ", 4) != 0 ||
            get_be32(buf + kSeqOffset + 4) != ~s || s - base >= 0x80000000u) {
          ++result.foreign;
          continue;
        }
        if (s - base < next - base) {
          ++result.reordered;
        } else {
          next = s + 1;
        }
        last_arrival = Clock::now();
        received.fetch_add(1);
        if (sender_waiting.load() && in_flight() <= low_water) {
          std::lock_guard lock(mu);
          cv.notify_one();
        }
      }
    } catch (...) {
      receiver_error = std::current_exception();
    }
  });

  std::thread sender([&] {
    try {
      const auto deadline = start + std::chrono::duration<double>(seconds);
      uint64_t n = 0;
      for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
        if (rate > 0 && n >= rate * std::chrono::duration<double>(now - start).count()) {
          std::this_thread::sleep_for(50us);  // ahead of the rate
          continue;
        }
        if (in_flight() >= static_cast<int64_t>(window)) {
          std::unique_lock lock(mu);
          sender_waiting.store(true);
          bool moved = cv.wait_for(lock, 100ms, [&] { return in_flight() <= low_water; });
          sender_waiting.store(false);
          // Nothing for 100 ms: what is in flight is lost. Count it as such and go on.
          if (!moved)
            written_off.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, in_flight())));
          continue;
        }
        // The number and its complement add up to 0xffff + 0xffff in ones' complement,
        // whatever the number, so rewriting both keeps the UDP checksum right.
        uint32_t s = base + static_cast<uint32_t>(n);
        put_be32(&frame[kSeqOffset], s);
        put_be32(&frame[kSeqOffset + 4], ~s);
        if (!from.send(frame)) throw std::runtime_error("the switch took no frame for 1 s");
        sent.store(++n);
      }
    } catch (...) {
      sender_error = std::current_exception();
    }
  });

  sender.join();
  // Wait for the frames in flight; give up when none has arrived for 300 ms.
  uint64_t seen = received.load();
  auto quiet_since = Clock::now();
  while (received.load() < sent.load() && !receiver_error && Clock::now() - quiet_since < 300ms) {
    std::this_thread::sleep_for(1ms);
    if (received.load() != seen) seen = received.load(), quiet_since = Clock::now();
  }
  stop_receiver.store(true);
  receiver.join();
  if (sender_error) std::rethrow_exception(sender_error);
  if (receiver_error) std::rethrow_exception(receiver_error);

  result.sent = sent.load();
  result.received = received.load();
  result.seconds = std::chrono::duration<double>(last_arrival - start).count();
  seq = base + static_cast<uint32_t>(result.sent) + 1;
  return result;
}

// ---------------------------------------------------------------------------
// One switch, reconfigured between measurements.

struct Measurement {
  int round = 0;
  size_t frame_size = 0;
  int config = 0;
  Traffic traffic;
  long ticks = 0;                // switch utime+stime, /proc/PID/stat
  double clock_seconds = NAN;    // switch CPU clock
  double bench_seconds = 0;      // this process's CPU time (sender, receiver)
  int64_t program_packets = -1;  // (c): frames the program ran on (warm-up included)
  int64_t program_dropped = -1;
  double program_ns = NAN;  // (c): the plugin's own sample of ns per run

  double fps() const { return traffic.seconds > 0 ? traffic.received / traffic.seconds : 0; }
  uint64_t lost() const { return traffic.sent - std::min(traffic.sent, traffic.received); }
  double us_stat() const {
    return traffic.received ? ticks * 1e6 / sysconf(_SC_CLK_TCK) / traffic.received : NAN;
  }
  double us_clock() const {
    return traffic.received ? clock_seconds * 1e6 / traffic.received : NAN;
  }
  double switch_busy() const { return traffic.seconds > 0 ? clock_seconds / traffic.seconds : NAN; }
  double bench_busy() const { return traffic.seconds > 0 ? bench_seconds / traffic.seconds : NAN; }
};

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

VdeSwitchOptions switch_options() {
  VdeSwitchOptions o;
#ifdef NETCPU_SWITCH_PRELOAD
  // A sanitizer build of the plugin needs its runtime loaded first.
  o.env = {"LD_PRELOAD=" NETCPU_SWITCH_PRELOAD, "ASAN_OPTIONS=detect_leaks=0"};
#endif
  return o;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class Bench {
 public:
  explicit Bench(const Options& o)
      : o_(o),
        sw_(switch_options()),
        con_(sw_.mgmt_path()),
        a_(sw_.data_path(), con_, "bench-sender"),
        b_(sw_.data_path(), con_, "bench-receiver") {
    if (clock_getcpuclockid(sw_.pid(), &clock_) != 0) have_clock_ = false;
    // Console commands are short: long paths go through copies in the switch's directory.
    plugin_ = short_path(o_.plugin, "netcpu.so");
    null_filter_ = short_path(o_.null_filter, "netcpu-null-filter.so");
    if (!o_.compare.empty()) compare_ = short_path(o_.compare, "netcpu-compare.so");
    program_ = sw_.dir() + "/" + std::filesystem::path(o_.program).filename().string();
    std::filesystem::copy_file(o_.program, program_);
    if (program_.size() + o_.point.size() + 16 > kMaxCommand) {
      throw std::runtime_error("temporary directory path too long: " + sw_.dir());
    }
  }

  pid_t pid() const { return sw_.pid(); }

  // `path`, or a copy of it in the switch's directory when it is too long for a command.
  std::string short_path(const std::string& path, const std::string& name) {
    if (path.size() + 16 <= kMaxCommand) return path;
    std::string copy = sw_.dir() + "/" + name;
    std::filesystem::copy_file(path, copy);
    return copy;
  }

  // The switch on the last CPU this process may use, this process (the
  // sender and receiver threads, created later, inherit it) on the others.
  // Returns what was done, or why not.
  std::string pin() {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
      return "not pinned: sched_getaffinity failed";
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) last = c;
    if (CPU_COUNT(&allowed) < 2) return "not pinned: a single CPU";
    cpu_set_t mine = allowed, its;
    CPU_CLR(last, &mine);
    CPU_ZERO(&its);
    CPU_SET(last, &its);
    if (sched_setaffinity(sw_.pid(), sizeof its, &its) != 0 ||
        sched_setaffinity(0, sizeof mine, &mine) != 0)
      return std::string("not pinned: ") + std::strerror(errno);
    return "the switch on CPU " + std::to_string(last) + ", sender and receiver on the other " +
           std::to_string(CPU_COUNT(&mine));
  }

  Measurement measure(int round, size_t frame_size, int config) {
    configure(config);
    // B announces its MAC (to A, which drops it), so the switch forwards A's frames to
    // B's port only; then a warm-up run, not counted.
    b_.send(numbered_frame(kMacA, kMacB, 0, frame_size));
    a_.drain(20);
    push(a_, b_, frame_size, o_.warmup, o_.window, o_.rate, o_.spin, seq_);

    Measurement m;
    m.round = round, m.frame_size = frame_size, m.config = config;
    long ticks0 = sw_.cpu_ticks();
    double clock0 = cpu_clock(), self0 = process_cpu_seconds();
    m.traffic = push(a_, b_, frame_size, o_.seconds, o_.window, o_.rate, o_.spin, seq_);
    m.ticks = sw_.cpu_ticks() - ticks0;
    m.clock_seconds = cpu_clock() - clock0;
    m.bench_seconds = process_cpu_seconds() - self0;
    if (runs_program(config)) read_counters(m);
    if (!sw_.alive())
      throw std::runtime_error("vde_switch " + sw_.exit_description() + "\n" + sw_.log());
    return m;
  }

  // The program's figures from netcpu/list: the row "POINT PROGRAM HASH INSNS PACKETS
  // PASSED DROPPED MODIFIED REDIRECTED ABORTED NS/PKT ...".
  void read_counters(Measurement& m) {
    for (const auto& line : con_.cmd_ok("netcpu/list").data) {
      if (!line.starts_with(o_.point + " ")) continue;
      std::istringstream in(line.substr(o_.point.size()));
      std::vector<std::string> w{std::istream_iterator<std::string>(in), {}};
      if (w.size() < 10) break;
      m.program_packets = std::stoll(w[3]);
      m.program_dropped = std::stoll(w[5]);
      // "-": too few runs timed for a figure yet.
      m.program_ns = w[9] == "-" ? NAN : std::stod(w[9]);
      return;
    }
    throw std::runtime_error("no program on '" + o_.point + "' in netcpu/list");
  }

 private:
  double cpu_clock() const {
    if (!have_clock_) return NAN;
    timespec ts{};
    if (clock_gettime(clock_, &ts) != 0) return NAN;
    return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
  }

  // Really gone: glibc keeps a library with GNU unique symbols mapped after
  // dlclose, and its packet callbacks would stay subscribed.
  void del_plugin(const std::string& name, const std::string& so) {
    con_.cmd_ok("plugin/del " + name);
    std::string maps = read_text("/proc/" + std::to_string(sw_.pid()) + "/maps");
    if (maps.find(std::filesystem::canonical(so).string()) != std::string::npos)
      throw std::runtime_error(so + " is still mapped in vde_switch after plugin/del");
  }

  void configure(int config) {
    if (config != kFloor && floor_loaded_) del_plugin("null-filter", null_filter_);
    floor_loaded_ = floor_loaded_ && config == kFloor;
    // The netcpu.so this configuration needs, if any; (c) and (e) need different ones.
    const std::string want = config == kCompare                           ? compare_
                             : config == kNoProgram || config == kProgram ? plugin_
                                                                          : "";
    if (loaded_ != want && !loaded_.empty()) {
      del_plugin("netcpu", loaded_);
      loaded_.clear();
    }
    if (want.empty()) {
      if (config == kFloor && !floor_loaded_) con_.cmd_ok("plugin/add " + null_filter_);
      floor_loaded_ = config == kFloor;
      return;
    }
    if (loaded_.empty()) con_.cmd_ok("plugin/add " + want);
    loaded_ = want;
    if (config == kNoProgram) {
      std::string list = con_.cmd_ok("netcpu/list").text();
      if (list.find('\n' + o_.point + ' ') != std::string::npos) {
        con_.cmd_ok("netcpu/unload " + o_.point);
      }
    } else {
      con_.cmd_ok("netcpu/load " + o_.point + " " + program_);  // fresh counters each time
    }
  }

  const Options& o_;
  VdeSwitch sw_;
  Console con_;
  Endpoint a_, b_;
  std::string plugin_, program_, null_filter_, compare_;
  std::string loaded_;  // the netcpu.so loaded now, if any
  bool floor_loaded_ = false;
  bool have_clock_ = true;
  clockid_t clock_{};
  uint32_t seq_ = 1;
};

// ---------------------------------------------------------------------------
// Statistics and output

struct Summary {
  size_t frame_size = 0;
  int config = 0;
  uint64_t sent = 0, received = 0, lost = 0, foreign = 0, reordered = 0;
  double fps = NAN, switch_busy = NAN, bench_busy = NAN, us_stat = NAN, us_clock = NAN;
  double cost_stat = NAN, cost_clock = NAN;  // percent over (a), from the medians
  // The stat cost round by round (each (b) or (c) over the (a) of its round): how far it
  // swings shows the noise of one round; its median is robust against drifts.
  double cost_round = NAN, cost_min = NAN, cost_max = NAN;
  // A 95% confidence interval of that median (distribution-free: order
  // statistics of the rounds), NaN with fewer than 6 rounds.
  double cost_low = NAN, cost_high = NAN;
  // (c) only, with --floor: the same round by round over (d) instead of (a);
  // with --compare, over (e).
  double over_floor = NAN, over_floor_low = NAN, over_floor_high = NAN;
  double over_compare = NAN, over_compare_low = NAN, over_compare_high = NAN;
  double program_ns = NAN;
};

// Config c's cost in percent over config base, round by round (each against
// the base of its own round): how far it swings is the noise of one round.
// From the CPU clock where there is one: /proc's 10 ms ticks would add 2% of
// rounding to a round of 0.5 s.
std::vector<double> round_costs(const std::vector<Measurement>& all, size_t size, int c, int base) {
  std::vector<double> costs;
  for (const auto& m : all) {
    if (m.frame_size != size || m.config != c) continue;
    for (const auto& b : all) {
      if (b.frame_size == size && b.config == base && b.round == m.round) {
        const bool clock = !std::isnan(m.us_clock()) && !std::isnan(b.us_clock());
        costs.push_back((clock ? m.us_clock() / b.us_clock() : m.us_stat() / b.us_stat()) * 100 -
                        100);
      }
    }
  }
  std::erase_if(costs, [](double x) { return std::isnan(x); });
  return costs;
}

std::vector<Summary> summarize(const std::vector<Measurement>& all, const Options& o) {
  std::vector<Summary> out;
  for (size_t size : o.sizes) {
    const Summary* a = nullptr;
    for (int c : o.configs()) {
      Summary s;
      s.frame_size = size, s.config = c;
      std::vector<double> fps, sbusy, bbusy, us, usc, ns;
      for (const auto& m : all) {
        if (m.frame_size != size || m.config != c) continue;
        s.sent += m.traffic.sent, s.received += m.traffic.received, s.lost += m.lost();
        s.foreign += m.traffic.foreign, s.reordered += m.traffic.reordered;
        fps.push_back(m.fps()), sbusy.push_back(m.switch_busy()), bbusy.push_back(m.bench_busy());
        us.push_back(m.us_stat()), usc.push_back(m.us_clock()), ns.push_back(m.program_ns);
      }
      s.fps = median(fps), s.switch_busy = median(sbusy), s.bench_busy = median(bbusy);
      s.us_stat = median(us), s.us_clock = median(usc), s.program_ns = median(ns);
      if (c != kNoPlugin && a) {
        s.cost_stat = (s.us_stat / a->us_stat - 1) * 100;
        s.cost_clock = (s.us_clock / a->us_clock - 1) * 100;
        std::vector<double> per_round = round_costs(all, size, c, kNoPlugin);
        if (!per_round.empty()) {
          s.cost_min = *std::min_element(per_round.begin(), per_round.end());
          s.cost_max = *std::max_element(per_round.begin(), per_round.end());
          s.cost_round = median(per_round);
          std::tie(s.cost_low, s.cost_high) = median_interval(per_round);
        }
        std::vector<double> over = round_costs(all, size, c, kFloor);
        if (c == kProgram && !over.empty()) {
          s.over_floor = median(over);
          std::tie(s.over_floor_low, s.over_floor_high) = median_interval(over);
        }
        over = round_costs(all, size, c, kCompare);
        if (c == kProgram && !over.empty()) {
          s.over_compare = median(over);
          std::tie(s.over_compare_low, s.over_compare_high) = median_interval(over);
        }
      }
      out.push_back(s);
      if (c == kNoPlugin) a = &out.back();
    }
  }
  return out;
}

std::string fmt(const char* format, double v) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string program_name(const Options& o) { return std::filesystem::path(o.program).stem(); }

std::string config_label(int c, const Options& o) {
  switch (c) {
    case kNoPlugin:
      return "(a) no plugin";
    case kNoProgram:
      return "(b) plugin, no program";
    case kFloor:
      return "(d) a filter doing nothing";
    case kCompare:
      return "(e) (c) on --compare .so";
    default:
      return "(c) " + program_name(o) + " on " + o.point;
  }
}

constexpr double kGoal[kFloor] = {0, 1, 3};  // percent: the goals for (b) and (c)

// The program's own time per frame (sampled by the plugin, clock reads
// included) as a share of the switch's CPU per frame without the plugin.
double vm_share(const std::vector<Summary>& sums, const Summary& program) {
  for (const auto& s : sums)
    if (s.frame_size == program.frame_size && s.config == kNoPlugin && s.us_stat > 0)
      return program.program_ns / (s.us_stat * 1000) * 100;
  return 0;
}

void print_text(const std::vector<Summary>& sums, const Options& o, pid_t pid) {
  const char* row = "%-26s %9s %6s %9s %8s %22s %9s %8s %9s %9s %6s\n";
  for (size_t size : o.sizes) {
    std::printf("\n%zu-byte frames: medians of %d rounds of %.2g s, the receiver %s\n", size,
                o.rounds, o.seconds, o.spin ? "spinning" : "sleeping when idle");
    std::printf(row, "", "", "switch", "us/frame", "cost", "cost round by round", "us/frame",
                "cost", "sent", "received", "lost");
    std::printf(row, "configuration", "frames/s", "CPU", "(stat)", "(stat)",
                "median [95% interval]", "(clock)", "(clock)", "(total)", "(total)", "");
    for (const auto& s : sums) {
      if (s.frame_size != size) continue;
      bool base = s.config == kNoPlugin;
      std::string rounds = base ? ""
                                : fmt("%+.2f%%", s.cost_round) + " [" + fmt("%+.1f", s.cost_low) +
                                      ", " + fmt("%+.1f", s.cost_high) + "]";
      std::printf(row, config_label(s.config, o).c_str(), fmt("%.0f", s.fps).c_str(),
                  fmt("%.0f%%", s.switch_busy * 100).c_str(), fmt("%.3f", s.us_stat).c_str(),
                  base ? "" : fmt("%+.2f%%", s.cost_stat).c_str(), rounds.c_str(),
                  fmt("%.3f", s.us_clock).c_str(), base ? "" : fmt("%+.2f%%", s.cost_clock).c_str(),
                  std::to_string(s.sent).c_str(), std::to_string(s.received).c_str(),
                  std::to_string(s.lost).c_str());
    }
    for (const auto& s : sums) {
      if (s.frame_size == size && runs_program(s.config)) {
        std::printf(
            "(%c) as the plugin times it: %s ns per frame in the VM (netcpu/list NS/PKT), %s of "
            "(a)'s CPU per frame\n",
            s.config == kProgram ? 'c' : 'e', fmt("%.1f", s.program_ns).c_str(),
            fmt("%.2f%%", vm_share(sums, s)).c_str());
      }
      if (s.frame_size == size && s.config == kProgram) {
        if (o.floor) {
          std::printf(
              "(c) over (d), round by round: %s [%s, %s], netcpu.so's share above what the "
              "switch charges any filter\n",
              fmt("%+.2f%%", s.over_floor).c_str(), fmt("%+.1f", s.over_floor_low).c_str(),
              fmt("%+.1f", s.over_floor_high).c_str());
        }
        if (!o.compare.empty()) {
          std::printf(
              "(c) over (e), round by round: %s [%s, %s], this build's cost over the "
              "--compare one\n",
              fmt("%+.2f%%", s.over_compare).c_str(), fmt("%+.1f", s.over_compare_low).c_str(),
              fmt("%+.1f", s.over_compare_high).c_str());
        }
      }
    }
  }
  std::printf("\n");
  // One line per goal: configuration c's figure for each frame size. The
  // /proc goals are judged on the round-by-round median and its 95%
  // interval: met when the whole interval lies under the goal, not met when
  // it lies over it, and otherwise not resolved by this run's noise.
  auto goal = [&](int c, const std::string& label, const char* format,
                  const std::function<double(const Summary&)>& figure, bool interval) {
    std::string figures;
    int met = 0, over = 0, sizes = 0;
    for (const auto& s : sums) {
      if (s.config != c) continue;
      ++sizes;
      figures += (figures.empty() ? "" : ", ") + std::to_string(s.frame_size) + " B " +
                 fmt(format, figure(s));
      double low = figure(s), high = figure(s);
      if (interval) {
        figures += " [" + fmt("%+.1f", s.cost_low) + ", " + fmt("%+.1f", s.cost_high) + "]";
        low = s.cost_low, high = s.cost_high;
      }
      met += high < kGoal[c];
      over += low >= kGoal[c];
    }
    const char* verdict = met == sizes ? "met" : over > 0 ? "NOT met" : "not resolved (noise)";
    std::printf("goal: %-36s %s -> %s\n", label.c_str(), figures.c_str(), verdict);
  };
  auto cost = [](const Summary& s) { return s.cost_round; };
  goal(kNoProgram, "plugin without a program under 1%:", "%+.2f%%", cost, true);
  goal(kProgram, program_name(o) + " under 3%:", "%+.2f%%", cost, true);
  goal(
      kProgram, program_name(o) + " by the plugin's clock:", "%.2f%%",
      [&](const Summary& s) { return vm_share(sums, s); }, false);
  std::printf(
      "goals: the round-by-round cost (each round's (b) or (c) over its (a), CPU clock),\n"
      "       median [95%% interval of the median]; without a program the switch calls nothing\n"
      "       of the plugin per frame, so (b)'s interval is this machine's noise\n");
  std::printf(
      "cost: switch CPU per frame over (a)'s (utime+stime of /proc/%d/stat, %ld ticks/s);\n"
      "      the clock columns: the same from the switch's CPU clock, without tick rounding\n",
      static_cast<int>(pid), sysconf(_SC_CLK_TCK));
}

std::string json_num(double v) {
  if (std::isnan(v) || std::isinf(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

void print_json(const std::vector<Measurement>& all, const std::vector<Summary>& sums,
                const Options& o) {
  std::ostringstream j;
  j << "{\"rounds\":" << o.rounds << ",\"seconds\":" << json_num(o.seconds)
    << ",\"window\":" << o.window << ",\"rate\":" << json_num(o.rate)
    << ",\"receiver\":" << json_str(o.spin ? "spin" : "sleep")
    << ",\"program\":" << json_str(o.program) << ",\"point\":" << json_str(o.point)
    << ",\"plugin\":" << json_str(o.plugin) << ",\"compare\":" << json_str(o.compare)
    << ",\"clock_ticks_per_second\":" << sysconf(_SC_CLK_TCK)
    << ",\"cpus\":" << std::thread::hardware_concurrency() << ",\"measurements\":[";
  for (size_t i = 0; i < all.size(); ++i) {
    const Measurement& m = all[i];
    j << (i ? "," : "") << "{\"round\":" << m.round << ",\"frame_size\":" << m.frame_size
      << ",\"config\":\"" << config_key(m.config) << "\",\"sent\":" << m.traffic.sent
      << ",\"received\":" << m.traffic.received << ",\"lost\":" << m.lost()
      << ",\"foreign\":" << m.traffic.foreign << ",\"reordered\":" << m.traffic.reordered
      << ",\"seconds\":" << json_num(m.traffic.seconds)
      << ",\"frames_per_second\":" << json_num(m.fps()) << ",\"switch_ticks\":" << m.ticks
      << ",\"switch_cpu_us_per_frame\":" << json_num(m.us_stat())
      << ",\"switch_clock_us_per_frame\":" << json_num(m.us_clock())
      << ",\"switch_busy\":" << json_num(m.switch_busy())
      << ",\"bench_busy\":" << json_num(m.bench_busy());
    if (runs_program(m.config)) {
      j << ",\"program_packets\":" << m.program_packets
        << ",\"program_dropped\":" << m.program_dropped
        << ",\"program_ns_per_frame\":" << json_num(m.program_ns);
    }
    j << "}";
  }
  j << "],\"summary\":[";
  for (size_t i = 0; i < sums.size(); ++i) {
    const Summary& s = sums[i];
    j << (i ? "," : "") << "{\"frame_size\":" << s.frame_size << ",\"config\":\""
      << config_key(s.config) << "\",\"sent\":" << s.sent << ",\"received\":" << s.received
      << ",\"lost\":" << s.lost << ",\"frames_per_second\":" << json_num(s.fps)
      << ",\"switch_busy\":" << json_num(s.switch_busy)
      << ",\"switch_cpu_us_per_frame\":" << json_num(s.us_stat)
      << ",\"switch_clock_us_per_frame\":" << json_num(s.us_clock);
    if (s.config != kNoPlugin) {
      j << ",\"cost_percent\":" << json_num(s.cost_stat)
        << ",\"cost_percent_clock\":" << json_num(s.cost_clock)
        << ",\"cost_percent_round_median\":" << json_num(s.cost_round)
        << ",\"cost_percent_round_min\":" << json_num(s.cost_min)
        << ",\"cost_percent_round_max\":" << json_num(s.cost_max)
        << ",\"cost_percent_round_low95\":" << json_num(s.cost_low)
        << ",\"cost_percent_round_high95\":" << json_num(s.cost_high);
    }
    if (s.config == kNoProgram || s.config == kProgram) {
      j << ",\"goal_percent\":" << json_num(kGoal[s.config])
        << ",\"goal_met\":" << (s.cost_high < kGoal[s.config] ? "true" : "false");
    }
    if (runs_program(s.config)) j << ",\"program_ns_per_frame\":" << json_num(s.program_ns);
    if (s.config == kProgram) {
      if (o.floor) {
        j << ",\"over_null_filter_percent_round_median\":" << json_num(s.over_floor)
          << ",\"over_null_filter_percent_round_low95\":" << json_num(s.over_floor_low)
          << ",\"over_null_filter_percent_round_high95\":" << json_num(s.over_floor_high);
      }
      if (!o.compare.empty()) {
        j << ",\"over_compare_percent_round_median\":" << json_num(s.over_compare)
          << ",\"over_compare_percent_round_low95\":" << json_num(s.over_compare_low)
          << ",\"over_compare_percent_round_high95\":" << json_num(s.over_compare_high);
      }
    }
    j << "}";
  }
  j << "]}\n";
  std::cout << j.str();
}

// ---------------------------------------------------------------------------

[[noreturn]] void usage(int status) {
  std::fprintf(
      status ? stderr : stdout,
      "Usage: netcpu-switch-bench [options]\n"
      "vde_switch CPU time per forwarded frame: (a) no plugin, (b) netcpu.so without "
      "a program,\n"
      "(c) netcpu.so with a program, measured in interleaved rounds on one switch.\n"
      "  --rounds N       rounds, each measuring every size and configuration once "
      "(default 6)\n"
      "  --seconds S      seconds of traffic per measurement (default 1.5)\n"
      "  --warmup S       seconds of uncounted traffic before each (default 0.25)\n"
      "  --sizes A,B,...  frame sizes in bytes, 60..1514 (default 64,1514)\n"
      "  --window N       frames in flight at most (default 64)\n"
      "  --rate N         send at most N frames/s (default 0: as the window allows)\n"
      "  --floor          also (d): a plugin whose packet/in filter returns at once, what\n"
      "                   the switch charges any filter (and (c)'s cost over it)\n"
      "  --no-pin         leave CPU placement to the scheduler (default: the switch on a\n"
      "                   CPU of its own, sender and receiver on the others)\n"
      "  --receiver spin|sleep  the receiver polls its socket without sleeping (default)\n"
      "                   or sleeps in poll() when it is empty\n"
      "  --program FILE   program for (c) (default tests/bench/firewall10.ncpu)\n"
      "  --point POINT    attach point for (c) (default \"* in\")\n"
      "  --plugin FILE    netcpu.so (default: the one built with this benchmark)\n"
      "  --compare FILE   also (e): the program on this other netcpu.so (say a build of\n"
      "                   main), and (c)'s cost over it round by round\n"
      "  --json           print the measurements and the summary as JSON\n"
      "  --quiet          no progress lines on stderr\n");
  std::exit(status);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    try {
      if (a == "--rounds") {
        o.rounds = std::stoi(value());
      } else if (a == "--seconds") {
        o.seconds = std::stod(value());
      } else if (a == "--warmup") {
        o.warmup = std::stod(value());
      } else if (a == "--sizes") {
        o.sizes.clear();
        std::istringstream in(value());
        for (std::string s; std::getline(in, s, ',');) o.sizes.push_back(std::stoul(s));
      } else if (a == "--window") {
        o.window = std::stoul(value());
      } else if (a == "--rate") {
        o.rate = std::stod(value());
      } else if (a == "--floor") {
        o.floor = true;
      } else if (a == "--no-pin") {
        o.pin = false;
      } else if (a == "--receiver") {
        const std::string v = value();
        if (v != "spin" && v != "sleep") usage(2);
        o.spin = v == "spin";
      } else if (a == "--program") {
        o.program = value();
      } else if (a == "--point") {
        o.point = value();
      } else if (a == "--plugin") {
        o.plugin = value();
      } else if (a == "--compare") {
        o.compare = value();
      } else if (a == "--json") {
        o.json = true;
      } else if (a == "--quiet") {
        o.quiet = true;
      } else if (a == "--help" || a == "-h") {
        usage(0);
      } else {
        std::fprintf(stderr, "netcpu-switch-bench: unknown option %s\n", a.c_str());
        usage(2);
      }
    } catch (const std::logic_error&) {  // stoi and friends
      std::fprintf(stderr, "netcpu-switch-bench: bad value for %s\n", a.c_str());
      usage(2);
    }
  }
  bool sizes_ok = !o.sizes.empty() && std::all_of(o.sizes.begin(), o.sizes.end(), [](size_t s) {
    return s >= packets::kMinFrame && s <= 1514;
  });
  if (o.rounds < 1 || !(o.seconds > 0) || !(o.warmup >= 0) || o.window < 1 || !(o.rate >= 0) ||
      !sizes_ok) {
    std::fprintf(stderr, "netcpu-switch-bench: values out of range\n");
    usage(2);
  }
  return o;
}

int run(const Options& o) {
  for (const auto& f : {o.plugin, o.program, o.compare}) {
    if (!f.empty() && !std::filesystem::exists(f)) throw std::runtime_error(f + ": no such file");
  }
  Bench bench(o);
  const std::string pinned = o.pin ? bench.pin() : "not pinned (--no-pin)";
  const std::vector<int> configs = o.configs();
  const size_t total = static_cast<size_t>(o.rounds) * o.sizes.size() * configs.size();
  const double estimate = total * (o.seconds + o.warmup + 0.1);
  std::fprintf(stderr,
               "netcpu-switch-bench: vde_switch pid %d, %d rounds x %zu sizes x %d "
               "configurations, %.2g s each, about %.0f s; %s\n",
               static_cast<int>(bench.pid()), o.rounds, o.sizes.size(),
               static_cast<int>(configs.size()), o.seconds, estimate, pinned.c_str());
#if !defined(NDEBUG) || defined(NETCPU_SWITCH_PRELOAD)
  std::fprintf(stderr,
               "netcpu-switch-bench: warning: a debug or sanitizer build; its figures mean "
               "little (tools/bench-switch.sh makes a Release build)\n");
#endif
  std::vector<Measurement> all;
  for (int r = 0; r < o.rounds; ++r) {
    for (size_t k = 0; k < o.sizes.size(); ++k) {
      size_t size = o.sizes[r % 2 ? o.sizes.size() - 1 - k : k];
      for (size_t i = 0; i < configs.size(); ++i) {
        int c = configs[(i + r) % configs.size()];
        Measurement m = bench.measure(r, size, c);
        if (!o.quiet) {
          std::fprintf(stderr,
                       "round %d/%d %5zu B %-28s %8llu sent %8llu received %5llu lost %8.0f "
                       "frames/s  switch %3.0f%% CPU %6.3f us/frame (clock %6.3f)  bench %3.0f%% "
                       "CPU\n",
                       r + 1, o.rounds, size, config_label(c, o).c_str(),
                       static_cast<unsigned long long>(m.traffic.sent),
                       static_cast<unsigned long long>(m.traffic.received),
                       static_cast<unsigned long long>(m.lost()), m.fps(), m.switch_busy() * 100,
                       m.us_stat(), m.us_clock(), m.bench_busy() * 100);
        }
        if (runs_program(c) && m.program_packets >= 0 &&
            static_cast<uint64_t>(m.program_packets) < m.traffic.sent) {
          throw std::runtime_error("the program ran on " + std::to_string(m.program_packets) +
                                   " frames, fewer than the " + std::to_string(m.traffic.sent) +
                                   " sent: is it attached where the frames enter?");
        }
        if (runs_program(c) && m.program_dropped > 0) {
          std::fprintf(stderr,
                       "netcpu-switch-bench: warning: the program dropped %lld frames; CPU per "
                       "frame counts received frames only\n",
                       static_cast<long long>(m.program_dropped));
        }
        all.push_back(m);
      }
    }
  }
  std::vector<Summary> sums = summarize(all, o);
  if (o.json) {
    print_json(all, sums, o);
  } else {
    print_text(sums, o, bench.pid());
  }
  return 0;
}

}  // namespace
}  // namespace netcpu::test

int main(int argc, char** argv) {
  netcpu::test::Options o = netcpu::test::parse(argc, argv);
  try {
    return netcpu::test::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netcpu-switch-bench: %s\n", e.what());
    return 1;
  }
}
