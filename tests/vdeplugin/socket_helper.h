// A Linux host for the tests: a vdens namespace (vdens_host.h) running the
// test binary again as a helper that configures vde0 and opens real sockets
// on command. Link socket_helper.cpp into the test binary and start it as
//
//   VdensHost a(url, env, socket_helper_setting("10.0.0.1 02:00:0a:00:00:01 10.0.0.2
//   02:00:0a:00:00:02")); a.wait_line({"ready", "fail"}, 15s);
//
// The helper runs from a static initializer of socket_helper.cpp when the
// re-executed binary finds NETCPU_SOCKET_HELPER in its environment (before
// gtest's main), and exits when its stdin reaches EOF.
//
// Its configuration, "IP MAC PEER_IP PEER_MAC [IP6]": vde0 gets MAC and
// IP/24; the peer is reachable through a permanent neighbour entry (no ARP),
// or, with PEER_IP and PEER_MAC given as `-`, found by ARP as on any LAN.
// Without IP6, IPv6 is off on vde0 (no router solicitations or MLD reports
// on the wire); with one (a /64, no duplicate address detection) neighbours
// are found by neighbour discovery. ICMP datagram sockets (unprivileged
// ping) are allowed for our group.
//
// It then takes one command per line and answers one line per event (IP is
// IPv4 or IPv6; a `6` after a port binds IP6):
//   listen PORT [6]         -> "listening PORT"; later "accept PORT FROM",
//                              each read "server PORT TEXT", echoed back as "echo TEXT";
//                              the client's close (or reset) "server-closed PORT", closing too
//   connect NAME IP PORT    -> later "connected NAME" or "connect-failed NAME ERROR";
//                              each read "recv NAME TEXT", at the end "peer-closed NAME"
//   send NAME TEXT          -> "sent NAME"
//   close NAME, reset NAME  -> the connection closed (a FIN) or reset (a RST): "closed NAME",
//                              "reset NAME"
//   udp-bind LPORT [6]      -> a UDP socket on LPORT: "udp-bound LPORT";
//                              each datagram to it "udp-got LPORT FROM TEXT"
//   udp LPORT IP PORT TEXT  -> sent from the socket on LPORT (bound on first use):
//                              "udp-sent LPORT"
//   udp-connect LPORT IP PORT -> that socket connected to IP:PORT: "udp-connected LPORT";
//                              an ICMP error about what it sent "udp-error LPORT ERROR"
//   ping NAME IP SEQ        -> an echo request from an ICMP datagram socket:
//                              "ping-sent NAME SEQ"; each reply "pong NAME SEQ"
//   route PREFIX            -> `ip route add PREFIX dev vde0`: "routed PREFIX"
//                              (224.0.0.0/4: multicast leaves through vde0)
//   pid                     -> "pid N": the helper's process id, whose namespaces
//                              `nsenter --target N` enters
//   snmp                    -> "snmp Proto.Name=N ..."
// FROM is "10.0.0.2:5353" or "[fd00::2]:5353".
// A failed command answers "error COMMAND: WHY".
#pragma once

#include <string>

namespace netcpu::test {

// The helper gives up by itself this long after it started, if its stdin
// has not reached EOF by then.
inline constexpr int kSocketHelperLifetimeSeconds = 120;

// The VdensHost helper setting that runs the socket helper with `config`.
inline std::string socket_helper_setting(const std::string& config) {
  return "NETCPU_SOCKET_HELPER=" + config;
}

}  // namespace netcpu::test
