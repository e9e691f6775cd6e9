// A few well-formed packets for the targets whose input is not a packet:
// the common shapes a program's parsing and rewrites take different paths on.
#pragma once

#include <cstdint>
#include <vector>

namespace netcpu::fuzz {

struct SamplePacket {
  bool ethernet;
  std::vector<uint8_t> bytes;
};

inline const std::vector<SamplePacket>& sample_packets() {
  static const std::vector<SamplePacket> packets = {
      // Ethernet, IPv4, TCP SYN 10.0.0.1:1234 -> 10.0.0.2:80, with 4 payload bytes.
      {true, {0x02, 0,    0,    0,    0,    2,    0x02, 0,  0, 0,    0,    1,   0x08, 0x00, 0x45,
              0,    0,    44,   0,    1,    0x40, 0,    64, 6, 0x66, 0xc5, 10,  0,    0,    1,
              10,   0,    0,    2,    0x04, 0xd2, 0,    80, 0, 0,    0,    1,   0,    0,    0,
              0,    0x50, 0x02, 0x20, 0,    0x5f, 0x2e, 0,  0, 'G',  'E',  'T', ' '}},
      // Ethernet, VLAN 5, IPv6, UDP 53 -> 5353 with 2 payload bytes.
      {true,
       {0x33, 0x33, 0, 0, 0, 1, 0x02, 0,  0,    0,    0,    3,    0x81, 0x00, 0x00, 0x05, 0x86,
        0xdd, 0x60, 0, 0, 0, 0, 10,   17, 64,   0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,
        0,    0,    0, 0, 0, 0, 0,    1,  0x20, 0x01, 0x0d, 0xb8, 0,    0,    0,    0,    0,
        0,    0,    0, 0, 0, 0, 2,    0,  53,   0x14, 0xe9, 0,    10,   0,    0,    0xab, 0xcd}},
      // Ethernet, ARP request for 10.0.0.2.
      {true, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0,    0, 0,  1, 0x08, 0x06,
              0,    1,    0x08, 0,    6,    4,    0,    1, 0x02, 0, 0,  0, 0,    1,
              10,   0,    0,    1,    0,    0,    0,    0, 0,    0, 10, 0, 0,    2}},
      // Raw IPv4, ICMP echo request, fragmented (MF set).
      {false, {0x45, 0, 0,   28, 0, 2, 0x20, 0, 64, 1, 0, 0, 192, 0,
               2,    1, 192, 0,  2, 2, 8,    0, 0,  0, 0, 1, 0,   1}},
  };
  return packets;
}

}  // namespace netcpu::fuzz
