// A management console for a host's Control (the netcpu/... commands), on
// a Unix socket in vde_switch's protocol (MgmtConsole): what every such
// console lists and answers alike, and a thread to serve one for a host
// that has no event loop of its own (a netcpu:// cable).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "mgmt_console.h"
#include "netcpu/control.h"

// clang-format off
#include <utility>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
// clang-format on

namespace netcpu::console {

// The categories a Control's console has: program output and drops, tags
// 0200 and 0201, as netcpu.so's on vde_switch.
constexpr std::string_view kLogCategory = "netcpu/log";
constexpr std::string_view kDropCategory = "netcpu/drop";

// Options listing `control`'s commands as netcpu/NAME and the two
// categories, on `path` with `banner`. The host sets the handler and the
// overlong reply (refuse_overlong below), which take its own lock.
MgmtConsole::Options control_console_options(const Control& control, std::string path,
                                             std::string banner);
// The command Control executes for a console's command `name`: NAME of
// "netcpu/NAME"; nullopt for any other name, which unknown_command() answers.
std::optional<std::string_view> control_command(std::string_view name);
ControlReply unknown_command(std::string_view name);
// The reply to a line longer than the console takes (MgmtConsole::kMaxLine),
// given its first word: Control's, when it is a netcpu/ command.
CommandReply refuse_overlong(const Control& control, std::string_view name);

// A MgmtConsole served by a thread of its own. Constructing it binds the
// socket (std::system_error naming the path when it cannot); destroying it
// stops the thread, then closes every session and removes the socket file.
class ConsoleThread {
 public:
  ConsoleThread(MgmtConsole::Options options, const std::string& thread_name);
  ~ConsoleThread();
  ConsoleThread(const ConsoleThread&) = delete;
  ConsoleThread& operator=(const ConsoleThread&) = delete;
  MgmtConsole& console() { return *console_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<MgmtConsole> console_;
  std::thread thread_;
};

}  // namespace netcpu::console
