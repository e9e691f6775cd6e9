// A real OpenSSH server on 127.0.0.1 for the tests of ssh:// consoles
// (`ssh HOST unixterm SOCKET`), with keys of its own: a host key, and a
// user key it accepts for whoever runs the test. ssh_path() is a directory
// with an `ssh` that is Debian's ssh given this server's client settings
// (port, key, no known_hosts), to put first in PATH, as a user's
// ~/.ssh/config would.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "cli_util.h"

namespace netcpu::test {

class LocalSshd {
 public:
  static constexpr const char* kSshd = "/usr/sbin/sshd";

  // Why no server can run here, or nothing.
  static std::optional<std::string> why_unavailable() {
    for (const char* tool : {kSshd, "/usr/bin/ssh", "/usr/bin/ssh-keygen"})
      if (access(tool, X_OK) != 0)
        return std::string(tool) +
               " is missing (Debian's openssh-server, which tools/install-deps.sh installs on CI "
               "machines only, since it starts the system's SSH service)";
    // Run as root, sshd wants its privilege separation directory.
    if (geteuid() == 0 && mkdir("/run/sshd", 0755) != 0 && errno != EEXIST)
      return std::string("cannot make /run/sshd, which sshd run as root needs");
    return std::nullopt;
  }

  LocalSshd() : dir_(scratch() / "sshd") {
    std::filesystem::create_directories(dir_ / "bin");
    for (const char* key : {"host", "user"})
      if (sh("ssh-keygen -q -t ed25519 -N '' -f " + (dir_ / key).string()).code != 0)
        throw std::runtime_error("ssh-keygen failed");
    std::filesystem::copy_file(dir_ / "user.pub", dir_ / "authorized_keys",
                               std::filesystem::copy_options::overwrite_existing);
    port_ = free_port();
    std::ofstream(dir_ / "sshd_config")
        << "ListenAddress 127.0.0.1\nPort " << port_ << "\nHostKey " << (dir_ / "host").string()
        << "\nAuthorizedKeysFile " << (dir_ / "authorized_keys").string()
        << "\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n"
           "KbdInteractiveAuthentication no\nPidFile none\n";
    std::ofstream(dir_ / "ssh_config")
        << "Host *\n  Port " << port_ << "\n  IdentityFile " << (dir_ / "user").string()
        << "\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n";
    std::ofstream(dir_ / "bin" / "ssh")
        << "#!/bin/sh\nexec /usr/bin/ssh -F " << (dir_ / "ssh_config").string() << " \"$@\"\n";
    std::filesystem::permissions(dir_ / "bin" / "ssh", std::filesystem::perms::owner_all);
    const std::string config = (dir_ / "sshd_config").string(), log = (dir_ / "log").string();
    const char* argv[] = {kSshd, "-D", "-f", config.c_str(), "-E", log.c_str(), nullptr};
    if (posix_spawn(&pid_, kSshd, nullptr, nullptr, const_cast<char**>(argv), environ) != 0)
      throw std::runtime_error("cannot start sshd");
    for (int i = 0; i < 100 && !accepts(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!accepts()) throw std::runtime_error("sshd does not listen:\n" + this->log());
  }
  ~LocalSshd() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  LocalSshd(const LocalSshd&) = delete;
  LocalSshd& operator=(const LocalSshd&) = delete;

  std::string ssh_path() const { return (dir_ / "bin").string(); }
  std::string log() const { return slurp(dir_ / "log"); }

 private:
  static int free_port() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    close(s);
    return ntohs(a.sin_port);
  }
  bool accepts() const {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port_));
    const bool ok = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(s);
    return ok;
  }

  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace netcpu::test
