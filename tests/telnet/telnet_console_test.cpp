// The telnet client's parts that need no vdetelweb: the screen decoder on
// bytes recorded from vdetelweb 1.2.3 sessions, and open_telnet_console
// against servers that are not vdetelweb (one that says nothing, one that
// says something else, a port nobody listens on): each a clear error within
// the timeout, never a hang.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cli_common.h"
#include "console.h"
#include "telnet_screen.h"

namespace netcpu::cli {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::string_literals;

std::vector<std::string> take_all(TelnetScreen& s) {
  std::vector<std::string> lines;
  while (auto l = s.take_line()) lines.push_back(*l);
  return lines;
}

const std::string kPrompt = "VDE2@node1[/tmp/twx/sock]: ";
// What vdetelweb writes before the switch's output: the prompt erased.
std::string erase() {
  return std::string(kPrompt.size(), '\b') + std::string(kPrompt.size(), ' ') +
         std::string(kPrompt.size(), '\b');
}

TEST(TelnetScreen, RecordedLoginGivesThePromptAndRefusesEcho) {
  TelnetScreen s;
  EXPECT_EQ(s.feed("VDE switch V.2.3.2\n(C) Virtual Square Team (coord. R. Davoli) 2005,2006,2007 "
                   "- GPLv2\n\r\nLogin: "),
            "");
  EXPECT_EQ(s.partial(), "Login: ");
  // The answer to the client's IAC DONT ECHO: WILL ECHO, refused once.
  EXPECT_EQ(s.feed("\xff\xfb\x01"), "\xff\xfe\x01");
  EXPECT_EQ(s.feed("\xff\xfb\x01"), "") << "an option is refused once";
  EXPECT_EQ(s.feed("\xff\xfd\x18"), "\xff\xfc\x18") << "DO TTYPE: WONT";
  s.feed("Password: \0"s);
  EXPECT_EQ(s.partial(), "Login: Password: ") << "no echo of \"admin\\r\\n\"";
  s.feed("\r\n" + kPrompt);
  EXPECT_EQ(s.partial(), kPrompt);
  EXPECT_EQ(take_all(s), (std::vector<std::string>{
                             "VDE switch V.2.3.2",
                             "(C) Virtual Square Team (coord. R. Davoli) 2005,2006,2007 - GPLv2",
                             "", "Login: Password: "}));
}

TEST(TelnetScreen, RecordedReplyLeavesItsLinesAndThePrompt) {
  TelnetScreen s;
  s.feed(kPrompt);
  // ds/showinfo as vdetelweb showed it, cut in arbitrary places.
  const std::string bytes = "\r\n" + kPrompt + erase() +
                            "ctl dir /tmp/twx/sock\r\nstd mode 0600\r\nSuccess\r\n" + kPrompt;
  for (size_t at = 0; at < bytes.size(); at += 7) s.feed(bytes.substr(at, 7));
  EXPECT_EQ(take_all(s), (std::vector<std::string>{kPrompt, "ctl dir /tmp/twx/sock",
                                                   "std mode 0600", "Success"}));
  EXPECT_EQ(s.partial(), kPrompt);
}

TEST(TelnetScreen, OptionsSplitAcrossReadsAndDoubledIacAreHandled) {
  TelnetScreen s;
  EXPECT_EQ(s.feed("a\xff"), "");
  EXPECT_EQ(s.feed("\xfb"), "");
  EXPECT_EQ(s.feed("\x03"
                   "b"),
            "\xff\xfe\x03");
  s.feed(
      "\xff\xff"
      "c\xff\xfa\x18\x01\xff\xf0"
      "d");
  EXPECT_EQ(s.partial(),
            "ab\xff"
            "cd");
}

// A local TCP server that accepts one connection and writes `says` (or
// nothing), then keeps the connection open until stopped.
class LocalServer {
 public:
  explicit LocalServer(std::string says) : says_(std::move(says)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 1) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("local server: no socket");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~LocalServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void serve() {
    int conn = -1;
    while (!stop_) {
      pollfd p{conn < 0 ? fd_ : conn, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      if (conn < 0) {
        conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn >= 0 && !says_.empty() && write(conn, says_.data(), says_.size()) < 0) break;
      } else {
        char buf[256];
        if (read(conn, buf, sizeof buf) <= 0) break;  // what the client sends is ignored
      }
    }
    if (conn >= 0) close(conn);
  }

  std::string says_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The error open_telnet_console gives, and how long it took.
std::pair<std::string, milliseconds> open_error(uint16_t port, milliseconds timeout) {
  const auto start = Clock::now();
  try {
    open_telnet_console("127.0.0.1", port, {.timeout = timeout, .password = "x"});
  } catch (const Failure& f) {
    EXPECT_EQ(f.code, kBadInput);
    return {f.what(), std::chrono::duration_cast<milliseconds>(Clock::now() - start)};
  }
  return {"(no error)", {}};
}

TEST(TelnetConsole, ASilentServerIsAnErrorAtTheTimeout) {
  LocalServer silent("");
  auto [error, took] = open_error(silent.port(), milliseconds(300));
  EXPECT_EQ(error, "telnet://127.0.0.1:" + std::to_string(silent.port()) +
                       ": no answer within 300 ms (a server that says nothing is not vdetelweb)");
  EXPECT_LT(took, milliseconds(3000));
}

TEST(TelnetConsole, AServerThatIsNotVdetelwebIsNamedWithWhatItSaid) {
  LocalServer ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
  auto [error, took] = open_error(ssh.port(), milliseconds(300));
  EXPECT_NE(error.find("not vdetelweb's telnet: no \"Login: \" prompt within 300 ms; it sent "
                       "\"SSH-2.0-OpenSSH_9.2p1 Debian-2\\n\""),
            std::string::npos)
      << error;
  EXPECT_LT(took, milliseconds(3000));
}

TEST(TelnetConsole, APortNobodyListensOnIsAnError) {
  uint16_t port;
  { port = LocalServer("").port(); }  // closed again: nobody listens there now
  auto [error, took] = open_error(port, milliseconds(1000));
  EXPECT_EQ(error, "telnet://127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

}  // namespace
}  // namespace netcpu::cli
