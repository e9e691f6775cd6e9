#include "soak_common.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

namespace netcpu::soak {

ProcessSample sample_process(pid_t pid) {
  ProcessSample s;
  std::istringstream status(test::read_file("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stol(line.substr(6));
  }
  std::error_code ec;
  long n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
       !ec && it != end; it.increment(ec))
    ++n;
  if (!ec) s.fds = n;
  return s;
}

std::string kib_text(long kib) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(kib) / 1024);
  return buf;
}

namespace {
std::atomic<int> stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "set from a signal handler");
}  // namespace

void request_stop(int signal) { stop_signal.store(signal); }
int stop_requested() { return stop_signal.load(); }

void Verdict::fail(const std::string& what) {
  std::lock_guard lock(mu_);
  if (first_.size() < 10) first_.push_back(what);
  ++count_;
}

bool Verdict::failed() const { return count() > 0; }

size_t Verdict::count() const {
  std::lock_guard lock(mu_);
  return count_ + (stop_requested() ? 1 : 0);
}

std::vector<std::string> Verdict::first() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> f = first_;
  if (const int sig = stop_requested())
    f.push_back("stopped by signal " + std::to_string(sig) + " (" + strsignal(sig) +
                ") before its time");
  return f;
}

// ---------------------------------------------------------------------------
// RawConsole

bool RawConsole::write(std::string_view bytes, int wait_ms) {
  if (fd_ < 0) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      disconnect();
      return false;
    }
    // Blocking sends, bounded: a piece then reaches the console in one
    // buffer, as one write of a person's terminal does. (Sent in pieces, the
    // console would read a command line cut where a piece ended: see
    // docs/soak.md on what the soak found.)
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ++reconnects_;
    drain(wait_ms);  // the banner
  }
  while (!bytes.empty() && fd_ >= 0) {
    ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      disconnect();  // it hung up (a "logout" in the garbage): the next write reconnects
      return true;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  drain(wait_ms);
  return true;
}

void RawConsole::drain(int wait_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
  while (fd_ >= 0) {
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, std::max(left, 0)) <= 0) return;
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) {
      disconnect();
      return;
    }
  }
}

void RawConsole::disconnect() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

// ---------------------------------------------------------------------------
// Garbage

std::string Garbage::next(Kind* kind_out) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng_() % n); };
  auto kind = static_cast<Kind>(pick(kKinds));
  if (kind_out) *kind_out = kind;
  const auto& cmds = source_.readonly_commands;
  std::string out;
  switch (kind) {
    case kRandomBytes: {
      size_t n = 1 + pick(3 * source_.line_limit);
      for (size_t i = 0; i < n; ++i) out += static_cast<char>(rng_() & 0xff);
      if (rng_() & 1) out += '\n';
      break;
    }
    case kCutLine: {
      const std::string& c = cmds[pick(cmds.size())];
      out = c.substr(0, pick(c.size() + 1));
      break;
    }
    case kOverlong: {
      out = source_.overlong_prefix;
      size_t want = source_.line_limit + 1 + pick(2 * source_.line_limit);
      while (out.size() < want) out += source_.overlong_repeat;
      out += '\n';
      break;
    }
    case kContinued:
      out = source_.continued + " \\\n";
      break;
    case kBlank: {
      static const std::string_view blanks[] = {"\n",   "   \n",          "\t\t\n",
                                                "\r\n", "\x01\x02\x03\n", {"\0\n", 2}};
      out = blanks[pick(std::size(blanks))];
      break;
    }
    case kShuffled: {
      // Words of read-only commands in any order, and arguments out of range.
      static const char* args[] = {
          "*",  "in", "out", "-1",  "99999", "0x",   "'", "\"",
          "\\", "%s", "%n",  "999", "drops", "none", "0", "18446744073709551616"};
      size_t words = 1 + pick(6);
      for (size_t i = 0; i < words; ++i) {
        if (!out.empty()) out += ' ';
        if (rng_() & 1) {
          const std::string& c = cmds[pick(cmds.size())];
          out += c.substr(0, c.find(' '));
        } else {
          out += args[pick(std::size(args))];
        }
      }
      out += '\n';
      break;
    }
    case kKinds:
      break;
  }
  return out;
}

// ---------------------------------------------------------------------------
// GarbageFeeder

GarbageFeeder::GarbageFeeder(std::string console_path, Garbage::Source source, uint64_t seed,
                             Verdict& verdict)
    : console_(std::move(console_path)),
      garbage_(std::move(source), seed),
      seed_(seed * 31 + 7),
      verdict_(verdict) {
  thread_ = std::thread([this] { loop(); });
}

GarbageFeeder::~GarbageFeeder() {
  stop_ = true;
  thread_.join();
}

void GarbageFeeder::loop() {
  std::mt19937_64 rng(seed_);
  size_t since_connect = 0, unreachable = 0;
  while (!stop_) {
    if (pause_) {
      console_.disconnect();
      idle_ = true;
      std::this_thread::sleep_for(2ms);
      continue;
    }
    idle_ = false;
    Garbage::Kind kind;
    std::string piece = garbage_.next(&kind);
    // A new connection every 20-60 pieces; one in four of them is closed
    // right after a piece cut mid-line. Not an overlong one: vde_switch runs
    // what it read before the end of the connection as a whole command, and
    // the plugin cannot tell it from one (docs/soak.md, what the soak found).
    if (++since_connect > 20 + rng() % 40) {
      if (rng() % 4 == 0 && kind != Garbage::kOverlong)
        console_.write(piece.substr(0, piece.size() / 2), 0);
      console_.disconnect();
      since_connect = 0;
      continue;
    }
    if (!console_.write(piece, 5)) {
      if (++unreachable == 200 && (!alive_ || alive_()))
        verdict_.fail("the console stopped accepting connections");
      std::this_thread::sleep_for(5ms);
      continue;
    }
    unreachable = 0;
    ++pieces_;
    ++by_kind_[kind];
  }
  console_.disconnect();
}

void GarbageFeeder::pause() {
  pause_ = true;
  while (!idle_ && !stop_) std::this_thread::sleep_for(1ms);
}

void GarbageFeeder::resume() {
  idle_ = false;
  pause_ = false;
}

std::string GarbageFeeder::summary() const {
  static const char* names[] = {"random bytes", "cut lines",     "overlong lines",
                                "continued",    "blank/control", "shuffled words"};
  std::string out = std::to_string(pieces_) + " pieces (";
  for (size_t k = 0; k < Garbage::kKinds; ++k)
    out += (k ? ", " : "") + std::to_string(by_kind_[k].load()) + " " + names[k];
  return out + ") on " + std::to_string(console_.reconnects()) + " connections";
}

// ---------------------------------------------------------------------------
// CommandFeeder

CommandFeeder::CommandFeeder(std::string console_path, std::vector<std::string> commands,
                             uint64_t seed, Verdict& verdict, std::mutex& lock, Hook after)
    : path_(std::move(console_path)),
      list_(std::move(commands)),
      rng_(seed),
      verdict_(verdict),
      lock_(lock),
      after_(std::move(after)) {
  thread_ = std::thread([this] { loop(); });
}

CommandFeeder::~CommandFeeder() {
  stop_ = true;
  thread_.join();
}

void CommandFeeder::loop() {
  try {
    test::Console console(path_, 20s);
    while (!stop_) {
      if (pause_) {
        idle_ = true;
        std::this_thread::sleep_for(1ms);
        continue;
      }
      idle_ = false;
      const std::string& c = list_[rng_() % list_.size()];
      {
        std::lock_guard lock(lock_);
        test::Reply r = console.cmd(c);
        if (!r.ok()) ++failed_;
        if (after_) after_(c, r);
      }
      ++commands_;
      console.debug_lines();  // netcpu/log lines, if a command subscribed
      std::this_thread::sleep_for(std::chrono::milliseconds(1 + rng_() % 4));
    }
  } catch (const std::exception& e) {
    if (!stop_ && (!alive_ || alive_())) verdict_.fail(std::string("random commands: ") + e.what());
  }
  idle_ = true;
}

void CommandFeeder::pause() {
  pause_ = true;
  while (!idle_ && !stop_) std::this_thread::sleep_for(1ms);
}

void CommandFeeder::resume() {
  idle_ = false;
  pause_ = false;
}

// ---------------------------------------------------------------------------

void ProcessWatch::add(const ProcessSample& s) {
  if (start.rss_kib < 0) start = s;
  last = s;
  if (have_baseline) rss_max_kib = std::max(rss_max_kib, s.rss_kib);
}

int finish(const std::string& title, const std::vector<std::string>& lines, const Verdict& verdict,
           const SoakOptions& options) {
  std::cout << title << "\n";
  for (const auto& l : lines) std::cout << "  " << l << "\n";
  if (verdict.failed()) {
    std::cout << "  FAILED: " << verdict.count() << " failure(s), the first:\n";
    for (const auto& f : verdict.first()) std::cout << "    " << f << "\n";
  } else {
    std::cout << "  PASSED\n";
  }
  if (options.expect_failure) {
    std::cout << (verdict.failed()
                      ? "  the soak caught the sabotage (" + options.sabotage +
                            "), as it must: exit 0\n"
                      : "  the sabotage (" + options.sabotage + ") went unnoticed: exit 1\n");
    return verdict.failed() ? kPass : kFail;
  }
  return verdict.failed() ? kFail : kPass;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string d; std::getline(dirs, d, ':');) {
    if (!d.empty() && access((d + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

}  // namespace netcpu::soak
