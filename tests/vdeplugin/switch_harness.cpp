#include "switch_harness.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <utility>

extern "C" {  // the libvdeplug headers have no C++ guards
#include <libvdeplug.h>
#include <libvdeplug_mod.h>
}

extern char** environ;

namespace netcpu::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kPrompt = "vde$ ";
constexpr std::string_view kDataHeader = "0000 DATA END WITH '.'";
constexpr size_t kMaxCommand = 127;  // the switch reads commands in chunks of 128 bytes
constexpr size_t kTranscriptLimit = 64 * 1024;

std::runtime_error errno_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<long long>(0, left.count()));
}

// A short private directory: socket paths must fit in sockaddr_un (108 bytes).
std::string make_temp_dir() {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string base =
      (tmpdir != nullptr && *tmpdir != '\0' && std::strlen(tmpdir) < 40) ? tmpdir : "/tmp";
  std::string templ = base + "/netcpu-vde-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw errno_error("mkdtemp " + templ);
  return templ;
}

int connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    throw std::runtime_error("socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errno_error("socket");
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

// True when the switch answers on its management socket with a banner and a prompt.
bool mgmt_ready(const std::string& path) {
  int fd = connect_unix(path);
  if (fd < 0) return false;
  std::string got;
  auto deadline = Clock::now() + 1s;
  while (got.find(kPrompt) == std::string::npos && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0) break;
    char buf[512];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return got.find(kPrompt) != std::string::npos;
}

// "3NNN ..." (debug) or "1NNN ..." (status): a digit class followed by three digits.
bool is_coded(const std::string& line, char first) {
  if (line.size() < 4 || line[0] != first) return false;
  for (size_t i = 1; i < 4; ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
  }
  return line.size() == 4 || line[4] == ' ';
}

std::string unique_descr() {
  static std::atomic<int> counter{0};
  return "netcpu-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

constexpr uint8_t kMagic[4] = {'N', 'C', 'S', 'Q'};

void put_be32(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

uint32_t get_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

std::string list_field(Console& console, const std::string& point, int column) {
  Reply r = console.cmd_ok("netcpu/list");
  for (const auto& line : r.data) {
    if (line.rfind(point + " ", 0) != 0) continue;
    std::istringstream in(line.substr(point.size()));
    std::string word;
    for (int i = 0; i <= column; ++i) in >> word;
    return word;
  }
  return "";
}

double list_number(Console& console, const std::string& point, int column) {
  std::string field = list_field(console, point, column);
  return field.empty() ? -1 : std::stod(field);
}

long list_column(Console& console, const std::string& point, int column) {
  return static_cast<long>(list_number(console, point, column));
}

std::string system_vdeplug_module_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&vde_close), &info) != 0 && info.dli_fname != nullptr)
    return (std::filesystem::path(info.dli_fname).parent_path() / "vdeplug").string();
  return "/usr/lib/x86_64-linux-gnu/vdeplug";
}

namespace {

// vde_open() for a plain switch path, without libvdeplug's dlopen(RTLD_DEEPBIND), which
// AddressSanitizer refuses ("incompatible with sanitizer runtime"). Like vde_open, it
// loads the "vde" module from the vdeplug directory beside libvdeplug.so, opens the
// connection with the module's vdeplug_ops and fills in conn->handle and conn->module,
// so that libvdeplug's vde_send, vde_recv, vde_datafd and vde_close work on the result.
VDECONN* open_vde_connection(const std::string& switch_path, const std::string& descr) {
  const std::string module = system_vdeplug_module_dir() + "/libvdeplug_vde.so";
  void* handle = dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  auto* ops = static_cast<vdeplug_module*>(dlsym(handle, "vdeplug_ops"));
  std::string url = switch_path, description = descr;  // the module may modify them
  VDECONN* conn = ops == nullptr ? nullptr
                                 : ops->vde_open_real(url.data(), description.data(),
                                                      LIBVDEPLUG_INTERFACE_VERSION, nullptr);
  if (conn == nullptr) {
    int saved = errno;
    dlclose(handle);
    errno = saved;
    throw errno_error("vde_open " + switch_path + " (" + module + ")");
  }
  conn->handle = handle;
  conn->module = ops;
  // Sends must never block a test on a stuck switch, and switches started later
  // must not inherit the connection.
  for (int fd : {vde_datafd(conn), vde_ctlfd(conn)}) fcntl(fd, F_SETFD, FD_CLOEXEC);
  fcntl(vde_datafd(conn), F_SETFL, fcntl(vde_datafd(conn), F_GETFL) | O_NONBLOCK);
  return conn;
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

long process_cpu_ticks(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) {
    throw std::runtime_error("cannot read /proc/" + std::to_string(pid) + "/stat");
  }
  // After "pid (comm)": field 3 is the state; utime and stime are fields 14 and 15.
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// ---------------------------------------------------------------------------
// VdeSwitch

VdeSwitch::VdeSwitch(VdeSwitchOptions options) : dir_(make_temp_dir()) {
  try {
    // An rc file, even an empty one, keeps /etc/vde2/vde_switch.rc and ~/.vde2 out.
    {
      std::ofstream rc(dir_ + "/rc");
      for (const auto& line : options.rc_commands) rc << line << '\n';
    }
    std::vector<std::string> args = options.command_prefix;
    args.insert(args.end(),
                {"vde_switch", "-s", data_path(), "-M", mgmt_path(), "-f", dir_ + "/rc"});
    if (options.ports > 0) {
      args.push_back("-n");
      args.push_back(std::to_string(options.ports));
    }
    if (options.hub) args.push_back("--hub");
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());

    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
    for (auto& e : options.env) envp.push_back(e.data());
    envp.push_back(nullptr);

    // The switch exits on EOF on stdin (Debian's build reads it even when it is not a
    // tty), so stdin is a pipe whose write end only this process holds.
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) throw errno_error("pipe2");
    stdin_fd_ = pipefd[1];
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipefd[0], STDIN_FILENO);
    std::string log_path = dir_ + "/switch.log";
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    int rc = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(pipefd[0]);
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error(std::string("cannot start ") + argv[0] + ": " + std::strerror(rc));
    }

    auto deadline = Clock::now() + options.start_timeout;
    while (!mgmt_ready(mgmt_path())) {
      if (!alive()) {
        throw std::runtime_error("vde_switch " + exit_description() + " at startup; its output:\n" +
                                 log());
      }
      if (Clock::now() >= deadline) {
        throw std::runtime_error("vde_switch did not accept management connections within " +
                                 std::to_string(options.start_timeout.count()) +
                                 " ms; its output:\n" + log());
      }
      std::this_thread::sleep_for(10ms);
    }
  } catch (...) {
    stop();
    throw;
  }
}

VdeSwitch::~VdeSwitch() { stop(); }

void VdeSwitch::stop() {
  // A switch that ended on its own (a crash, a sanitizer report) says so
  // with its output, which is removed with its directory below.
  if (pid_ > 0 && !alive() && !dir_.empty())
    std::cerr << "vde_switch ended before it was stopped: " << exit_description()
              << "; its output:\n"
              << log();
  if (pid_ > 0 && alive()) {
    kill(pid_, SIGTERM);
    if (stdin_fd_ >= 0) close(stdin_fd_);
    stdin_fd_ = -1;
    auto deadline = Clock::now() + 3s;
    while (alive() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
    if (alive()) {
      kill(pid_, SIGKILL);
      int status = 0;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      wait_status_ = status;
    }
  }
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
}

bool VdeSwitch::alive() {
  if (pid_ <= 0 || wait_status_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  wait_status_ = r == pid_ ? status : -1;  // -1: reaped by someone else
  return false;
}

std::string VdeSwitch::exit_description() {
  if (alive()) return "running";
  if (!wait_status_ || *wait_status_ == -1) return "gone (not reaped here)";
  int s = *wait_status_;
  if (WIFEXITED(s)) return "exited with status " + std::to_string(WEXITSTATUS(s));
  if (WIFSIGNALED(s)) {
    return "killed by signal " + std::to_string(WTERMSIG(s)) + " (" + strsignal(WTERMSIG(s)) + ")";
  }
  return "ended with wait status " + std::to_string(s);
}

long VdeSwitch::cpu_ticks() const { return process_cpu_ticks(pid_); }

std::string VdeSwitch::log() const { return dir_.empty() ? "" : read_file(dir_ + "/switch.log"); }

// ---------------------------------------------------------------------------
// Console

std::string Reply::text() const {
  std::string out;
  for (const auto& line : data) out += line + '\n';
  return out + status;
}

Console::Console(const std::string& mgmt_path, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  fd_ = connect_unix(mgmt_path);
  if (fd_ < 0) throw errno_error("connect " + mgmt_path);
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    close(fd_);
    throw errno_error("eventfd");
  }
  reader_ = std::thread([this] { reader_loop(); });

  // The banner ends with the first prompt, which closes the first "reply".
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout_, [this] { return !replies_.empty() || closed_; }) ||
      replies_.empty()) {
    std::string what = "console: no banner and prompt from " + mgmt_path + describe_locked();
    lock.unlock();
    disconnect();
    throw std::runtime_error(what);
  }
  banner_ = std::move(replies_.front().data);
  replies_.pop_front();
}

Console::~Console() { disconnect(); }

void Console::disconnect() {
  if (reader_.joinable()) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
    reader_.join();
  }
  if (fd_ >= 0) close(fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  fd_ = wake_fd_ = -1;
}

void Console::reader_loop() {
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      std::lock_guard lock(mu_);
      close_reason_ = errno_error("poll").what();
      break;
    }
    if (fds[1].revents != 0) return;  // destructor
    char chunk[65536];
    ssize_t n = read(fd_, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    std::lock_guard lock(mu_);
    if (n <= 0) {
      close_reason_ = n == 0 ? "end of file" : errno_error("read").what();
      break;
    }
    buf_.append(chunk, static_cast<size_t>(n));
    transcript_.append(chunk, static_cast<size_t>(n));
    if (transcript_.size() > kTranscriptLimit) {
      transcript_.erase(0, transcript_.size() - kTranscriptLimit);
    }
    bytes_seen_ += static_cast<size_t>(n);
    consume_locked();
    cv_.notify_all();
  }
  std::lock_guard lock(mu_);
  if (!buf_.empty()) handle_line_locked(std::exchange(buf_, {}));  // "9999 END OF SESSION"
  closed_ = true;
  cv_.notify_all();
}

void Console::consume_locked() {
  for (;;) {
    if (buf_.starts_with(kPrompt)) {  // the prompt closes a reply
      buf_.erase(0, kPrompt.size());
      replies_.push_back(std::exchange(pending_, {}));
      in_data_ = false;
      continue;
    }
    if (!buf_.empty() && kPrompt.starts_with(buf_)) return;  // half a prompt so far
    size_t nl = buf_.find('\n');
    if (nl == std::string::npos) return;
    std::string line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    handle_line_locked(std::move(line));
  }
}

void Console::handle_line_locked(std::string line) {
  if (in_data_) {
    // A reply is written with one write(), so debug lines cannot interleave with data.
    if (line == ".") {
      in_data_ = false;
    } else {
      pending_.data.push_back(std::move(line));
    }
  } else if (is_coded(line, '3')) {
    debug_.push_back(std::move(line));
  } else if (line == kDataHeader) {
    in_data_ = true;
  } else if (is_coded(line, '1')) {
    pending_.code = std::stoi(line.substr(1, 3));
    pending_.status = std::move(line);
  } else if (!line.empty()) {
    pending_.data.push_back(std::move(line));  // banner, "load" script echoes, ...
  }
}

std::string Console::describe_locked() const {
  std::string out = closed_ ? " (connection closed: " + close_reason_ + ")" : "";
  return out + "; read so far: \"" + transcript_ + "\"";
}

void Console::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string why = errno_error("write").what();
      std::lock_guard lock(mu_);
      if (!closed_) close_reason_ = why;
      closed_ = true;  // the reader thread may not have seen the end yet
      throw std::runtime_error("console: " + why + describe_locked());
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

Reply Console::cmd(const std::string& line) {
  if (line.size() > kMaxCommand || line.find('\n') != std::string::npos) {
    throw std::invalid_argument("console command must be one line of at most 127 characters: " +
                                line);
  }
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      throw std::runtime_error("console: cannot send '" + line + "'" + describe_locked());
    }
    replies_.clear();
    transcript_.clear();
  }
  write_all(line + "\n");
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout_, [this] { return !replies_.empty() || closed_; });
  if (replies_.empty()) {
    throw std::runtime_error("console: no reply to '" + line + "' within " +
                             std::to_string(timeout_.count()) + " ms" + describe_locked());
  }
  Reply reply = std::move(replies_.front());
  replies_.pop_front();
  return reply;
}

std::vector<Reply> Console::cmd_any_length(const std::string& line, size_t replies) {
  return cmd_in_pieces({line + "\n"}, {}, replies);
}

std::vector<Reply> Console::cmd_in_pieces(const std::vector<std::string>& pieces,
                                          std::chrono::milliseconds gap, size_t replies) {
  {
    std::lock_guard lock(mu_);
    replies_.clear();
    transcript_.clear();
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0) std::this_thread::sleep_for(gap);
    write_all(pieces[i]);
  }
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout_, [&] { return replies_.size() >= replies || closed_; });
  std::vector<Reply> got;
  while (!replies_.empty() && got.size() < replies) {
    got.push_back(std::move(replies_.front()));
    replies_.pop_front();
  }
  return got;
}

Reply Console::cmd_ok(const std::string& line) {
  Reply reply = cmd(line);
  if (!reply.ok()) {
    throw std::runtime_error("console: '" + line + "' failed:\n" + reply.text());
  }
  return reply;
}

int Console::port_of(const std::string& descr) {
  // "Port 0001 untagged_vlan=0000 ACTIVE - Unnamed Allocatable"
  // "  -- endpoint ID 0006 module unix prog   : DESCR user=root pid=1234"
  int port = -1;
  for (const auto& line : cmd_ok("port/allprint").data) {
    if (line.starts_with("Port ")) {
      port = std::atoi(line.c_str() + 5);
    } else if (line.find("-- endpoint") != std::string::npos) {
      size_t colon = line.find(": ");
      if (colon == std::string::npos) continue;
      std::string_view text = std::string_view(line).substr(colon + 2);
      if (text.starts_with(descr) && (text.size() == descr.size() || text[descr.size()] == ' ')) {
        return port;
      }
    }
  }
  return -1;
}

std::vector<std::string> Console::debug_lines() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out(std::make_move_iterator(debug_.begin()),
                               std::make_move_iterator(debug_.end()));
  debug_.clear();
  return out;
}

std::optional<std::string> Console::wait_debug(const std::function<bool(const std::string&)>& pred,
                                               std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::optional<std::string> found;
  auto take = [&] {
    auto it = std::find_if(debug_.begin(), debug_.end(), pred);
    if (it == debug_.end()) return false;
    found = std::move(*it);
    debug_.erase(it);
    return true;
  };
  cv_.wait_for(lock, timeout, [&] { return take() || closed_; });
  return found;
}

void Console::send_raw(std::string_view bytes) {
  if (bytes.empty()) return;  // the switch would not see a read, so no prompt comes
  {
    std::lock_guard lock(mu_);
    replies_.clear();
    transcript_.clear();
  }
  write_all(bytes);
  // The switch answers every chunk it reads at once with (at least) a prompt. Wait for
  // a prompt and then for the output to stay quiet for a while.
  auto deadline = Clock::now() + timeout_;
  std::unique_lock lock(mu_);
  while (!closed_ && Clock::now() < deadline) {
    size_t seen = bytes_seen_;
    bool changed = cv_.wait_for(lock, 100ms, [&] { return bytes_seen_ != seen || closed_; });
    if (!changed && !replies_.empty()) break;
  }
  replies_.clear();
}

bool Console::connected() const {
  std::lock_guard lock(mu_);
  return !closed_;
}

// ---------------------------------------------------------------------------
// Endpoint

bool Vdeterm::available() { return access("/usr/bin/vdeterm", X_OK) == 0; }

Vdeterm::Vdeterm(const std::string& mgmt_path, std::chrono::milliseconds timeout)
    : timeout_(timeout) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw errno_error("socketpair");
  term_ = sv[0];
  // vdeterm writes its terminal output to its stdin: one socket for both
  // (no termios on it; vdeterm ignores that failure).
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, sv[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::string prog = "/usr/bin/vdeterm";
  std::vector<char*> argv = {prog.data(), const_cast<char*>(mgmt_path.c_str()), nullptr};
  int rc = posix_spawn(&pid_, prog.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  if (rc != 0) {
    errno = rc;
    throw errno_error("posix_spawn vdeterm");
  }
  // Its first act is `help` (for completion), then the prompt.
  std::string header = read_until("vde[" + mgmt_path + "]: ");
  if (header.ends_with("<TIMEOUT>")) throw std::runtime_error("vdeterm: no prompt: " + header);
}

Vdeterm::~Vdeterm() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  if (term_ >= 0) close(term_);
}

std::string Vdeterm::read_until(std::string_view marker) {
  auto deadline = Clock::now() + timeout_;
  while (buf_.find(marker) == std::string::npos && Clock::now() < deadline) {
    pollfd p{term_, POLLIN, 0};
    if (poll(&p, 1, std::min(20, remaining_ms(deadline))) <= 0) continue;
    char chunk[4096];
    ssize_t n = recv(term_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n <= 0) break;
    buf_.append(chunk, static_cast<size_t>(n));
  }
  size_t at = buf_.find(marker);
  if (at == std::string::npos) return std::exchange(buf_, {}) + "<TIMEOUT>";
  std::string out = buf_.substr(0, at + marker.size());
  buf_.erase(0, at + marker.size());
  return out;
}

std::string Vdeterm::type(const std::string& line, std::string_view until) {
  std::string s = line + "\n";
  if (send(term_, s.data(), s.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(s.size()))
    throw errno_error("vdeterm: typing");
  return read_until(until);
}

Endpoint::Endpoint(const std::string& data_path, std::string descr)
    : descr_(descr.empty() ? unique_descr() : std::move(descr)),
      conn_(open_vde_connection(data_path, descr_)) {}

Endpoint::Endpoint(const std::string& data_path, Console& console, std::string descr)
    : Endpoint(data_path, std::move(descr)) {
  learn_port(console);
}

Endpoint::~Endpoint() {
  if (conn_ != nullptr) vde_close(conn_);
}

int Endpoint::datafd() const { return vde_datafd(conn_); }

int Endpoint::learn_port(Console& console) {
  // vde_open returns after the switch has assigned the port; retry in case a plugin
  // or a slow machine delays the port table.
  auto deadline = Clock::now() + 2s;
  for (;;) {
    port_ = console.port_of(descr_);
    if (port_ >= 0) return port_;
    if (Clock::now() >= deadline) {
      throw std::runtime_error("endpoint '" + descr_ + "' not found in port/allprint:\n" +
                               console.cmd("port/allprint").text());
    }
    std::this_thread::sleep_for(20ms);
  }
}

bool Endpoint::send(std::span<const uint8_t> frame, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (vde_send(conn_, frame.data(), frame.size(), 0) >= 0) return true;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS && errno != EINTR) {
      throw errno_error("vde_send");
    }
    if (Clock::now() >= deadline) return false;
    pollfd p{datafd(), POLLOUT, 0};
    poll(&p, 1, std::min(remaining_ms(deadline), 10));
  }
}

std::optional<Bytes> Endpoint::recv(int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  Bytes buf(VDE_ETHBUFSIZE);
  for (;;) {
    pollfd p{datafd(), POLLIN, 0};
    int r = poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno != EINTR) throw errno_error("poll");
    if (r > 0) {
      ssize_t n = vde_recv(conn_, buf.data(), buf.size(), 0);
      if (n > 0) {
        buf.resize(static_cast<size_t>(n));
        return buf;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        throw errno_error("vde_recv");
      }
    }
    if (Clock::now() >= deadline) return std::nullopt;
  }
}

size_t Endpoint::drain(int quiet_ms) {
  size_t n = 0;
  while (recv(quiet_ms)) ++n;
  return n;
}

// ---------------------------------------------------------------------------
// Numbered frames

Bytes numbered_frame(Mac dst, Mac src, uint32_t seq, size_t frame_size) {
  constexpr size_t kHeaders = 14 + 20 + 8;  // Ethernet, IPv4, UDP
  Bytes payload(std::begin(kMagic), std::end(kMagic));
  put_be32(payload, seq);
  put_be32(payload, ~seq);
  if (frame_size > kHeaders + payload.size()) {
    payload.resize(frame_size - kHeaders, 0);
    for (size_t i = 12; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(seq + i);
  }
  return packets::PacketBuilder()
      .eth(dst, src)
      .ipv4({.src = packets::ip4_addr("10.0.0.1"), .dst = packets::ip4_addr("10.0.0.2")})
      .udp({.sport = 40000, .dport = 9, .payload = payload})
      .build();
}

std::optional<uint32_t> sequence_of(std::span<const uint8_t> frame) {
  for (size_t i = 0; i + 12 <= frame.size(); ++i) {
    if (std::equal(std::begin(kMagic), std::end(kMagic), frame.begin() + i)) {
      uint32_t seq = get_be32(&frame[i + 4]);
      if (get_be32(&frame[i + 8]) == ~seq) return seq;
    }
  }
  return std::nullopt;
}

void SequenceCounter::add(std::span<const uint8_t> frame) {
  std::optional<uint32_t> seq = sequence_of(frame);
  if (!seq || *seq >= seen_.size()) {
    ++foreign_;
    return;
  }
  if (seen_[*seq]) {
    ++duplicates_;
    return;
  }
  seen_[*seq] = true;
  ++received_;
  if (!highest_ || *seq > *highest_) highest_ = seq;
}

std::vector<uint32_t> SequenceCounter::missing() const {
  std::vector<uint32_t> out;
  for (uint32_t i = 0; i < seen_.size(); ++i) {
    if (!seen_[i]) out.push_back(i);
  }
  return out;
}

std::string SequenceCounter::summary() const {
  std::string out = "received " + std::to_string(received_) + "/" + std::to_string(seen_.size()) +
                    ", " + std::to_string(duplicates_) + " duplicates, " +
                    std::to_string(foreign_) + " foreign";
  std::vector<uint32_t> lost = missing();
  if (!lost.empty()) {
    out += ", missing";
    for (size_t i = 0; i < lost.size() && i < 20; ++i) out += " " + std::to_string(lost[i]);
    if (lost.size() > 20) out += " ...";
  }
  return out;
}

SequenceCounter blast(Endpoint& from, Endpoint& to, Mac src, Mac dst, uint32_t n,
                      const BlastOptions& options) {
  SequenceCounter counter(n);
  uint32_t sent = 0;
  uint32_t given_up = 0;  // frames before this number count as no longer in flight
  auto in_flight = [&] {
    uint32_t done = counter.highest() ? std::max(given_up, *counter.highest() + 1) : given_up;
    return sent > done ? sent - done : 0;
  };
  auto last_arrival = Clock::now();
  while (!counter.complete()) {
    bool may_send = sent < n && (options.window == 0 || in_flight() < options.window);
    if (may_send) {
      if (!from.send(numbered_frame(dst, src, sent, options.frame_size))) {
        throw std::runtime_error("blast: the switch did not take frame " + std::to_string(sent));
      }
      ++sent;
    }
    // Collect what has arrived; block briefly only when the window is full or all is sent.
    while (auto frame = to.recv(may_send ? 0 : 10)) {
      counter.add(*frame);
      last_arrival = Clock::now();
    }
    if (!may_send && Clock::now() - last_arrival > options.idle_timeout) {
      if (sent == n) break;  // the rest is lost
      given_up = sent;       // the window's frames are lost; go on
      last_arrival = Clock::now();
    }
  }
  return counter;
}

}  // namespace netcpu::test
