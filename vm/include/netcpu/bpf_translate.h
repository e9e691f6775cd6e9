// tcpdump filter expressions on NetCPU (the core's optional part, built when
// libpcap is found, as DPDK's bpf_convert.c): libpcap compiles the expression
// (pcap-filter(7), exactly tcpdump's meaning) to classic BPF, and this
// translates the classic BPF into readable NetCPU assembly that assembles and
// verifies like any hand-written program. A packet the BPF program accepts
// (returns non-zero) passes; one it rejects, or a load past its end, drops.
#pragma once

#include <pcap/pcap.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "netcpu/load.h"

namespace netcpu {

// The link type libpcap compiles for a host's link: DLT_EN10MB for Ethernet
// (switch ports, cables), DLT_RAW for IP packets (lwIPv6 hooks).
int link_dlt(LinkType link);

// Compiles expr with libpcap for the link type (DLT_EN10MB for switch ports,
// DLT_RAW for lwIPv6 hooks, a capture's own DLT for `netcpu run`) and
// translates it. netmask (host byte order: 255.255.255.0 is 0xffffff00) is
// pcap_compile's, for `ip broadcast`; 0 is what `tcpdump -r` compiles with.
// On error: nullopt, and libpcap's own message (or the translator's) in *error.
std::optional<std::string> filter_to_assembly(const std::string& expr, int dlt, std::string* error,
                                              uint32_t netmask = 0);
// The same, compiled with the handle of a capture (pcap_open_offline's):
// exactly as `tcpdump -r` compiles it for that capture, which a handle for
// the link type alone does not (NULL's address families are the BSDs' in a
// file and this host's in a live capture; inbound and outbound are refused
// on a file where the link header cannot tell).
std::optional<std::string> filter_to_assembly(const std::string& expr, pcap_t* capture,
                                              std::string* error, uint32_t netmask = 0);

// filter_to_assembly's text assembled as `file`: netcpu/load.h's
// program_from_filter for any link type, or for a capture's own handle.
std::optional<Program> program_from_filter(const std::string& expr, int dlt, uint32_t netmask,
                                           const std::string& file, LoadError* error);
std::optional<Program> program_from_filter(const std::string& expr, pcap_t* capture,
                                           uint32_t netmask, const std::string& file,
                                           LoadError* error);

// Translates a classic BPF program; title goes into the header comment.
std::optional<std::string> cbpf_to_assembly(std::span<const bpf_insn> prog,
                                            const std::string& title, std::string* error);

// Parses the `tcpdump -ddd` text format: a count line, then one
// "code jt jf k" line per instruction, in decimal.
std::optional<std::vector<bpf_insn>> parse_cbpf_text(const std::string& text, std::string* error);

}  // namespace netcpu
