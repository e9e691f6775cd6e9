// A console in vde_switch's management protocol, however it is reached:
// a local Unix socket (a switch's -M, an lwIPv6 stack's, a netcpu:// cable's
// mgmt=), a command whose stdin and stdout are one (`ssh HOST unixterm
// SOCKET`), or vdetelweb's telnet. netcpu ctl, top and fleet talk to any of
// them the same way.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace netcpu::cli {

class Console {
 public:
  virtual ~Console() = default;

  // Sends one command line; returns the reply's lines up to the prompt in the
  // management protocol's shape, whatever the transport shows: output lines,
  // "0000 DATA END WITH '.'" ... "." blocks, "3NNN category text" debug lines,
  // and last "1000 Success" or "10NN error text". Throws Failure (kBadInput)
  // naming the console when no whole reply came within `timeout`, or the
  // connection ended.
  virtual std::vector<std::string> command(const std::string& line,
                                           std::chrono::milliseconds timeout) = 0;

  // Lines that arrive within `duration` (debug output), each given as it comes.
  virtual void follow(std::chrono::milliseconds duration,
                      const std::function<void(const std::string&)>& each) = 0;
};

struct ConsoleOptions {
  // For connecting and reading the banner (and logging in).
  std::chrono::milliseconds timeout{5000};
  // vdetelweb's password (its rc file's), for telnet:// addresses.
  std::string password;
};

// The console at `address`:
//   /path/to/socket          a management socket on this machine
//   ssh://HOST/path/socket   `ssh HOST unixterm /path/socket`
//   exec:COMMAND ARGS...     any command that speaks the protocol on its stdin and stdout
//   telnet://HOST[:PORT]     vdetelweb's telnet server (port 23 by default)
// Throws Failure (kBadInput) naming the address when it cannot be reached
// in options.timeout, or answers something other than a console.
std::unique_ptr<Console> open_console(const std::string& address, const ConsoleOptions& options);

// vdetelweb's telnet: connects, logs in with options.password, and gives
// replies in the management protocol's shape (telnet_console.cpp).
std::unique_ptr<Console> open_telnet_console(const std::string& host, uint16_t port,
                                             const ConsoleOptions& options);

}  // namespace netcpu::cli
