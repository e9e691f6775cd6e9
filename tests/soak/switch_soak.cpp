// The switch soak: a real vde_switch with netcpu.so, four libvdeplug
// endpoints sending numbered frames to each other as fast as flow control
// lets them, programs hot-swapped every few milliseconds on three attach
// points, plugin/del and plugin/add cycles, garbage and random valid commands
// on the console, for as long as asked. Frames are accounted for one by one.
//
// Frames. Endpoint e sends frames numbered s = 0, 1, 2, ... (numbered_frame:
// the number at UDP payload offset 4, frame offset 46), frame s to the
// endpoint (e + 1 + s % 3) % 4, so each endpoint feeds three flows, and each
// flow is in order through the switch (one thread, FIFO sockets). The class
// of a frame is (s / 3) % 16: consecutive frames of a flow alternate between
// even classes, which no program ever drops, and odd ones, which programs
// drop by rule: those on `* in` drop classes among 1 3 5 7, those on
// `P in` (P the port of endpoint 1) class 9, those on `* out` 11 13 15.
// Every program is written for a fixed set of classes; some count what they
// drop in a table, all are counted by the plugin's DROPPED column.
//
// Accounting. A receiver sees the frames of a flow in order, so a gap names
// the frames missing, and it knows when each was sent (t0) and when the
// next frame of the flow arrived (t1): the switch handled the missing frame
// between the two. Every load, unload and plugin/del is logged with the time
// its command was sent and the time its reply came: the program it installs
// may have run from the first and the one it replaces until the second. A
// missing frame of an even class, or of an odd class that no program
// possibly in place on its point between t0 and t1 drops, is LOST: a failure
// ("no frame lost that both the old and the new program pass"). Otherwise it
// is attributed to the program that dropped it (or, rarely, to several
// candidates: then those are not held to an exact count). At each
// checkpoint (about once a second) the senders stop at a frame of an even
// class on every flow, so every frame sent is resolved when those arrive;
// the programs then in place must have counted exactly the frames attributed
// to them, in their own table and in netcpu/list's DROPPED.
//
// Flow control. vde_switch hands a frame to an endpoint with a non-blocking
// send and drops it when the endpoint's socket is full, silently but for
// its port counters (port/print's OUT counts the frames it tried to send).
// So the soak first measures how many 1514-byte frames the switch queues to
// an endpoint that does not read, and keeps W frames in flight per flow
// (3W per endpoint) well under that; at each checkpoint, the OUT counters
// must equal what the endpoints read: no frame lost at the socket level,
// which would otherwise show up as LOST.
//
// The process. Its RSS and open descriptors are read at each checkpoint;
// the first checkpoint after a warm-up is the baseline (see kRssBoundKib),
// and the descriptors must match the baseline exactly, allowing for the
// timer pipe the plugin holds while a program has timers.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "soak_common.h"

namespace netcpu::soak {
namespace {

using packets::Mac;
using test::Console;
using test::Endpoint;
using test::Reply;
using test::VdeSwitch;

constexpr int kEnds = 4;
constexpr int kFlows = kEnds - 1;
constexpr size_t kRing = 1024;         // send times kept per flow: more than any window
constexpr size_t kPayload = 42;        // Ethernet 14 + IPv4 20 + UDP 8
constexpr size_t kProbeFrames = 2000;  // the capacity probe
constexpr size_t kSizes[] = {60, 60, 60, 60, 128, 300, 700, 1514};

size_t frame_size(uint64_t s) { return kSizes[(s / 48) % std::size(kSizes)]; }
int frame_class(uint64_t s) { return static_cast<int>((s / 3) % 32); }
Mac mac_of(int e) { return Mac{0x02, 0, 0, 0, 0, static_cast<uint8_t>(e + 1)}; }

enum Point { kStarIn, kPortIn, kStarOut, kPoints };
constexpr uint32_t bits(std::initializer_list<int> classes) {
  uint32_t m = 0;
  for (int c : classes) m |= 1u << c;
  return m;
}
constexpr uint32_t kPointClasses[kPoints] = {bits({1, 3, 5, 7, 9, 11, 13, 15, 29, 31}),
                                             bits({17, 19}), bits({21, 23, 25, 27})};

int point_of_class(int c) {
  for (int p = 0; p < kPoints; ++p)
    if (kPointClasses[p] & (1u << c)) return p;
  return -1;
}

// ---------------------------------------------------------------------------
// The programs

struct Kind {
  std::string name;
  Point point;
  uint32_t mask;          // classes it drops
  bool filter = false;    // a tcpdump expression (netcpu/filter)
  bool table = false;     // counts its drops in table `drops`
  bool timer = false;     // has a .timer
  std::string text{};     // source or expression
  std::string file{};     // where the source was written
  std::string runs_as{};  // from netcpu/show
  size_t loads = 0;
};

std::string class_rule(uint32_t mask, const std::string& target) {
  std::string s =
      "    mov gpr0, pkt.u32[46]       # the frame's number\n"
      "    div gpr0, 3\n"
      "    mod gpr0, 32                # its class\n";
  for (int c = 0; c < 32; ++c)
    if (mask & (1u << c)) s += "    beq gpr0, " + std::to_string(c) + ", " + target + "\n";
  return s;
}

std::string tables(bool timer) {
  return ".data:\n"
         "table drops hash key 1 value 8 max 16\n"
         "table scratch hash key 2 value 8 max 64\n" +
         std::string(timer ? "num ticks 0\n" : "");
}

std::string timer_section() {
  return ".timer tick 1000ms:\n"
         "    add ticks, 1\n"
         "    tadd scratch, 1, 1\n"
         "    end\n";
}

// Native code: the rule alone (compare and branch on a packet load).
std::string native_source(const std::string& name, uint32_t mask) {
  return ".name \"" + name + "\"\n.text:\n" + class_rule(mask, "no") +
         "    pass\n"
         "no:\n"
         "    drop\n";
}

// Interpreted: tables (and a timer).
std::string table_source(const std::string& name, uint32_t mask, bool timer, bool count = true) {
  return ".name \"" + name + "\"\n" + tables(timer) + ".text:\n" + class_rule(mask, "no") +
         "    pass\n"
         "no:\n" +
         (count ? "    tadd drops, gpr0, 1\n" : "") + "    drop\n" + (timer ? timer_section() : "");
}

// Interpreted: switch/case and a log line per drop (rate limited by the host).
std::string switch_source(const std::string& name, int c) {
  return ".name \"" + name + "\"\n" + tables(false) +
         ".text:\n"
         "    mov gpr0, pkt.u32[46]\n"
         "    div gpr0, 3\n"
         "    mod gpr0, 32\n"
         "    switch gpr0\n"
         "    case " +
         std::to_string(c) +
         ":\n"
         "        tadd drops, gpr0, 1\n"
         "        log \"soak: dropped frame %d\", pkt.u32[46]\n"
         "        drop\n"
         "    endswitch\n"
         "    pass\n";
}

// Interpreted: a loop (a backward jump) before the rule.
std::string loop_source(const std::string& name, uint32_t mask) {
  return ".name \"" + name + "\"\n" + tables(false) +
         ".text:\n"
         "    mov gpr2, 0\n"
         "spin:\n"
         "    add gpr2, 1\n"
         "    bltu gpr2, 3, spin\n" +
         class_rule(mask, "no") +
         "    pass\n"
         "no:\n"
         "    tadd drops, gpr0, 1\n"
         "    drop\n";
}

// Interpreted: rewrites the IPv4 TTL (and its checksum), drops nothing.
std::string rewrite_source(const std::string& name) {
  return ".name \"" + name +
         "\"\n.text:\n"
         "    rewrite ip.ttl, 33\n"
         "    pass\n";
}

std::string filter_expression(uint32_t mask) {
  std::string e;
  for (int c = 0; c < 32; ++c)
    if (mask & (1u << c))
      e += (e.empty() ? "" : " or ") + std::string("(udp[12:4] / 3) % 32 = ") + std::to_string(c);
  return "not (" + e + ")";
}

std::vector<Kind> make_kinds(const std::string& sabotage) {
  std::vector<Kind> k;
  auto add = [&](std::string name, Point p, uint32_t mask) -> Kind& {
    k.push_back({.name = std::move(name), .point = p, .mask = mask});
    return k.back();
  };
  // Each program drops classes of its own, so a missing frame names its program.
  add("in_native_1", kStarIn, bits({1})).text = native_source("in_native_1", bits({1}));
  add("in_native_3_5", kStarIn, bits({3, 5})).text = native_source("in_native_3_5", bits({3, 5}));
  add("in_pass", kStarIn, 0).text = native_source("in_pass", 0);
  {
    Kind& t = add("in_table_7_9", kStarIn, bits({7, 9}));
    t.table = true;
    t.text = table_source(t.name, t.mask, false);
  }
  {
    Kind& t = add("in_timer_11", kStarIn, bits({11}));
    t.table = t.timer = true;
    t.text = table_source(t.name, t.mask, true);
  }
  {
    Kind& t = add("in_switch_log_13", kStarIn, bits({13}));
    t.table = true;
    t.text = switch_source(t.name, 13);
  }
  {
    Kind& t = add("in_filter_15", kStarIn, bits({15}));
    t.filter = true;
    t.text = filter_expression(t.mask);
  }
  add("port_native_17", kPortIn, bits({17})).text = native_source("port_native_17", bits({17}));
  add("port_pass", kPortIn, 0).text = native_source("port_pass", 0);
  {
    Kind& t = add("port_loop_19", kPortIn, bits({19}));
    t.table = true;
    t.text = loop_source(t.name, t.mask);
  }
  add("out_native_21", kStarOut, bits({21})).text = native_source("out_native_21", bits({21}));
  {
    Kind& t = add("out_timer_23_25", kStarOut, bits({23, 25}));
    t.table = t.timer = true;
    t.text = table_source(t.name, t.mask, true);
  }
  add("out_rewrite", kStarOut, 0).text = rewrite_source("out_rewrite");
  {
    Kind& t = add("out_filter_27", kStarOut, bits({27}));
    t.filter = true;
    t.text = filter_expression(t.mask);
  }
  if (sabotage == "uncounted") {
    // Drops class 29 by its rule but never counts it in its table.
    Kind& t = add("in_uncounted_29", kStarIn, bits({29}));
    t.table = true;
    t.text = table_source(t.name, t.mask, false, /*count=*/false);
  } else if (sabotage == "stray") {
    // Says it drops class 31, and also drops the frames of class 0 (one
    // on each flow) of one block of 96 frames in 16.
    Kind& t = add("in_stray_31", kStarIn, bits({31}));
    t.text =
        ".name \"in_stray_31\"\n.text:\n"
        "    mov gpr1, pkt.u32[46]\n"
        "    div gpr1, 96\n"
        "    mod gpr1, 16\n"
        "    bne gpr1, 5, rule\n"
        "    mov gpr1, pkt.u32[46]\n"
        "    mod gpr1, 96\n"
        "    bltu gpr1, 3, no\n"
        "rule:\n" +
        class_rule(t.mask, "no") +
        "    pass\n"
        "no:\n"
        "    drop\n";
  }
  return k;
}

// ---------------------------------------------------------------------------
// Traffic

struct Flow {
  std::atomic<int64_t> last_sent{-1};  // index in the flow (s / 3) of the last frame sent
  std::atomic<int64_t> last_recv{-1};  // ... of the last frame received
  std::array<std::atomic<int64_t>, kRing> sent_ns{};
  uint64_t received = 0;  // receiver's own
};

struct Sender {
  std::array<Flow, kFlows> flows;
  std::atomic<uint32_t> progress{0};  // bumped by receivers, waited on by the sender
  std::atomic<uint64_t> sent{0};
  std::atomic<bool> paused{false};
};

struct Missing {
  int sender;
  uint64_t seq;
  int64_t t0, t1;
};

struct Instance {
  int kind;
  uint64_t attributed = 0;
  bool ambiguous = false;  // some frame it may have dropped had another candidate
  bool reset = false;      // its DROPPED was zeroed by a netcpu/reset
};

struct Event {
  int64_t t_cmd, t_reply;
  int instance;  // -1: no program
};

class SwitchSoak {
 public:
  explicit SwitchSoak(const SoakOptions& o) : o_(o), kinds_(make_kinds(o.sabotage)), rng_(o.seed) {}
  int run();

 private:
  void learn();
  size_t measure_capacity();
  void sender_loop(int e);
  void receiver_loop(int r);
  void record(int point, int64_t t_cmd, int64_t t_reply, int instance);
  void load(int point, int kind);
  void unload(int point);
  void plugin_cycle();
  void check_runs_as();
  void checkpoint(bool final);
  bool quiesce();
  void attribute(const Missing& m);
  std::string point_name(int p) const;
  std::string describe_window(int point, int64_t t0, int64_t t1) const;
  std::vector<std::string> commands() const;
  int report(bool alive);

  SoakOptions o_;
  Verdict verdict_;
  std::vector<Kind> kinds_;
  std::mt19937_64 rng_;
  std::unique_ptr<VdeSwitch> sw_;
  std::unique_ptr<Console> con_;
  std::vector<std::unique_ptr<Endpoint>> ends_;
  int port_in_ = -1;  // the switch port of endpoint 1
  size_t window_ = 8, capacity_ = 0, probe_lost_ = 0;

  std::array<Sender, kEnds> senders_;
  std::array<std::atomic<uint64_t>, kEnds> received_{};
  std::atomic<bool> stop_{false}, pause_{false};
  std::mutex missing_mu_;
  std::vector<Missing> missing_;

  std::mutex state_mu_;  // the controller's swaps against the random commands' resets
  std::array<std::vector<Event>, kPoints> events_;
  std::array<int, kPoints> current_{-1, -1, -1};
  std::vector<Instance> instances_;

  uint64_t dropped_ = 0, ambiguous_frames_ = 0, lost_ = 0;
  size_t native_epochs_ = 0, interpreted_epochs_ = 0;
  size_t loads_ = 0, unloads_ = 0, plugin_cycles_ = 0, checkpoints_ = 0, exact_checks_ = 0;
  uint64_t socket_lost_ = 0, out_counted_ = 0;
  ProcessWatch watch_;
  long baseline_fds_ = -1;
  bool baseline_timer_ = false;
  int64_t start_ns_ = 0, traffic_ns_ = 0, end_ns_ = 0;
  std::string commands_summary_, garbage_summary_;
};

std::string SwitchSoak::point_name(int p) const {
  switch (p) {
    case kStarIn:
      return "* in";
    case kPortIn:
      return std::to_string(port_in_) + " in";
    default:
      return "* out";
  }
}

void SwitchSoak::learn() {
  // Every endpoint speaks once, so that the switch learns its MAC address and
  // later frames are unicast; then everything is read.
  for (int e = 0; e < kEnds; ++e) {
    ends_[e]->send(test::numbered_frame(packets::kBroadcastMac, mac_of(e), 0xfffffff0u));
  }
  for (auto& ep : ends_) ep->drain(100);
}

size_t SwitchSoak::measure_capacity() {
  // Endpoint 0 sends kProbeFrames frames of 1514 bytes to endpoint 1, which
  // reads nothing until a marker frame sent after them has reached endpoint 2
  // (the switch handled them all by then); what endpoint 1 then reads is what
  // its socket held.
  con_->cmd_ok("port/resetcounter");
  for (uint32_t i = 0; i < kProbeFrames; ++i)
    ends_[0]->send(test::numbered_frame(mac_of(1), mac_of(0), 0xf0000000u + i, 1514));
  ends_[0]->send(test::numbered_frame(mac_of(2), mac_of(0), 0xf0100000u, 60));
  if (!ends_[2]->recv(5000)) throw std::runtime_error("capacity probe: the marker frame was lost");
  size_t held = ends_[1]->drain(100);
  probe_lost_ = kProbeFrames - held;
  return held;
}

void SwitchSoak::sender_loop(int e) {
  Sender& me = senders_[e];
  try {
    for (uint64_t s = 0; !stop_; ++s) {
      // Pause only after frames of an even class went out on every flow
      // (s = 6k, 6k+1, 6k+2), so that the last frame of each flow arrives.
      if (s % 6 == 3 && pause_) {
        me.paused = true;
        while (pause_ && !stop_) std::this_thread::sleep_for(200us);
        me.paused = false;
        if (stop_) break;
      }
      int r = static_cast<int>(s % kFlows);
      Flow& fl = me.flows[r];
      int64_t f = static_cast<int64_t>(s / kFlows);
      for (;;) {
        uint32_t seen = me.progress.load(std::memory_order_acquire);
        if (f - fl.last_recv.load(std::memory_order_acquire) - 1 < static_cast<int64_t>(window_))
          break;
        if (stop_) return;
        me.progress.wait(seen, std::memory_order_acquire);
      }
      int to = (e + 1 + r) % kEnds;
      packets::Bytes frame =
          test::numbered_frame(mac_of(to), mac_of(e), static_cast<uint32_t>(s), frame_size(s));
      fl.sent_ns[f % kRing].store(now_ns(), std::memory_order_relaxed);
      fl.last_sent.store(f, std::memory_order_release);
      if (!ends_[e]->send(frame, 5s)) {
        verdict_.fail("endpoint " + std::to_string(e) + ": the switch took no frame for 5 s");
        return;
      }
      me.sent.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const std::exception& ex) {
    verdict_.fail("sender " + std::to_string(e) + ": " + ex.what());
  }
}

void SwitchSoak::receiver_loop(int r) {
  int fd = ends_[r]->datafd();
  std::vector<uint8_t> buf(2048);
  const Mac me = mac_of(r);
  size_t reported = 0;
  auto corrupt = [&](const std::string& what) {
    if (++reported <= 3) verdict_.fail("endpoint " + std::to_string(r) + " received " + what);
  };
  while (!stop_) {
    ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        verdict_.fail("endpoint " + std::to_string(r) + ": recv: " + std::strerror(errno));
        return;
      }
      pollfd p{fd, POLLIN, 0};
      poll(&p, 1, 20);
      continue;
    }
    received_[r].fetch_add(1, std::memory_order_relaxed);
    const uint8_t* b = buf.data();
    size_t len = static_cast<size_t>(n);
    std::optional<uint32_t> seq = len >= 60 ? test::sequence_of({b, len}) : std::nullopt;
    int e = len >= 12 ? b[11] - 1 : -1;
    if (!seq || e < 0 || e >= kEnds || e == r || !std::equal(me.begin(), me.end(), b) ||
        std::memcmp(b + 6, mac_of(e).data(), 4) != 0) {
      corrupt("a frame that is not a numbered frame from another endpoint to it (" +
              std::to_string(len) + " bytes)");
      continue;
    }
    uint64_t s = *seq;
    int flow = static_cast<int>(s % kFlows);
    if ((e + 1 + flow) % kEnds != r || len != frame_size(s)) {
      corrupt("frame " + std::to_string(s) + " of endpoint " + std::to_string(e) +
              " with the wrong destination or length " + std::to_string(len));
      continue;
    }
    for (size_t i = kPayload + 12; i < len; ++i) {
      if (b[i] != static_cast<uint8_t>(s + (i - kPayload))) {
        corrupt("frame " + std::to_string(s) + " of endpoint " + std::to_string(e) +
                " with payload byte " + std::to_string(i) + " changed");
        break;
      }
    }
    Sender& from = senders_[e];
    Flow& fl = from.flows[flow];
    int64_t f = static_cast<int64_t>(s / kFlows);
    int64_t expected = fl.last_recv.load(std::memory_order_relaxed) + 1;
    if (f < expected) {
      corrupt("frame " + std::to_string(s) + " of endpoint " + std::to_string(e) +
              " again or out of order (expected no number below " +
              std::to_string(expected * kFlows + flow) + ")");
      continue;
    }
    if (f > expected) {
      int64_t t1 = now_ns();
      std::lock_guard lock(missing_mu_);
      for (int64_t g = expected; g < f; ++g)
        missing_.push_back({e, static_cast<uint64_t>(g * kFlows + flow),
                            fl.sent_ns[g % kRing].load(std::memory_order_relaxed), t1});
    }
    ++fl.received;
    fl.last_recv.store(f, std::memory_order_release);
    from.progress.fetch_add(1, std::memory_order_release);
    from.progress.notify_one();
  }
}

void SwitchSoak::record(int point, int64_t t_cmd, int64_t t_reply, int instance) {
  events_[point].push_back({t_cmd, t_reply, instance});
  current_[point] = instance;
}

void SwitchSoak::load(int point, int kind) {
  Kind& k = kinds_[kind];
  std::string cmd = (k.filter ? "netcpu/filter " : "netcpu/load ") + point_name(point) + " " +
                    (k.filter ? k.text : k.file);
  std::lock_guard lock(state_mu_);
  int64_t t_cmd = now_ns();
  Reply r = con_->cmd(cmd);
  int64_t t_reply = now_ns();
  if (!r.ok()) {
    verdict_.fail("'" + cmd + "' failed:\n" + r.text());
    return;
  }
  instances_.push_back({kind});
  record(point, t_cmd, t_reply, static_cast<int>(instances_.size() - 1));
  ++k.loads;
  ++loads_;
}

void SwitchSoak::unload(int point) {
  if (current_[point] < 0) return;
  std::lock_guard lock(state_mu_);
  int64_t t_cmd = now_ns();
  Reply r = con_->cmd("netcpu/unload " + point_name(point));
  int64_t t_reply = now_ns();
  if (!r.ok()) {
    verdict_.fail("netcpu/unload " + point_name(point) + " failed:\n" + r.text());
    return;
  }
  record(point, t_cmd, t_reply, -1);
  ++unloads_;
}

void SwitchSoak::plugin_cycle() {
  std::lock_guard lock(state_mu_);
  int64_t t_cmd = now_ns();
  Reply del = con_->cmd("plugin/del netcpu");
  int64_t t_reply = now_ns();
  if (!del.ok()) {
    verdict_.fail("plugin/del netcpu failed:\n" + del.text());
    return;
  }
  for (int p = 0; p < kPoints; ++p) record(p, t_cmd, t_reply, -1);
  std::this_thread::sleep_for(std::chrono::microseconds(rng_() % 10000));
  Reply add = con_->cmd("plugin/add " NETCPU_PLUGIN);
  if (!add.ok()) verdict_.fail("plugin/add failed:\n" + add.text());
  ++plugin_cycles_;
}

// Loads every program once and asks the switch how it runs it; then, with
// profiling on, which makes the interpreter run every program, the same.
void SwitchSoak::check_runs_as() {
  bool native = false;
  for (size_t i = 0; i < kinds_.size(); ++i) {
    Kind& k = kinds_[i];
    load(k.point, static_cast<int>(i));
    Reply show = con_->cmd_ok("netcpu/show " + point_name(k.point));
    k.runs_as = show.data.empty() ? "?" : show.data.front();
    if (k.runs_as.rfind("# runs as ", 0) == 0) k.runs_as = k.runs_as.substr(10);
    native |= k.runs_as.rfind("native", 0) == 0;
  }
#if defined(__x86_64__)
  if (!native) verdict_.fail("no program of the rotation runs as native code");
#endif
  con_->cmd_ok("netcpu/profile 1");
  Reply show = con_->cmd_ok("netcpu/show * in");
  if (show.data.empty() || show.data.front().rfind("# runs as interpreter", 0) != 0)
    verdict_.fail("with profiling on, * in does not run in the interpreter:\n" + show.text());
  con_->cmd_ok("netcpu/profile 0");
}

std::string SwitchSoak::describe_window(int point, int64_t t0, int64_t t1) const {
  std::string out;
  for (const Event& ev : events_[point]) {
    if (ev.t_reply < t0 - 50'000'000 || ev.t_cmd > t1 + 50'000'000) continue;
    out += "\n      " + std::to_string((ev.t_cmd - start_ns_) / 1000) + "-" +
           std::to_string((ev.t_reply - start_ns_) / 1000) + " us: " +
           (ev.instance < 0
                ? std::string("no program")
                : kinds_[instances_[ev.instance].kind].name + " #" + std::to_string(ev.instance));
  }
  return out;
}

void SwitchSoak::attribute(const Missing& m) {
  int c = frame_class(m.seq);
  int p = point_of_class(c);
  std::vector<int> candidates;
  if (p >= 0) {
    const auto& ev = events_[p];
    // State k holds from ev[k].t_cmd (at the earliest) to ev[k + 1].t_reply
    // (at the latest); the first state that may still hold at t0:
    size_t k = std::partition_point(ev.begin() + 1, ev.end(),
                                    [&](const Event& next) { return next.t_reply < m.t0; }) -
               ev.begin() - 1;
    for (; k < ev.size() && ev[k].t_cmd <= m.t1; ++k) {
      int inst = ev[k].instance;
      if (inst >= 0 && (kinds_[instances_[inst].kind].mask & (1u << c))) {
        if (std::find(candidates.begin(), candidates.end(), inst) == candidates.end())
          candidates.push_back(inst);
      }
    }
  }
  if (candidates.empty()) {
    ++lost_;
    verdict_.fail(
        "LOST: frame " + std::to_string(m.seq) + " (class " + std::to_string(c) +
        ") from endpoint " + std::to_string(m.sender) + " to endpoint " +
        std::to_string((m.sender + 1 + m.seq % kFlows) % kEnds) + ", sent at " +
        std::to_string((m.t0 - start_ns_) / 1000) + " us, next frame of its flow at " +
        std::to_string((m.t1 - start_ns_) / 1000) + " us; no program in place " +
        (p < 0 ? std::string("drops its class")
               : "on " + point_name(p) + " then drops it:" + describe_window(p, m.t0, m.t1)));
    return;
  }
  ++dropped_;
  if (candidates.size() == 1) {
    ++instances_[candidates[0]].attributed;
  } else {
    ++ambiguous_frames_;
    for (int inst : candidates) instances_[inst].ambiguous = true;
  }
}

bool SwitchSoak::quiesce() {
  pause_ = true;
  auto deadline = Clock::now() + 10s;
  auto settled = [&] {
    for (auto& s : senders_) {
      if (!s.paused) return false;
      for (auto& fl : s.flows)
        if (fl.last_recv.load() != fl.last_sent.load()) return false;
    }
    return true;
  };
  while (!settled()) {
    if (Clock::now() > deadline) {
      std::string stuck;
      for (int e = 0; e < kEnds; ++e)
        for (int r = 0; r < kFlows; ++r) {
          const Flow& fl = senders_[e].flows[r];
          if (fl.last_recv.load() != fl.last_sent.load())
            stuck += " " + std::to_string(e) + "->" + std::to_string((e + 1 + r) % kEnds) +
                     " (last sent " + std::to_string(fl.last_sent.load() * kFlows + r) +
                     ", last received " + std::to_string(fl.last_recv.load() * kFlows + r) + ")";
        }
      std::string state;
      try {
        state = "\nnetcpu/list:\n" + con_->cmd("netcpu/list").text() + "\nport/print:\n" +
                con_->cmd("port/print").text();
      } catch (const std::exception& e) {
        state = std::string("\nthe console does not answer: ") + e.what();
      }
      verdict_.fail(
          "LOST: frames of an even class, which no program drops, did not arrive within "
          "10 s on flows" +
          stuck + state);
      return false;
    }
    std::this_thread::sleep_for(200us);
  }
  return true;
}

// netcpu/list -j's row for a point: its DROPPED, and the row as text (the
// program's name is in it).
std::optional<long> list_dropped(const Reply& list, const std::string& point, std::string* line) {
  if (list.data.empty()) return std::nullopt;
  const nlohmann::json rows = nlohmann::json::parse(list.data.front(), nullptr, false);
  if (!rows.is_array()) return std::nullopt;
  for (const auto& row : rows) {
    if (row.value("point", "") != point) continue;
    *line = row.dump();
    return row.value("dropped", 0L);
  }
  return std::nullopt;
}

void SwitchSoak::checkpoint(bool final) {
  ++checkpoints_;
  if (!quiesce()) {
    stop_ = true;
    return;
  }
  std::vector<Missing> missing;
  {
    std::lock_guard lock(missing_mu_);
    missing.swap(missing_);
  }
  std::sort(missing.begin(), missing.end(), [](const Missing& a, const Missing& b) {
    return std::tie(a.t0, a.sender, a.seq) < std::tie(b.t0, b.sender, b.seq);
  });
  for (const Missing& m : missing) attribute(m);

  // The programs in place now counted exactly what was attributed to them.
  Reply list = con_->cmd_ok("netcpu/list -j");
  bool timer = false;
  for (int p = 0; p < kPoints; ++p) {
    int inst = current_[p];
    std::string line;
    std::optional<long> dropped = list_dropped(list, point_name(p), &line);
    if (inst < 0) {
      if (dropped) verdict_.fail(point_name(p) + " has a program the soak did not load: " + line);
      continue;
    }
    const Instance& in = instances_[inst];
    const Kind& k = kinds_[in.kind];
    timer |= k.timer;
    if (!dropped || (!k.filter && line.find(k.name) == std::string::npos)) {
      verdict_.fail(point_name(p) + " should run " + k.name + "; netcpu/list:\n" + list.text());
      continue;
    }
    if (in.ambiguous) continue;
    ++exact_checks_;
    if (!in.reset && static_cast<uint64_t>(*dropped) != in.attributed)
      verdict_.fail(k.name + " on " + point_name(p) + ": netcpu/list counts " +
                    std::to_string(*dropped) + " drops, the frames missing by its rule are " +
                    std::to_string(in.attributed));
    if (k.table) {
      Reply dump = con_->cmd_ok("netcpu/table/dump " + point_name(p) + " drops");
      uint64_t sum = 0;
      for (const auto& l : dump.data) {
        size_t sp = l.rfind(' ');
        // KEY VALUE lines, then "N entries" (or "1 entry").
        const std::string last = sp == std::string::npos ? "" : l.substr(sp + 1);
        if (!last.empty() && last != "entries" && last != "entry") sum += std::stoull(last);
      }
      if (sum != in.attributed)
        verdict_.fail(k.name + " on " + point_name(p) + ": its table counts " +
                      std::to_string(sum) + " drops, the frames missing by its rule are " +
                      std::to_string(in.attributed));
    }
  }

  // Socket level: what the switch sent each endpoint (OUT) is what it read.
  Reply ports = con_->cmd_ok("port/print");
  std::map<int, uint64_t> out_by_port;
  int port = -1;
  for (const auto& l : ports.data) {
    if (l.rfind("Port ", 0) == 0) port = std::atoi(l.c_str() + 5);
    size_t at = l.find("OUT: pkts");
    if (at != std::string::npos && port >= 0) out_by_port[port] = std::stoull(l.substr(at + 9));
  }
  socket_lost_ = 0;
  out_counted_ = 0;
  for (int r = 0; r < kEnds; ++r) {
    uint64_t out = out_by_port[ends_[r]->port()], got = received_[r].load();
    out_counted_ += out;
    if (out > got) socket_lost_ += out - got;
  }
  if (socket_lost_ > 0)
    verdict_.fail("the switch sent " + std::to_string(out_counted_) +
                  " frames to the endpoints (port/print OUT) and they read " +
                  std::to_string(out_counted_ - socket_lost_) +
                  ": frames lost at the socket level (the window is too large)");

  ProcessSample s = sample_process(sw_->pid());
  watch_.add(s);
  double elapsed = static_cast<double>(now_ns() - start_ns_) / 1e9;
  if (!watch_.have_baseline && (elapsed >= std::max(2.0, o_.seconds / 10) || final)) {
    watch_.have_baseline = true;
    watch_.baseline = s;
    watch_.rss_max_kib = s.rss_kib;
    baseline_fds_ = s.fds;
    baseline_timer_ = timer;
  } else if (watch_.have_baseline) {
    // The plugin holds a pipe (two descriptors) while a program has timers.
    long expected =
        baseline_fds_ + 2 * (static_cast<int>(timer) - static_cast<int>(baseline_timer_));
    if (s.fds != expected)
      verdict_.fail("the switch has " + std::to_string(s.fds) + " open descriptors at " +
                    std::to_string(static_cast<int>(elapsed)) + " s, " + std::to_string(expected) +
                    " expected (" + std::to_string(baseline_fds_) + " at the baseline)");
  }
  if (o_.verbose)
    std::cerr << "checkpoint " << checkpoints_ << " at " << elapsed << " s: rss " << s.rss_kib
              << " KiB, fds " << s.fds << ", dropped " << dropped_ << ", loads " << loads_ << "\n";
  pause_ = false;
}

std::vector<std::string> SwitchSoak::commands() const {
  std::string port = std::to_string(port_in_);
  return {"netcpu/list",
          "netcpu/list * in",
          "netcpu/list " + port,
          "netcpu/list * out",
          "netcpu/show * in",
          "netcpu/show * out",
          "netcpu/show " + port + " in",
          "netcpu/table/list",
          "netcpu/table/dump * in drops",
          "netcpu/table/dump * out scratch",
          "netcpu/table/set * in scratch 7 9",
          "netcpu/table/set * out scratch 0x0102 3",
          "netcpu/table/del * in scratch 7",
          "netcpu/table/set " + port + " in scratch 1 1",
          "netcpu/budget",
          "netcpu/budget 100000",
          "netcpu/budget 50000",
          "netcpu/onabort",
          "netcpu/onabort pass",
          "netcpu/profile",
          "netcpu/reset * out",
          "netcpu/reset " + port,
          "netcpu/reset",
          "netcpu/netmask",
          "netcpu/netmask 255.255.255.0",
          "debug/add netcpu/log",
          "debug/del netcpu/log",
          "port/print",
          "hash/print",
          "plugin/list",
          "help netcpu",
          "showinfo"};
}

int SwitchSoak::run() {
  if (!on_path("vde_switch")) {
    std::cout << "SKIP: vde_switch is not on PATH (Debian package vde2)\n";
    return kSkip;
  }
  start_ns_ = now_ns();
  sw_ = std::make_unique<VdeSwitch>([] {
    test::VdeSwitchOptions so = test::plugin_switch_options();
    so.ports = 8;
    return so;
  }());
  // A loaded machine may be slow to answer: a reply that takes longer than
  // this is a failure (the switch hangs), not a slow second.
  con_ = std::make_unique<Console>(sw_->mgmt_path(), 20s);
  for (int e = 0; e < kEnds; ++e)
    ends_.push_back(
        std::make_unique<Endpoint>(sw_->data_path(), *con_, "soak-endpoint-" + std::to_string(e)));
  port_in_ = ends_[1]->port();
  con_->cmd_ok("plugin/add " NETCPU_PLUGIN);
  for (Kind& k : kinds_) {
    if (k.filter) continue;
    k.file = sw_->dir() + "/" + k.name + ".ncpu";
    std::ofstream(k.file) << k.text;
  }
  for (int p = 0; p < kPoints; ++p) events_[p].push_back({0, 0, -1});

  learn();
  capacity_ = measure_capacity();
  window_ = o_.window ? std::min(o_.window, kRing - 8)
                      : std::clamp<size_t>(capacity_ / (kFlows * 4), 3, 16);
  check_runs_as();
  for (int p = 0; p < kPoints; ++p) unload(p);
  learn();
  con_->cmd_ok("port/resetcounter");
  ProcessSample first = sample_process(sw_->pid());
  watch_.add(first);

  std::vector<std::thread> threads;
  traffic_ns_ = now_ns();
  for (int r = 0; r < kEnds; ++r) threads.emplace_back([this, r] { receiver_loop(r); });
  for (int e = 0; e < kEnds; ++e) threads.emplace_back([this, e] { sender_loop(e); });
  {
    Garbage::Source gs;
    gs.readonly_commands = {
        "netcpu/list",   "netcpu/show * in", "netcpu/table/list", "netcpu/table/dump * out drops",
        "netcpu/budget", "help netcpu",      "port/print"};
    gs.overlong_prefix = "netcpu/filter * in host 10.9.9.9";  // would drop every frame
    gs.overlong_repeat = " or host 10.9.9.9";
    gs.continued = "netcpu/netmask";  // never sent whole by the soak's consoles
    gs.line_limit = 128;
    GarbageFeeder garbage(sw_->mgmt_path(), gs, rng_(), verdict_);
    CommandFeeder commands(
        sw_->mgmt_path(), this->commands(), rng_(), verdict_, state_mu_,
        [this](const std::string& c, const Reply& r) {
          if (!r.ok() || c.rfind("netcpu/reset", 0) != 0) return;
          for (int p = 0; p < kPoints; ++p) {
            bool hit = c == "netcpu/reset" || (c == "netcpu/reset * out" && p == kStarOut) ||
                       (c == "netcpu/reset " + std::to_string(port_in_) && p == kPortIn);
            if (hit && current_[p] >= 0) instances_[current_[p]].reset = true;
          }
        });

    std::vector<std::vector<int>> by_point(kPoints);
    for (size_t i = 0; i < kinds_.size(); ++i)
      by_point[kinds_[i].point].push_back(static_cast<int>(i));
    const auto end = Clock::now() + std::chrono::duration<double>(o_.seconds);
    try {
      for (int epoch = 0; !stop_ && !verdict_.failed(); ++epoch) {
        // Every other second the interpreter runs every program (profiling
        // is on); the other seconds, native code where the JIT compiled it.
        const std::string profile = epoch % 2 ? "netcpu/profile 1" : "netcpu/profile 0";
        con_->cmd_ok(profile);
        (epoch % 2 ? interpreted_epochs_ : native_epochs_)++;
        auto epoch_start = Clock::now();
        bool last = epoch_start + 1s >= end;
        auto swaps_until = epoch_start + 800ms;
        auto cycle_at = epoch % 3 == 2 ? epoch_start + std::chrono::milliseconds(rng_() % 700)
                                       : Clock::time_point::max();
        while (Clock::now() < swaps_until && !verdict_.failed()) {
          if (Clock::now() >= cycle_at) {
            plugin_cycle();
            con_->cmd_ok(profile);  // a new plugin starts with profiling off
            cycle_at = Clock::time_point::max();
          }
          int p = static_cast<int>(rng_() % kPoints);
          if (rng_() % 10 == 0) {
            unload(p);
          } else {
            // The sabotaged program, when there is one, every other time on its point.
            const auto& ks = by_point[p];
            int k = ks[rng_() % ks.size()];
            if (!o_.sabotage.empty() && p == kStarIn && rng_() % 2) k = ks.back();
            load(p, k);
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(o_.swap_ms));
        }
        // Each point's programs take turns standing at the checkpoints.
        // (The sabotaged program, when there is one, at every checkpoint.)
        for (int p = 0; p < kPoints; ++p) {
          const auto& ks = by_point[p];
          bool sabotaged = !o_.sabotage.empty() && p == kStarIn;
          load(p, sabotaged ? ks.back() : ks[static_cast<size_t>(epoch) % ks.size()]);
        }
        std::this_thread::sleep_for(200ms);
        garbage.pause();
        commands.pause();
        checkpoint(last);
        garbage.resume();
        commands.resume();
        if (last) break;
      }
    } catch (const std::exception& e) {
      verdict_.fail(std::string("the soak's console: ") + e.what());
    }
    stop_ = true;
    for (auto& s : senders_) {
      s.progress.fetch_add(1);
      s.progress.notify_all();
    }
    for (auto& t : threads) t.join();
    end_ns_ = now_ns();
    commands_summary_ = std::to_string(commands.commands()) + " random valid commands (" +
                        std::to_string(commands.failed()) +
                        " answered with an error, as some must)";
    garbage_summary_ = garbage.summary();
  }

  bool alive = sw_->alive();
  Reply final_list;
  if (alive) {
    try {
      final_list = con_->cmd("netcpu/list");
    } catch (const std::exception& e) {
      verdict_.fail(std::string("the switch does not answer at the end: ") + e.what());
    }
  } else {
    verdict_.fail("the switch is not alive at the end: " + sw_->exit_description() + "\n" +
                  sw_->log());
  }
#if !defined(NETCPU_SWITCH_PRELOAD)
  if (watch_.have_baseline && watch_.rss_max_kib - watch_.baseline.rss_kib > kRssBoundKib)
    verdict_.fail("the switch's RSS grew from " + kib_text(watch_.baseline.rss_kib) + " to " +
                  kib_text(watch_.rss_max_kib) + ", more than the bound of " +
                  kib_text(kRssBoundKib));
#endif
  return report(alive);
}

int SwitchSoak::report(bool alive) {
  uint64_t sent = 0, received = 0;
  for (auto& s : senders_) sent += s.sent.load();
  for (auto& r : received_) received += r.load();
  char minutes[32];
  std::snprintf(minutes, sizeof minutes, "%.2f", static_cast<double>(end_ns_ - traffic_ns_) / 60e9);
  std::vector<std::string> lines;
  lines.push_back("minutes: " + std::string(minutes) + " (seed " + std::to_string(o_.seed) +
                  ", a swap every " + std::to_string(o_.swap_ms) +
                  " ms and a checkpoint every second)");
  lines.push_back("frames: sent " + std::to_string(sent) + ", received " +
                  std::to_string(received) + ", dropped by programs " + std::to_string(dropped_) +
                  " (each by its program's rule; " + std::to_string(ambiguous_frames_) +
                  " of them with two candidate programs), lost " + std::to_string(lost_));
  lines.push_back("counts: at " + std::to_string(checkpoints_) + " checkpoints, " +
                  std::to_string(exact_checks_) +
                  " programs in place matched their table and netcpu/list's DROPPED against the "
                  "frames missing by their rule");
  lines.push_back(
      "socket level: the switch queues " + std::to_string(capacity_) +
      " frames of 1514 bytes to an endpoint that does not read (measured: " +
      std::to_string(probe_lost_) + " of " + std::to_string(kProbeFrames) +
      " lost at its socket, seen only in port/print's OUT); window " + std::to_string(window_) +
      " frames per flow, " + std::to_string(kFlows * window_) + " per endpoint; OUT counted " +
      std::to_string(out_counted_) + " frames to the endpoints, they read " +
      std::to_string(out_counted_ - socket_lost_) + ": " + std::to_string(socket_lost_) + " lost");
  lines.push_back("swaps: " + std::to_string(loads_) + " loads, " + std::to_string(unloads_) +
                  " unloads, " + std::to_string(plugin_cycles_) +
                  " plugin/del + plugin/add cycles");
  lines.push_back("engines: " + std::to_string(interpreted_epochs_) +
                  " seconds with profiling on (the interpreter runs every program), " +
                  std::to_string(native_epochs_) + " with it off (native code where compiled):");
  for (const Kind& k : kinds_)
    lines.push_back("  " + k.name + " on " + point_name(k.point) + ": " + std::to_string(k.loads) +
                    " loads, runs as " + k.runs_as + " with profiling off");
  lines.push_back("console: garbage " + garbage_summary_ + "; " + commands_summary_);
  std::string rss = "RSS " + kib_text(watch_.start.rss_kib) + " at the start, " +
                    kib_text(watch_.baseline.rss_kib) + " after the warm-up, " +
                    kib_text(watch_.last.rss_kib) + " at the end (at most " +
                    kib_text(watch_.rss_max_kib) + "; bound: baseline + " + kib_text(kRssBoundKib);
#if defined(NETCPU_SWITCH_PRELOAD)
  rss += kRssNotHeldInSanitizerBuilds;
#endif
  lines.push_back("switch: " + std::string(alive ? "alive" : "DEAD") + "; " + rss +
                  "); open descriptors " + std::to_string(watch_.start.fds) + " at the start, " +
                  std::to_string(baseline_fds_) + " after the warm-up, " +
                  std::to_string(watch_.last.fds) +
                  " at the end (bound: the baseline's, and 2 "
                  "more while a program has timers)");
  return finish("soak switch", lines, verdict_, o_);
}

}  // namespace

int run_switch_soak(const SoakOptions& o) { return SwitchSoak(o).run(); }

}  // namespace netcpu::soak
