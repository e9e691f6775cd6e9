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
// translated; libpcap's own message (kRejected) when it rejects it.
Program program_from_filter(const std::string& expr, int dlt);

// Verifies and instantiates, throwing kRejected with the diagnostic.
std::unique_ptr<Instance> instantiate(Program p, const HostCaps& caps, const Limits& limits,
                                      OutputSink sink);

struct PcapPacket {
  const uint8_t* data;
  uint32_t caplen, len;
  struct timeval ts;
};

class PcapReader {
 public:
  explicit PcapReader(const std::string& path);  // throws kBadInput
  ~PcapReader();
  std::optional<PcapPacket> next();  // throws kBadInput on a corrupt record
  int datalink() const { return pcap_datalink(p_); }
  LinkType link() const;  // throws kBadInput for unsupported link types
  int snaplen() const { return pcap_snapshot(p_); }

 private:
  pcap_t* p_ = nullptr;
  std::string path_;
};

class PcapWriter {
 public:
  PcapWriter(const std::string& path, int datalink);
  ~PcapWriter();
  void write(const struct timeval& ts, const uint8_t* data, uint32_t len);

 private:
  pcap_t* dead_ = nullptr;
  pcap_dumper_t* d_ = nullptr;
};

}  // namespace netcpu::cli
