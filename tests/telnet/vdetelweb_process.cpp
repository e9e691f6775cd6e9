#include "vdetelweb_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace netcpu::test {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kStartAttempts = 5;

// The SHA-1 of a file's bytes, in hex, by coreutils' sha1sum: what
// vdetelweb's rc file holds for its password.
std::string sha1_of_file(const std::string& path) {
  std::FILE* out = popen(("sha1sum '" + path + "'").c_str(), "r");
  if (out == nullptr) throw std::runtime_error("popen sha1sum failed");
  char hex[41] = {};
  const size_t n = std::fread(hex, 1, 40, out);
  pclose(out);
  if (n != 40) throw std::runtime_error("sha1sum " + path + " printed no hash");
  return hex;
}

}  // namespace

std::optional<std::string> Vdetelweb::why_unavailable() {
  if (access(kVdetelweb, X_OK) != 0)
    return std::string(kVdetelweb) + " not found (Debian package vdetelweb, tools/install-deps.sh)";
  return std::nullopt;
}

Vdetelweb::Vdetelweb(const VdeSwitch& sw, Console& console, const std::string& address_with_prefix,
                     const std::string& password)
    : log_path_(sw.dir() + "/vdetelweb.log") {
  const std::string password_file = sw.dir() + "/vdetelweb.password";
  std::ofstream(password_file) << password;
  const std::string rc = sw.dir() + "/vdetelwebrc";
  std::ofstream(rc) << "# written by the test\nip4=" << address_with_prefix
                    << "\npassword=" << sha1_of_file(password_file) << "\n";
  // vdetelweb reads the switch's banner and its answer to ds/showinfo with
  // one read() each, and gives up ("Error parsing ctl socket information")
  // when the banner's prompt, which the switch writes separately, comes in
  // the second read instead of the first: it is started again then.
  for (int attempt = 1;; ++attempt) {
    start(rc, sw.mgmt_path());
    if (wait_until_on_switch(console)) return;
    if (attempt == kStartAttempts ||
        log().find("Error parsing ctl socket information") == std::string::npos)
      throw std::runtime_error("vdetelweb exited at start:\n" + log());
  }
}

void Vdetelweb::start(const std::string& rc, const std::string& mgmt) {
  const char* argv[] = {kVdetelweb, "-t",          "-f",         rc.c_str(),
                        "-n",       "netcpu-test", mgmt.c_str(), nullptr};
  const pid_t parent = getpid();
  std::fflush(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork for vdetelweb failed");
  if (pid_ == 0) {
    // Only async-signal-safe calls until exec: the test has threads.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0) _exit(127);
    dup2(null, STDIN_FILENO);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    execv(kVdetelweb, const_cast<char**>(argv));
    _exit(127);
  }
}

bool Vdetelweb::wait_until_on_switch(Console& console) {
  // Its stack is on the switch once its rc file is read; the telnet port
  // listens right after.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while ((port_ = console.port_of("LWIPv6")) < 0) {
    if (!alive()) return false;
    if (Clock::now() > deadline)
      throw std::runtime_error("vdetelweb's stack did not appear on the switch within 5 s:\n" +
                               log());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

Vdetelweb::~Vdetelweb() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

bool Vdetelweb::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::string Vdetelweb::log() const { return read_file(log_path_); }

}  // namespace netcpu::test
