// The vde_switch management console of console/, served on a real Unix
// socket by an io_context on its own thread and driven by raw socket clients,
// by Debian's unixterm and vdeterm, by garbage, by abrupt disconnects, by 50
// clients at once and by a client that never reads. Every wait is bounded.
// SIGPIPE keeps its default action: a write of the console's that raised it
// would kill the test binary.
#include "mgmt_console.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

// clang-format off
#include <utility>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
// clang-format on

extern char** environ;

namespace netcpu::console {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view kPrompt = "\nvde$ ";
constexpr std::string_view kData = "0000 DATA END WITH '.'\n";
constexpr std::string_view kBanner = "NetCPU console under test\n(C) nobody";

std::string data_block(std::string_view body) {
  return std::string(kData) + std::string(body) + ".\n";
}

std::string make_temp_dir() {
  std::string templ = "/tmp/netcpu-console-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr)
    throw std::system_error(errno, std::generic_category(), "mkdtemp");
  return templ;
}

bool wait_until(const std::function<bool()>& done, milliseconds timeout = 5s) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "connect " + path);
  }
  return fd;
}

// A raw protocol client. Reads give up after a timeout and then return what
// they got followed by "<TIMEOUT>" (or "<EOF>"), so comparisons fail readably.
class Client {
 public:
  explicit Client(const std::string& path) : fd_(connect_unix(path)) {}
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // MSG_NOSIGNAL: the console closing first must fail the test, not kill it.
  bool send(std::string_view data, milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
      if (Clock::now() > deadline) return false;
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, 10);
    }
    return true;
  }

  std::string read_until(std::string_view marker, milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      if (size_t at = buf_.find(marker); at != std::string::npos) {
        std::string out = buf_.substr(0, at + marker.size());
        buf_.erase(0, at + marker.size());
        return out;
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left <= 0ms || !fill(left)) {
        std::string out = std::move(buf_) + (eof_ ? "<EOF>" : "<TIMEOUT>");
        buf_.clear();
        return out;
      }
    }
  }
  std::string greeting() { return read_until("vde$ "); }
  std::string command(std::string_view line) {
    if (!send(std::string(line) + "\n")) return "<SEND FAILED>";
    return read_until(kPrompt);
  }
  // Everything that arrives until `quiet` passes without data (at most `limit`).
  std::string read_quiet(milliseconds quiet, milliseconds limit = 10s) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline && fill(quiet)) {
    }
    std::string out = std::move(buf_);
    buf_.clear();
    return out;
  }
  bool wait_eof(milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    while (!eof_) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return false;
      fill(left);
      buf_.clear();
    }
    return true;
  }

 private:
  bool fill(milliseconds timeout) {
    if (eof_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string buf_;
  bool eof_ = false;
};

// Runs a program with the given descriptors as its stdin/stdout/stderr.
pid_t spawn(const std::vector<std::string>& args, int in, int out, int err) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err, STDERR_FILENO);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn " + args[0]);
  return pid;
}

// The exit status, or -1 after killing a child that did not exit in time.
int wait_exit(pid_t pid, milliseconds timeout = 5s) {
  auto deadline = Clock::now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(5ms);
  }
}

// Kills (by its pid) a child the test did not reap, e.g. after an ASSERT.
struct ChildGuard {
  pid_t pid;
  ~ChildGuard() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  int wait(milliseconds timeout = 5s) { return wait_exit(std::exchange(pid, -1), timeout); }
};

std::string read_fd_to_eof(int fd, milliseconds timeout = 5s) {
  std::string out;
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    out.append(chunk, static_cast<size_t>(n));
  }
  return out;
}

class MgmtConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_DFL);
    dir_ = make_temp_dir();
    path_ = dir_ + "/mgmt";
    console_ = std::make_unique<MgmtConsole>(io_, options());
    io_thread_ = std::thread([this] {
      io_thread_id_.store(std::this_thread::get_id());
      io_.run();
    });
  }

  void TearDown() override {
    // The supported ways: on the io thread here, after it stopped in some tests.
    if (io_thread_.joinable()) {
      EXPECT_TRUE(on_io_thread([this] { console_.reset(); })) << "io thread stuck";
      work_.reset();
      io_.stop();
      io_thread_.join();
    }
    console_.reset();
    std::filesystem::remove_all(dir_);
  }

  MgmtConsole::Options options() {
    MgmtConsole::Options o;
    o.path = path_;
    o.banner = std::string(kBanner);
    o.commands = {
        {"echo", "============", "ECHO MENU"},
        {"echo/text", "[TEXT]", "reply with TEXT"},
        {"echo/args", "[ARGS]", "reply with [ARGS]"},
        {"echo/fail", "ERRNO [TEXT]", "fail with ERRNO"},
        {"echo/throw", "[TEXT]", "throw std::runtime_error"},
        {"echo/throwint", "", "throw an int"},
        {"echo/big", "N", "reply with N lines"},
        {"echo/slow", "", "reply after 100 ms"},
        {"echo/quit", "", "destroy the console"},
    };
    o.categories = {{"test/a", "first category"}, {"test/b", "second category"}};
    o.handler = [this](std::string_view name, std::string_view args, int session) {
      // Unlisted (help's test lists the others): the number of the connection.
      if (name == "echo/session") return CommandReply{0, std::to_string(session)};
      return handle(name, args);
    };
    o.closed = [this](int session) {
      EXPECT_TRUE(on_io_thread_now()) << "closed off the io thread";
      std::lock_guard lock(closed_mu_);
      closed_.push_back(session);
    };
    return o;
  }

  // The sessions `closed` was told of, once there are `n` (or after 5 s).
  std::vector<int> closed_sessions(size_t n) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(closed_mu_);
        if (closed_.size() >= n) return closed_;
      }
      std::this_thread::sleep_for(10ms);
    }
    std::lock_guard lock(closed_mu_);
    return closed_;
  }

  CommandReply handle(std::string_view name, std::string_view args) {
    handled_.fetch_add(1);
    EXPECT_TRUE(on_io_thread_now()) << "handler off the io thread";
    std::string a(args);
    if (name == "echo/text") return {0, a};
    if (name == "echo/args") return {0, "[" + a + "]"};
    if (name == "echo/fail") {
      size_t sp = a.find(' ');
      return {std::stoi(a.substr(0, sp)), sp == std::string::npos ? "" : a.substr(sp + 1)};
    }
    if (name == "echo/throw") throw std::runtime_error("boom: " + a);
    if (name == "echo/throwint") throw 42;
    if (name == "echo/big") {
      std::string text;
      int n = std::stoi(a);
      for (int i = 0; i < n; ++i) {
        char line[32];
        std::snprintf(line, sizeof line, "line %06d ", i);
        text += line + std::string(88, 'x') + "\n";
      }
      return {0, text};
    }
    if (name == "echo/slow") {
      std::this_thread::sleep_for(100ms);
      return {0, "slow"};
    }
    if (name == "echo/quit") {
      console_.reset();
      return {0, "gone"};
    }
    return {ENOSYS, ""};
  }

  bool on_io_thread_now() const { return std::this_thread::get_id() == io_thread_id_.load(); }

  // Runs f on the io thread and waits for it.
  bool on_io_thread(std::function<void()> f) {
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    boost::asio::post(io_, [f = std::move(f), done] {
      f();
      done->set_value();
    });
    return fut.wait_for(10s) == std::future_status::ready;
  }

  // Lets the io thread finish what was posted before.
  void wait_io_idle() {
    EXPECT_TRUE(on_io_thread([] {}));
  }

  std::string dir_, path_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::unique_ptr<MgmtConsole> console_;
  std::thread io_thread_;
  std::atomic<std::thread::id> io_thread_id_;
  std::atomic<int> handled_{0};
  std::mutex closed_mu_;
  std::vector<int> closed_;
};

// The handler knows which connection a line came on: a command continued
// over lines continues on its own connection only.
TEST_F(MgmtConsoleTest, EachConnectionIsNamedToTheHandler) {
  Client a(path_), b(path_);
  a.greeting();
  b.greeting();
  const std::string first = a.command("echo/session"), second = b.command("echo/session");
  EXPECT_NE(first, second);
  EXPECT_EQ(a.command("echo/session"), first) << "the same connection keeps its number";
  EXPECT_EQ(first.find(data_block("0\n")), std::string::npos) << "0 is no connection's";
  a.close();
  // The host hears that the connection ended, by its number.
  const std::vector<int> closed = closed_sessions(1);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_NE(first.find(data_block(std::to_string(closed[0]) + "\n")), std::string::npos) << first;
  Client c(path_);
  c.greeting();
  const std::string third = c.command("echo/session");
  EXPECT_NE(third, first) << "a number is not reused";
  EXPECT_NE(third, second);
}

TEST_F(MgmtConsoleTest, BannerThenPrompt) {
  Client c(path_);
  // The banner gets the newline it lacks, then vde_switch's "\nvde$ ".
  EXPECT_EQ(c.greeting(), std::string(kBanner) + "\n" + "\nvde$ ");
  EXPECT_EQ(console_->sessions(), 1u);
  EXPECT_EQ(console_->path(), path_);
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(MgmtConsoleTest, CommandRepliesWithDataBlockThenSuccess) {
  Client c(path_);
  c.greeting();
  EXPECT_EQ(c.command("echo/text hello world"),
            data_block("hello world\n") + "1000 Success\n" + std::string(kPrompt));
  EXPECT_EQ(c.command("echo/big 2"), data_block("line 000000 " + std::string(88, 'x') + "\n" +
                                                "line 000001 " + std::string(88, 'x') + "\n") +
                                         "1000 Success\n\nvde$ ");
  // No text, no block.
  EXPECT_EQ(c.command("echo/text"), "1000 Success\n\nvde$ ");
  // Blanks around the command and its arguments go, CRLF is a line end.
  EXPECT_EQ(c.command(" \t echo/args \t a  b \t\r"),
            data_block("[a  b]\n") + "1000 Success\n\nvde$ ");
  // A lone "." would end the block early.
  EXPECT_EQ(c.command("echo/text ."), data_block(". \n") + "1000 Success\n\nvde$ ");
  // Several commands in one write are answered one after the other.
  ASSERT_TRUE(c.send("echo/text one\necho/text two\r\necho/text three\n"));
  EXPECT_EQ(c.read_until(kPrompt), data_block("one\n") + "1000 Success\n\nvde$ ");
  EXPECT_EQ(c.read_until(kPrompt), data_block("two\n") + "1000 Success\n\nvde$ ");
  EXPECT_EQ(c.read_until(kPrompt), data_block("three\n") + "1000 Success\n\nvde$ ");
}

TEST_F(MgmtConsoleTest, CommandWithoutNewlineRunsAfterAPauseAsVdeSwitchDoes) {
  Client c(path_);
  c.greeting();
  // vdeterm writes "echo/text x" with no newline; vde_switch takes a read as a command.
  ASSERT_TRUE(c.send("echo/text no newline"));
  EXPECT_EQ(c.read_until(kPrompt), data_block("no newline\n") + "1000 Success\n\nvde$ ");
  // Pieces arriving close together are still one line.
  ASSERT_TRUE(c.send("echo/te"));
  ASSERT_TRUE(c.send("xt joined\n"));
  EXPECT_EQ(c.read_until(kPrompt), data_block("joined\n") + "1000 Success\n\nvde$ ");
}

TEST_F(MgmtConsoleTest, ErrorsAreOneThousandPlusErrnoAndStrerror) {
  Client c(path_);
  c.greeting();
  EXPECT_EQ(c.command("echo/fail 22"), "1022 Invalid argument\n\nvde$ ");
  EXPECT_EQ(c.command("echo/fail 2 not here"),
            data_block("not here\n") + "1002 No such file or directory\n\nvde$ ");
  EXPECT_EQ(c.command("no/such/command"), "1038 Function not implemented\n\nvde$ ");
  EXPECT_EQ(c.command("echo/fail 5000"), "1005 Input/output error\n\nvde$ ");
  EXPECT_EQ(c.command("echo/fail -3"), "1005 Input/output error\n\nvde$ ");
  // A menu title is not a command (vde_switch answers ENOSYS too).
  int before = handled_.load();
  EXPECT_EQ(c.command("debug"), "1038 Function not implemented\n\nvde$ ");
  // Control characters in a command name never reach the handler.
  EXPECT_EQ(c.command("\x01\x02junk args"), "1038 Function not implemented\n\nvde$ ");
  EXPECT_EQ(handled_.load(), before);
  // Throwing handlers are answered, and the console carries on.
  EXPECT_EQ(c.command("echo/throw x y"),
            data_block("boom: x y\n") + "1005 Input/output error\n\nvde$ ");
  EXPECT_EQ(c.command("echo/throwint"), "1005 Input/output error\n\nvde$ ");
  EXPECT_EQ(c.command("echo/text alive"), data_block("alive\n") + "1000 Success\n\nvde$ ");
}

TEST_F(MgmtConsoleTest, EmptyBlankAndCommentLinesOnlyPrompt) {
  Client c(path_);
  c.greeting();
  int before = handled_.load();
  EXPECT_EQ(c.command(""), "\nvde$ ");
  EXPECT_EQ(c.command(" \t "), "\nvde$ ");
  EXPECT_EQ(c.command("\r"), "\nvde$ ");
  EXPECT_EQ(c.command("# echo/text comment"), "\nvde$ ");
  // A NUL ends the line, as in vde_switch's C strings.
  EXPECT_EQ(c.command(std::string("\0echo/text x", 12)), "\nvde$ ");
  EXPECT_EQ(handled_.load(), before);
  EXPECT_EQ(c.command(std::string("echo/text a\0b", 13)),
            data_block("a\n") + "1000 Success\n\nvde$ ");
}

const std::string kHelpHeader =
    "COMMAND PATH       SYNTAX          HELP\n"
    "------------       --------------  ------------\n";
// Copied from Debian's vde_switch 2.3.2 `help`.
const std::string kBuiltinHelp =
    "help               [arg]           Help (limited to arg when specified)\n"
    "logout                             logout from this mgmt terminal\n"
    "debug              ============    DEBUG MENU\n"
    "debug/list                         list debug categories\n"
    "debug/add          dbgpath         enable debug info for a given category\n"
    "debug/del          dbgpath         disable debug info for a given category\n";

TEST_F(MgmtConsoleTest, HelpListsBuiltinsThenRegisteredCommandsInVdeColumns) {
  Client c(path_);
  c.greeting();
  EXPECT_EQ(c.command("help"),
            data_block(kHelpHeader + kBuiltinHelp +
                       "echo               ============    ECHO MENU\n"
                       "echo/text          [TEXT]          reply with TEXT\n"
                       "echo/args          [ARGS]          reply with [ARGS]\n"
                       "echo/fail          ERRNO [TEXT]    fail with ERRNO\n"
                       "echo/throw         [TEXT]          throw "
                       "std::runtime_error\n"
                       "echo/throwint                      throw an int\n"
                       "echo/big           N               reply with N lines\n"
                       "echo/slow                          reply after 100 ms\n"
                       "echo/quit                          destroy the console\n") +
                "1000 Success\n\nvde$ ");
  EXPECT_EQ(c.command("help echo/t"),
            data_block(kHelpHeader + "echo/text          [TEXT]          reply with TEXT\n"
                                     "echo/throw         [TEXT]          throw std::runtime_error\n"
                                     "echo/throwint                      throw an int\n") +
                "1000 Success\n\nvde$ ");
  EXPECT_EQ(c.command("help nosuch"), data_block(kHelpHeader) + "1000 Success\n\nvde$ ");
}

std::string debug_list(const char* a, const char* b) {
  std::string rows =
      "CATEGORY               TAG STATUS HELP\n"
      "------------           --- ------ ----\n";
  if (a) rows += std::string("test/a                 200 ") + a + "first category\n";
  if (b) rows += std::string("test/b                 201 ") + b + "second category\n";
  return data_block(rows);
}

TEST_F(MgmtConsoleTest, DebugListAddDelFollowVdeSwitch) {
  Client c(path_);
  c.greeting();
  EXPECT_EQ(c.command("debug/list"), debug_list("OFF    ", "OFF    ") + "1000 Success\n\nvde$ ");
  EXPECT_EQ(c.command("debug/add test/b"), "1000 Success\n\nvde$ ");
  EXPECT_EQ(c.command("debug/add test/b"), "1017 File exists\n\nvde$ ");
  EXPECT_EQ(c.command("debug/add nosuch"), "1022 Invalid argument\n\nvde$ ");
  EXPECT_EQ(c.command("debug/list"), debug_list("OFF    ", "ON     ") + "1000 Success\n\nvde$ ");
  EXPECT_EQ(c.command("debug/list test/b"),
            debug_list(nullptr, "ON     ") + "1000 Success\n\nvde$ ");
  EXPECT_EQ(c.command("debug/list nosuch"),
            debug_list(nullptr, nullptr) + "1002 No such file or directory\n\nvde$ ");
  EXPECT_EQ(c.command("debug/del test/a"), "1002 No such file or directory\n\nvde$ ");
  EXPECT_EQ(c.command("debug/del nosuch"), "1022 Invalid argument\n\nvde$ ");
  EXPECT_TRUE(console_->listening("test/b"));
  EXPECT_FALSE(console_->listening("test/a"));
  // Prefixes select several categories; no argument selects them all.
  EXPECT_EQ(c.command("debug/add test/"), "1000 Success\n\nvde$ ");
  EXPECT_TRUE(console_->listening("test/a"));
  EXPECT_EQ(c.command("debug/add"), "1017 File exists\n\nvde$ ");
  EXPECT_EQ(c.command("debug/del"), "1000 Success\n\nvde$ ");
  EXPECT_FALSE(console_->listening("test/a"));
  EXPECT_FALSE(console_->listening("test/b"));
  EXPECT_FALSE(console_->listening("nosuch"));
}

TEST_F(MgmtConsoleTest, PublishReachesSubscribersOnlyWhileSubscribed) {
  Client a(path_), b(path_);
  a.greeting();
  b.greeting();
  console_->publish("test/a", "before add");
  EXPECT_EQ(a.command("debug/add test/a"), "1000 Success\n\nvde$ ");
  EXPECT_EQ(b.command("debug/add test/b"), "1000 Success\n\nvde$ ");
  EXPECT_TRUE(console_->listening("test/a"));
  EXPECT_TRUE(console_->listening("test/b"));

  std::thread([this] {
    console_->publish("test/a", "from another thread");
    console_->publish("test/b", "for b");
    console_->publish("test/a", "two\nlines\n");
    console_->publish("nosuch", "nobody");
  }).join();
  EXPECT_EQ(a.read_until("lines\n"),
            "3200 test/a from another thread\n3200 test/a two\n3200 test/a lines\n");
  EXPECT_EQ(b.read_until("for b\n"), "3201 test/b for b\n");

  EXPECT_EQ(a.command("debug/del test/a"), "1000 Success\n\nvde$ ");
  EXPECT_FALSE(console_->listening("test/a"));
  console_->publish("test/a", "after del");
  console_->publish("test/b", "b again");
  EXPECT_EQ(b.read_until("again\n"), "3201 test/b b again\n");
  // Anything published to a after del would have arrived by now, ahead of this reply.
  EXPECT_EQ(a.command("echo/text sync"), data_block("sync\n") + "1000 Success\n\nvde$ ");
  EXPECT_EQ(b.command("echo/text sync"), data_block("sync\n") + "1000 Success\n\nvde$ ");
}

TEST_F(MgmtConsoleTest, ListeningFollowsSessionsThatLeave) {
  auto a = std::make_unique<Client>(path_);
  Client b(path_);
  a->greeting();
  b.greeting();
  EXPECT_EQ(a->command("debug/add test/a"), "1000 Success\n\nvde$ ");
  EXPECT_EQ(b.command("debug/add test/a"), "1000 Success\n\nvde$ ");
  EXPECT_EQ(console_->sessions(), 2u);
  a.reset();  // abruptly
  EXPECT_TRUE(wait_until([&] { return console_->sessions() == 1; }));
  EXPECT_TRUE(console_->listening("test/a"));
  ASSERT_TRUE(b.send("logout now\n"));
  EXPECT_EQ(b.read_until("SESSION"), "9999 END OF SESSION");
  EXPECT_TRUE(b.wait_eof());  // half-closed: the session ends with our close
  b.close();
  EXPECT_TRUE(wait_until([&] { return console_->sessions() == 0; }));
  EXPECT_FALSE(console_->listening("test/a"));
}

TEST_F(MgmtConsoleTest, UnixtermFromAPipe) {
  if (::access("/usr/bin/unixterm", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/unixterm (vde2)";
  int in[2], out[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  ChildGuard child{spawn({"/usr/bin/unixterm", path_}, in[0], out[1], out[1])};
  ::close(in[0]);
  ::close(out[1]);
  auto type = [&](std::string_view line) {
    // unixterm relays raw bytes; vde_switch needs a pause between commands.
    EXPECT_EQ(::write(in[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
    std::this_thread::sleep_for(200ms);
  };
  type("echo/text from unixterm\n");
  type("debug/add test/a\n");
  EXPECT_TRUE(wait_until([&] { return console_->listening("test/a"); }));
  console_->publish("test/a", "seen by unixterm");
  std::this_thread::sleep_for(200ms);
  type("echo/fail 22\n");
  type("logout\n");
  int status = child.wait();
  ::close(in[1]);
  std::string got = read_fd_to_eof(out[0]);
  ::close(out[0]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(got, std::string(kBanner) + "\n\nvde$ " + data_block("from unixterm\n") +
                     "1000 Success\n\nvde$ " + "1000 Success\n\nvde$ " +
                     "3200 test/a seen by unixterm\n" + "1022 Invalid argument\n\nvde$ " +
                     "9999 END OF SESSION");
}

TEST_F(MgmtConsoleTest, VdetermOnASocketpair) {
  if (::access("/usr/bin/vdeterm", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/vdeterm (vde2)";
  // vdeterm writes its terminal output to its stdin descriptor: a socketpair
  // stands in for the tty (no termios on it; vdeterm ignores that failure).
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(devnull, 0);
  ChildGuard child{spawn({"/usr/bin/vdeterm", path_}, sv[1], sv[1], devnull)};
  ::close(sv[1]);
  ::close(devnull);
  struct Term {
    int fd;
    std::string buf;
    std::string until(std::string_view marker, milliseconds timeout = 5s) {
      auto deadline = Clock::now() + timeout;
      while (buf.find(marker) == std::string::npos && Clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        char chunk[4096];
        ssize_t n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n <= 0) break;
        buf.append(chunk, static_cast<size_t>(n));
      }
      size_t at = buf.find(marker);
      if (at == std::string::npos) return std::exchange(buf, {}) + "<TIMEOUT>";
      std::string out = buf.substr(0, at + marker.size());
      buf.erase(0, at + marker.size());
      return out;
    }
    void type(std::string_view s) {
      EXPECT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
    }
  } t{sv[0], {}};
  const std::string prompt = "vde[" + path_ + "]: ";

  std::string header = t.until(prompt);
  ASSERT_NE(header.find("\n" + prompt), std::string::npos) << header;
  EXPECT_NE(header.find(std::string(kBanner) + "\n"), std::string::npos) << header;
  // Its first act is `help` (for completion); then a session waits for us.
  EXPECT_TRUE(wait_until([&] { return console_->sessions() == 1; }));

  t.type("echo/text from vdeterm\n");
  std::string got = t.until("Success\r\n");
  ASSERT_NE(got.find("from vdeterm\r\nSuccess\r\n"), std::string::npos) << got;

  // Tab completion works only if vdeterm understood our `help`.
  t.type("echo/te\t");
  std::this_thread::sleep_for(50ms);
  t.type("completed\n");
  got = t.until("Success\r\n");
  EXPECT_NE(got.find("echo/text "), std::string::npos) << got;
  EXPECT_NE(got.find("completed\r\nSuccess\r\n"), std::string::npos) << got;

  t.type("debug/add test/a\n");
  got = t.until("Success\r\n");
  EXPECT_TRUE(wait_until([&] { return console_->listening("test/a"); }));
  console_->publish("test/a", "seen by vdeterm");
  got = t.until("seen by vdeterm\r\n");
  EXPECT_NE(got.find("** DBG MSG: test/a seen by vdeterm\r\n"), std::string::npos) << got;

  t.type("echo/fail 22\n");
  got = t.until("Invalid argument\r\n");
  EXPECT_EQ(got.find("<TIMEOUT>"), std::string::npos) << got;

  // vdeterm handles logout itself: it just closes the connection.
  t.type("logout\n");
  int status = child.wait();
  ::close(sv[0]);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_TRUE(wait_until([&] { return console_->sessions() == 0; }));
  EXPECT_FALSE(console_->listening("test/a"));
}

TEST_F(MgmtConsoleTest, GarbageAndOverlongLinesAffectOnlyTheirSession) {
  {
    Client g(path_);
    g.greeting();
    std::mt19937 rng(12345);
    std::string junk(64 * 1024, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng() & 0xff);
    ASSERT_TRUE(g.send(junk));
    g.read_quiet(100ms);
  }  // closed with replies unread
  Client c(path_);
  c.greeting();
  // 1 MiB without a newline is discarded as it comes, not buffered.
  std::string big(1024 * 1024, 'A');
  std::thread sender([&] { EXPECT_TRUE(c.send(big, 20s)); });
  std::string seen = c.read_quiet(300ms, 20s);
  sender.join();
  ASSERT_TRUE(c.send("\n"));
  seen += c.read_quiet(300ms);
  EXPECT_NE(seen.find("1090 Message too long\n\nvde$ "), std::string::npos) << seen.substr(0, 200);
  EXPECT_EQ(seen.find("Success"), std::string::npos) << seen.substr(0, 200);
  // The limit is 4096 bytes of line.
  std::string longest = "echo/text " + std::string(4096 - 10, 'x');
  EXPECT_EQ(c.command(longest),
            data_block(std::string(4096 - 10, 'x') + "\n") + "1000 Success\n\nvde$ ");
  EXPECT_EQ(c.command(longest + "y"), "1090 Message too long\n\nvde$ ");
  EXPECT_EQ(c.command("echo/text same session"),
            data_block("same session\n") + "1000 Success\n\nvde$ ");

  Client fresh(path_);
  EXPECT_EQ(fresh.greeting(), std::string(kBanner) + "\n\nvde$ ");
  EXPECT_EQ(fresh.command("echo/text fresh"), data_block("fresh\n") + "1000 Success\n\nvde$ ");
  EXPECT_TRUE(wait_until([&] { return console_->sessions() == 2; }));
}

// With Options::overlong, an overlong line is answered with its reply, given
// the line's first word, and nothing of the line reaches the handler.
TEST_F(MgmtConsoleTest, OverlongLinesGetTheOverlongReplyForTheirCommand) {
  MgmtConsole::Options o = options();
  o.path = dir_ + "/mgmt2";
  std::vector<std::string> asked;
  o.overlong = [&](std::string_view name) {
    asked.emplace_back(name);
    return CommandReply{EMSGSIZE, "too long for " + std::string(name)};
  };
  std::unique_ptr<MgmtConsole> second;
  ASSERT_TRUE(on_io_thread([&] { second = std::make_unique<MgmtConsole>(io_, std::move(o)); }));
  {
    Client c(dir_ + "/mgmt2");
    c.greeting();
    int before = handled_.load();
    EXPECT_EQ(c.command("  echo/text " + std::string(5000, 'x')),
              data_block("too long for echo/text\n") + "1090 Message too long\n\nvde$ ");
    EXPECT_EQ(handled_.load(), before);
    EXPECT_EQ(c.command("echo/text fine"), data_block("fine\n") + "1000 Success\n\nvde$ ");
  }
  EXPECT_TRUE(on_io_thread([&] { second.reset(); }));
  EXPECT_EQ(asked, std::vector<std::string>{"echo/text"});
}

TEST_F(MgmtConsoleTest, AbruptDisconnectsAnywhere) {
  for (int i = 0; i < 20; ++i) Client(path_).close();  // before the banner
  {
    Client c(path_);
    ASSERT_TRUE(c.send("echo/te"));  // half a command
  }
  {
    Client c(path_);
    c.greeting();
    ASSERT_TRUE(c.send("echo/slow\n"));  // gone before the reply
  }
  {
    Client c(path_);
    c.greeting();
    ASSERT_TRUE(c.send("echo/big 20000\n"));  // 2 MB, abandoned after a little
    c.read_until("line 000100");
  }
  {
    Client c(path_);
    c.greeting();
    EXPECT_EQ(c.command("debug/add test/a"), "1000 Success\n\nvde$ ");
    std::atomic<bool> stop{false};
    std::thread publisher([&] {
      for (int i = 0; !stop.load(); ++i) console_->publish("test/a", "flood " + std::to_string(i));
    });
    c.read_until("flood 10\n");
    c.close();
    EXPECT_TRUE(wait_until([&] { return !console_->listening("test/a"); }));
    std::this_thread::sleep_for(100ms);
    stop = true;
    publisher.join();
  }
  Client ok(path_);
  ok.greeting();
  EXPECT_EQ(ok.command("echo/text still fine"),
            data_block("still fine\n") + "1000 Success\n\nvde$ ");
  EXPECT_TRUE(wait_until([&] { return console_->sessions() == 1; }))
      << console_->sessions() << " sessions";
  EXPECT_FALSE(console_->listening("test/a"));
}

TEST_F(MgmtConsoleTest, FiftyConcurrentClients) {
  constexpr int kClients = 50;
  std::latch connected(kClients + 1), checked(1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      Client c(path_);
      EXPECT_EQ(c.greeting(), std::string(kBanner) + "\n\nvde$ ");
      connected.count_down();
      for (int j = 0; j < 20; ++j) {
        std::string text = "client " + std::to_string(i) + " line " + std::to_string(j);
        EXPECT_EQ(c.command("echo/text " + text),
                  data_block(text + "\n") + "1000 Success\n\nvde$ ");
      }
      checked.wait();
      EXPECT_TRUE(c.send("logout\n"));
      EXPECT_EQ(c.read_until("SESSION"), "9999 END OF SESSION");
      EXPECT_TRUE(c.wait_eof());
    });
  }
  connected.arrive_and_wait();
  EXPECT_TRUE(wait_until([&] { return console_->sessions() == kClients; }))
      << console_->sessions() << " sessions";
  checked.count_down();
  for (auto& t : threads) t.join();
  EXPECT_TRUE(wait_until([&] { return console_->sessions() == 0; }));
}

TEST_F(MgmtConsoleTest, ClientThatNeverReadsLosesDebugLinesNotMemory) {
  Client slow(path_), fast(path_);
  slow.greeting();
  fast.greeting();
  EXPECT_EQ(slow.command("debug/add test/a"), "1000 Success\n\nvde$ ");
  constexpr int kLines = 100000;
  const std::string pad(80, 'p');
  std::atomic<bool> done{false};
  auto started = Clock::now();
  std::thread publisher([&] {
    for (int i = 0; i < kLines; ++i) console_->publish("test/a", std::to_string(i) + " " + pad);
    done = true;
  });
  // The console keeps serving others during the flood.
  do {
    std::string reply = fast.command("echo/text during");
    EXPECT_EQ(reply, data_block("during\n") + "1000 Success\n\nvde$ ");
    if (reply.ends_with(">")) break;  // timed out: no use waiting again
  } while (!done.load());
  publisher.join();
  auto took = Clock::now() - started;
  EXPECT_LT(took, 10s) << "publish() blocked";
  wait_io_idle();

  // Everything queued for `slow`: a bounded amount, whole lines, in order.
  std::string got = slow.read_quiet(300ms, 20s);
  size_t total = static_cast<size_t>(kLines) * (pad.size() + 20);
  EXPECT_LT(got.size(), 2u * 1024 * 1024) << "of " << total << " published bytes";
  EXPECT_GT(got.size(), 0u);
  long last = -1;
  size_t lines = 0;
  for (size_t pos = 0; pos < got.size();) {
    size_t nl = got.find('\n', pos);
    ASSERT_NE(nl, std::string::npos) << "partial line at the end";
    std::string_view line(got.data() + pos, nl - pos);
    ASSERT_TRUE(line.starts_with("3200 test/a ")) << line;
    ASSERT_TRUE(line.ends_with(pad)) << line;
    long n = std::stol(std::string(line.substr(12)));
    ASSERT_GT(n, last);
    last = n;
    ++lines;
    pos = nl + 1;
  }
  EXPECT_LT(lines, static_cast<size_t>(kLines));
  // Once it reads again, it gets new lines.
  console_->publish("test/a", "after the flood");
  EXPECT_EQ(slow.read_until("flood\n"), "3200 test/a after the flood\n");
}

TEST_F(MgmtConsoleTest, ClientThatNeverReadsItsRepliesIsThrottled) {
  Client hog(path_), other(path_);
  hog.greeting();
  other.greeting();
  // Every command asks for ~10 KB. The console must stop reading hog's
  // commands once replies pile up, so its sends eventually block. (Capped:
  // a console that never stops would queue at most ~30 MB.)
  const std::string cmd = "echo/big 100" + std::string(1000, ' ') + "\n";
  bool blocked = false;
  size_t sent = 0;
  for (int i = 0; i < 3000 && !blocked; ++i) {
    ssize_t n = ::send(hog.fd(), cmd.data(), cmd.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EAGAIN) {
      pollfd p{hog.fd(), POLLOUT, 0};
      if (::poll(&p, 1, 500) == 0) {
        blocked = true;
        break;
      }
      continue;
    }
    ASSERT_GT(n, 0) << std::strerror(errno);
    sent += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < cmd.size()) {  // finish the line before the next one
      if (!hog.send(std::string_view(cmd).substr(static_cast<size_t>(n)), 500ms)) blocked = true;
      sent += cmd.size() - static_cast<size_t>(n);
    }
  }
  EXPECT_TRUE(blocked) << sent << " bytes of commands accepted without reading a reply";
  EXPECT_EQ(other.command("echo/text unaffected"),
            data_block("unaffected\n") + "1000 Success\n\nvde$ ");
  // Reading lets it go on.
  std::string replies = hog.read_quiet(200ms, 3s);
  EXPECT_NE(replies.find("1000 Success"), std::string::npos);
}

TEST_F(MgmtConsoleTest, HandlerMayDestroyTheConsole) {
  Client c(path_), other(path_);
  c.greeting();
  other.greeting();
  ASSERT_TRUE(c.send("echo/quit\n"));
  EXPECT_TRUE(c.wait_eof());
  EXPECT_TRUE(other.wait_eof());
  EXPECT_TRUE(on_io_thread([this] { EXPECT_EQ(console_, nullptr); }));
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_THROW(Client{path_}, std::system_error);
}

TEST_F(MgmtConsoleTest, DestroyedAfterTheIoThreadStopped) {
  Client c(path_);
  c.greeting();
  EXPECT_EQ(c.command("debug/add test/a"), "1000 Success\n\nvde$ ");
  console_->publish("test/a", "queued");  // may still be queued for the io thread
  ASSERT_TRUE(c.send("echo/slow\n"));
  work_.reset();
  io_.stop();
  io_thread_.join();
  console_.reset();
  EXPECT_TRUE(c.wait_eof());
  EXPECT_FALSE(std::filesystem::exists(path_));
  // Handlers left behind find the console gone.
  io_.restart();
  io_.run_for(200ms);
}

TEST_F(MgmtConsoleTest, DestructorLeavesAReplacementSocketAlone) {
  Client c(path_);
  c.greeting();
  // Somebody else took over the path meanwhile.
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  boost::asio::io_context io2;
  auto guard = boost::asio::make_work_guard(io2);
  auto other =
      std::make_unique<MgmtConsole>(io2, MgmtConsole::Options{path_, "other", {}, {}, {}, {}, {}});
  std::thread t2([&] { io2.run(); });
  EXPECT_TRUE(on_io_thread([this] { console_.reset(); }));
  EXPECT_TRUE(c.wait_eof());
  EXPECT_TRUE(std::filesystem::exists(path_));
  {
    Client c2(path_);
    EXPECT_EQ(c2.greeting(), "other\n\nvde$ ");
    EXPECT_EQ(c2.command("anything"), "1038 Function not implemented\n\nvde$ ");
  }
  guard.reset();
  io2.stop();
  t2.join();
  other.reset();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

// Without the fixture: consoles that must not come up.
class MgmtConsoleSetupTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  MgmtConsole::Options at(const std::string& path) { return {path, "hello", {}, {}, {}, {}, {}}; }
  // Runs io_ here until the client has its greeting (or gave up after 5 s).
  std::string greet(Client& c) {
    std::string got;
    std::thread reader([&] {
      got = c.greeting();
      io_.stop();
    });
    io_.run();
    reader.join();
    io_.restart();
    return got;
  }
  std::string dir_;
  boost::asio::io_context io_;
};

TEST_F(MgmtConsoleSetupTest, StaleSocketIsReplaced) {
  std::string path = dir_ + "/stale";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);  // the file stays, nobody listens
  MgmtConsole console(io_, at(path));
  Client c(path);
  EXPECT_EQ(greet(c), "hello\n\nvde$ ");
}

TEST_F(MgmtConsoleSetupTest, LiveSocketIsNotStolen) {
  std::string path = dir_ + "/live";
  MgmtConsole first(io_, at(path));
  try {
    MgmtConsole second(io_, at(path));
    ADD_FAILURE() << "second console on a live socket";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  Client c(path);
  EXPECT_EQ(greet(c), "hello\n\nvde$ ");
}

TEST_F(MgmtConsoleSetupTest, BindFailuresThrowWithThePath) {
  std::string file = dir_ + "/regular";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    std::fputs("keep me", f);
    std::fclose(f);
  }
  for (const std::string& path :
       {file, dir_ + "/missing/dir/mgmt", dir_ + "/" + std::string(120, 'n'), std::string()}) {
    try {
      MgmtConsole console(io_, at(path));
      ADD_FAILURE() << "console on " << path;
    } catch (const std::system_error& e) {
      EXPECT_NE(e.code().value(), 0);
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(std::filesystem::file_size(file), 7u);  // untouched
}

}  // namespace
}  // namespace netcpu::console
