// What the netcpu subcommands share: exit codes, loading a program from a
// source or bytecode file, and pcap I/O through libpcap (the core's
// netcpu/pcap_read.h and netcpu/pcap_dump.h; a capture that cannot be read
// is an exit code 3 as any other std::exception).
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "netcpu/netcpu.h"
#include "netcpu/pcap_dump.h"
#include "netcpu/pcap_read.h"

namespace netcpu::cli {

// The exit codes scripts depend on.
enum Exit : int { kOk = 0, kRejected = 1, kUsage = 2, kBadInput = 3 };

// Thrown by the helpers below; main() prints the message and exits with code.
struct Failure : std::runtime_error {
  Failure(int c, const std::string& m) : std::runtime_error(m), code(c) {}
  int code;
};

std::vector<uint8_t> read_file(const std::string& path);

// Words separated by blanks, as a shell splits them without expanding
// anything: 'single' or "double" quotes keep blanks in a word and are
// removed. An unterminated quote is kUsage.
std::vector<std::string> split_quoted(const std::string& text);

// Source or bytecode (detected by the magic). Assembly errors throw
// kRejected with "file:line:col: error: ..."; corrupt bytecode kBadInput.
Program load_program(const std::string& path);

// A tcpdump expression compiled by libpcap for the link type (DLT_*) and
// translated; libpcap's own message (kRejected) when it rejects it. The
// netmask (host byte order) is pcap_compile's: 0, as `tcpdump -r`.
Program program_from_filter(const std::string& expr, int dlt, uint32_t netmask = 0);

// Verifies and instantiates, throwing kRejected with the diagnostic.
std::unique_ptr<Instance> instantiate(Program p, const HostCaps& caps, const Limits& limits,
                                      OutputSink sink);
// The verifier's warnings, one "file:line:col: warning: ..." line each, on stderr.
void print_warnings(const std::vector<Diagnostic>& warnings);

// A tcpdump expression compiled for the capture, as `tcpdump -r` compiles it.
Program program_from_filter(const std::string& expr, const PcapReader& capture,
                            uint32_t netmask = 0);

// A pcap file the command writes (netcpu/pcap_dump.h): kBadInput naming the
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
  std::unique_ptr<PcapDump> dump_;
};

}  // namespace netcpu::cli
