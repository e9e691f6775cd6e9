// EtherTypes and IP protocol numbers the parser, the checksum code and the
// packet builder share.
#pragma once

#include <cstdint>

namespace netcpu {

constexpr uint16_t kTypeIp4 = 0x0800;
constexpr uint16_t kTypeArp = 0x0806;
constexpr uint16_t kTypeIp6 = 0x86dd;
// The EtherTypes of VLAN tags (802.1Q, 802.1ad, and the older QinQ 0x9100)
// the parser steps over to the EtherType after them.
constexpr uint16_t kVlanTpids[] = {0x8100, 0x88a8, 0x9100};
constexpr uint32_t kEthHeader = 14;
constexpr uint32_t kVlanTag = 4;
constexpr uint32_t kIp4MinHeader = 20;  // without options
// Headers stores offsets in 16 bits: the parser reads only this many of a
// packet's bytes (nothing past 64 KiB is a header anyway).
constexpr uint32_t kMaxParsed = 0xffff;

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kProtoSctp = 132;

}  // namespace netcpu
