// Checksum helpers (2004's checksum_ip()): full recomputation after a rewrite,
// and header field rewrites that update checksums incrementally (RFC 1624).
#pragma once

#include <cstdint>
#include <span>

#include "netcpu/isa.h"
#include "netcpu/packet_view.h"

namespace netcpu {

// One's complement sum of data folded into 16 bits, starting from `sum`.
uint32_t checksum_add(std::span<const uint8_t> data, uint32_t sum = 0);
uint16_t checksum_fold(uint32_t sum);  // final ~fold

// Recompute the IPv4 header checksum (csum::kIp) and/or the TCP, UDP, ICMP or
// ICMPv6 checksum (csum::kL4) of pkt in place. Skips what the packet does not
// have, non-first fragments, and L4 checksums of first fragments (their sum
// covers bytes not here). Returns true if any checksum was written.
bool recompute_checksums(std::span<uint8_t> pkt, LinkType link, uint8_t what);

// Fields `rewrite` accepts: eth.dst, eth.src, ip.src, ip.dst, ip.ttl, ip.tos,
// l4.sport, l4.dport.
bool is_rewritable(MappedReg r);

// Store value into the field and update the IPv4 header checksum and the
// TCP/UDP checksum (pseudo-header included) incrementally; a UDP checksum of 0
// over IPv4 stays 0. Returns false, changing nothing, when the packet lacks
// the field.
bool rewrite_field(std::span<uint8_t> pkt, const Headers& h, MappedReg field, uint64_t value);

}  // namespace netcpu
