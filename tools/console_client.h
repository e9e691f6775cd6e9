// A client of a management console in vde_switch's protocol (the switch's
// -M socket, an lwIPv6 stack's, a netcpu:// cable's): sends a command line,
// returns the lines of its reply up to the prompt. netcpu ctl and netcpu top.
#pragma once

// Boost 1.74's asio uses std::exchange without including <utility>: it must
// come first.
// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cli_common.h"

namespace netcpu::cli {

namespace asio = boost::asio;
using Socket = asio::local::stream_protocol::socket;

class ConsoleClient {
 public:
  explicit ConsoleClient(const std::string& path) : sock_(io_) {
    boost::system::error_code ec;
    sock_.connect(asio::local::stream_protocol::endpoint(path), ec);
    if (ec) throw Failure(kBadInput, path + ": " + ec.message());
    read_until_prompt(std::chrono::seconds(5));  // the banner
  }

  // Sends one command; returns the reply's lines up to the prompt.
  std::vector<std::string> command(const std::string& line, std::chrono::milliseconds timeout) {
    asio::write(sock_, asio::buffer(line + "\n"));
    return read_until_prompt(timeout);
  }

  // Lines that arrive within `duration` (debug output), printed as they come.
  void follow(std::chrono::milliseconds duration,
              const std::function<void(const std::string&)>& each) {
    auto end = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < end) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      std::string line;
      if (!read_line(line, left)) return;
      each(line);
    }
  }

 private:
  // One line, or false on timeout/EOF.
  bool read_line(std::string& line, std::chrono::milliseconds timeout) {
    bool done = false;
    boost::system::error_code result;
    asio::async_read_until(sock_, asio::dynamic_buffer(buf_), '\n',
                           [&](boost::system::error_code ec, size_t) {
                             result = ec;
                             done = true;
                           });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      sock_.cancel();
      io_.restart();
      io_.run();
      // A prompt has no newline: it ends a reply, and may be all that came.
      if (buf_.rfind("vde$ ", 0) == 0) {
        buf_.erase(0, 5);
        line = "vde$ ";
        return true;
      }
      return false;
    }
    if (result) return false;
    size_t nl = buf_.find('\n');
    line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    return true;
  }

  std::vector<std::string> read_until_prompt(std::chrono::milliseconds timeout) {
    std::vector<std::string> lines;
    auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (buf_.rfind("vde$ ", 0) == 0) {
        buf_.erase(0, 5);
        return lines;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      std::string line;
      if (left.count() <= 0 || !read_line(line, left))
        throw Failure(kBadInput, "console: no answer in time");
      if (line == "vde$ ") return lines;
      lines.push_back(line);
    }
  }

  asio::io_context io_;
  Socket sock_;
  std::string buf_;
};

}  // namespace netcpu::cli
