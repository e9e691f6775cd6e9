// libvdeplug_netcpu.so: a vdeplug4 nested module that filters a VDE cable
// with NetCPU programs, for any libvdeplug user (vde_plug, vdens, qemu,
// lwIPv6), without root:
//
//   netcpu://[in=FILE/out=FILE/inout=FILE/budget=N/onabort=pass|drop/log=FILE/
//             stats/incapture=drop:FILE/outcapture=pass:100:FILE/mgmt=PATH]{NESTED_URL}
//
// The spelling is vdeplug4's own for nested modules (vlan://, agno://,
// wirefilter://): options in [...] separated by '/', split by libvdeplug's
// vde_parsepathparms (quotes and %XX protect a '/' in a file name), the
// wrapped URL in {...}, cut out by vde_parsenestparms and opened with the
// public vde_open, as those modules do. docs/vde-switch.md has the details.
// This file is only the ABI glue; the host is cable_host.cpp.
#include <errno.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "cable_host.h"

extern "C" {
#include <libvdeplug.h>
#include <libvdeplug_mod.h>
}

using netcpu::vde::CableError;
using netcpu::vde::CableHost;
using netcpu::vde::CableOptions;

namespace {

// libvdeplug writes handle and module into what vde_open_real returns, as
// into its own struct vdeconn: they must come first.
struct CableConn {
  CableConn() = default;
  CableConn(const CableConn&) = delete;
  CableConn& operator=(const CableConn&) = delete;
  ~CableConn() { delete host; }
  void* handle = nullptr;
  vdeplug_module* module = nullptr;
  VDECONN* nested = nullptr;
  // Owned. Not a unique_ptr: with libstdc++, clang does not take one for
  // standard layout, and this struct must be.
  CableHost* host = nullptr;
};
static_assert(std::is_standard_layout_v<CableConn>);
static_assert(offsetof(CableConn, handle) == offsetof(vdeconn, handle));
static_assert(offsetof(CableConn, module) == offsetof(vdeconn, module));

CableConn* cable(VDECONN* c) { return reinterpret_cast<CableConn*>(c); }

// Every line the opener sees starts with "netcpu: ", so that the reason for
// a failed vde_open stands out among the caller's own messages.
void complain(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += "netcpu: " + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, out.data(), out.size());
}

VDECONN* fail(int error, const std::string& text) {
  complain(text);
  errno = error;
  return nullptr;
}

constexpr const char* kSyntax =
    "netcpu://[in=FILE/out=FILE/inout=FILE/infilter=EXPR/outfilter=EXPR/inoutfilter=EXPR/"
    "budget=N/onabort=pass|drop/log=FILE/stats/incapture=pass|drop|all[:COUNT][:SIZE]:FILE/"
    "outcapture=.../inoutcapture=.../mgmt=PATH]{URL}";

VDECONN* cable_open(char* url, char* descr, int, vde_open_args* open_args) {
  char* nested = vde_parsenestparms(url);
  char *in = nullptr, *out = nullptr, *infilter = nullptr, *outfilter = nullptr;
  char *inout = nullptr, *inoutfilter = nullptr, *inoutcapture = nullptr;
  char *budget = nullptr, *onabort = nullptr, *log = nullptr, *stats = nullptr;
  char *incapture = nullptr, *outcapture = nullptr, *mgmt = nullptr;
  // vde_parsepathparms takes a key as given if it is a prefix of a key of
  // this list, the first that it is a prefix of: shorter keys come before
  // the longer ones they are a prefix of, so that "in=" is not "infilter="
  // nor "inout=" ("inout=" is not "in=" either: the whole key given is
  // compared), and "ino=" is "inout=".
  vdeparms parms[] = {{const_cast<char*>("in"), &in},
                      {const_cast<char*>("infilter"), &infilter},
                      {const_cast<char*>("inout"), &inout},
                      {const_cast<char*>("inoutfilter"), &inoutfilter},
                      {const_cast<char*>("inoutcapture"), &inoutcapture},
                      {const_cast<char*>("out"), &out},
                      {const_cast<char*>("outfilter"), &outfilter},
                      {const_cast<char*>("budget"), &budget},
                      {const_cast<char*>("onabort"), &onabort},
                      {const_cast<char*>("log"), &log},
                      {const_cast<char*>("stats"), &stats},
                      {const_cast<char*>("incapture"), &incapture},
                      {const_cast<char*>("outcapture"), &outcapture},
                      {const_cast<char*>("mgmt"), &mgmt},
                      {nullptr, nullptr}};
  if (vde_parsepathparms(url, parms) != 0)  // it has printed "unknown key: ..."
    return fail(EINVAL, std::string("the options are: ") + kSyntax);
  if (*url)
    return fail(EINVAL, std::string("unexpected '") + url + "' before the options: write " +
                            kSyntax + " (a '/' in a file name goes in quotes, or as %2F)");
  if (nested == nullptr || *nested == 0)
    return fail(EINVAL, std::string("no URL to filter: write ") + kSyntax +
                            ", e.g. netcpu://[in=drop.ncpu]{vde:///tmp/switch}");

  CableOptions o;
  o.in_file = in ? in : "";
  o.out_file = out ? out : "";
  o.in_filter = infilter ? infilter : "";
  o.out_filter = outfilter ? outfilter : "";
  o.inout_file = inout ? inout : "";
  o.inout_filter = inoutfilter ? inoutfilter : "";
  o.inout_capture = inoutcapture ? inoutcapture : "";
  o.log_file = log ? log : "";
  o.stats = stats != nullptr;
  o.in_capture = incapture ? incapture : "";
  o.out_capture = outcapture ? outcapture : "";
  o.mgmt = mgmt ? mgmt : "";
  if (budget) {
    char* end = nullptr;
    errno = 0;
    unsigned long long b = std::strtoull(budget, &end, 10);
    if (!*budget || *end || errno || b == 0 || *budget == '-')
      return fail(EINVAL, std::string("budget=") + budget +
                              ": expected a positive number of instructions per frame");
    o.budget = b;
  }
  if (onabort) {
    if (std::strcmp(onabort, "pass") == 0)
      o.on_abort = netcpu::Verdict::Pass;
    else if (std::strcmp(onabort, "drop") == 0)
      o.on_abort = netcpu::Verdict::Drop;
    else
      return fail(EINVAL, std::string("onabort=") + onabort + ": expected pass or drop");
  }

  auto conn = std::make_unique<CableConn>();
  CableConn* c = conn.get();
  CableError err;
  // Emitted packets leave on the wire, from whichever thread runs the program.
  conn->host = CableHost::create(
                   o, [c](const uint8_t* f, uint32_t n) { vde_send(c->nested, f, n, 0); }, &err)
                   .release();
  if (!conn->host) return fail(err.error, err.message);
  conn->nested = vde_open(nested, descr, open_args);
  if (conn->nested == nullptr) {
    int e = errno;
    std::string text = std::string("cannot open ") + nested + ": " + std::strerror(e);
    if (e == EPROTONOSUPPORT && std::getenv("VDEPLUGIN_PATH"))
      text +=
          "\nVDEPLUGIN_PATH replaces libvdeplug's module search: list the directory of the "
          "system's modules in it too (e.g. VDEPLUGIN_PATH=DIR:/usr/lib/x86_64-linux-gnu/vdeplug)";
    return fail(e, text);
  }
  return reinterpret_cast<VDECONN*>(conn.release());
}

ssize_t cable_recv(VDECONN* conn, void* buf, size_t len, int flags) {
  CableConn* c = cable(conn);
  ssize_t n = vde_recv(c->nested, buf, len, flags);
  // 0 and 1 are how modules say "nothing this time" (or EOF); pass them on.
  if (n <= 1) return n;
  auto* frame = static_cast<uint8_t*>(buf);
  ssize_t r = c->host->on_recv(frame, static_cast<size_t>(n), len);
  if (r < 0) {
    // vdeplug4's convention for a frame that is not for the caller (the vlan
    // module on another VLAN's frame, vxvde on a foreign one): a 1-byte
    // result with EAGAIN, which every user ignores as too short for Ethernet
    // and which is neither an error nor end of file.
    frame[0] = 0;
    errno = EAGAIN;
    return 1;
  }
  return r;
}

ssize_t cable_send(VDECONN* conn, const void* buf, size_t len, int flags) {
  CableConn* c = cable(conn);
  size_t l = len;
  bool too_long = false;
  const uint8_t* f = c->host->on_send(static_cast<const uint8_t*>(buf), &l, &too_long);
  if (f == nullptr) {
    if (too_long) return errno = EMSGSIZE, -1;
    return static_cast<ssize_t>(len);  // dropped by the filter: not the sender's error
  }
  ssize_t n = vde_send(c->nested, f, l, flags);
  // The sender counts its own bytes, whatever length the program made.
  return n == static_cast<ssize_t>(l) ? static_cast<ssize_t>(len) : n;
}

int cable_datafd(VDECONN* conn) { return vde_datafd(cable(conn)->nested); }

int cable_ctlfd(VDECONN* conn) { return vde_ctlfd(cable(conn)->nested); }

int cable_close(VDECONN* conn) {
  std::unique_ptr<CableConn> c(cable(conn));
  // No command runs after this, and the socket file is gone.
  c->host->close_console();
  // Where the captures are and how far they got: always, a capture is asked for.
  for (const std::string& line : c->host->stop_captures()) c->host->log_line(line);
  if (c->host->want_stats()) {
    std::string t = c->host->stats_text();
    size_t start = 0;
    while (start < t.size()) {
      size_t end = t.find('\n', start);
      if (end == std::string::npos) end = t.size();
      c->host->log_line(std::string_view(t).substr(start, end - start));
      start = end + 1;
    }
  }
  delete std::exchange(c->host, nullptr);
  return vde_close(c->nested);
}

}  // namespace

extern "C" {
__attribute__((visibility("default"))) vdeplug_module vdeplug_ops = {
    0, cable_open, cable_recv, cable_send, cable_datafd, cable_ctlfd, cable_close,
};
}
