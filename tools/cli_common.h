// What the netcpu subcommands share: exit codes, loading a program from a
// source or bytecode file, and pcap I/O through libpcap.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "netcpu/netcpu.h"
#include "pcap_dump.h"

namespace netcpu::cli {

// The exit codes scripts depend on.
enum Exit : int { kOk = 0, kRejected = 1, kUsage = 2, kBadInput = 3 };

// Thrown by the helpers below; main() prints the message and exits with code.
struct Failure : std::runtime_error {
  Failure(int c, const std::string& m) : std::runtime_error(m), code(c) {}
  int code;
};

std::vector<uint8_t> read_file(const std::string& path);

// Source or bytecode (detected by the magic). Assembly errors throw
// kRejected with "file:line:col: error: ..."; corrupt bytecode kBadInput.
Program load_program(const std::string& path);

// A tcpdump expression compiled by libpcap for the link type (DLT_*) and
// translated; libpcap's own message (kRejected) when it rejects it. The
// netmask (host byte order) is pcap_compile's: 0, as `tcpdump -r`.
Program program_from_filter(const std::string& expr, int dlt, uint32_t netmask = 0);

// The largest packet a capture holds: libpcap's MAXIMUM_SNAPLEN, tcpdump's
// default snaplen (GSO and "big TCP" captures reach it).
constexpr uint32_t kMaxCapturedPacket = 262144;

// Verifies and instantiates, throwing kRejected with the diagnostic.
std::unique_ptr<Instance> instantiate(Program p, const HostCaps& caps, const Limits& limits,
                                      OutputSink sink);
// The verifier's warnings, one "file:line:col: warning: ..." line each, on stderr.
void print_warnings(const std::vector<Diagnostic>& warnings);

struct PcapPacket {
  const uint8_t* data;
  uint32_t caplen, len;
  struct timeval ts;
};

// Reads Ethernet (DLT_EN10MB), raw IP (LINKTYPE_RAW, _IPV4, _IPV6), Linux
// cooked (LINUX_SLL, LINUX_SLL2), BSD loopback (NULL, LOOP) captures.
class PcapReader {
 public:
  explicit PcapReader(const std::string& path);  // throws kBadInput
  ~PcapReader();
  std::optional<PcapPacket> next();  // throws kBadInput on a corrupt record
  int datalink() const { return pcap_datalink(p_); }
  // What programs see: Ethernet frames, or IP packets (raw IP, and the
  // others once link_header() bytes are skipped). Throws kBadInput for
  // other link types.
  LinkType link() const;
  // Bytes of link header before the IP packet that programs do not see
  // (Linux cooked 16 or 20, NULL and LOOP 4), else 0.
  uint32_t link_header() const;
  // What is read, for users: "LINUX_SLL2 (Linux cooked v2): IP packets after
  // a 20-byte link header", or with whole_records (a tcpdump expression reads
  // the link header itself) "...: whole records, link header included".
  std::string describe(bool whole_records = false) const;
  int snaplen() const { return pcap_snapshot(p_); }
  // For pcap_compile: a capture's own handle compiles as `tcpdump -r` does.
  pcap_t* handle() const { return p_; }

 private:
  pcap_t* p_ = nullptr;
  std::string path_;
};

// A tcpdump expression compiled for the capture, as `tcpdump -r` compiles it.
Program program_from_filter(const std::string& expr, const PcapReader& capture,
                            uint32_t netmask = 0);

// A pcap file the command writes (tools/pcap_dump.h): kBadInput naming the
// file when it cannot be opened or written.
class PcapWriter {
 public:
  // snaplen goes into the file header: readers cut longer packets to it.
  PcapWriter(const std::string& path, int datalink, int snaplen = kMaxCapturedPacket);
  ~PcapWriter();
  // wire_len: the packet's length on the wire (the pcap header's len) when
  // more than the len bytes given; 0: len. Throws on a write error.
  void write(const struct timeval& ts, const uint8_t* data, uint32_t len, uint32_t wire_len = 0);
  void close();  // flushes; throws on a write error

 private:
  std::string path_;
  std::unique_ptr<tools::PcapDump> dump_;
};

}  // namespace netcpu::cli
