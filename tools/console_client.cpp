#include "console_client.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace netcpu::cli {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kPrompt = "vde$ ";
// More than any reply (netcpu/list -j of hundreds of points is one line of
// a few hundred KiB): past it, what answers is not a console.
constexpr size_t kMaxReply = 16u << 20;
constexpr size_t kMaxStderr = 4096;

milliseconds left_until(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
}

// The start of what came, printable, for an error that says what answered.
std::string shown(const std::string& bytes) {
  std::string out;
  for (char c : bytes.substr(0, 60)) {
    if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) ? '?' : c;
  }
  return "'" + out + (bytes.size() > 60 ? "...'" : "'");
}

// A write that cannot raise SIGPIPE: send(MSG_NOSIGNAL) on a socket; on a
// pipe whose reader is gone, the signal is blocked for this thread and the
// one the write raised taken back, so EPIPE is all that remains of it.
ssize_t write_quietly(int fd, const char* data, size_t size, bool socket) {
  if (socket) return ::send(fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  sigset_t pipe_signal, old;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &old);
  ssize_t n = ::write(fd, data, size);
  const int error = errno;
  if (n < 0 && error == EPIPE) {
    const timespec now{0, 0};
    while (sigtimedwait(&pipe_signal, nullptr, &now) == SIGPIPE) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = error;
  return n;
}

bool is_socket(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

// A connected Unix socket: a listener whose backlog is full (a console that
// accepts nobody) makes connect() fail with EAGAIN, tried again until the
// deadline rather than blocking.
int connect_unix(const std::string& path, milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw Failure(kBadInput, path + ": too long for a Unix socket path");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) throw Failure(kBadInput, path + ": socket: " + std::strerror(errno));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
    const int error = errno;
    ::close(fd);
    if (error != EAGAIN || left_until(deadline).count() <= 0)
      throw Failure(kBadInput, path + ": " +
                                   (error == EAGAIN ? "accepts no connection (its queue is full)"
                                                    : std::strerror(error)));
    std::this_thread::sleep_for(milliseconds(10));
  }
}

}  // namespace

ConsoleClient::ConsoleClient(const std::string& path, milliseconds timeout) : name_(path) {
  in_fd_ = out_fd_ = connect_unix(path, timeout);
  out_is_socket_ = true;
  read_banner(timeout);
}

ConsoleClient::ConsoleClient(std::string name, int in_fd, int out_fd, int err_fd)
    : name_(std::move(name)),
      in_fd_(in_fd),
      out_fd_(out_fd),
      err_fd_(err_fd),
      out_is_socket_(is_socket(out_fd)) {}

ConsoleClient::~ConsoleClient() { close_all(); }

void ConsoleClient::close_all() {
  if (out_fd_ >= 0 && out_fd_ != in_fd_) ::close(out_fd_);
  if (in_fd_ >= 0) ::close(in_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
  in_fd_ = out_fd_ = err_fd_ = -1;
}

void ConsoleClient::read_banner(milliseconds timeout) {
  // Whatever the console says first, up to its prompt.
  read_until_prompt(Clock::now() + timeout, timeout);
}

std::string ConsoleClient::stderr_text() const {
  std::string text = err_;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  for (char& c : text)
    if (c == '\n') c = ' ';
  return text;
}

void ConsoleClient::ended() {
  broken_ = true;
  std::string why = why_ended();
  std::string err = stderr_text();
  throw Failure(kBadInput, name_ + ": the connection ended" + (err.empty() ? "" : ": " + err) +
                               (why.empty() ? "" : " (" + why + ")") +
                               (seen_.empty() ? "" : "; it sent " + shown(seen_)));
}

void ConsoleClient::timed_out(milliseconds timeout, const std::string& what) {
  broken_ = true;
  throw Failure(kBadInput, name_ + ": " + what + " in " + std::to_string(timeout.count()) + " ms" +
                               (seen_.empty() ? "" : "; it sent " + shown(seen_)));
}

bool ConsoleClient::wait_readable(Clock::time_point deadline) {
  for (;;) {
    const auto left = left_until(deadline);
    if (left.count() < 0) return false;
    pollfd p[2] = {{in_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    int n = ::poll(p, err_fd_ >= 0 ? 2 : 1, static_cast<int>(left.count()) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Failure(kBadInput, name_ + ": poll: " + std::strerror(errno));
    if (err_fd_ >= 0 && (p[1].revents & (POLLIN | POLLHUP))) {
      char chunk[512];
      ssize_t got = ::read(err_fd_, chunk, sizeof chunk);
      if (got > 0) {
        err_.append(chunk, static_cast<size_t>(got));
        if (err_.size() > kMaxStderr) err_.erase(0, err_.size() - kMaxStderr);
      } else if (got == 0) {
        ::close(err_fd_);  // the command closed its stderr
        err_fd_ = -1;
      }
    }
    if (p[0].revents) return true;
  }
}

bool ConsoleClient::read_line(std::string& line, Clock::time_point deadline) {
  for (;;) {
    if (buf_.starts_with(kPrompt)) {
      buf_.erase(0, kPrompt.size());
      line = kPrompt;
      return true;
    }
    if (size_t nl = buf_.find('\n'); nl != std::string::npos) {
      line = buf_.substr(0, nl);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      buf_.erase(0, nl + 1);
      return true;
    }
    if (buf_.size() > kMaxReply) {
      broken_ = true;
      throw Failure(kBadInput, name_ + ": a line of more than " + std::to_string(kMaxReply) +
                                   " bytes: not a console; it sent " + shown(buf_));
    }
    if (!wait_readable(deadline)) return false;
    char chunk[65536];
    ssize_t n = ::read(in_fd_, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) ended();
    if (seen_.size() < 80) seen_.append(chunk, std::min<size_t>(static_cast<size_t>(n), 80));
    buf_.append(chunk, static_cast<size_t>(n));
  }
}

void ConsoleClient::write_line(const std::string& line, Clock::time_point deadline) {
  const std::string bytes = line + "\n";
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = write_quietly(out_fd_, bytes.data() + done, bytes.size() - done, out_is_socket_);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) ended();
    pollfd p{out_fd_, POLLOUT, 0};
    const auto left = left_until(deadline);
    if (left.count() < 0 || ::poll(&p, 1, static_cast<int>(left.count()) + 1) == 0)
      timed_out(std::chrono::duration_cast<milliseconds>(left), "takes no command");
  }
}

std::vector<std::string> ConsoleClient::read_until_prompt(Clock::time_point deadline,
                                                          milliseconds timeout) {
  std::vector<std::string> lines;
  for (;;) {
    std::string line;
    if (!read_line(line, deadline))
      timed_out(timeout, seen_.empty() ? "no answer" : "no whole reply (no prompt)");
    if (line == kPrompt) break;
    lines.push_back(std::move(line));
  }
  // The blank line before the prompt is the protocol's, not the reply's.
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::vector<std::string> ConsoleClient::command(const std::string& line, milliseconds timeout) {
  if (broken_)
    throw Failure(kBadInput, name_ + ": an earlier command got no whole reply: not sending '" +
                                 line.substr(0, 40) + "'");
  seen_.clear();
  const auto deadline = Clock::now() + timeout;
  write_line(line, deadline);
  return read_until_prompt(deadline, timeout);
}

void ConsoleClient::follow(milliseconds duration,
                           const std::function<void(const std::string&)>& each) {
  const auto deadline = Clock::now() + duration;
  std::string line;
  try {
    while (read_line(line, deadline))
      if (line != kPrompt) each(line);
  } catch (const Failure&) {
    // The console went away: nothing more to follow.
  }
}

}  // namespace netcpu::cli
