// The vde_switch management protocol (src/vde_switch/consmgmt.c in vde2
// 2.3.2) served with Boost.Asio. Everything but publish() runs on the io
// thread; publish() hands lines over through a bounded, mutex-protected queue.
//
// Lifetime: MgmtConsole owns the only long-lived shared_ptr to the Core.
// Sessions and every queued completion handler hold weak_ptrs (a session
// handler holds its Session strongly), and lock the Core only for the
// duration of a handler, so nothing dereferences a Core that is gone, and a
// Core destroyed from inside one of its own handlers stays alive until that
// handler returns.
#include "mgmt_console.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <system_error>
#include <unordered_map>
#include <vector>

// clang-format off
#include <utility>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
// clang-format on

namespace netcpu::console {
namespace {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using boost::system::error_code;

constexpr std::string_view kPrompt = "\nvde$ ";
constexpr std::string_view kDataHeader = "0000 DATA END WITH '.'\n";
// Without a newline, as vde_switch writes it.
constexpr std::string_view kEndOfSession = "9999 END OF SESSION";

constexpr size_t kMaxLine = MgmtConsole::kMaxLine;
// Debug output is lossy by nature (vde_switch drops it when a client's
// socket is full); command output is not, so it throttles input instead.
constexpr size_t kMaxDebugBacklog = 64 * 1024;
constexpr size_t kPauseInputAt = 256 * 1024;
constexpr size_t kWriteChunk = 64 * 1024;
constexpr size_t kMaxPendingPublish = 1024 * 1024;
constexpr int kFirstTag = 0200;
constexpr int kListenBacklog = 64;
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
// vde_switch takes whatever one read() returns as a command, and vdeterm
// relies on it: it sends its commands without a newline. A fragment followed
// by this much silence is a command; the pause between the pieces of a
// line that is merely split by the socket is far shorter.
constexpr auto kFragmentIdle = std::chrono::milliseconds(50);
// After "9999 END OF SESSION" the console only half-closes: unixterm exits on
// POLLHUP without reading what came with it, so a full close would often
// swallow the line. The client's EOF, or this long, ends the session.
constexpr auto kLogoutLinger = std::chrono::seconds(1);

// What vde_switch 2.3.2 prints for its own console commands, so that `help`
// reads the same and vdeterm's completion list (parsed from `help`) works.
const CommandInfo kBuiltins[] = {
    {"help", "[arg]", "Help (limited to arg when specified)"},
    {"logout", "", "logout from this mgmt terminal"},
    {"debug", "============", "DEBUG MENU"},
    {"debug/list", "", "list debug categories"},
    {"debug/add", "dbgpath", "enable debug info for a given category"},
    {"debug/del", "dbgpath", "disable debug info for a given category"},
};

std::string_view trim(std::string_view s) {
  constexpr std::string_view kBlanks = " \t\r";
  size_t b = s.find_first_not_of(kBlanks);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kBlanks) - b + 1);
}

void append_padded(std::string& out, std::string_view s, size_t width) {
  out += s;
  if (s.size() < width) out.append(width - s.size(), ' ');
}

std::string status_line(int error) {
  if (error == 0) return "1000 Success\n";
  if (error < 0 || error > 999) error = EIO;
  char head[8];
  std::snprintf(head, sizeof head, "1%03d ", error);
  return head + std::generic_category().message(error) + "\n";
}

void append_data_block(std::string& out, std::string_view text) {
  out += kDataHeader;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    // A lone "." would end the block early for every client.
    out += line == "." ? std::string_view(". ") : line;
    out += '\n';
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  out += ".\n";
}

// A socket file nobody accepts on any more is refused at once; a live one
// accepts (or reports a full backlog).
bool socket_is_live(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  bool live = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
  ::close(fd);
  return live;
}

[[noreturn]] void throw_path_error(int error, const std::string& path) {
  throw std::system_error(error, std::generic_category(), "mgmt console socket " + path);
}

class Core;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::weak_ptr<Core> core, stream_protocol::socket socket, size_t categories, int id)
      : id(id),
        subscribed(categories, false),
        core_(std::move(core)),
        socket_(std::move(socket)),
        idle_(socket_.get_executor()) {}

  void start(std::string greeting) {
    queue(std::move(greeting));
    read_more();
  }
  void close();
  void debug_line(const std::string& text) {
    if (closed_ || closing_) return;
    if (pending_bytes() + text.size() > kMaxDebugBacklog) return;
    queue(text);
  }

  const int id;  // names the connection to the handler (MgmtConsole::Handler)
  // Owned by the Core, which keeps its listener counts in step.
  std::vector<bool> subscribed;

 private:
  size_t pending_bytes() const { return queued_ + wbuf_.size(); }
  void read_more();
  void on_read(const error_code& ec, size_t n);
  void on_idle(const error_code& ec, unsigned generation);
  void process_input();
  void end_line();
  void handle_line(std::string_view line);
  void queue(std::string data) {
    if (closed_) return;
    queued_ += data.size();
    outq_.push_back(std::move(data));
    flush();
  }
  void flush();
  void on_written(const error_code& ec);
  void linger();

  std::weak_ptr<Core> core_;
  stream_protocol::socket socket_;
  asio::steady_timer idle_;  // ends an unterminated fragment
  bool idle_armed_ = false;
  unsigned reads_ = 0;  // tells a stale idle timeout from a live one
  std::array<char, 4096> rbuf_;
  size_t rpos_ = 0, rlen_ = 0;  // unprocessed input in rbuf_
  std::string line_;
  bool overlong_ = false;      // discarding up to the next newline
  std::string overlong_name_;  // the first word of that line
  std::deque<std::string> outq_;
  size_t queued_ = 0;  // bytes in outq_
  std::string wbuf_;   // being written
  bool writing_ = false;
  bool paused_ = false;  // input waits for output to drain
  bool reading_ = false;
  bool closing_ = false;    // logged out: input is discarded, output drains
  bool lingering_ = false;  // half-closed after logout
  bool closed_ = false;
};

class Core : public std::enable_shared_from_this<Core> {
 public:
  struct Result {
    std::string text;
    bool logout = false;
  };

  Core(asio::io_context& io, MgmtConsole::Options options)
      : io_(io),
        opt_(std::move(options)),
        acceptor_(io),
        retry_timer_(io),
        listeners_(std::make_unique<std::atomic<int>[]>(opt_.categories.size())) {
    listen();
  }

  void start() { accept(); }
  void shutdown();
  const std::string& path() const { return opt_.path; }
  size_t sessions() const { return session_count_.load(); }
  bool listening(std::string_view category) const {
    if (any_listeners_.load() == 0) return false;
    size_t i = find(category);
    return i != kNone && listeners_[i].load() > 0;
  }
  void publish(std::string_view category, std::string_view text);

  Result execute(Session& s, std::string_view line);
  std::string refuse_overlong(std::string_view name) const;
  void forget(Session& s);

 private:
  static constexpr size_t kNone = ~size_t{0};
  struct Pending {
    size_t category;
    std::string text;
  };

  // A handful of categories: a scan beats hashing and allocates nothing.
  size_t find(std::string_view category) const {
    for (size_t i = 0; i < opt_.categories.size(); ++i)
      if (opt_.categories[i].name == category) return i;
    return kNone;
  }
  void listen();
  void accept();
  void drain();
  void subscribe(Session& s, size_t i, bool on) {
    if (s.subscribed[i] == on) return;
    s.subscribed[i] = on;
    listeners_[i].fetch_add(on ? 1 : -1);
    any_listeners_.fetch_add(on ? 1 : -1);
  }
  int tag(size_t i) const { return (kFirstTag + static_cast<int>(i)) & 0777; }
  std::string help(std::string_view prefix) const;
  int debug_list(Session& s, std::string_view prefix, std::string& out) const;
  int debug_add(Session& s, std::string_view prefix);
  int debug_del(Session& s, std::string_view prefix);

  asio::io_context& io_;
  MgmtConsole::Options opt_;
  stream_protocol::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  dev_t dev_ = 0;  // of the socket file we created: unlink only that one
  ino_t ino_ = 0;
  bool closed_ = false;
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions_;
  std::atomic<size_t> session_count_{0};
  int last_session_id_ = 0;                        // io thread only
  std::unique_ptr<std::atomic<int>[]> listeners_;  // subscribers per category
  std::atomic<int> any_listeners_{0};              // sum of listeners_: publish's fast path

  std::mutex pending_mutex_;
  std::deque<Pending> pending_;
  size_t pending_bytes_ = 0;
  bool drain_posted_ = false;
};

// ---- Core -------------------------------------------------------------------

void Core::listen() {
  const std::string& path = opt_.path;
  if (path.empty()) throw_path_error(EINVAL, path);
  if (path.size() >= sizeof(sockaddr_un::sun_path)) throw_path_error(ENAMETOOLONG, path);
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    if (socket_is_live(path)) throw_path_error(EADDRINUSE, path);
    ::unlink(path.c_str());
  }
  error_code ec;
  acceptor_.open(stream_protocol(), ec);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(path), ec);
  // Before bind succeeds the path may be somebody else's file: leave it be.
  if (ec) throw_path_error(ec.value(), path);
  acceptor_.listen(kListenBacklog, ec);
  if (!ec && ::chmod(path.c_str(), 0600) != 0) ec.assign(errno, boost::system::system_category());
  if (!ec && ::stat(path.c_str(), &st) != 0) ec.assign(errno, boost::system::system_category());
  if (ec) {
    ::unlink(path.c_str());
    throw_path_error(ec.value(), path);
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;
}

void Core::accept() {
  acceptor_.async_accept(
      [weak = weak_from_this()](const error_code& ec, stream_protocol::socket socket) {
        auto self = weak.lock();
        if (!self || self->closed_ || ec == asio::error::operation_aborted) return;
        if (ec) {
          // EMFILE and friends persist for a while: retrying at once would spin.
          self->retry_timer_.expires_after(kAcceptRetry);
          self->retry_timer_.async_wait([weak](const error_code& ec) {
            auto self = weak.lock();
            if (!ec && self && !self->closed_) self->accept();
          });
          return;
        }
        auto s = std::make_shared<Session>(weak, std::move(socket), self->opt_.categories.size(),
                                           ++self->last_session_id_);
        self->sessions_.emplace(s.get(), s);
        self->session_count_.fetch_add(1);
        std::string greeting = self->opt_.banner;
        if (!greeting.empty() && greeting.back() != '\n') greeting += '\n';
        // One write, so that vdeterm finds "$ " at the end of its first read.
        greeting += kPrompt;
        s->start(std::move(greeting));
        self->accept();
      });
}

void Core::shutdown() {
  if (closed_) return;
  closed_ = true;
  error_code ec;
  acceptor_.close(ec);
  retry_timer_.cancel();
  auto all = std::move(sessions_);
  sessions_.clear();
  for (auto& [ptr, s] : all) s->close();
  session_count_.store(0);
  {
    std::lock_guard lock(pending_mutex_);
    pending_.clear();
    pending_bytes_ = 0;
  }
  struct stat st;
  if (::lstat(opt_.path.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
    ::unlink(opt_.path.c_str());
}

void Core::forget(Session& s) {
  for (size_t i = 0; i < s.subscribed.size(); ++i) subscribe(s, i, false);
  if (sessions_.erase(&s) == 0) return;
  session_count_.fetch_sub(1);
  if (opt_.closed) opt_.closed(s.id);
}

void Core::publish(std::string_view category, std::string_view text) {
  if (any_listeners_.load() == 0) return;
  size_t i = find(category);
  if (i == kNone || listeners_[i].load() == 0) return;
  char head[8];
  std::snprintf(head, sizeof head, "3%03o ", tag(i));
  std::string msg;
  // Every line gets the prefix: clients tell debug lines from replies by it.
  do {
    size_t nl = text.find('\n');
    msg.append(head).append(category).append(" ").append(text.substr(0, nl)).append("\n");
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  } while (!text.empty());
  {
    std::lock_guard lock(pending_mutex_);
    if (pending_bytes_ + msg.size() > kMaxPendingPublish) return;
    pending_bytes_ += msg.size();
    pending_.push_back({i, std::move(msg)});
    if (drain_posted_) return;
    drain_posted_ = true;
  }
  asio::post(io_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->drain();
  });
}

void Core::drain() {
  std::deque<Pending> batch;
  {
    std::lock_guard lock(pending_mutex_);
    batch.swap(pending_);
    pending_bytes_ = 0;
    drain_posted_ = false;
  }
  if (closed_) return;
  // debug_line() only queues: it never closes a session, so sessions_ holds still.
  for (const Pending& p : batch)
    for (auto& [ptr, s] : sessions_)
      if (s->subscribed[p.category]) s->debug_line(p.text);
}

std::string Core::help(std::string_view prefix) const {
  std::string out;
  auto row = [&](std::string_view path, std::string_view syntax, std::string_view help) {
    append_padded(out, path, 18);
    out += ' ';
    append_padded(out, syntax, 15);
    out.append(" ").append(help).append("\n");
  };
  row("COMMAND PATH", "SYNTAX", "HELP");
  row("------------", "--------------", "------------");
  for (const CommandInfo& c : kBuiltins)
    if (c.name.starts_with(prefix)) row(c.name, c.syntax, c.help);
  for (const CommandInfo& c : opt_.commands)
    if (c.name.starts_with(prefix)) row(c.name, c.syntax, c.help);
  return out;
}

int Core::debug_list(Session& s, std::string_view prefix, std::string& out) const {
  auto row = [&](std::string_view name, std::string_view tag, std::string_view status,
                 std::string_view help) {
    append_padded(out, name, 22);
    out += ' ';
    append_padded(out, tag, 3);
    out += ' ';
    append_padded(out, status, 6);
    out.append(" ").append(help).append("\n");
  };
  row("CATEGORY", "TAG", "STATUS", "HELP");
  row("------------", "---", "------", "----");
  int rv = ENOENT;
  for (size_t i = 0; i < opt_.categories.size(); ++i) {
    const DebugCategory& c = opt_.categories[i];
    if (!c.name.starts_with(prefix)) continue;
    char octal[8];
    std::snprintf(octal, sizeof octal, "%03o", tag(i));
    row(c.name, octal, s.subscribed[i] ? "ON" : "OFF", c.help);
    rv = 0;
  }
  return rv;
}

// Prefix matching and the error codes are vde_switch's: EINVAL when nothing
// matches, EEXIST (add) / ENOENT (del) when nothing changed.
int Core::debug_add(Session& s, std::string_view prefix) {
  int rv = EINVAL;
  for (size_t i = 0; i < opt_.categories.size(); ++i) {
    if (!opt_.categories[i].name.starts_with(prefix)) continue;
    if (rv == EINVAL) rv = EEXIST;
    if (!s.subscribed[i]) {
      subscribe(s, i, true);
      rv = 0;
    }
  }
  return rv;
}

int Core::debug_del(Session& s, std::string_view prefix) {
  int rv = EINVAL;
  for (size_t i = 0; i < opt_.categories.size(); ++i) {
    if (!opt_.categories[i].name.starts_with(prefix)) continue;
    if (rv == EINVAL) rv = ENOENT;
    if (s.subscribed[i]) {
      subscribe(s, i, false);
      rv = 0;
    }
  }
  return rv;
}

Core::Result Core::execute(Session& s, std::string_view line) {
  if (size_t nul = line.find('\0'); nul != std::string_view::npos) line = line.substr(0, nul);
  line = trim(line);
  if (line.empty() || line.front() == '#') return {};
  size_t end = line.find_first_of(" \t");
  std::string_view name = line.substr(0, end);
  std::string_view args =
      end == std::string_view::npos ? std::string_view() : trim(line.substr(end));

  Result r;
  int error = 0;
  if (name == "logout") {
    for (size_t i = 0; i < s.subscribed.size(); ++i) subscribe(s, i, false);
    r.logout = true;
    r.text = kEndOfSession;
    return r;
  } else if (name == "help") {
    append_data_block(r.text, help(args));
  } else if (name == "debug/list") {
    std::string out;
    error = debug_list(s, args, out);
    append_data_block(r.text, out);
  } else if (name == "debug/add") {
    error = debug_add(s, args);
  } else if (name == "debug/del") {
    error = debug_del(s, args);
  } else if (name == "debug" || !opt_.handler || std::any_of(name.begin(), name.end(), [](char c) {
               return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
             })) {
    // "debug" is a menu title; control characters are line noise, not a command.
    error = ENOSYS;
  } else {
    CommandReply reply;
    try {
      reply = opt_.handler(name, args, s.id);
    } catch (const std::exception& e) {
      reply = {EIO, e.what()};
    } catch (...) {
      reply = {EIO, {}};
    }
    if (!reply.text.empty()) append_data_block(r.text, reply.text);
    error = reply.error;
  }
  r.text += status_line(error);
  return r;
}

// Nothing of the line is run: the client is told why, and how to give it.
std::string Core::refuse_overlong(std::string_view name) const {
  CommandReply reply{EMSGSIZE, {}};
  if (opt_.overlong) {
    try {
      reply = opt_.overlong(name);
    } catch (...) {
      reply = {EMSGSIZE, {}};
    }
  }
  std::string out;
  if (!reply.text.empty()) append_data_block(out, reply.text);
  return out + status_line(reply.error);
}

// ---- Session ----------------------------------------------------------------

void Session::close() {
  if (closed_) return;
  auto self = shared_from_this();  // forget() may drop the Core's reference
  closed_ = true;
  error_code ec;
  socket_.close(ec);
  idle_.cancel();
  outq_.clear();
  queued_ = 0;
  if (auto core = core_.lock()) core->forget(*this);
}

void Session::read_more() {
  if (closed_ || paused_ || reading_) return;
  if (!closing_ && (!line_.empty() || overlong_)) {
    idle_armed_ = true;
    idle_.expires_after(kFragmentIdle);
    idle_.async_wait([self = shared_from_this(), generation = reads_](const error_code& ec) {
      self->on_idle(ec, generation);
    });
  }
  reading_ = true;
  socket_.async_read_some(
      asio::buffer(rbuf_),
      [self = shared_from_this()](const error_code& ec, size_t n) { self->on_read(ec, n); });
}

void Session::on_read(const error_code& ec, size_t n) {
  reading_ = false;
  if (closed_) return;
  if (ec) {  // EOF, reset, or the console closing
    close();
    return;
  }
  if (closing_) {  // waiting for EOF
    read_more();
    return;
  }
  ++reads_;
  if (idle_armed_) {
    idle_armed_ = false;
    idle_.cancel();
  }
  rpos_ = 0;
  rlen_ = n;
  process_input();
}

void Session::process_input() {
  while (rpos_ < rlen_) {
    if (closed_ || closing_) return;
    if (pending_bytes() >= kPauseInputAt) {
      paused_ = true;
      return;
    }
    const char* begin = rbuf_.data() + rpos_;
    const char* end = rbuf_.data() + rlen_;
    const char* nl = std::find(begin, end, '\n');
    size_t take = static_cast<size_t>(nl - begin);
    if (!overlong_ && line_.size() + take > kMaxLine) {
      overlong_ = true;
      line_.append(begin, std::min<size_t>(take, kMaxLine));
      std::string_view start = trim(line_);
      overlong_name_ = start.substr(0, start.find_first_of(" \t"));
      line_.clear();
    }
    if (!overlong_) line_.append(begin, take);
    rpos_ += take;
    if (nl == end) break;
    ++rpos_;
    end_line();
  }
  if (rpos_ >= rlen_) read_more();
}

void Session::end_line() {
  if (overlong_) {
    overlong_ = false;
    auto core = core_.lock();
    if (!core) return;
    queue(core->refuse_overlong(overlong_name_) + std::string(kPrompt));
    return;
  }
  std::string line = std::move(line_);
  line_.clear();
  handle_line(line);
}

void Session::on_idle(const error_code& ec, unsigned generation) {
  if (ec || closed_ || closing_ || generation != reads_) return;
  idle_armed_ = false;
  end_line();
}

void Session::handle_line(std::string_view line) {
  auto core = core_.lock();
  if (!core) return;
  Core::Result r = core->execute(*this, line);
  if (closed_) return;  // the handler destroyed the console
  if (r.logout) {
    queue(std::move(r.text));
    closing_ = true;
    flush();
    return;
  }
  r.text += kPrompt;
  queue(std::move(r.text));
}

void Session::flush() {
  if (closed_ || writing_) return;
  if (outq_.empty()) {
    if (closing_ && !lingering_) linger();
    return;
  }
  if (wbuf_.capacity() > 4 * kWriteChunk) std::string().swap(wbuf_);
  while (!outq_.empty() && (wbuf_.empty() || wbuf_.size() + outq_.front().size() <= kWriteChunk)) {
    queued_ -= outq_.front().size();
    wbuf_ += outq_.front();
    outq_.pop_front();
  }
  writing_ = true;
  // asio sends with MSG_NOSIGNAL on Linux: a vanished client is EPIPE here,
  // never SIGPIPE.
  asio::async_write(
      socket_, asio::buffer(wbuf_),
      [self = shared_from_this()](const error_code& ec, size_t) { self->on_written(ec); });
}

void Session::linger() {
  lingering_ = true;
  error_code ec;
  socket_.shutdown(stream_protocol::socket::shutdown_send, ec);
  idle_armed_ = false;
  idle_.expires_after(kLogoutLinger);
  idle_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->close();
  });
  read_more();
}

void Session::on_written(const error_code& ec) {
  writing_ = false;
  wbuf_.clear();
  if (closed_) return;
  if (ec) {
    close();
    return;
  }
  if (paused_ && pending_bytes() < kPauseInputAt) {
    paused_ = false;
    process_input();
  }
  flush();
}

}  // namespace

// ---- MgmtConsole ------------------------------------------------------------

struct MgmtConsole::Impl : Core {
  using Core::Core;
};

MgmtConsole::MgmtConsole(boost::asio::io_context& io, Options options)
    : impl_(std::make_shared<Impl>(io, std::move(options))) {
  impl_->start();
}

MgmtConsole::~MgmtConsole() {
  if (impl_) impl_->shutdown();
}

const std::string& MgmtConsole::path() const { return impl_->path(); }

void MgmtConsole::publish(std::string_view category, std::string_view line) {
  impl_->publish(category, line);
}

bool MgmtConsole::listening(std::string_view category) const { return impl_->listening(category); }

size_t MgmtConsole::sessions() const { return impl_->sessions(); }

}  // namespace netcpu::console
