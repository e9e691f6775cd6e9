// A console reached through a command whose stdin and stdout carry the
// management protocol: `ssh HOST unixterm SOCKET` for a remote node, any
// other relay for `exec:`. Debian's unixterm (vde2) copies bytes both ways
// unchanged when they are pipes (no echo, no terminal handling: the banner,
// replies and prompts arrive as the socket sends them), so its output is
// read as a socket's is; what the command writes on stderr ("Socket
// connecting error: ...", ssh's own errors) goes into the errors.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include "console_client.h"

extern char** environ;

namespace netcpu::cli {
namespace {

using std::chrono::milliseconds;

class CommandConsole : public ConsoleClient {
 public:
  CommandConsole(const std::string& name, int in_fd, int out_fd, int err_fd, pid_t pid,
                 milliseconds timeout)
      : ConsoleClient(name, in_fd, out_fd, err_fd), pid_(pid) {
    try {
      read_banner(timeout);
    } catch (...) {
      stop();
      throw;
    }
  }
  ~CommandConsole() override { stop(); }

 protected:
  std::string why_ended() override {
    // The command may be ending as its stdout closes: a moment to say how.
    for (int i = 0; i < 20 && !exited(); ++i) std::this_thread::sleep_for(milliseconds(5));
    if (!status_) return "";
    if (WIFEXITED(*status_)) return "exited with status " + std::to_string(WEXITSTATUS(*status_));
    return "killed by signal " + std::to_string(WTERMSIG(*status_));
  }

 private:
  bool exited() {
    if (status_) return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) != pid_) return false;
    status_ = st;
    return true;
  }
  // Closing stdin ends unixterm and ssh; one that lingers is terminated.
  void stop() {
    close_all();
    for (int i = 0; i < 40 && !exited(); ++i) std::this_thread::sleep_for(milliseconds(5));
    if (!exited()) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 40 && !exited(); ++i) std::this_thread::sleep_for(milliseconds(5));
    }
    if (!exited()) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
      status_ = st;
    }
  }

  pid_t pid_;
  std::optional<int> status_;
};

struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    // Close-on-exec: a command started by another thread must not hold
    // these open (its copy would keep this console's EOF from coming).
    if (::pipe2(fds, O_CLOEXEC) != 0)
      throw Failure(kBadInput, std::string("pipe: ") + std::strerror(errno));
    read = fds[0];
    write = fds[1];
  }
};

}  // namespace

std::unique_ptr<Console> open_command_console(const std::vector<std::string>& argv,
                                              const std::string& name, milliseconds timeout) {
  if (argv.empty()) throw Failure(kUsage, name + ": no command to run");
  Pipe in, out, err;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read, STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.write, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write, STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int error = posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in.read);
  ::close(out.write);
  ::close(err.write);
  if (error != 0) {
    ::close(in.write);
    ::close(out.read);
    ::close(err.read);
    throw Failure(kBadInput, name + ": cannot run " + argv[0] + ": " + std::strerror(error));
  }
  // Commands are written without blocking: a command that reads nothing
  // times out as a console that answers nothing does.
  ::fcntl(in.write, F_SETFL, ::fcntl(in.write, F_GETFL) | O_NONBLOCK);
  return std::make_unique<CommandConsole>(name, out.read, in.write, err.read, pid, timeout);
}

}  // namespace netcpu::cli
