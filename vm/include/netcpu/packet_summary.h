// One line about a packet as `tcpdump -q -nn` prints it: addresses,
// protocol, ports, length ("IP 10.0.0.1.40000 > 10.0.0.2.9: UDP, length 18").
// For the consoles' per-frame lines (netcpu/drop), so that an operator sees
// what was dropped, not only how many bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "netcpu/packet_view.h"

namespace netcpu {

// TCP, UDP, ICMP and ICMPv6 echo and ARP come out as tcpdump -q -nn prints
// them (without its timestamp); other packets in the same spirit, shorter.
// Reads only what the packet holds.
std::string packet_summary(std::span<const uint8_t> pkt, LinkType link);

}  // namespace netcpu
