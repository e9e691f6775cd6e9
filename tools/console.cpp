// open_console(): the transport an address names (console.h).
#include "console.h"

#include <cctype>
#include <cstdlib>

#include "cli_common.h"
#include "console_client.h"

namespace netcpu::cli {
namespace {

// A word the remote shell ssh hands the command to takes as it is.
std::string shell_quoted(const std::string& word) {
  bool plain = !word.empty();
  for (char c : word)
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("/._-+=:,@%").find(c) == std::string_view::npos)
      plain = false;
  if (plain) return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// HOST[:PORT] (an IPv6 address in brackets: [::1]:22); port 0 when not given.
std::pair<std::string, uint16_t> host_port(const std::string& address, std::string_view hostport) {
  std::string host(hostport);
  uint16_t port = 0;
  const size_t colon = hostport.rfind(':');
  const size_t bracket = hostport.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || bracket < colon)) {
    std::string_view digits = hostport.substr(colon + 1);
    if (!all_digits(digits) || digits.size() > 5 || std::stoul(std::string(digits)) > 65535 ||
        std::stoul(std::string(digits)) == 0)
      throw Failure(kUsage, address + ": '" + std::string(digits) + "' is not a port");
    port = static_cast<uint16_t>(std::stoul(std::string(digits)));
    host = std::string(hostport.substr(0, colon));
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) throw Failure(kUsage, address + ": no host");
  return {host, port};
}

// ssh://[USER@]HOST[:PORT]/path/socket: `ssh HOST unixterm /path/socket`.
// BatchMode: ssh fails rather than asking for a password it cannot read.
std::unique_ptr<Console> open_ssh(const std::string& address, const ConsoleOptions& options) {
  const std::string rest = address.substr(6);
  const size_t slash = rest.find('/');
  if (slash == std::string::npos || slash + 1 == rest.size())
    throw Failure(kUsage, address + ": expected ssh://HOST/path/to/socket");
  auto [host, port] = host_port(address, std::string_view(rest).substr(0, slash));
  const auto seconds = std::max<long>(1, static_cast<long>((options.timeout.count() + 999) / 1000));
  std::vector<std::string> argv = {
      "ssh", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=" + std::to_string(seconds)};
  if (port) argv.insert(argv.end(), {"-p", std::to_string(port)});
  argv.insert(argv.end(), {host, "unixterm", shell_quoted(rest.substr(slash))});
  return open_command_console(argv, address, options.timeout);
}

}  // namespace

ConsoleOptions console_options_from_environment() {
  ConsoleOptions o;
  if (const char* password = std::getenv("NETCPU_CONSOLE_PASSWORD")) o.password = password;
  return o;
}

std::unique_ptr<Console> open_console(const std::string& address, const ConsoleOptions& options) {
  if (address.starts_with("ssh://")) return open_ssh(address, options);
  if (address.starts_with("exec:")) {
    auto argv = split_quoted(address.substr(5));
    if (argv.empty()) throw Failure(kUsage, address + ": expected exec:COMMAND ARGS...");
    return open_command_console(argv, address, options.timeout);
  }
  if (address.starts_with("telnet://")) {
    std::string rest = address.substr(9);
    while (rest.ends_with("/")) rest.pop_back();
    auto [host, port] = host_port(address, rest);
    return open_telnet_console(host, port ? port : 23, options);
  }
  if (size_t scheme = address.find("://"); scheme != std::string::npos)
    throw Failure(kUsage, address +
                              ": not a console address (a socket path, ssh://HOST/path, "
                              "exec:COMMAND, telnet://HOST[:PORT])");
  if (address.empty()) throw Failure(kUsage, "an empty console address");
  return std::make_unique<ConsoleClient>(address, options.timeout);
}

}  // namespace netcpu::cli
