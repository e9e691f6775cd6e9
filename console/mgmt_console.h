// A management console on a Unix stream socket that speaks vde_switch's
// protocol, so that Debian's `vdeterm PATH` and `unixterm PATH` drive it: a
// banner, the prompt "\nvde$ ", for each command line an optional
// "0000 DATA END WITH '.'" block and then "1000 Success" or "10NN <strerror>",
// "9999 END OF SESSION" on logout, and asynchronous "3NNN category text" lines
// for the debug categories a client subscribed to with `debug/add`. NNN is the
// category's vde tag in octal: categories[i] has tag 0200 + i, so
// {netcpu/log, netcpu/drop} read 3200/3201 as netcpu.so's do in vde_switch.
//
// The console serves every client on the io_context it is given (the caller
// runs it on a thread of its own; it must outlive the console); commands it
// does not handle itself (help, logout, debug/list, debug/add, debug/del) go
// to the Handler on that thread. publish() may be called from any thread.
//
// Commands end with '\n', or like vde_switch's (which takes each read() as a
// command; vdeterm sends no newline) with 50 ms of silence after a fragment.
// A client affects only its own session: a line longer than 4096 bytes
// (kMaxLine) is discarded up to its end and answered "1090 Message too
// long", with the text of Options::overlong when there is one; '\r'
// before '\n' is dropped and a NUL ends the line (as in vde's C strings); a
// client that stops reading loses debug lines beyond 64 KiB queued for it, and
// once 256 KiB of its command output is queued its further commands wait.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

// Boost 1.74's asio uses std::exchange without including <utility>.
// clang-format off
#include <utility>
#include <boost/asio/io_context.hpp>
// clang-format on

namespace netcpu::console {

struct CommandReply {
  int error = 0;     // 0, or an errno value (1..999) answered as "1000+errno strerror"
  std::string text;  // output lines ('\n'-separated), sent as a DATA block when not empty
};

struct CommandInfo {
  std::string name;    // "netcpu/load"
  std::string syntax;  // "HOOK FILE"
  std::string help;    // one line
};

struct DebugCategory {
  std::string name;  // "netcpu/log"
  std::string help;
};

class MgmtConsole {
 public:
  // name: the command (first word, e.g. "netcpu/load"); args: the rest of
  // the line with surrounding blanks removed; session: the connection the
  // line came on, 1, 2, ... in the order they connected, never reused while
  // the console lives (a command continued over lines continues on its own
  // connection: Control::execute's session).
  using Handler =
      std::function<CommandReply(std::string_view name, std::string_view args, int session)>;
  // The longest line taken (without its newline).
  static constexpr size_t kMaxLine = 4096;

  struct Options {
    std::string path;                   // socket path; an existing socket file there is replaced
    std::string banner;                 // first lines a client sees, before the first prompt
    std::vector<CommandInfo> commands;  // listed by `help` after the built-in ones
    std::vector<DebugCategory> categories;  // what debug/add accepts
    Handler handler;                        // commands[] and anything else not built in
    // The reply to a line longer than kMaxLine, given its first word (the
    // command); its error should be EMSGSIZE. Unset: EMSGSIZE, no text.
    std::function<CommandReply(std::string_view name)> overlong;
    // Told when a connection ends (its id, as Handler's session), on the
    // io thread: what the host kept for it can go.
    std::function<void(int session)> closed;
  };
  // A handler that throws is answered with what() as the DATA block and
  // "1005 Input/output error"; without a handler, commands get ENOSYS.

  // Binds and listens; the socket is made 0600 like vde_switch's default. A
  // socket file left at the path by a dead server is replaced; one somebody
  // still accepts on is not (EADDRINUSE). Throws std::system_error naming the
  // path on failure.
  MgmtConsole(boost::asio::io_context& io, Options options);
  // Closes the listener and every session (clients read EOF) and removes the
  // socket file if it is still ours. Call it on the io thread (a Handler may
  // destroy its own console) or after that thread stopped: handlers still
  // queued then only hold weak references and find the console gone.
  ~MgmtConsole();
  MgmtConsole(const MgmtConsole&) = delete;
  MgmtConsole& operator=(const MgmtConsole&) = delete;

  const std::string& path() const;

  // Sends "3NNN category text" to every client subscribed to the category
  // (each line of a multi-line text gets its own prefix). Thread-safe and
  // never blocks on clients; costs nothing but an atomic load when nobody
  // listens. Lines beyond 1 MiB waiting for the io thread are dropped.
  void publish(std::string_view category, std::string_view line);
  bool listening(std::string_view category) const;

  size_t sessions() const;  // connected clients

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace netcpu::console
