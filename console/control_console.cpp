#include "control_console.h"

#include <pthread.h>

#include <cerrno>

namespace netcpu::console {

MgmtConsole::Options control_console_options(const Control& control, std::string path,
                                             std::string banner) {
  MgmtConsole::Options o;
  o.path = std::move(path);
  o.banner = std::move(banner);
  for (const auto& c : control.commands())
    o.commands.push_back({"netcpu/" + c.name, c.syntax, c.help});
  o.categories = {{std::string(kLogCategory), "output of NetCPU programs (print, log, dump)"},
                  {std::string(kDropCategory), "packets NetCPU programs drop"}};
  return o;
}

std::optional<std::string_view> control_command(std::string_view name) {
  constexpr std::string_view kPrefix = "netcpu/";
  if (!name.starts_with(kPrefix)) return std::nullopt;
  return name.substr(kPrefix.size());
}

ControlReply unknown_command(std::string_view name) {
  return {ENOSYS, "unknown command '" + std::string(name) + "' (try help)"};
}

CommandReply refuse_overlong(const Control& control, std::string_view name) {
  ControlReply r =
      control.refuse_long_line(control_command(name).value_or(""), MgmtConsole::kMaxLine, "");
  return {r.error, std::move(r.text)};
}

ConsoleThread::ConsoleThread(MgmtConsole::Options options, const std::string& thread_name)
    : work_(boost::asio::make_work_guard(io_)),
      console_(std::make_unique<MgmtConsole>(io_, std::move(options))) {
  thread_ = std::thread([this, name = thread_name.substr(0, 15)] {
    pthread_setname_np(pthread_self(), name.c_str());
    io_.run();
  });
}

ConsoleThread::~ConsoleThread() {
  // A command running now finishes first; then nothing runs on the io
  // context, and the console may be closed from here.
  work_.reset();
  io_.stop();
  thread_.join();
  console_.reset();
}

}  // namespace netcpu::console
