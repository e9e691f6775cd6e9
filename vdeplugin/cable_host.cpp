#include "cable_host.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "control_console.h"
#include "netcpu/bytecode.h"
#include "netcpu/clock.h"
#include "netcpu/drop_line.h"
#include "netcpu/file.h"
#include "netcpu/load.h"
#include "netcpu/pcap_dump.h"
#include "netcpu/version.h"

namespace netcpu::vde {
namespace {

constexpr size_t kEthHeader = 14;

// One write(2) per line, so that lines from the two directions (two threads)
// and from other processes sharing the log never interleave mid-line.
void write_line(int fd, std::initializer_list<std::string_view> parts) {
  iovec v[8];
  int n = 0;
  for (std::string_view p : parts)
    if (n < 8) v[n++] = {const_cast<char*>(p.data()), p.size()};
  while (writev(fd, v, n) < 0 && errno == EINTR) {
  }
}

}  // namespace

CableHost::CableHost(WireSend wire, int log_fd, bool own_log_fd, bool stats)
    : wire_(std::move(wire)), log_fd_(log_fd), own_log_fd_(own_log_fd), stats_(stats) {}

CableHost::~CableHost() {
  close_console();
  if (own_log_fd_) close(log_fd_);
}

void CableHost::close_console() { console_.reset(); }

void CableHost::output_line(const AttachPoint& at, std::string_view line) const {
  write_line(log_fd_, {"netcpu ", at.name(), ": ", line, "\n"});
  if (console_ && console_->console().listening(console::kLogCategory))
    console_->console().publish(console::kLogCategory, at.name() + ": " + std::string(line));
}

// The switch's netcpu/ commands on the cable's points, from the console's
// thread: each command holds every point's lock, so that it acts between
// two frames of each direction.
bool CableHost::open_console(const CableOptions& o, CableError* err) {
  Control::Options c;
  c.caps = caps();
  if (o.budget) c.limits.budget = *o.budget;
  if (o.on_abort) c.limits.on_abort = *o.on_abort;
  c.point_syntax = "in|out|inout";
  c.point_words = 1;
  c.process_name = "the cable's process";
  c.resolve = [this](const std::vector<std::string>& w, std::string* why) -> AttachPoint* {
    for (Side* s : {&in_, &out_, &inout_})
      if (w[0] == s->name) return &s->at;
    *why = "a cable's points are in, out and inout, not '" + w[0] + "'";
    return nullptr;
  };
  c.for_each = [this](const std::function<void(AttachPoint&)>& fn) {
    fn(in_.at);
    fn(out_.at);
    fn(inout_.at);
  };
  c.output = [this](const AttachPoint& at, OutputKind, std::string_view line) {
    output_line(at, line);
  };
  control_ = std::make_unique<Control>(std::move(c));
  // Programs loaded from the console may rewrite on `out` too.
  if (!send_buf_) send_buf_ = std::make_unique<std::array<uint8_t, kCableFrameMax>>();

  auto opts = console::control_console_options(
      *control_, o.mgmt,
      std::string("NetCPU ") + kVersion + " (bytecode version " + std::to_string(kBytecodeVersion) +
          ") on a netcpu:// cable (process " + std::to_string(getpid()) +
          ")\nnetcpu/... commands program its points: in, out and inout (both ways); debug/add "
          "netcpu/log shows output\n");
  opts.handler = [this](std::string_view name, std::string_view args, int session) {
    ControlReply r = command(name, args, session);
    return console::CommandReply{r.error, std::move(r.text)};
  };
  opts.overlong = [this](std::string_view name) {
    std::scoped_lock lk(in_.mu, out_.mu, inout_.mu);
    return console::refuse_overlong(*control_, name);
  };
  opts.closed = [this](int session) {
    std::scoped_lock lk(in_.mu, out_.mu, inout_.mu);
    control_->end_session(session);
  };
  // A file that is not a socket is somebody's: left alone.
  struct stat st;
  if (lstat(o.mgmt.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
    *err = {EEXIST, "mgmt=" + o.mgmt + ": a file that is not a socket is there; it is left alone"};
    return false;
  }
  try {
    console_ = std::make_unique<console::ConsoleThread>(std::move(opts), "netcpu-cable");
  } catch (const std::system_error& e) {
    const int error = e.code().value() ? e.code().value() : EINVAL;
    *err = {error, "mgmt=" + o.mgmt + ": cannot open the console there: " + std::strerror(error) +
                       (error == EADDRINUSE ? " (another console serves it)" : "")};
    return false;
  }
  return true;
}

ControlReply CableHost::command(std::string_view name, std::string_view args, int session) {
  const auto command = console::control_command(name);
  if (!command) return console::unknown_command(name);
  std::scoped_lock lk(in_.mu, out_.mu, inout_.mu);
  return control_->execute(*command, args, session);
}

HostCaps CableHost::caps() const {
  HostCaps c;
  c.link = LinkType::Ethernet;
  // A cable has one other end: there is no port to redirect or mirror to.
  c.redirect = false;
  c.mirror = false;
  c.emit = true;
  c.resize = true;
  c.max_packet = kCableFrameMax;
  c.host_name = "a netcpu:// cable";
  return c;
}

void CableHost::log_line(std::string_view line) const {
  write_line(log_fd_, {"netcpu: ", line, "\n"});
}

std::unique_ptr<CableHost> CableHost::create(const CableOptions& o, WireSend wire,
                                             CableError* err) {
  int fd = STDERR_FILENO;
  bool own = false;
  if (!o.log_file.empty()) {
    fd = open(o.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      *err = {errno, "log=" + o.log_file + ": " + std::strerror(errno)};
      return nullptr;
    }
    own = true;
  }
  std::unique_ptr<CableHost> h(new CableHost(std::move(wire), fd, own, o.stats));
  if (!h->load(h->in_, o.in_file, o.in_filter, o, err) ||
      !h->load(h->out_, o.out_file, o.out_filter, o, err) ||
      !h->load(h->inout_, o.inout_file, o.inout_filter, o, err) ||
      !h->capture(h->in_, o.in_capture, err) || !h->capture(h->out_, o.out_capture, err) ||
      !h->capture(h->inout_, o.inout_capture, err) || (!o.mgmt.empty() && !h->open_console(o, err)))
    return nullptr;
  if (h->out_.at.program() || h->inout_.at.program())
    h->send_buf_ = std::make_unique<std::array<uint8_t, kCableFrameMax>>();
  return h;
}

bool CableHost::load(Side& s, const std::string& file, const std::string& filter,
                     const CableOptions& o, CableError* err) {
  if (file.empty() && filter.empty()) return true;
  const std::string side = s.name;
  if (!file.empty() && !filter.empty()) {
    *err = {EINVAL,
            side + "=" + file + " and " + side + "filter=" + filter + ": one program per point"};
    return false;
  }
  std::optional<Program> prog;
  LoadError why;
  if (!filter.empty()) {
    prog =
        program_from_filter(filter, caps().link, 0, "<" + side + "filter '" + filter + "'>", &why);
    if (!prog) {
      *err = {EINVAL, side + "filter '" + filter + "': " + why.text};
      return false;
    }
  } else {
    FileError unread;
    auto bytes = read_whole_file(file, &unread);
    if (!bytes) {
      *err = {unread.error, side + "=" + file + ": " + std::strerror(unread.error)};
      return false;
    }
    prog = program_from_bytes(*bytes, file, &why);
  }
  if (!prog) {
    *err = {EINVAL, why.text};
    return false;
  }
  Limits limits;
  if (o.budget) limits.budget = *o.budget;
  if (o.on_abort) limits.on_abort = *o.on_abort;
  // Runs on the side's own thread, inside a frame: one write (and a copy
  // for the console when someone there listens).
  auto sink = [this, &at = s.at](OutputKind, std::string_view line) { output_line(at, line); };
  std::string source = prog->source_file.empty() ? file : prog->source_file;
  auto vm = instantiate(std::move(*prog), caps(), limits, sink, source, &why);
  if (!vm) {
    *err = {EINVAL, why.text};
    return false;
  }
  for (const Diagnostic& w : vm->warnings()) log_line(side + ": " + w.str());
  s.at.replace(std::move(vm));
  s.at.set_origin(filter.empty() ? file : "<" + side + "filter '" + filter + "'>");
  return true;
}

// incapture=/outcapture=/inoutcapture=: netcpu/capture's arguments with ':' between them,
// the file last (it may hold ':' itself).
bool CableHost::capture(Side& s, const std::string& spec, CableError* err) {
  if (spec.empty()) return true;
  const std::string key = std::string(s.name) + "capture=";
  if (!s.at.program()) {
    *err = {EINVAL, key + spec + ": there is no " + s.name + " program whose frames it would keep"};
    return false;
  }
  std::vector<std::string> words;
  size_t start = 0;
  for (size_t colon; (colon = spec.find(':', start)) != std::string::npos; start = colon + 1) {
    words.push_back(spec.substr(start, colon - start));
    if (words.size() > 1 && !is_capture_bound(words.back())) {
      words.pop_back();
      break;
    }
  }
  const std::string file = words.empty() ? std::string() : spec.substr(start);
  std::string why;
  auto c =
      make_capture(words.empty() ? spec : words[0],
                   std::vector<std::string>(words.begin() + !words.empty(), words.end()), &why);
  if (!c || file.empty()) {
    *err = {EINVAL, key + spec + ": " + (c ? "no file" : why) + " (write " + key +
                        "pass|drop|all[:COUNT][:SIZE]:FILE)"};
    return false;
  }
  c->file = file;
  int error = EIO;
  c->sink = capture_opener(caps())(file, &error, &why);
  if (!c->sink) {
    *err = {error, key + spec + ": " + file + ": " + why};
    return false;
  }
  s.at.start_capture(std::move(c));
  return true;
}

std::vector<std::string> CableHost::stop_captures() {
  std::vector<std::string> lines;
  for (Side* s : {&in_, &out_, &inout_})
    if (s->at.capture())
      lines.push_back(std::string(s->name) +
                      " capture: " + s->at.stop_capture("closed with the cable")->status());
  return lines;
}

void CableHost::note_abort(Side& s, const RunResult& r) {
  // A runaway program stops on every frame: say why once, count the rest.
  if (s.abort_logged) return;
  s.abort_logged = true;
  const Program& p = s.at.program()->program();
  SourcePos pos = p.pos(r.abort_pc);
  std::string where = p.source_file.empty() ? p.name : p.source_file;
  if (pos.line) where += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
  log_line(std::string(s.name) + ": " + where + ": run stopped: " + abort_reason_name(r.reason) +
           (r.reason == AbortReason::Budget
                ? " (" + std::to_string(s.at.program()->limits().budget) + " instructions)"
                : std::string()) +
           "; the frame took the verdict " + verdict_name(r.verdict) +
           " (later stops are counted, not logged)");
}

// A console's netcpu/drop line, when someone there listens.
void CableHost::note_drop(const Side& s, const RunResult& r, const uint8_t* frame, uint32_t len) {
  if (console_ && console_->console().listening(console::kDropCategory))
    console_->console().publish(console::kDropCategory,
                                drop_line(s.name, *s.at.program(), r, {frame, len}));
}

void CableHost::after_run(Side& s, const Way& w, const RunResult& r, bool timer) {
  if (r.aborted) note_abort(s, r);
  if (!r.emitted) return;
  for (const EmittedPacket& e : s.at.program()->emitted()) {
    // INPORT is the wire for frames that came from it, and for timers, which
    // have no frame; this process cannot be handed a frame from here (see
    // docs/vde-switch.md).
    int32_t port = e.port == kInport ? (timer ? kWirePort : w.source) : e.port;
    if (port == kWirePort)
      wire_(e.data.data(), e.length);
    else
      s.at.program()->stats().count_error();
  }
}

// Late (no traffic for a while): a timer runs once, not once per missed period.
// An inout point's timers run before a frame of either way, seeing its `dir`
// and `port` (their INPORT is the wire all the same).
void CableHost::run_timers(Side& s, const Way& w) {
  s.at.run_due_timers(steady_ms(), w.meta(), [&](const RunResult& r) { after_run(s, w, r, true); });
}

RunResult CableHost::run(Side& s, const Way& w, uint8_t* frame, uint32_t& len, uint32_t cap) {
  if (s.at.has_timers()) run_timers(s, w);
  RunResult r = s.at.run(frame, len, cap, w.meta());
  after_run(s, w, r, false);
  if (r.verdict == Verdict::Drop) note_drop(s, r, frame, len);
  return r;
}

// The way's own point first, then inout; a drop ends it.
ssize_t CableHost::on_recv(uint8_t* buf, size_t len, size_t cap) {
  uint32_t l = static_cast<uint32_t>(len);
  const uint32_t c = std::max(static_cast<uint32_t>(std::min<size_t>(cap, kCableFrameMax)), l);
  for (Side* s : {&in_, &inout_}) {
    auto lk = lock(*s);
    if (!s->at.program()) continue;
    // Too short for an Ethernet header: a filter fails closed.
    if (len < kEthHeader) return -1;
    if (run(*s, kArriving, buf, l, c).verdict != Verdict::Pass) return -1;
  }
  return static_cast<ssize_t>(l);
}

const uint8_t* CableHost::on_send(const uint8_t* frame, size_t* len, bool* too_long) {
  *too_long = false;
  const uint8_t* sent = frame;
  uint32_t l = static_cast<uint32_t>(std::min<size_t>(*len, kCableFrameMax));
  for (Side* s : {&out_, &inout_}) {
    auto lk = lock(*s);
    if (!s->at.program()) continue;
    if (*len > kCableFrameMax) {
      *too_long = true;
      return nullptr;
    }
    // The program rewrites a copy (the sender's buffer is const), made once.
    uint8_t* copy = send_buf_->data();
    if (sent != copy) std::memcpy(copy, frame, *len);
    sent = copy;
    if (run(*s, kSent, copy, l, kCableFrameMax).verdict != Verdict::Pass) return nullptr;
  }
  if (sent != frame) *len = l;
  return sent;
}

std::string CableHost::stats_text() const {
  std::string t;
  for (const Side* s : {&in_, &out_, &inout_}) {
    const Instance* vm = s->at.program();
    if (!vm) continue;
    const Stats& st = vm->stats();
    auto n = [](const std::atomic<uint64_t>& c) { return std::to_string(c.load()); };
    if (!t.empty()) t += '\n';
    t += std::string(s->name) + " (" + vm->program().name + "): " + n(st.packets) + " frames, " +
         n(st.passed) + " passed, " + n(st.dropped) + " dropped, " + n(st.modified) +
         " modified, " + n(st.emitted) + " emitted, " + n(st.aborted) + " aborted, " +
         n(st.errors) + " errors, " + n(st.timer_runs) + " timer runs, " +
         std::to_string(s->at.bytes(Verdict::Pass)) + " bytes passed, " +
         std::to_string(s->at.bytes(Verdict::Drop)) + " bytes dropped";
  }
  return t;
}

}  // namespace netcpu::vde
