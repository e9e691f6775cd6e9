// Debian's vdetelweb on a test's vde_switch: a telnet console for the switch
// on the virtual network itself, reached from a host there (a vdens
// namespace). It writes its rc file in the switch's directory:
//
//   ip4=ADDRESS/PREFIX      its lwIPv6 stack's address
//   password=SHA1           the SHA-1 of the password, in hex (`printf %s PW | sha1sum`)
//
// and runs `vdetelweb -t -f RCFILE -n NODE MGMT` (-t: telnet only, on port
// 23 of its own stack; no root needed). vdetelweb asks the switch for its
// data socket (ds/showinfo's "ctl dir") and plugs its stack into it.
// vdetelweb never notices its switch going away, so it is killed with the
// test process (PR_SET_PDEATHSIG) as well as when this is destroyed.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "switch_harness.h"

namespace netcpu::test {

inline constexpr const char* kVdetelweb = "/usr/bin/vdetelweb";

class Vdetelweb {
 public:
  // Why vdetelweb cannot run here, or nothing.
  static std::optional<std::string> why_unavailable();

  // Starts it on the switch and waits until its stack is on a port of the
  // switch (starting it again when it lost its start-up race with the
  // switch); throws std::runtime_error with its log when it is not.
  Vdetelweb(const VdeSwitch& sw, Console& console, const std::string& address_with_prefix,
            const std::string& password);
  ~Vdetelweb();
  Vdetelweb(const Vdetelweb&) = delete;
  Vdetelweb& operator=(const Vdetelweb&) = delete;

  bool alive();
  std::string log() const;  // its stderr
  int port() const { return port_; }

 private:
  void start(const std::string& rc, const std::string& mgmt);
  // Whether it came up (false: it exited).
  bool wait_until_on_switch(Console& console);

  pid_t pid_ = -1;
  std::string log_path_;
  int port_ = -1;
};

}  // namespace netcpu::test
