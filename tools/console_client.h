// A client of a management console in vde_switch's protocol (the switch's
// -M socket, an lwIPv6 stack's, a netcpu:// cable's) on a local Unix socket,
// and the reader every other transport shares (console_exec.cpp): sends a
// command line, returns the lines of its reply up to the prompt. Every wait
// is bounded: a console that is slow, silent or answers something else ends
// in a Failure (kBadInput) that names it, never a hang.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli_common.h"
#include "console.h"

namespace netcpu::cli {

class ConsoleClient : public Console {
 public:
  // Connects to the management socket at `path` and reads its banner,
  // within `timeout`.
  explicit ConsoleClient(const std::string& path,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~ConsoleClient() override;
  ConsoleClient(const ConsoleClient&) = delete;
  ConsoleClient& operator=(const ConsoleClient&) = delete;

  std::vector<std::string> command(const std::string& line,
                                   std::chrono::milliseconds timeout) override;
  void follow(std::chrono::milliseconds duration,
              const std::function<void(const std::string&)>& each) override;

 protected:
  using Clock = std::chrono::steady_clock;

  // A console on descriptors already open (taken: closed by close_all()):
  // replies come on `in_fd`, commands go to `out_fd` (the same descriptor
  // for a socket). `err_fd`, when not -1, is a command's stderr, kept for
  // error messages. The subclass reads the banner once it is ready.
  ConsoleClient(std::string name, int in_fd, int out_fd, int err_fd);
  void read_banner(std::chrono::milliseconds timeout);
  // Closes the descriptors (a command's stdin first, so that it sees EOF).
  void close_all();
  // What a subclass adds to "the connection ended" (a command's exit status).
  virtual std::string why_ended() { return {}; }
  // The last lines a command wrote on its stderr, for error messages.
  std::string stderr_text() const;
  const std::string& name() const { return name_; }

 private:
  // One line (without its newline) or a prompt ("vde$ "); false when
  // `deadline` passed first. Throws when the connection ended.
  bool read_line(std::string& line, Clock::time_point deadline);
  // Waits until `in_fd_` is readable (false: the deadline passed), keeping
  // what comes on the stderr descriptor meanwhile.
  bool wait_readable(Clock::time_point deadline);
  void write_line(const std::string& line, Clock::time_point deadline);
  std::vector<std::string> read_until_prompt(Clock::time_point deadline,
                                             std::chrono::milliseconds timeout);
  [[noreturn]] void ended();
  [[noreturn]] void timed_out(std::chrono::milliseconds timeout, const std::string& what);

  std::string name_;
  int in_fd_ = -1, out_fd_ = -1, err_fd_ = -1;
  bool out_is_socket_ = false;  // send() without SIGPIPE; a pipe needs it blocked instead
  std::string buf_;             // read and not yet split into lines
  std::string err_;             // the command's stderr, its last few KiB
  std::string seen_;            // the start of what the current reply got so far, for errors
  bool broken_ = false;         // a reply never came whole: later ones could be its rest
};

// Options with the password from $NETCPU_CONSOLE_PASSWORD (vdetelweb's, so
// that it is not on a command line ps shows), for ctl and top.
ConsoleOptions console_options_from_environment();

// The console a command speaks on its stdin and stdout (`unixterm SOCKET`,
// `ssh HOST unixterm SOCKET`), started with `argv` (found in PATH); `name`
// names it in errors, which add what it wrote on stderr and how it ended.
// Ending the console closes the command's stdin, then stops it.
std::unique_ptr<Console> open_command_console(const std::vector<std::string>& argv,
                                              const std::string& name,
                                              std::chrono::milliseconds timeout);

}  // namespace netcpu::cli
