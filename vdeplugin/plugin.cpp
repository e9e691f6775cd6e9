// netcpu.so: the vde_switch plugin. Registers the netcpu/... console
// commands and debug categories, subscribes to the packet events while some
// program needs them, and runs timer handlers from the switch's qtimer,
// which fires in a SIGALRM handler: the handler only writes a byte to a pipe
// that the switch's main loop watches, so programs never run in signal
// context. The pipe is polled only while a program has timer handlers.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "console_reads.h"
#include "netcpu/bytecode.h"
#include "netcpu/clock.h"
#include "netcpu/control.h"
#include "netcpu/version.h"
#include "switch_host.h"

using netcpu::vde::kSwitchLineBuffer;
using netcpu::vde::SwitchHost;

extern "C" {
__attribute__((visibility("default")))
plugin vde_plugin_data = {"netcpu", "NetCPU: packet programs on every port", nullptr, nullptr};
}

namespace {

constexpr int kTagLog = 0200;
constexpr int kTagDrop = 0201;

dbgcl g_debug[] = {
    {"netcpu/log", "output of NetCPU programs (print, log, dump)", kTagLog, nullptr, nullptr,
     nullptr, 0, 0, 0, 0, nullptr},
    {"netcpu/drop", "frames NetCPU programs drop", kTagDrop, nullptr, nullptr, nullptr, 0, 0, 0, 0,
     nullptr},
};

std::unique_ptr<SwitchHost> g_host;
std::vector<std::string> g_strings;  // paths, syntaxes and help the comlist points into
std::vector<comlist> g_commands;
unsigned int g_timer = 0;
int g_pipe[2] = {-1, -1};
unsigned char g_fdtype = 0;
SwitchHost::Needs g_subscribed;  // what the switch calls us for now

void debug_line(dbgcl& cl, std::string_view line) {
  if (cl.nfds > 0) debugout(&cl, "%.*s", static_cast<int>(line.size()), line.data());
}

// [[gnu::hot]] here, on SwitchHost::filter and on Instance::run: the linker
// puts the three together in .text.hot, so the frame path's code is one page
// (one iTLB entry) instead of three pages of netcpu.so.
[[gnu::hot]] int on_in(dbgcl*, void*, va_list v) {
  int port = va_arg(v, int);
  auto* frame = va_arg(v, uint8_t*);
  int len = va_arg(v, int);
  return g_host ? g_host->on_packet_in(port, frame, len) : 0;
}

int on_out(dbgcl*, void*, va_list v) {
  int port = va_arg(v, int);
  auto* frame = va_arg(v, uint8_t*);
  int len = va_arg(v, int);
  return g_host ? g_host->on_packet_out(port, frame, len) : 0;
}

void subscribe(SwitchHost::Needs want);

// vde_switch reads a console line with one read() into a buffer of 128
// bytes (MAXCMD in vde2's consmgmt.c; rc files and `load` scripts with
// fgets into as many, so 127 characters), ends it with a NUL, drops one
// newline at its end, skips blanks, finds the command by its path, skips
// the blanks after it and passes the rest: `arg`. A line cut there looks
// like any other, so the plugin measures it: the blanks and path before
// `arg` lie just before it in the switch's buffer. A line that came in two
// reads (its client wrote it in pieces, or closed the connection in the
// middle of it) is shorter: the read it came in tells (console_reads.h).
constexpr size_t kLongestWholeLine = kSwitchLineBuffer - 2;  // 127 characters may be a cut rc line

bool is_blank(char c) { return c == ' ' || c == '\t'; }

size_t console_line_length(std::string_view path, const char* arg) {
  const char* end = arg + std::strlen(arg);
  const char* start = arg;
  for (size_t k = 0; k < kSwitchLineBuffer && is_blank(start[-1]); ++k) --start;
  start -= path.size();
  if (std::memcmp(start, path.data(), path.size()) != 0) return static_cast<size_t>(end - arg);
  // Blanks before the path were part of the line too. What lies before the
  // buffer is the switch's stack: at most the buffer's length is read.
  while (static_cast<size_t>(end - start) < kSwitchLineBuffer && is_blank(start[-1])) --start;
  return static_cast<size_t>(end - start);
}

// One console command: the reply text goes into the DATA block, the errno
// (with the switch's strerror text) into the status line.
int run_command(size_t i, FILE* f, char* arg) {
  const std::string& name = g_commands[i].path;
  const std::string_view command = std::string_view(name).substr(7);
  netcpu::ControlReply r;
  // The connection a line came on (-1: an rc file's): a continued line goes
  // on with that connection's next line, never another client's.
  const auto read = arg ? netcpu::vde::console_read_of(arg) : std::nullopt;
  const int session = read ? read->fd : -1;
  if (arg && console_line_length(name, arg) > kLongestWholeLine) {
    // An rc file's commands answer nobody: the switch's log says it.
    printlog(4, "netcpu: refused a cut line (more than %zu characters): %s %.40s...",
             kLongestWholeLine, name.c_str(), arg);
    r = g_host->control().refuse_long_line(
        command, kLongestWholeLine,
        "vde_switch takes 128 bytes of a console line (127 characters of an rc file's line) and "
        "this one filled them: the switch cut it there, and hands the rest to its own parser as "
        "a line of its own (answered \"Function not implemented\")",
        session);
  } else if (read && (!read->newline || read->after_cut) &&
             !netcpu::vde::client_uses_libvdehist(read->fd)) {
    // Nobody may read the reply (a connection closed mid-line): the log says it too.
    printlog(4, "netcpu: refused a line that reached the switch %s: %s %.40s...",
             read->after_cut ? "after a cut one" : "without its end", name.c_str(), arg);
    r = g_host->control().refuse_cut_line(
        command,
        read->after_cut
            ? "this line came after one that reached vde_switch without its end (its client "
              "wrote a line in pieces): it may be the rest of that line, which vde_switch takes "
              "as a line of its own"
            : "the line reached vde_switch without its end (a newline): its client wrote it in "
              "pieces, or closed the connection in the middle of it, and vde_switch takes each "
              "piece as a line of its own (the rest, if it comes, is answered \"Function not "
              "implemented\")",
        session);
  } else {
    r = g_host->control().execute(command, arg ? arg : "", session);
  }
  g_host->refresh();
  subscribe(g_host->needs());
  // vdeterm and vdetelweb die on a line longer than their buffer (netcpu/list
  // -j of a few points, any netcpu/show -j): they get it in pieces.
  if (read && netcpu::vde::client_uses_libvdehist(read->fd))
    r.text = netcpu::vde::fit_lines(r.text, netcpu::vde::kVdehistLongestLine);
  size_t start = 0;
  while (start < r.text.size()) {
    size_t end = r.text.find('\n', start);
    if (end == std::string::npos) end = r.text.size();
    printoutc(f, "%.*s", static_cast<int>(end - start), r.text.data() + start);
    start = end + 1;
  }
  return r.error;
}

template <size_t I>
int command(FILE* f, char* arg) {
  return run_command(I + 1, f, arg);  // g_commands[0] is the menu entry
}

template <size_t... I>
constexpr auto command_table(std::index_sequence<I...>) {
  return std::array<int (*)(FILE*, char*), sizeof...(I)>{&command<I>...};
}
// One function for each command of the core's table: a host offers some of them.
constexpr auto kCommandFns =
    command_table(std::make_index_sequence<netcpu::Control::kCommandCount>());

void timer_signal(void*) {
  // SIGALRM context: only async-signal-safe work.
  char b = 1;
  [[maybe_unused]] ssize_t n = write(g_pipe[1], &b, 1);
}

void timer_io(unsigned char, int fd, int, void*) {
  char buf[64];
  while (read(fd, buf, sizeof buf) > 0) {
  }
  if (g_host) g_host->tick(netcpu::steady_ms());
}

void timer_cleanup(unsigned char, int fd, void*) {
  if (fd >= 0) close(fd);
}

swmodule g_timer_module = {"netcpu-timer", 0,       0,        nullptr,       nullptr,
                           nullptr,        nullptr, timer_io, timer_cleanup, nullptr};

bool start_timer() {
  if (pipe2(g_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
    printlog(3, "netcpu: no timer pipe (%s): timer handlers will not run", std::strerror(errno));
    return false;
  }
  add_fd(g_pipe[0], g_fdtype, nullptr);
  g_timer = qtimer_add(1, 0, timer_signal, nullptr);
  return true;
}

void stop_timer() {
  qtimer_del(g_timer);
  remove_fd(g_pipe[0]);  // closes it through timer_cleanup
  close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
}

// One callback per event, arg NULL, and exactly what was subscribed is
// unsubscribed (the switch's event table pitfalls: see the ABI notes).
void subscribe(SwitchHost::Needs want) {
  if (want.packet_in != g_subscribed.packet_in) {
    if (want.packet_in)
      eventadd(on_in, "packet/in", nullptr);
    else
      eventdel(on_in, "packet/in", nullptr);
  }
  if (want.packet_out != g_subscribed.packet_out) {
    if (want.packet_out)
      eventadd(on_out, "packet/out", nullptr);
    else
      eventdel(on_out, "packet/out", nullptr);
  }
  if (want.timer != g_subscribed.timer) {
    if (!want.timer)
      stop_timer();
    else if (!start_timer())
      want.timer = false;
  }
  g_subscribed = want;
}

__attribute__((constructor)) void netcpu_init() {
  g_host = std::make_unique<SwitchHost>(
      SwitchHost::Channel{[] { return g_debug[0].nfds > 0; },
                          [](std::string_view l) { debug_line(g_debug[0], l); }},
      SwitchHost::Channel{[] { return g_debug[1].nfds > 0; },
                          [](std::string_view l) { debug_line(g_debug[1], l); }});
  auto cmds = g_host->control().commands();
  g_strings.reserve(3 * (cmds.size() + 1) + 1);
  auto keep = [](std::string s) { return g_strings.emplace_back(std::move(s)).c_str(); };
  // plugin/list shows the help: with the version, whose one source is project().
  vde_plugin_data.help =
      keep(std::string("NetCPU ") + netcpu::kVersion + " (bytecode version " +
           std::to_string(netcpu::kBytecodeVersion) + "): packet programs on every port");
  g_commands.push_back({keep("netcpu"), keep("============"), keep("NetCPU packet programs"),
                        nullptr, kNoArg, nullptr});
  // commands() lists some of the table's kCommandCount commands: each has its function.
  for (size_t i = 0; i < cmds.size(); ++i)
    g_commands.push_back({keep("netcpu/" + cmds[i].name), keep(cmds[i].syntax), keep(cmds[i].help),
                          reinterpret_cast<int (*)()>(reinterpret_cast<void (*)()>(kCommandFns[i])),
                          static_cast<unsigned char>(kWithFile | kStrArg), nullptr});
  addcl(static_cast<int>(g_commands.size()), g_commands.data());
  // A connection's staged programs and continued lines end with it.
  if (!netcpu::vde::watch_console_reads([](int fd) { g_host->control().end_session(fd); }))
    printlog(4,
             "netcpu: vde_switch's read() was not found: a console line written in pieces is "
             "taken as it comes, cut");
  adddbgcl(2, g_debug);
  g_fdtype = add_type(&g_timer_module, 0);
}

__attribute__((destructor)) void netcpu_fini() {
  // Captures still on are flushed and closed, and the switch's log says
  // where they are and how far they got.
  if (g_host)
    for (const std::string& line : g_host->control().stop_captures("closed at plugin/del"))
      printlog(4, "netcpu: capture of %s", line.c_str());
  subscribe({});
  netcpu::vde::unwatch_console_reads();
  del_type(g_fdtype);
  deldbgcl(2, g_debug);
  delcl(static_cast<int>(g_commands.size()), g_commands.data());
  g_host.reset();
}

}  // namespace
