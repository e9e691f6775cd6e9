#include "switch_host.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "netcpu/drop_line.h"
#include "netcpu/file.h"

namespace netcpu::vde {
namespace {

const char* dir_name(Dir d) { return d == kIn ? "in" : d == kOut ? "out" : "inout"; }

// tcpdump -Q's words: in, out, inout (one program on both directions).
std::optional<Dir> parse_dir(const std::string& word) {
  if (word == "in") return kIn;
  if (word == "out") return kOut;
  if (word == "inout") return kInOut;
  return std::nullopt;
}

constexpr Dir kPointKindList[] = {kIn, kOut, kInOut};

bool port_exists(int port) { return port >= 0 && port_user(port) != static_cast<uid_t>(-1); }

// This process's command line: vde_switch's, when the plugin is in a switch.
std::vector<std::string> own_command_line() {
  FileError why;
  const auto bytes = read_whole_file("/proc/self/cmdline", &why);
  const std::string all = bytes ? std::string(bytes->begin(), bytes->end()) : std::string();
  std::vector<std::string> args;
  for (size_t start = 0; start < all.size();) {
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    args.push_back(all.substr(start, end - start));
    start = end + 1;
  }
  return args;
}

}  // namespace

int SwitchHost::ports_from_command_line(const std::vector<std::string>& args) {
  // vde_switch 2.3.2's options (vde_switch -h) that take a value, so that a
  // value is never read as an option.
  static constexpr std::string_view kShortWithValue = "nsmgpfMDt";
  static constexpr std::string_view kLongWithValue[] = {
      "numports", "macaddr",  "priority",  "hashsize",     "sock",    "vdesock",
      "unix",     "mode",     "dirmode",   "group",        "pidfile", "rcfile",
      "mgmt",     "mgmtmode", "mgmtgroup", "debugclients", "tap"};
  static constexpr std::string_view kLongFlags[] = {"help", "version", "hub", "fstp", "daemon"};
  int ports = kDefaultPorts;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--") break;
    if (a.starts_with("--")) {
      // getopt_long takes an unambiguous prefix of a long name, and "=VALUE".
      std::string_view name = a.substr(2, a.find('=') - 2);
      std::string_view match;  // the option with a value it names, if any
      int prefixed = 0;
      bool exact = false;
      for (std::string_view n : kLongWithValue)
        if (n == name)
          match = n, exact = true;
        else if (!exact && n.starts_with(name))
          match = n, ++prefixed;
      for (std::string_view n : kLongFlags) {
        if (n == name) match = {}, exact = true;
        prefixed += !exact && n.starts_with(name);
      }
      if (match.empty() || (!exact && prefixed > 1)) continue;
      std::string value;
      if (a.find('=') != std::string_view::npos)
        value = a.substr(a.find('=') + 1);
      else if (i + 1 < args.size())
        value = args[++i];
      if (match == "numports") ports = std::atoi(value.c_str());
    } else if (a.size() > 1 && a[0] == '-') {
      for (size_t k = 1; k < a.size(); ++k) {
        if (kShortWithValue.find(a[k]) == std::string_view::npos) continue;
        std::string value = k + 1 < a.size()      ? std::string(a.substr(k + 1))
                            : i + 1 < args.size() ? args[++i]
                                                  : std::string();
        if (a[k] == 'n') ports = std::atoi(value.c_str());
        break;
      }
    }
  }
  return ports;
}

SwitchHost::SwitchHost(Channel log, Channel drop) : log_(std::move(log)), drop_(std::move(drop)) {
  Control::Options o;
  o.caps.link = LinkType::Ethernet;
  o.caps.max_packet = kSwitchFrameMax;
  o.caps.host_name = "vde_switch";
  o.point_syntax = "PORT|* in|out|inout";
  o.point_words = 2;
  o.resolve = [this](const std::vector<std::string>& w, std::string* why) {
    return resolve(w, why);
  };
  o.select_syntax = "[PORT|* [in|out|inout]]";
  o.select = [this](const std::vector<std::string>& w, std::vector<AttachPoint*>& points,
                    std::string* why) { return select(w, points, why); };
  o.process_name = "vde_switch";
  switch_ports_ = ports_from_command_line(own_command_line());
  o.for_each = [this](const std::function<void(AttachPoint&)>& fn) { for_each(fn); };
  o.output = [this](const AttachPoint& at, OutputKind, std::string_view line) {
    if (!log_.listening()) return;
    std::string prefix = at.name();
    // A frame's lines say its port and direction, and which point's program
    // printed them when that is not the port's own point of the direction.
    if (current_port_ >= 0) {
      const std::string own = std::to_string(current_port_) + " " + dir_name(current_dir_);
      prefix = "port " + own;
      if (at.name() == "* in" || at.name() == "* out")
        prefix += " (*)";
      else if (at.name() != own)
        prefix += " (" + at.name() + ")";
    }
    log_.write(prefix + ": " + std::string(line));
  };
  o.warnings = [this](const AttachPoint& at, const Program& p) { return warnings(at, p); };
  control_ = std::make_unique<Control>(std::move(o));
}

AttachPoint* SwitchHost::point(int port, Dir d, bool create) {
  auto& v = ports_[d];
  if (port < 0 || port > kMaxPort) return nullptr;
  if (static_cast<size_t>(port) >= v.size()) {
    if (!create) return nullptr;
    v.resize(port + 1);
  }
  if (!v[port] && create)
    v[port] = std::make_unique<AttachPoint>(std::to_string(port) + " " + dir_name(d));
  return v[port].get();
}

// The switch's ports are 0..N-1 (vde_switch -n N). Its port/setnumports can
// change N later, unseen by the plugin: a port in use beyond the first N is
// taken too.
std::optional<int> SwitchHost::parse_port(const std::string& word, std::string* why) const {
  if (word == "*") return -1;
  char* end = nullptr;
  long port = std::strtol(word.c_str(), &end, 10);
  if (word.empty() || *end || port < 0 || port > kMaxPort)
    return *why = "port must be a number or *, not '" + word + "'", std::nullopt;
  if (port >= switch_ports_ && !port_exists(static_cast<int>(port)))
    return *why = "port " + word + ": this switch has " + std::to_string(switch_ports_) +
                  " ports, 0.." + std::to_string(switch_ports_ - 1) +
                  " (vde_switch -n N sets how many)",
           std::nullopt;
  return static_cast<int>(port);
}

AttachPoint* SwitchHost::resolve(const std::vector<std::string>& w, std::string* why) {
  std::optional<Dir> d = parse_dir(w[1]);
  if (!d) return *why = "direction must be in, out or inout, not '" + w[1] + "'", nullptr;
  std::optional<int> port = parse_port(w[0], why);
  if (!port) return nullptr;
  if (*port < 0) return &star_[*d];
  return point(*port, *d, true);
}

// "PORT" or "*": that port's points, all three (not "*"'s for a port:
// they are listed under "*"); "PORT in|out|inout": one point.
bool SwitchHost::select(const std::vector<std::string>& w, std::vector<AttachPoint*>& points,
                        std::string* why) {
  if (w.size() > 2)
    return *why = "expected [PORT|* [in|out|inout]], not " + std::to_string(w.size()) + " words",
           false;
  std::optional<Dir> only = w.size() == 2 ? parse_dir(w[1]) : std::nullopt;
  if (w.size() == 2 && !only)
    return *why = "expected [PORT|* [in|out|inout]]: the direction is in, out or inout, not '" +
                  w[1] + "'",
           false;
  std::optional<int> port = parse_port(w[0], why);
  if (!port) return false;
  for (Dir d : kPointKindList) {
    if (only && d != *only) continue;
    AttachPoint* at = *port < 0 ? &star_[d] : point(*port, d, false);
    if (at) points.push_back(at);
  }
  return true;
}

void SwitchHost::for_each(const std::function<void(AttachPoint&)>& fn) {
  for_each_point([&](AttachPoint& at, int, Dir) { fn(at); });
}

void SwitchHost::for_each_point(const std::function<void(AttachPoint&, int, Dir)>& fn) {
  for (Dir d : kPointKindList) {
    fn(star_[d], -1, d);
    for (size_t port = 0; port < ports_[d].size(); ++port)
      if (ports_[d][port]) fn(*ports_[d][port], static_cast<int>(port), d);
  }
}

std::vector<std::string> SwitchHost::warnings(const AttachPoint& at, const Program& p) {
  if (at.name().find("out") == std::string::npos) return {};
  bool stops = p.on_fault == FaultAction::Drop || control_->limits().on_abort == Verdict::Drop;
  for (const Insn& in : p.code) stops |= in.op == Op::DROP || in.op == Op::REDIRECT;
  if (!stops) return {};
  return {
      "an 'out' drop or redirect of a flooded frame (broadcast, multicast, unknown destination; "
      "an 'inout' program's too) also keeps it from the ports vde_switch sends it to after this "
      "one: the switch reuses one length for the whole flood. Rewrites are undone for the later "
      "ports; drops cannot be. Drop on 'in' where you can."};
}

void SwitchHost::refresh() {
  bool any[kPointKinds] = {false, false, false};
  bool on_ports[kPointKinds] = {false, false, false};
  timers_ = false;
  for (Dir d : kPointKindList) {
    for (auto& p : ports_[d]) on_ports[d] |= p && p->program();
    any[d] = on_ports[d] || star_[d].program() != nullptr;
  }
  for_each([&](AttachPoint& at) { timers_ |= at.has_timers(); });
  port_programs_ = {on_ports[kIn], on_ports[kOut]};
  port_inout_ = on_ports[kInOut];
  active_ = {any[kIn] || any[kInOut], any[kOut] || any[kInOut]};
  Instance* star_in = star_[kIn].program();
  direct_ = star_in && !port_programs_[kIn] && !any[kOut] && !any[kInOut];
  for (Pending& p : pending_) p.ptr = nullptr;  // rewrites of programs that may be gone
}

void SwitchHost::tick(uint64_t now) {
  current_port_ = -1;
  for_each_point([&](AttachPoint& at, int port, Dir d) { run_timers(at, port, d, now); });
}

// A port's timers see their port in `port`, and `emit INPORT` sends there;
// those of "*" have none (port 0), and such an emit is counted as an error.
// An inout point's timers see dir 0: they belong to no direction.
void SwitchHost::run_timers(AttachPoint& at, int port, Dir d, uint64_t now) {
  PacketMeta meta;
  meta.hook = Hook::Timer;
  meta.port = static_cast<uint32_t>(port < 0 ? 0 : port);
  meta.dir = d == kInOut ? kIn : d;
  at.run_due_timers(now, meta, [&](const RunResult& r) {
    if (r.emitted) send_emitted(*at.program(), port);
  });
}

bool SwitchHost::send_copy(int port, const uint8_t* data, uint32_t len) {
  if (!port_exists(port) || depth_ >= kMaxDepth || len > kSwitchFrameMax) return false;
  uint8_t* copy = copies_[depth_].data();
  std::memcpy(copy, data, len);
  ++depth_;
  pending_[depth_].ptr = nullptr;
  port_send_packet(port, copy, static_cast<int>(len));
  --depth_;
  return true;
}

void SwitchHost::send_emitted(Instance& vm, int source) {
  for (const EmittedPacket& e : vm.emitted())
    if (!send_copy(e.port < 0 ? source : e.port, e.data.data(), e.length)) vm.stats().count_error();
}

// Everything but a plain pass: kept out of filter() so that the frame path
// most frames take stays a few cache lines long. True: the frame goes no
// further (dropped, or redirected as a copy).
bool SwitchHost::act(const RunResult& r, Instance& vm, int port, Dir d, uint32_t len,
                     uint8_t* frame) {
  if (r.mirror_port >= 0 && !send_copy(r.mirror_port, frame, len)) vm.stats().count_error();
  if (r.emitted) send_emitted(vm, d == kIn ? port : source_port_);
  if (r.verdict == Verdict::Drop) {
    if (drop_.listening())
      drop_.write(
          drop_line("port " + std::to_string(port) + " " + dir_name(d), vm, r, {frame, len}));
    return true;
  }
  if (r.verdict == Verdict::Redirect) {
    if (!send_copy(r.redirect_port, frame, len)) vm.stats().count_error();
    return true;
  }
  return false;
}

// A plain pass (which compiled code counts itself) goes on as it came,
// without a RunResult.
[[gnu::hot]] int SwitchHost::direct(int port, uint8_t* frame, int len) {
  AttachPoint& at = star_[kIn];
  uint32_t l = static_cast<uint32_t>(len);
  PacketMeta meta;
  meta.port = static_cast<uint32_t>(port);
  meta.dir = kIn;
  meta.hook = Hook::PortIn;
  current_port_ = port, current_dir_ = kIn;  // for what the program prints
  const RunResult* r = at.run_filter(frame, l, kSwitchFrameMax, meta);
  current_port_ = -1;
  if (!r) [[likely]]
    return 0;
  if (stops(*r, *at.program(), port, kIn, l, frame)) return -1;
  return r->modified ? static_cast<int>(l) : 0;
}

// The chain of a frame of direction d at `port`: "* d", "* inout", "PORT
// d", "PORT inout"; a drop or redirect ends it. A port's points are looked
// up only while some port has a program there.
[[gnu::hot]] int SwitchHost::filter(int port, Dir d, uint8_t* frame, int len) {
  uint32_t l = static_cast<uint32_t>(len);
  bool modified = false;
  AttachPoint* chain[4] = {&star_[d], &star_[kInOut],
                           port_programs_[d] ? point(port, d, false) : nullptr,
                           port_inout_ ? point(port, kInOut, false) : nullptr};
  PacketMeta meta;
  meta.port = static_cast<uint32_t>(port);
  meta.dir = static_cast<uint8_t>(d);
  meta.hook = d == kIn ? Hook::PortIn : Hook::PortOut;
  // now_ms stays 0: the interpreter reads the clock only for programs that read `now`.
  current_port_ = port, current_dir_ = d;
  int result = 0;
  for (AttachPoint* at : chain) {
    if (!at || !at->program()) continue;
    const RunResult r = at->run(frame, l, kSwitchFrameMax, meta);
    modified |= r.modified;
    if (stops(r, *at->program(), port, d, l, frame)) {
      result = -1;
      break;
    }
  }
  current_port_ = -1;
  if (result < 0) return result;
  return modified ? static_cast<int>(l) : 0;
}

bool SwitchHost::runs_on(int port, Dir d) {
  if (star_[d].program() || star_[kInOut].program()) return true;
  AttachPoint* own = port_programs_[d] ? point(port, d, false) : nullptr;
  AttachPoint* both = port_inout_ ? point(port, kInOut, false) : nullptr;
  return (own && own->program()) || (both && both->program());
}

int SwitchHost::restore(Pending& p, uint8_t* frame) {
  if (!p.ptr) return 0;
  int n;
  if (frame == p.ptr) {
    std::memcpy(frame, p.bytes, p.len);
    n = static_cast<int>(p.len);
  } else if (frame == p.ptr - 4 && p.len >= 12) {
    // The switch added an 802.1Q tag after the rewrite: MACs moved 4 bytes
    // left, the tag sits between them and the rest.
    std::memcpy(frame, p.bytes, 12);
    std::memcpy(frame + 16, p.bytes + 12, p.len - 12);
    n = static_cast<int>(p.len + 4);
  } else if (frame == p.ptr + 4 && p.len >= 16) {
    // The switch removed the tag: MACs moved 4 bytes right over it.
    std::memcpy(frame, p.bytes, 12);
    std::memcpy(frame + 12, p.bytes + 16, p.len - 16);
    n = static_cast<int>(p.len - 4);
  } else {
    return 0;  // another buffer: not this flood
  }
  p.ptr = nullptr;
  return n;
}

int SwitchHost::on_packet_out(int port, uint8_t* frame, int len) {
  Pending& p = pending_[depth_];
  int restored = restore(p, frame);
  if (restored) len = restored;
  // Called only while some `out` or `inout` program is loaded (needs()); maybe not this port's.
  if (!runs_on(port, kOut)) return restored;
  // Keep the original bytes so that the next port of a flood gets them back.
  std::memcpy(p.bytes, frame, static_cast<size_t>(len));
  p.len = static_cast<uint32_t>(len);
  int r = filter(port, kOut, frame, len);
  if (r > 0) {
    p.ptr = frame;
    return r;
  }
  return r < 0 ? r : restored;
}

}  // namespace netcpu::vde
