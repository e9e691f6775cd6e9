// vdetelweb's telnet as a Console. vdetelweb (Debian package vdetelweb)
// runs its own lwIPv6 stack on a vde_switch, listens on port 23 of the
// address in its rc file and relays each telnet session to the switch's
// management socket through libvdehist, which draws the switch's answers for
// a terminal. A session, byte for byte (vdetelweb 1.2.3, libvdehist of vde2
// 2.3.2):
//
//   server: the switch's banner, "\r\nLogin: "
//   client: IAC DONT ECHO           (any IAC turns vdetelweb's echo off; it
//   server: IAC WILL ECHO            answers WILL ECHO, which is refused)
//   client: "admin\r\n"             (the only user)
//   server: "Password: \0"          (on the login prompt's line: nothing is echoed)
//   client: PASSWORD "\r\n"         (the rc file's password= is its SHA-1, in hex)
//   server: "\r\nVDE2@NODE[CTLDIR]: "                  the prompt, or
//           "\r\nlogin incorrect\r\n\r\nPassword:"     (3 tries, then it hangs up)
//   client: COMMAND "\r\n"
//   server: "\r\n" PROMPT               (written as the command goes to the switch)
//           "\b" x N, " " x N, "\b" x N  (the prompt erased: N = its length)
//           each line of the DATA block, "\r\n" after each, without the
//           "0000 DATA END WITH '.'" and "." lines around them
//           "Success\r\n" or the error's text ("Invalid argument\r\n"): the
//           status line without its number
//           PROMPT
//   a debug line, at any time: erase, "** DBG MSG: CATEGORY TEXT\r\n", PROMPT
//
// So this console rebuilds the management protocol's shape from what the
// screen shows: the lines before the status in a DATA block, the status
// number from its text (strerror's words, as the switch prints them), and
// "3000 CATEGORY TEXT" for a debug line (its tag number is not shown).
//
// What vdetelweb imposes on a client:
// - it sends the switch each line without a newline, in one write, so the
//   next line may only go once the previous one's reply came (two lines in
//   the switch's buffer at once would be one line); command() waits;
// - the switch takes 126 characters of a line (netcpu.so refuses a longer
//   one), longer commands go in continued lines (netcpu ctl's), so longer
//   lines are refused here before anything is sent; so are control
//   characters, which vdetelweb's line editor acts on (tab completes, ^C
//   clears, ^D logs out);
// - after a login, and after plugin/add or plugin/del, it asks the switch
//   for `help` behind the session's back and may leave that reply's status
//   line to show up later as a stray "Success": the console then sends
//   ds/showinfo and skips everything up to its reply (sync());
// - a line of the switch's output longer than 1024 bytes overflows
//   libvdehist's line buffer and kills vdetelweb: netcpu.so gives it long
//   lines in pieces (a JSON reply cut between elements: join the DATA lines
//   to parse it), but another plugin's long line would still do it; its
//   stack dies with it, so the connection goes silent, and command() says
//   so at its timeout;
// - it writes a reply in many small pieces, each held back until the one
//   before is acknowledged: this client acknowledges at once.

// Boost 1.74's asio uses std::exchange without including <utility>: it must
// come first.
// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>

#include "cli_common.h"
#include "console.h"
#include "telnet_screen.h"

namespace netcpu::cli {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// vde_switch reads a console line into 128 bytes (netcpu.so's limit: 126
// characters); vdetelweb hands it over unchanged.
constexpr size_t kMaxConsoleLine = 126;
constexpr std::string_view kDebugMark = "** DBG MSG: ";
constexpr std::string_view kPromptStart = "VDE2@";
constexpr std::string_view kPromptEnd = "]: ";
// Its stack dies with it: its connections go silent rather than closed.
constexpr const char* kDiesOn =
    " (vdetelweb dies, leaving its connections silent, on an output line of more than 1024 "
    "bytes; netcpu.so cuts its own lines for it, other commands may not)";

bool starts_with_command(std::string_view line, std::string_view command) {
  size_t at = line.find_first_not_of(" \t");
  return at != std::string_view::npos && line.substr(at).starts_with(command);
}

// The status line's number from its text: what vde_switch prints after
// "1NNN " is strerror(NNN) (untranslated: strerrordesc_np, as in the C
// locale the switch runs in), "Success" for 0.
std::optional<int> status_number(const std::string& text) {
  static const std::map<std::string, int> numbers = [] {
    std::map<std::string, int> m{{"Success", 0}};
    for (int e = 1; e < 256; ++e)
      if (const char* s = strerrordesc_np(e)) m.emplace(s, e);
    return m;
  }();
  auto it = numbers.find(text);
  if (it == numbers.end()) return std::nullopt;
  return it->second;
}

std::string status_line(int number, const std::string& text) {
  char code[8];
  std::snprintf(code, sizeof code, "1%03d ", number);
  return code + text;
}

// Text a server sent, quoted for a message: control bytes as \xNN, its
// end when it is long.
std::string quoted(std::string_view text) {
  constexpr size_t kShown = 300;
  std::string out = text.size() > kShown ? "\"..." : "\"";
  for (char c : text.substr(text.size() > kShown ? text.size() - kShown : 0)) {
    if (static_cast<uint8_t>(c) >= 0x20 && c != 0x7f) {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex,
                    c == '\n'   ? "\\n"
                    : c == '\r' ? "\\r"
                                : "\\x%02x",
                    static_cast<uint8_t>(c));
      out += hex;
    }
  }
  return out + "\"";
}

// What the screen showed of one reply.
struct Shown {
  std::vector<std::string> lines;  // the last one is the status line's text
  std::vector<std::string> debug;  // "3000 CATEGORY TEXT"
};

class TelnetConsole final : public Console {
 public:
  TelnetConsole(const std::string& host, uint16_t port, const ConsoleOptions& options)
      : name_("telnet://" + (host.find(':') == std::string::npos ? host : "[" + host + "]") + ":" +
              std::to_string(port)),
        timeout_(options.timeout),
        sock_(io_) {
    const auto deadline = Clock::now() + options.timeout;
    connect(host, port, deadline);
    log_in(options.password, deadline);
    sync(deadline);
  }

  std::vector<std::string> command(const std::string& line, milliseconds timeout) override {
    check(line);
    const auto deadline = Clock::now() + timeout;
    // A blank line is not sent on by vdetelweb, a comment is answered with a
    // prompt alone: neither has a status line to wait for.
    const size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] != '#' && needs_sync_) sync(deadline);
    // Debug lines that came since the last reply go first, as they came.
    std::vector<std::string> out = std::move(debug_);
    debug_.clear();
    if (first == std::string::npos || line[first] == '#') return out;
    send(wire_text(line) + "\r\n", deadline);
    bool acked = false;
    std::optional<Shown> reply = read_reply(deadline, acked, "the reply to '" + line + "'");
    if (!reply) {
      needs_sync_ = true;  // its reply may still come: the next command skips it
      throw Failure(kBadInput, name_ + ": no whole reply to '" + line + "' within " +
                                   std::to_string(timeout.count()) + " ms" + showing() + kDiesOn);
    }
    needs_sync_ =
        starts_with_command(line, "plugin/add") || starts_with_command(line, "plugin/del");
    out.insert(out.end(), reply->debug.begin(), reply->debug.end());
    const std::string status = reply->lines.back();
    reply->lines.pop_back();
    if (!reply->lines.empty()) {
      out.push_back("0000 DATA END WITH '.'");
      out.insert(out.end(), reply->lines.begin(), reply->lines.end());
      out.push_back(".");
    }
    out.push_back(status_line(*status_number(status), status));
    return out;
  }

  void follow(milliseconds duration, const std::function<void(const std::string&)>& each) override {
    for (const auto& d : debug_) each(d);
    debug_.clear();
    try {
      wait_for(Clock::now() + duration, "debug lines", [&] {
        while (auto line = screen_.take_line())
          if (line->starts_with(kDebugMark)) each(debug_line(*line));
        return false;
      });
    } catch (const Failure&) {
      // The connection ended: as for a management socket, following stops.
    }
  }

 private:
  static std::string debug_line(const std::string& shown) {
    return "3000 " + shown.substr(kDebugMark.size());
  }

  void check(const std::string& line) const {
    if (line.size() > kMaxConsoleLine)
      throw Failure(kUsage, name_ + ": '" + line.substr(0, 60) +
                                "...': " + std::to_string(line.size()) +
                                " characters, more than the " + std::to_string(kMaxConsoleLine) +
                                " a console line holds (give a long netcpu/ command in "
                                "continued lines, as netcpu ctl does)");
    for (char c : line)
      if (static_cast<uint8_t>(c) < 0x20 || c == 0x7f)
        throw Failure(kUsage, name_ +
                                  ": a command line for vdetelweb cannot hold control "
                                  "characters (its line editor acts on them: tab completes, "
                                  "^C clears, ^D logs out): " +
                                  quoted(line));
  }

  // Telnet's one escape in text: the byte 255 is doubled.
  static std::string wire_text(const std::string& text) {
    std::string out;
    for (char c : text) {
      out += c;
      if (static_cast<uint8_t>(c) == telnet::kIac) out += c;
    }
    return out;
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw Failure(kBadInput, name_ + ": " + why);
  }

  // What the session showed lately, for a message.
  std::string showing() const {
    return screen_.received_text() ? "; the session showed " + quoted(screen_.recent()) : "";
  }

  // Runs the operation started on io_ until it completes or the deadline
  // passes, then cancels it; whether it completed.
  bool run_until(Clock::time_point deadline, const bool& done,
                 const std::function<void()>& cancel) {
    io_.restart();
    io_.run_until(deadline);
    const bool finished = done;
    if (!finished) {
      cancel();
      io_.restart();
      io_.run();
    }
    return finished;
  }

  void connect(const std::string& host, uint16_t port, Clock::time_point deadline) {
    tcp::resolver resolver(io_);
    boost::system::error_code error;
    tcp::resolver::results_type endpoints;
    bool done = false;
    resolver.async_resolve(host, std::to_string(port),
                           [&](const boost::system::error_code& e, tcp::resolver::results_type r) {
                             error = e;
                             endpoints = std::move(r);
                             done = true;
                           });
    if (!run_until(deadline, done, [&] { resolver.cancel(); }))
      fail("could not resolve " + host + " within " + std::to_string(timeout_.count()) + " ms");
    if (error) fail(host + ": " + error.message());
    done = false;
    asio::async_connect(sock_, endpoints, [&](const boost::system::error_code& e, const auto&) {
      error = e;
      done = true;
    });
    if (!run_until(deadline, done, [&] { sock_.close(); }))
      fail("no connection within " + std::to_string(timeout_.count()) +
           " ms (no host at that address, or the port is filtered)");
    if (error) fail(error.message());
    // Each line goes in one write, at once.
    sock_.set_option(tcp::no_delay(true), error);
  }

  // vdetelweb writes a reply in many small writes (the erased prompt, each
  // line, the prompt), and its stack holds each back until the one before
  // is acknowledged (Nagle): acknowledged at once, a reply comes in a few
  // milliseconds instead of waiting for Linux's delayed ACKs (40 ms each).
  // Linux turns quick ACKs off again by itself, so this is asked before
  // every read.
  void acknowledge_at_once() {
    const int on = 1;
    setsockopt(sock_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
  }

  void send(const std::string& bytes, Clock::time_point deadline) {
    boost::system::error_code error;
    bool done = false;
    asio::async_write(sock_, asio::buffer(bytes), [&](const boost::system::error_code& e, size_t) {
      error = e;
      done = true;
    });
    if (!run_until(deadline, done, [&] { sock_.cancel(); }))
      fail("the server takes nothing in (a write did not finish in time)");
    if (error) fail("the connection ended: " + error.message() + showing());
  }

  // Reads until done() holds (it is asked first, and after each piece of
  // input); false when the deadline came first. Options the server offers
  // are refused as they come. Throws when the connection ends.
  bool wait_for(Clock::time_point deadline, const std::string& what,
                const std::function<bool()>& done) {
    while (!done()) {
      char buf[4096];
      size_t got = 0;
      boost::system::error_code error;
      bool finished = false;
      acknowledge_at_once();
      sock_.async_read_some(asio::buffer(buf), [&](const boost::system::error_code& e, size_t n) {
        error = e;
        got = n;
        finished = true;
      });
      if (!run_until(deadline, finished, [&] { sock_.cancel(); })) return false;
      if (error)
        fail("the connection ended while waiting for " + what + " (" + error.message() + ")" +
             showing());
      const std::string answers = screen_.feed(std::string_view(buf, got));
      if (!answers.empty()) send(answers, deadline);
    }
    return true;
  }

  void log_in(const std::string& password, Clock::time_point deadline) {
    // Any option turns vdetelweb's echo off (what is typed is then not
    // sent back); not echoing is also what this client asks for.
    send({static_cast<char>(telnet::kIac), static_cast<char>(telnet::kDont),
          static_cast<char>(telnet::kEcho)},
         deadline);
    const std::string waited = std::to_string(timeout_.count()) + " ms";
    auto not_vdetelweb = [&](const std::string& expected) {
      if (!screen_.received_text())
        fail("no answer within " + waited + " (a server that says nothing is not vdetelweb)");
      fail("not vdetelweb's telnet: no " + expected + " within " + waited + "; it sent " +
           quoted(screen_.recent()));
    };
    if (!wait_for(deadline, "the login prompt", [&] { return screen_.partial() == "Login: "; }))
      not_vdetelweb("\"Login: \" prompt");
    send("admin\r\n", deadline);
    if (!wait_for(deadline, "the password prompt",
                  [&] { return screen_.partial().ends_with("Password: "); }))
      not_vdetelweb("\"Password: \" prompt after \"admin\"");
    if (password.find_first_of(std::string("\r\n\0", 3)) != std::string::npos)
      fail("a password cannot hold a line end or a NUL");
    send(wire_text(password) + "\r\n", deadline);
    bool refused = false;
    const bool answered = wait_for(deadline, "the answer to the password", [&] {
      while (auto line = screen_.take_line()) refused = refused || *line == "login incorrect";
      const std::string& p = screen_.partial();
      return refused || (p.starts_with(kPromptStart) && p.ends_with(kPromptEnd));
    });
    if (refused)
      fail(
          "login incorrect: wrong password (vdetelweb's rc file holds password=SHA1, the hex of "
          "`printf %s PASSWORD | sha1sum`)");
    if (!answered) not_vdetelweb("prompt (\"VDE2@NODE[DIR]: \") after the password");
    prompt_ = screen_.partial();
  }

  // The next reply on the screen. `acked`: whether the line vdetelweb
  // writes as it passes the command on ("\r\n" after the prompt: a finished
  // line that is the prompt) came; what comes before it is not this
  // command's, and is dropped (but debug lines). nullopt on the deadline.
  std::optional<Shown> read_reply(Clock::time_point deadline, bool& acked,
                                  const std::string& what) {
    Shown shown;
    const bool whole = wait_for(deadline, what, [&] {
      while (auto line = screen_.take_line()) {
        if (line->starts_with(kDebugMark)) {
          shown.debug.push_back(debug_line(*line));
        } else if (line->starts_with(prompt_)) {
          acked = true;
        } else if (acked) {
          shown.lines.push_back(std::move(*line));
        }
      }
      return acked && screen_.partial() == prompt_ && !shown.lines.empty() &&
             status_number(shown.lines.back());
    });
    if (!whole) {
      debug_.insert(debug_.end(), shown.debug.begin(), shown.debug.end());
      return std::nullopt;
    }
    return shown;
  }

  // Skips whatever the session may still show of earlier replies (a stray
  // status line vdetelweb's `help` left, a reply that came too late): sends
  // ds/showinfo, which every vde_switch answers with its "ctl dir" line,
  // and drops every reply up to the one that has it.
  void sync(Clock::time_point deadline) {
    send("ds/showinfo\r\n", deadline);
    bool acked = false;
    for (;;) {
      std::optional<Shown> reply = read_reply(deadline, acked, "the reply to ds/showinfo");
      if (!reply)
        fail("no reply to ds/showinfo within " + std::to_string(timeout_.count()) + " ms" +
             showing() + kDiesOn);
      debug_.insert(debug_.end(), reply->debug.begin(), reply->debug.end());
      for (const auto& line : reply->lines)
        if (line.starts_with("ctl dir ")) {
          needs_sync_ = false;
          return;
        }
    }
  }

  std::string name_;
  milliseconds timeout_;
  asio::io_context io_;
  tcp::socket sock_;
  TelnetScreen screen_;
  std::string prompt_;
  std::vector<std::string> debug_;  // debug lines not given yet
  bool needs_sync_ = false;
};

}  // namespace

std::unique_ptr<Console> open_telnet_console(const std::string& host, uint16_t port,
                                             const ConsoleOptions& options) {
  return std::make_unique<TelnetConsole>(host, port, options);
}

}  // namespace netcpu::cli
